"""No lost update on a V0 file against a writer that takes no lock (issue 14, item 1).

OpenHands rewrites metadata.json whenever a conversation's cost, tokens or title change,
without convstore's lock. Each test runs a real `convstore` process and stops it at its
k-th open of a file in the conversation directory (``tests.interleave``: fanotify
permission events), changes metadata.json behind it at that instant, then lets it go;
k steps through every open the command makes, so every interleaving of the change with
the command's reads and its swap is tried, in a fresh store each time.

The change behind it is what OpenHands does: read the conversation's state, add to
``prompt_tokens``, and write it back, either in place (open with truncation, then
write) or atomically (a new file renamed over); for rename and delete also torn: the
file truncated at the k-th open and written at the next, a writer that opened it
before the swap and writes after. Afterwards the change is always still in the file;
the command either succeeded with its own change on top, or exited 5 having written
nothing at all.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from convstore.errors import Conflict
from convstore.fsutil import TEMPORARY_SUFFIX
from convstore.objects import swap as v0_swap
from convstore.objects.local import DELETING_PREFIX
from convstore.sample import encode
from convstore.stores.files import FileStore
from tests.conftest import Database, FileStoreBuilder
from tests.faults import finish, flock_waiters, one_line_error, spawn, wait_until
from tests.interleave import (
    Change,
    Run,
    TornWrite,
    every_open,
    require_gate,
    stopped_at,
    stopped_in_thread,
)

CONFLICT = 5
BEHIND = 1000  # what each change behind the command adds to prompt_tokens


def in_place(path: Path, raw: bytes) -> None:
    """As OpenHands writes metadata.json: open with truncation, then write."""
    with open(path, "wb") as stream:
        stream.write(raw)


def atomically(path: Path, raw: bytes) -> None:
    temporary = path.with_name(".behind.tmp")
    temporary.write_bytes(raw)
    os.replace(temporary, path)


WRITES = {"in place": in_place, "atomic": atomically}
TORN = "torn in place"


class Conversation:
    """One V0 conversation in a fresh store per round, and what was written behind it."""

    def __init__(self, root: Path) -> None:
        store = FileStoreBuilder(root)
        self.root = root
        self.conversation_id, self.document = store.generation("2025-12", title="original")
        store.generation("2025-12", title="bystander")
        self.behind: list[bytes] = []  # every file written behind the command, in order
        self.torn: TornWrite | None = None

    @property
    def directory(self) -> Path:
        return self.root / "sessions" / self.conversation_id

    @property
    def metadata(self) -> Path:
        return self.directory / "metadata.json"

    def change_behind(self, write: Callable[[Path, bytes], None]) -> Change:
        """Read the conversation where it is now, add to its tokens, write it back."""

        def change(opened: Path) -> None:
            path = opened.parent / "metadata.json"
            data = json.loads(path.read_bytes())
            data["prompt_tokens"] += BEHIND
            raw = encode(data)
            write(path, raw)
            self.behind.append(raw)

        return change

    def behind_at(self, write: str, k: int) -> dict[int, Change]:
        """The change to make at the k-th open (torn: begun there, ended at the next)."""
        if write != TORN:
            return {k: self.change_behind(WRITES[write])}

        def new(raw: bytes) -> bytes:
            data = json.loads(raw)
            data["prompt_tokens"] += BEHIND
            self.behind.append(encode(data))
            return self.behind[-1]

        self.torn = TornWrite(new, lambda _raw: b"")
        return {k: self.torn.start, k + 1: self.torn.finish}

    def settle(self) -> None:
        """End a torn write the command made no open for (after it exited)."""
        if self.torn is not None:
            self.torn.finish()

    def with_changes_behind(self) -> dict[str, Any]:
        return {**self.document, "prompt_tokens": self.document["prompt_tokens"] + BEHIND}

    def leftovers(self, directory: Path) -> list[str]:
        return [
            name
            for name in os.listdir(directory)
            if name.endswith(TEMPORARY_SUFFIX) or name.startswith(DELETING_PREFIX)
        ]


def _each_open(
    tmp_path: Path,
    write: str,
    command: Callable[[Conversation], list[str]],
    check: Callable[[int, Run, Conversation], None],
) -> None:
    """``every_open`` with a fresh conversation each round: the command's arguments are
    ``command(conversation)``, the change made behind it at its k-th open is ``write``'s,
    and ``check(k, run, conversation)`` judges the round."""
    numbers = itertools.count()
    current: list[Conversation] = []

    def setup() -> tuple[list[str], list[Path]]:
        current[:] = [Conversation(tmp_path / f"round-{next(numbers)}")]
        return command(current[0]), [current[0].directory]

    every_open(
        setup,
        lambda k: current[0].behind_at(write, k),
        lambda k, run: check(k, run, current[0]),
    )


def _read_the_change(k: int, run: Run, conversation: Conversation, write: str) -> bool:
    """True when the command's first read of metadata.json saw the change made at its
    k-th open: a change before that open, or at it in place. (The open has found the
    file already, so a file renamed over it then is not what it reads.)"""
    first = 1 + run.opened.index(conversation.metadata)
    return k < first or (k == first and write != "atomic")


def _after_the_check(k: int, run: Run, conversation: Conversation, write: str) -> bool:
    """True when the change at the k-th open came after a directory move's check had
    found the moved metadata.json: a file renamed over it then, inside the moved
    directory, is a write after the check (a writer can make it only through a handle
    on the directory taken before the move: the window README names)."""
    opened = run.opened[k - 1]
    return write == "atomic" and opened.parent != conversation.directory


@pytest.fixture
def _gate() -> None:
    require_gate()


@pytest.mark.slow
@pytest.mark.parametrize("write", [*WRITES, TORN])
@pytest.mark.usefixtures("_gate")
def test_rename_keeps_every_change_made_behind_it(tmp_path: Path, write: str) -> None:
    statuses: list[int] = []

    def command(conversation: Conversation) -> list[str]:
        args = ["rename", "--file-store", str(conversation.root)]
        return [*args, conversation.conversation_id, "renamed"]

    def check(k: int, run: Run, conversation: Conversation) -> None:
        conversation.settle()
        final = json.loads(conversation.metadata.read_bytes())
        expected = conversation.with_changes_behind()
        assert final["prompt_tokens"] == expected["prompt_tokens"], f"open {k}: change lost"
        if run.status == 0:
            assert final["title"] == "renamed", f"open {k}"
            # Its own change on top: the title (and the update time it sets).
            kept = {**final, "title": "original", "last_updated_at": None}
            assert kept == {**expected, "last_updated_at": None}, f"open {k}"
            assert run.stdout == f"{conversation.conversation_id}\trenamed\n"
        else:
            assert run.status == CONFLICT, (k, run.stderr)
            assert "changed or disappeared since it was read" in one_line_error(run.stderr)
            assert conversation.metadata.read_bytes() == conversation.behind[-1], f"open {k}"
        assert conversation.leftovers(conversation.directory) == [], f"open {k}"
        if _read_the_change(k, run, conversation, write):
            assert run.status == 0, "a change before the read is simply what it read"
        statuses.append(run.status)

    _each_open(tmp_path, write, command, check)
    # One between its read and its swap is a conflict; one after the swap lands on top.
    assert CONFLICT in statuses and statuses[-1] == 0, statuses


@pytest.mark.slow
@pytest.mark.parametrize("write", [*WRITES, TORN])
@pytest.mark.usefixtures("_gate")
def test_delete_never_deletes_a_change_made_after_its_read(tmp_path: Path, write: str) -> None:
    statuses: list[int] = []

    def command(conversation: Conversation) -> list[str]:
        args = ["delete", "--file-store", str(conversation.root), conversation.conversation_id]
        # --force: the conversation was just written, so it looks in use (as it is here).
        return [*args, "--yes", "--force"]

    def check(k: int, run: Run, conversation: Conversation) -> None:
        conversation.settle()
        sessions = conversation.root / "sessions"
        if _read_the_change(k, run, conversation, write) or _after_the_check(
            k, run, conversation, write
        ):  # deleted as read
            assert run.status == 0, (k, run.stderr)
            assert not conversation.directory.exists()
        else:
            assert run.status == CONFLICT, (k, run.stderr)
            error = one_line_error(run.stderr, after_preview=True)
            assert "changed or disappeared since it was read" in error
            assert conversation.metadata.read_bytes() == conversation.behind[-1], f"open {k}"
            assert conversation.leftovers(conversation.directory) == []
        assert conversation.leftovers(sessions) == [], f"open {k}"
        statuses.append(run.status)

    _each_open(tmp_path, write, command, check)
    assert statuses.count(CONFLICT) >= 2, statuses  # the read under the lock, the check


@pytest.mark.slow
@pytest.mark.parametrize("write", WRITES)
@pytest.mark.usefixtures("_gate")
def test_verify_fix_keeps_every_change_made_behind_it(tmp_path: Path, write: str) -> None:
    outcomes: list[str] = []

    def command(conversation: Conversation) -> list[str]:
        # A null pr_number is an error verify --fix repairs (to []).
        broken = {**conversation.document, "pr_number": None}
        conversation.metadata.write_bytes(encode(broken))
        conversation.document = broken
        return ["verify", "--file-store", str(conversation.root), "--fix"]

    def check(k: int, run: Run, conversation: Conversation) -> None:
        conversation.settle()
        final = json.loads(conversation.metadata.read_bytes())
        expected = conversation.with_changes_behind()
        assert final["prompt_tokens"] == expected["prompt_tokens"], f"open {k}: change lost"
        if final["pr_number"] == []:
            assert "repaired  files.required-field" in run.stdout, (k, run.stdout)
            assert {**final, "pr_number": None} == expected
            assert run.status == 0, (k, run.stderr)
            outcomes.append("repaired")
        else:
            assert "not repaired" in run.stdout and "changed since verify read it" in run.stdout
            assert conversation.metadata.read_bytes() == conversation.behind[-1], f"open {k}"
            assert run.status == 1, (k, run.stderr)
            outcomes.append("not repaired")
        assert conversation.leftovers(conversation.directory) == [], f"open {k}"

    _each_open(tmp_path, write, command, check)
    assert "not repaired" in outcomes and outcomes[-1] == "repaired", outcomes


@pytest.mark.slow
@pytest.mark.parametrize("after", ["archive", "remove"])
@pytest.mark.parametrize("write", WRITES)
@pytest.mark.usefixtures("_gate")
def test_migrate_after_leaves_a_source_changed_after_its_read(
    tmp_path: Path, write: str, after: str
) -> None:
    statuses: list[int] = []

    def command(conversation: Conversation) -> list[str]:
        url = f"sqlite:///{conversation.root / 'openhands.db'}"
        Database(url).dispose()  # an empty OpenHands database to migrate into
        args = ["migrate-v0-to-v1", "--file-store", str(conversation.root), "--db", url]
        # --active-within 0s: just written, the source would look in use and stay.
        return [*args, "--after", after, "--no-events", "--active-within", "0s"]

    def check(k: int, run: Run, conversation: Conversation) -> None:
        conversation.settle()
        archived = conversation.root / "sessions-migrated" / conversation.conversation_id
        if _read_the_change(k, run, conversation, write) or _after_the_check(
            k, run, conversation, write
        ):  # migrated as read, then archived with every change (or removed)
            assert run.status == 0, (k, run.stdout, run.stderr)
            assert not conversation.directory.exists()
            if after == "archive":
                kept = json.loads((archived / "metadata.json").read_bytes())
                assert kept == conversation.with_changes_behind()
        else:
            assert run.status == 1, (k, run.stdout, run.stderr)
            assert "conflict" in run.stdout and "metadata.json changed after it was read" in (
                run.stdout
            )
            assert conversation.metadata.read_bytes() == conversation.behind[-1], f"open {k}"
            assert not archived.exists()
            assert conversation.leftovers(conversation.directory) == []
        assert conversation.leftovers(conversation.root / "sessions") == [], f"open {k}"
        statuses.append(run.status)

    _each_open(tmp_path, write, command, check)
    assert 1 in statuses, statuses


@pytest.mark.usefixtures("_gate")
def test_a_write_into_the_new_file_while_it_stood_for_a_moment_is_kept(tmp_path: Path) -> None:
    """Changed before the swap (so the swap is undone), and written again in place while
    convstore's new file stood there, before the swap back: OpenHands' newest write is
    what stays. OpenHands writes from its own state: the second write builds on the
    first, not on what it found in the file."""
    conversation = Conversation(tmp_path / "store")
    first = conversation.change_behind(in_place)

    def from_memory(opened: Path) -> None:
        data = json.loads(conversation.behind[-1])
        data["completion_tokens"] += BEHIND
        raw = encode(data)
        in_place(opened.parent / "metadata.json", raw)
        conversation.behind.append(raw)

    def plan(number: int, path: Path) -> Change | None:
        """Change when the new file is created, and again at the next open: the read of
        the displaced file, while the new one stands in place."""
        if path.name.endswith(TEMPORARY_SUFFIX) and not conversation.behind:
            return first
        return from_memory if len(conversation.behind) == 1 else None

    args = ["rename", "--file-store", str(conversation.root), conversation.conversation_id, "x"]
    run = stopped_at(args, [conversation.directory], plan, changes=2)
    assert len(run.changed) == 2 and run.changed[1] == run.changed[0] + 1, run.opened
    assert run.status == CONFLICT, run.stderr
    assert conversation.metadata.read_bytes() == conversation.behind[-1]
    final = json.loads(conversation.behind[-1])
    assert final["title"] == "original"
    assert final["prompt_tokens"] == conversation.document["prompt_tokens"] + BEHIND
    assert final["completion_tokens"] == conversation.document["completion_tokens"] + BEHIND
    assert conversation.leftovers(conversation.directory) == []


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.usefixtures("_gate")
def test_without_the_exchange_the_file_is_compared_right_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    """Where renameat2 is missing (another system, an old C library), the replace
    compares the file again right before it renames. A fake at the boundary:
    ``_renameat2`` answers that there is none. In process, so the update runs in a
    thread the test stops at each open."""
    monkeypatch.setattr(v0_swap, "_renameat2", lambda: None)
    outcomes = []
    for k in itertools.count(1):
        conversation = Conversation(tmp_path / f"round-{k}")
        store = FileStore(conversation.root)
        record = store.get(conversation.conversation_id)
        assert record is not None
        run, raised = stopped_in_thread(
            functools.partial(store.update, record, {"title": "renamed"}),
            [conversation.directory],
            {k: conversation.change_behind(WRITES[write])},
        )
        if not run.changed:
            break
        final = json.loads(conversation.metadata.read_bytes())
        if final["prompt_tokens"] != conversation.document["prompt_tokens"] + BEHIND:
            outcomes.append("lost")
        elif raised is None:
            assert final["title"] == "renamed"
            outcomes.append("renamed")
        else:
            assert isinstance(raised, Conflict), raised
            assert conversation.metadata.read_bytes() == conversation.behind[-1]
            outcomes.append("conflict")
        assert conversation.leftovers(conversation.directory) == []
    # The read of the bytes to edit, the read under the lock, the new file, the compare
    # right before the rename: each a conflict; the read after the rename (the record
    # returned) sees the change on top. Except the window this fallback leaves (README): a
    # file renamed over metadata.json after the compare opened the old one and before the
    # rename is overwritten.
    at_the_compare = "lost" if write == "atomic" else "conflict"
    assert outcomes == ["conflict", "conflict", "conflict", at_the_compare, "renamed"], outcomes


def test_verify_fix_waits_for_a_delete_that_may_move_its_directory_back(tmp_path: Path) -> None:
    """A delete hides the directory, then compares its metadata.json and may move it
    back; meanwhile the hidden directory looks like the leftover of an interrupted
    delete (its mtime is old). `verify --fix` takes the lock the delete holds on it
    before removing it, so it never removes a directory a delete then moves back. The
    delete is played by the test: it holds the lock, waits until verify waits for it,
    and moves the directory back."""
    conversation = Conversation(tmp_path / "store")
    hidden = conversation.directory.with_name(
        f"{DELETING_PREFIX}{conversation.conversation_id}-0a1b2c3d"
    )
    os.rename(conversation.directory, hidden)
    os.utime(hidden, (time.time() - 3600, time.time() - 3600))
    descriptor = os.open(hidden, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        process = spawn("verify", "--file-store", conversation.root, "--fix")
        wait_until(lambda: process.pid in flock_waiters(hidden), "verify waits for the lock")
        os.rename(hidden, conversation.directory)
    finally:
        os.close(descriptor)
    status, _, err = finish(process)
    assert status == 0 and "Traceback" not in err, err
    assert conversation.metadata.read_bytes() == encode(conversation.document)
    assert conversation.leftovers(conversation.root / "sessions") == []
