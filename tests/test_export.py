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


# The Markdown header: one line of title, no figure the source does not hold, one time form


def export_of(files, conversation_id, *options):
    result = runner.invoke(
        app, ["export", "--file-store", str(files.root), conversation_id, *options]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_title_with_line_breaks_is_one_heading_line(files):
    conversation_id, _ = files.generation(
        "2025-12", title="Fix the build\n\n# not a heading\r\nthird\u2028line"
    )
    heading, blank, *_ = export_of(files, conversation_id).split("\n")
    assert heading == "# Fix the build \\# not a heading third line"
    assert blank == ""


def test_markup_in_a_title_is_shown_as_written(files):
    conversation_id, _ = files.generation("2025-12", title="<details> *wip* [x](y) `z` #")
    heading = export_of(files, conversation_id).split("\n")[0]
    assert heading == "# \\<details\\> \\*wip\\* \\[x\\](y) \\`z\\` \\#"


def test_an_unreadable_file_has_no_figures_to_show(files):
    conversation_id = "b" * 32
    files.write(conversation_id, b"{not json")
    text = export_of(files, conversation_id)
    assert "| cost | unknown |" in text and "| tokens | unknown |" in text
    assert "$0" not in text
    exported = json.loads(export_of(files, conversation_id, "--format", "json"))
    metadata = exported["metadata"]
    assert metadata["accumulated_cost"] is None and metadata["total_tokens"] is None
    assert any("not valid JSON" in problem for problem in metadata["problems"])


def test_counts_a_file_lacks_are_unknown_and_those_it_has_are_shown(files):
    conversation_id, document = files.generation("2025-12", prompt_tokens=1200)
    del document["completion_tokens"]
    files.write(conversation_id, document)
    text = export_of(files, conversation_id)
    assert f"| tokens | 1,200 prompt, unknown completion, {document['total_tokens']:,} total |" in (
        text
    )


def test_markdown_times_are_utc_with_z_like_every_other_output(files):
    conversation_id, _ = files.generation(
        "2025-12", created_at="2025-12-01T12:00:00+02:00", last_updated_at="2025-12-02T08:00:00"
    )
    text = export_of(files, conversation_id)
    assert "| created | 2025-12-01T10:00:00Z |" in text
    assert "| last updated | 2025-12-02T08:00:00Z |" in text
    assert "+00:00" not in text
    listed = runner.invoke(app, ["list", "--file-store", str(files.root), "--format", "json"])
    assert json.loads(listed.stdout)[0]["created_at"] == "2025-12-01T10:00:00Z"
