"""``kill -9`` at every point of a rename or a delete of a V0 file, on a real store.

Each attempt runs a real `convstore` process and kills it while one of its opens of a
file in the conversation's directories is held (tests/interleave.py: fanotify
permission events): the first attempt at its first open, the next at its second, and
so on until the command finishes before the kill, so every step between two opens is
a crash point, none left to luck or timing. After every kill the store is in the old or
the new state, never a torn metadata.json, and `list` shows exactly that state,
leftovers ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from convstore.fsutil import TEMPORARY_SUFFIX
from convstore.objects.local import DELETING_PREFIX
from tests.conftest import FileStoreBuilder, aged
from tests.faults import cli, listing
from tests.interleave import killed_at, require_gate

EVENTS = 40  # per directory
LIMIT = 60  # opens: a command making more is stuck in a loop


def _without(items: list[dict[str, Any]], conversation_id: str) -> list[dict[str, Any]]:
    return [item for item in items if item["conversation_id"] != conversation_id]


@pytest.fixture
def store(tmp_path: Path) -> FileStoreBuilder:
    require_gate()
    files = FileStoreBuilder(tmp_path / "store")
    for generation in ("2025-01-06", "2025-06", "2025-12"):
        files.generation(generation, user_id="alice")
    return files


@pytest.mark.slow
def test_kill_9_during_rename_leaves_old_or_new_never_torn(store: FileStoreBuilder) -> None:
    conversation_id, document = store.generation(
        "2025-12", user_id="alice", padding="p" * 100_000, title="before"
    )
    directory = store.root / "sessions" / conversation_id
    metadata = directory / "metadata.json"
    options = ["--file-store", str(store.root)]
    others = _without(listing(*options), conversation_id)

    def temporaries() -> set[str]:
        return {name for name in os.listdir(directory) if name.endswith(TEMPORARY_SUFFIX)}

    outcomes: set[str] = set()
    leftovers_seen = 0
    for k in range(1, LIMIT + 1):
        old, before = metadata.read_bytes(), temporaries()
        title = f"title {k}"
        opened = killed_at(["rename", *options, conversation_id, title], [directory], k)
        new = metadata.read_bytes()
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
        for name in temporaries() - before:
            leftovers_seen += 1
            # Killed before the swap: the old file stands. Killed after the exchange but
            # before the displaced file was removed: the leftover holds the old bytes.
            assert new == old or (directory / name).read_bytes() == old, (
                "a temporary file is left only when the swap never happened, or holding "
                "exactly what the swap displaced"
            )
        # `list` shows the state on disk and nothing of the leftovers.
        items = listing(*options)
        assert _without(items, conversation_id) == others
        [mine] = [item for item in items if item["conversation_id"] == conversation_id]
        assert mine["title"] == json.loads(new)["title"] and mine["problems"] == []
        if len(opened) < k:
            break  # it finished before its k-th open: every point has been a crash
    else:
        pytest.fail(f"rename still opened files after {LIMIT} crashes")
    # The sweep crashed it before and after the swap, and with its temporary in place.
    assert outcomes == {"old", "new"} and leftovers_seen >= 1

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
    seen: set[str] = set()
    for k in range(1, LIMIT + 1):
        conversation_id, _ = store.generation("2025-12", user_id="alice")
        directory = sessions / conversation_id
        # Event files in the session and in the user's directory.
        user_directory = store.root / "users" / "alice" / "conversations" / conversation_id
        user_events = user_directory / "events"
        for events in (directory / "events", user_events):
            events.mkdir(parents=True)
            for n in range(EVENTS):
                (events / f"{n}.json").write_bytes(b'{"id":%d}' % n)
            aged(events.parent)  # not in use: `delete` takes it
        old = (directory / "metadata.json").read_bytes()
        watched = [directory, directory / "events", user_directory, user_events]
        opened = killed_at(["delete", *options, conversation_id, "--yes"], watched, k)
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
        if len(opened) < k:
            break  # it finished before its k-th open: every point has been a crash
    else:
        pytest.fail(f"delete still opened files after {LIMIT} crashes")
    assert seen == {"whole", "gone"}
    leftovers = [name for name in os.listdir(sessions) if name.startswith(DELETING_PREFIX)]
    assert leftovers, "the crashes left half-deleted directories behind"
    # They are not conversations: not listed, not addressable.
    assert listing(*options) == others
    for name in leftovers:
        assert cli("show", *options, name).exit_code == 4
        assert cli("rename", *options, name, "x").exit_code == 4
