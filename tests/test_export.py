"""export: transcripts of V0 and V1 conversations, Markdown for people, JSON complete."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.events import validate_event_file

runner = CliRunner()
DATA = Path(__file__).parent / "data" / "events" / "v0"
V0_ID = "7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f"
V1_ID = "7c1d3f0e-2b9a-4c5d-8e6f-0a1b2c3d4e5f"


@pytest.fixture
def store(tmp_path):
    root = tmp_path / "store"
    shutil.copytree(DATA, root)
    return root


def event_files(root: Path) -> int:
    return sum(1 for _ in (root / "sessions" / V0_ID / "events").glob("*.json"))


def test_v0_markdown_without_migrating(store):
    result = runner.invoke(app, ["export", "--file-store", str(store), V0_ID])
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("# Fix the failing test\n")
    assert "### User\n\nFix the failing test in app/test_math.py — café 😀" in text
    assert "```bash\n$ pytest -q\n```" in text and "exit code 1" in text
    assert "-    return a - b\n+    return a + b" in text  # the edit, as a diff
    assert "git config --global" not in text  # hidden housekeeping commands
    assert "## Problems reading the events" in text


def test_v0_json_is_complete(store, tmp_path):
    target = tmp_path / "out.json"
    result = runner.invoke(
        app, ["export", "--file-store", str(store), V0_ID, "--format", "json", "-o", str(target)]
    )
    assert result.exit_code == 0, result.output
    exported = json.loads(target.read_text())
    assert exported["metadata"]["conversation_id"] == V0_ID
    assert exported["events_format"] == "v0"
    readable = event_files(store) - 1  # one file in the fixture is unreadable even to V0
    assert len(exported["events"]) == readable
    assert [event["id"] for event in exported["events"]] == sorted(
        e["id"] for e in exported["events"]
    )


def test_migrated_conversation_exports_from_its_v1_events(store, tmp_path):
    db = tmp_path / "openhands.db"
    migrated = runner.invoke(
        app, ["migrate-v0-to-v1", "--file-store", str(store), "--db", str(db), "--create-table"]
    )
    assert migrated.exit_code == 0, migrated.output
    result = runner.invoke(
        app, ["export", "--file-store", str(store), "--db", str(db), V1_ID, "--format", "json"]
    )
    exported = json.loads(result.stdout)
    assert exported["metadata"]["version"] == "V1" and exported["events_format"] == "v1"
    assert exported["events_location"] == str(store / "v1_conversations" / V0_ID)
    for path in (store / "v1_conversations" / V0_ID).iterdir():
        verdict = validate_event_file(path)
        assert verdict.readable, (path, verdict.errors)
    kinds = {event["kind"] for event in exported["events"]}
    assert {"MessageEvent", "ActionEvent", "ObservationEvent"} <= kinds
    stamps = [event["timestamp"] for event in exported["events"]]
    assert stamps == sorted(stamps)
    markdown = runner.invoke(app, ["export", "--file-store", str(store), "--db", str(db), V1_ID])
    assert "```bash\n$ pytest -q\n```" in markdown.stdout


def test_export_all_writes_one_file_per_conversation(store, tmp_path):
    out = tmp_path / "history"
    result = runner.invoke(app, ["export", "--all", "--file-store", str(store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [f"{V0_ID}-V0.md"]


def test_export_usage_errors(store):
    assert runner.invoke(app, ["export", "--file-store", str(store)]).exit_code == 2
    assert runner.invoke(app, ["export", "--all", "--file-store", str(store)]).exit_code == 2
    assert runner.invoke(app, ["export", "--file-store", str(store), "0" * 32]).exit_code == 4
