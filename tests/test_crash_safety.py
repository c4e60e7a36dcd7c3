"""``kill -9`` in the middle of a rename or a delete of a V0 file, on a real store.

Each attempt holds the session directory's ``flock`` while a real `convstore` process
starts and reads, so the write begins the moment the test lets go; the kill then lands
either as soon as the operation's first trace appears on disk (the temporary file of a
rewrite, the ``.deleting-`` directory of a delete: mid-operation for certain), or after
a random delay. Attempts repeat, bounded, until a kill has landed mid-operation, then a
few more at random moments. After every kill the store is in the old or the new state,
never a torn metadata.json, and `list` shows exactly that state, leftovers ignored.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from convstore.fsutil import TEMPORARY_SUFFIX
from convstore.stores.files import DELETING_PREFIX
from tests.conftest import FileStoreBuilder, aged
from tests.faults import cli, flock_waiters, listing, spawn, wait_until

# A metadata.json near the 1 MiB convstore reads, so the rewrite takes a while.
PADDING = 900_000
MID_OPERATION_ATTEMPTS = 8
RANDOM_ATTEMPTS = 5
EVENTS = 400  # per directory: enough for rmtree to take a while


def _kill_when(
    directory: Path, args: list[str], landed: Any, delay: float | None
) -> subprocess.Popen[str]:
    """Start ``convstore *args`` blocked on the directory's lock, let it go, and kill it
    with SIGKILL once ``landed()`` is true (or after ``delay`` seconds)."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        process = spawn(*args)
        wait_until(lambda: process.pid in flock_waiters(directory), "the writer waits")
    finally:
        os.close(descriptor)
    if delay is None:
        deadline = time.monotonic() + 10
        while not landed() and process.poll() is None and time.monotonic() < deadline:
            pass  # spin: the window is milliseconds wide
    else:
        time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process


def _schedule(rng: random.Random, longest: float, landed: Any) -> Iterator[float | None]:
    """Kill delays: None (kill at the first trace of the operation) until one kill has
    landed mid-operation, at most MID_OPERATION_ATTEMPTS times; then random delays."""
    for _ in range(MID_OPERATION_ATTEMPTS):
        if landed():
            break
        yield None
    for _ in range(RANDOM_ATTEMPTS):
        yield rng.uniform(0, longest)


def _without(items: list[dict[str, Any]], conversation_id: str) -> list[dict[str, Any]]:
    return [item for item in items if item["conversation_id"] != conversation_id]


@pytest.fixture
def store(tmp_path: Path) -> FileStoreBuilder:
    files = FileStoreBuilder(tmp_path / "store")
    for generation in ("2025-01-06", "2025-06", "2025-12"):
        files.generation(generation, user_id="alice")
    return files


@pytest.mark.slow
def test_kill_9_during_rename_leaves_old_or_new_never_torn(store: FileStoreBuilder) -> None:
    conversation_id, document = store.generation(
        "2025-12", user_id="alice", padding="p" * PADDING, title="before"
    )
    directory = store.root / "sessions" / conversation_id
    metadata = directory / "metadata.json"
    options = ["--file-store", str(store.root)]
    others = _without(listing(*options), conversation_id)

    def temporaries() -> list[str]:
        return [name for name in os.listdir(directory) if name.endswith(TEMPORARY_SUFFIX)]

    def state() -> tuple[set[str], tuple[int, int, int]]:
        info = metadata.stat()
        return set(temporaries()), (info.st_size, info.st_mtime_ns, info.st_ino)

    rng = random.Random(5)
    attempts = 0
    mid_write: list[int] = []  # attempts whose kill landed mid-write
    outcomes: set[str] = set()
    for delay in _schedule(rng, 0.08, lambda: bool(mid_write)):
        attempts += 1
        old = metadata.read_bytes()
        title = f"title {attempts}"
        before = state()
        _kill_when(
            directory,
            ["rename", *options, conversation_id, title],
            # The first trace of the write: a temporary file, or any change to the file.
            lambda before=before: (now := state())[1] != before[1] or bool(now[0] - before[0]),
            delay,
        )
        new = metadata.read_bytes()
        left = set(temporaries()) - before[0]
        if new == old:
            outcomes.add("old")
        else:
            try:
                written = json.loads(new)
            except ValueError:
                pytest.fail(f"a torn metadata.json after kill -9: {new[:80]!r}…{new[-80:]!r}")
            previous = json.loads(old)
            assert written["title"] == title
            assert list(written) == list(previous)
            assert {k: v for k, v in written.items() if k not in ("title", "last_updated_at")} == {
                k: v for k, v in previous.items() if k not in ("title", "last_updated_at")
            }
            outcomes.add("new")
        if left:
            mid_write.append(attempts)
            # Killed before the swap: the old file stands. Killed after the exchange but
            # before the displaced file was removed: the leftover holds the old bytes.
            [name] = left
            assert new == old or (directory / name).read_bytes() == old, (
                "a temporary file is left only when the swap never happened, or holding "
                "exactly what the swap displaced"
            )
        # `list` shows the state on disk and nothing of the leftovers.
        items = listing(*options)
        assert _without(items, conversation_id) == others
        [mine] = [item for item in items if item["conversation_id"] == conversation_id]
        assert mine["title"] == json.loads(new)["title"] and mine["problems"] == []
    assert mid_write, f"no kill landed mid-write in {attempts} attempts"
    assert "old" in outcomes
    assert len(temporaries()) >= 1

    # Leftovers do not get in the way: a rename after the crashes works and keeps
    # every other key, and delete takes the leftovers with the conversation.
    renamed = cli("rename", *options, conversation_id, "after the crashes")
    assert renamed.exit_code == 0, renamed.output
    final = json.loads(metadata.read_bytes())
    assert final["padding"] == document["padding"] and final["title"] == "after the crashes"
    # --force: the rename just now makes it look in use (tests/test_deletion.py)
    deleted = cli("delete", *options, conversation_id, "--yes", "--force")
    assert deleted.exit_code == 0, deleted.output
    assert not directory.exists()
    assert listing(*options) == others


@pytest.mark.slow
def test_kill_9_during_delete_leaves_the_conversation_whole_or_gone(
    store: FileStoreBuilder,
) -> None:
    options = ["--file-store", str(store.root)]
    others = listing(*options)
    sessions = store.root / "sessions"
    rng = random.Random(9)
    attempts = 0
    mid_delete: list[int] = []  # attempts whose kill landed mid-delete
    seen: set[str] = set()
    for delay in _schedule(rng, 0.15, lambda: bool(mid_delete)):
        attempts += 1
        conversation_id, _ = store.generation("2025-12", user_id="alice")
        directory = sessions / conversation_id
        # Many event files, in the session and the user's directory: rmtree takes a while.
        user_events = store.root / "users" / "alice" / "conversations" / conversation_id / "events"
        for events in (directory / "events", user_events):
            events.mkdir(parents=True)
            for n in range(EVENTS):
                (events / f"{n}.json").write_bytes(b'{"id":%d}' % n)
            aged(events.parent)  # not in use: `delete` takes it
        old = (directory / "metadata.json").read_bytes()
        hidden_before = {name for name in os.listdir(sessions) if name.startswith(DELETING_PREFIX)}

        def hidden(before: set[str] = hidden_before) -> bool:
            return any(
                name.startswith(DELETING_PREFIX) and name not in before
                for name in os.listdir(sessions)
            )

        _kill_when(
            directory,
            ["delete", *options, conversation_id, "--yes"],
            lambda directory=directory: hidden() or not directory.exists(),
            delay,
        )
        items = listing(*options)
        if directory.exists():
            seen.add("whole")
            # Still listed, and whole: its metadata and every event, in both places.
            assert (directory / "metadata.json").read_bytes() == old
            assert len(os.listdir(directory / "events")) == EVENTS
            assert len(os.listdir(user_events)) == EVENTS
            assert _without(items, conversation_id) == others
            assert cli("delete", *options, conversation_id, "--yes").exit_code == 0
        else:
            seen.add("gone")
            assert items == others
            assert cli("show", *options, conversation_id).exit_code == 4
        if hidden():
            mid_delete.append(attempts)
    assert mid_delete, f"no kill landed mid-delete in {attempts} attempts"
    assert "gone" in seen
    leftovers = [name for name in os.listdir(sessions) if name.startswith(DELETING_PREFIX)]
    assert leftovers, "the crashes left half-deleted directories behind"
    # They are not conversations: not listed, not addressable.
    assert listing(*options) == others
    for name in leftovers:
        assert cli("show", *options, name).exit_code == 4
        assert cli("rename", *options, name, "x").exit_code == 4
