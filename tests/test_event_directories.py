"""show counts a conversation's events; delete removes a V1 conversation's event directory."""

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from tests.conftest import aged

runner = CliRunner()
DATA = Path(__file__).parent / "data" / "events" / "v0"
HEX = "7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f"
DASHED = "7c1d3f0e-2b9a-4c5d-8e6f-0a1b2c3d4e5f"


@pytest.fixture
def migrated(tmp_path):
    root = tmp_path / "store"
    shutil.copytree(DATA, root)
    store = ["--file-store", str(root), "--db", str(tmp_path / "openhands.db")]
    result = runner.invoke(app, ["migrate-v0-to-v1", *store, "--create-table"])
    assert result.exit_code == 0, result.output
    aged(root)  # not in use: `delete` takes it
    return root, store


def test_show_counts_v0_and_v1_events(migrated):
    root, store = migrated
    events = root / "sessions" / HEX / "events"
    v0_files = [p for p in events.iterdir() if re.fullmatch(r"(0|[1-9][0-9]*)\.json", p.name)]
    v1_dir = root / "v1_conversations" / HEX
    shown = json.loads(runner.invoke(app, ["show", *store, DASHED, "--format", "json"]).stdout)
    assert shown["events"] == {
        "format": "v1",
        "directory": str(v1_dir),
        "count": len(list(v1_dir.iterdir())),
        "bytes": sum(path.stat().st_size for path in v1_dir.iterdir()),
    }
    only_files = ["--file-store", str(root)]
    shown = json.loads(runner.invoke(app, ["show", *only_files, HEX, "--format", "json"]).stdout)
    assert shown["events"]["format"] == "v0" and shown["events"]["count"] == len(v0_files)


def test_deleting_a_v1_conversation_removes_its_event_directory(migrated):
    root, store = migrated
    v1_dir = root / "v1_conversations" / HEX
    preview = runner.invoke(app, ["delete", *store, DASHED, "--dry-run"])
    assert preview.exit_code == 0 and f"remove directory {v1_dir}" in preview.stdout
    assert v1_dir.is_dir()
    done = runner.invoke(app, ["delete", *store, DASHED, "--yes"])
    assert done.exit_code == 0, done.output
    assert not v1_dir.exists()
    assert [p.name for p in (root / "v1_conversations").iterdir()] == []
    assert not (root / "sessions" / HEX).exists()  # every form goes: its V0 twin too
