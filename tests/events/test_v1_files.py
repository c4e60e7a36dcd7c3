"""V1 event files on disk: atomic, idempotent writes; a killed run; reading them back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from convstore.events import (
    EventWriter,
    Problem,
    convert_conversation,
    directory_stats,
    iter_v1_events,
    remove_temporaries,
    v1_files,
    validate_event_file,
)
from convstore.fsutil import TEMPORARY_SUFFIX
from tests.events.conftest import Converted, V0Conversation, tool_call
from tests.interleave import OpenGate, require_gate

Convert = Callable[..., Converted]


def small_conversation(v0: V0Conversation, turns: int = 5) -> None:
    v0.action(0, "system", {"content": "You are OpenHands agent."})
    for turn in range(turns):
        n = 1 + 3 * turn
        v0.action(
            n, "run", {"command": f"echo {turn}"}, tool_call_metadata=tool_call(f"t{turn}", "r")
        )
        v0.observation(n + 1, "run", f"{turn}\n", {"command": f"echo {turn}"}, cause=n)
        v0.action(n + 2, "message", {"content": f"turn {turn} caf\u00e9"}, source="user")
    v0.action(3 * turns + 1, "finish", {"final_thought": "done"})


def tree(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_files_are_named_by_id_hold_utf8_and_carry_the_event_time(
    v0: V0Conversation, convert: Convert
) -> None:
    small_conversation(v0)
    run = convert(v0)
    assert run.directory.name == v0.uuid.hex
    for path in run.directory.iterdir():
        event = json.loads(path.read_bytes().decode("utf-8"))
        assert path.name == event["id"].replace("-", "") + ".json"
        moment = datetime.fromisoformat(event["timestamp"]).replace(tzinfo=UTC)
        assert (
            path.stat().st_mtime_ns == int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
        )
    message = run.directory / f"{v0.v1_id(3).replace('-', '')}.json"
    assert "turn 0 caf\u00e9".encode() in message.read_bytes()  # UTF-8, not an escape


def test_a_rerun_writes_nothing_and_leaves_files_untouched(
    v0: V0Conversation, convert: Convert
) -> None:
    small_conversation(v0)
    first = convert(v0)
    before = {
        path.name: (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in first.directory.iterdir()
    }
    contents = tree(first.directory)
    second = convert(v0)
    assert (first.report.written, first.report.unchanged) == (18, 0)
    assert (second.report.written, second.report.unchanged, second.report.events) == (0, 18, 18)
    assert tree(second.directory) == contents
    assert {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in second.directory.iterdir()
    } == before


def test_a_changed_file_is_rewritten(v0: V0Conversation, convert: Convert) -> None:
    small_conversation(v0)
    first = convert(v0)
    contents = tree(first.directory)
    victim = first.directory / f"{v0.v1_id(2).replace('-', '')}.json"
    victim.write_bytes(victim.read_bytes() + b"\n")
    (first.directory / f"{v0.v1_id(3).replace('-', '')}.json").unlink()
    second = convert(v0)
    assert (second.report.written, second.report.unchanged) == (2, 16)
    assert tree(second.directory) == contents


def test_dry_run_counts_and_writes_nothing(
    v0: V0Conversation, convert: Convert, tmp_path: Path
) -> None:
    small_conversation(v0)
    planned = convert(v0, dry_run=True)
    assert planned.report.dry_run
    assert (planned.report.written, planned.report.unchanged, planned.report.events) == (18, 0, 18)
    assert not (tmp_path / "v1_conversations").exists()
    convert(v0)
    again = convert(v0, dry_run=True)
    assert (again.report.written, again.report.unchanged) == (0, 18)


def test_temporaries_a_killed_run_left_are_removed(v0: V0Conversation, convert: Convert) -> None:
    small_conversation(v0)
    directory = convert(v0).directory
    stale = directory / f".{'a' * 32}.json.1234abcd-7{TEMPORARY_SUFFIX}"
    stale.write_text('{"torn')
    (directory / ".keep").write_text("not ours")
    convert(v0)
    assert not stale.exists()
    assert (directory / ".keep").exists()
    assert remove_temporaries(directory) == 0


def test_an_error_inside_the_writer_leaves_no_temporary(tmp_path: Path) -> None:
    event = json.loads(
        (Path(__file__).parents[1] / "data/events/v1_reference/MessageEvent.json").read_text()
    )
    with pytest.raises(RuntimeError), EventWriter(tmp_path / "conversation") as writer:
        writer.write(event)
        raise RuntimeError("interrupted")
    assert list((tmp_path / "conversation").iterdir()) == []


def test_without_syncfs_each_file_is_fsynced(
    v0: V0Conversation, convert: Convert, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The portable path (no Linux syncfs) writes the same files."""
    small_conversation(v0)
    directory = convert(v0).directory
    synced = tree(directory)
    monkeypatch.setattr(v1_files, "_SYNCFS", None)
    for path in directory.iterdir():
        path.unlink()
    assert tree(convert(v0).directory) == synced


def test_small_batches_give_the_same_files(
    tmp_path: Path, v0: V0Conversation, convert: Convert
) -> None:
    small_conversation(v0)
    expected = tree(convert(v0).directory)
    events = [json.loads(content) for content in expected.values()]
    with EventWriter(tmp_path / "batched", batch=3) as writer:
        for event in events:
            assert writer.write(event)
    assert tree(tmp_path / "batched") == expected


@pytest.mark.slow
def test_a_run_killed_while_writing_is_completed_by_the_next(tmp_path: Path) -> None:
    v0 = V0Conversation(tmp_path / "store")
    small_conversation(v0, turns=1000)  # 3,002 events
    killed_root, clean_root = tmp_path / "killed", tmp_path / "clean"
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from convstore.events import convert_conversation\n"
        "convert_conversation(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))\n"
    )
    require_gate()
    target = killed_root / v0.uuid.hex
    target.mkdir(parents=True)  # so the gate can watch it before the writer starts
    gate = OpenGate(target)
    process = subprocess.Popen(
        [sys.executable, "-c", script, str(v0.events_dir), v0.id, str(killed_root)]
    )
    try:
        # Killed at its 1,000th file: a few batches renamed into place, one in flight.
        for number in range(1, 1001):
            held = gate.next_open(lambda: process.poll() is not None)
            assert held is not None, "the writer finished before its 1,000th file"
            if number < 1000:
                gate.allow(held)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    finally:
        gate.close()
    left = sorted(path.name for path in target.iterdir() if not path.name.startswith("."))
    assert 0 < len(left) < 3003, "the run was not killed while writing"

    clean = convert_conversation(v0.events_dir, v0.id, clean_root)
    expected = tree(clean_root / v0.uuid.hex)
    for name in left:  # what the killed run renamed into place is complete
        assert (target / name).read_bytes() == expected[name]
        assert validate_event_file(target / name).readable
    rerun = convert_conversation(v0.events_dir, v0.id, killed_root)
    assert (rerun.written, rerun.unchanged) == (clean.events - len(left), len(left))
    assert tree(target) == expected  # no temporary left, every file byte for byte


def test_reading_back_in_the_order_1x_shows(v0: V0Conversation, convert: Convert) -> None:
    small_conversation(v0)
    directory = convert(v0).directory
    files = list(iter_v1_events(directory))
    assert [file.event["timestamp"] for file in files] == sorted(
        json.loads(raw)["timestamp"] for raw in tree(directory).values()
    )
    assert [file.size for file in files] == [file.path.stat().st_size for file in files]
    assert files[0].event["kind"] == "SystemPromptEvent"
    assert files[-1].event["observation"]["kind"] == "FinishObservation"


def test_reading_back_drops_what_1x_drops_and_counts_as_1x_counts(
    v0: V0Conversation, convert: Convert
) -> None:
    small_conversation(v0)
    directory = convert(v0).directory
    sizes = sum(path.stat().st_size for path in directory.iterdir())
    (directory / "broken.json").write_text("{")
    (directory / "notes").write_text(json.dumps({"kind": "MessageEvent"}))
    (directory / ".hidden.json").write_text("{")
    (directory / "sub").mkdir()
    problems: list[Problem] = []
    events = list(iter_v1_events(directory, problems.append))
    assert len(events) == 18
    assert sorted(problem.path.name for problem in problems) == ["broken.json", "notes", "sub"]
    stats = directory_stats(directory)
    assert stats.names == 18 + 3  # 1.x's count: every name its glob matches, broken or not
    assert stats.bytes == sizes + 1 + len(json.dumps({"kind": "MessageEvent"}))
    assert directory_stats(directory / "missing").names == 0
    assert list(iter_v1_events(directory / "missing")) == []
