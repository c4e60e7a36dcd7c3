"""Concurrent writers as real processes on real stores: files, SQLite and PostgreSQL.

The overlap is forced from outside, with no hook in convstore: the test holds the lock
every writer needs (``flock`` on the session directory; ``BEGIN IMMEDIATE`` on SQLite;
``SELECT ... FOR UPDATE`` on the PostgreSQL row), starts the writers, and waits until
each one is seen blocked on that lock (in /proc/locks, asleep in SQLite's busy handler,
or waiting on a lock in pg_stat_activity). A writer blocks only after it has read the
record, so when the lock is released every writer has read the same version.

To force an order (a delete committing between a rename's read and its write, and the
other way round): on files and SQLite the writer meant to go second is stopped with
SIGSTOP while it waits, so the other one takes the lock first; PostgreSQL queues row
lock waiters first come, first served, so the first one started goes first.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import (
    cli,
    finish,
    flock_waiters,
    listing,
    one_line_error,
    sleeping,
    spawn,
    still_running,
    wait_until,
)

CONFLICT = 5


@dataclass
class Target:
    """One conversation in one store, and the lock its writers take."""

    kind: str
    conversation_id: str
    store: list[str]
    path: Path | None = None  # the session directory, or the SQLite file
    database: Database | None = None
    names: list[str] = field(default_factory=list)

    def args(self, name: str) -> list[str]:
        """Store options for one process; on PostgreSQL it is named, to be found waiting."""
        if self.kind != "postgresql":
            return self.store
        assert self.database is not None
        self.names.append(name)
        separator = "&" if "?" in self.database.url else "?"
        return ["--db", f"{self.database.url}{separator}application_name={name}"]

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Hold the lock every writer of this conversation needs, then let it go."""
        if self.kind == "files":
            assert self.path is not None
            descriptor = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                os.close(descriptor)
        elif self.kind == "sqlite":
            connection = sqlite3.connect(self.path, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield
                connection.execute("ROLLBACK")
            finally:
                connection.close()
        else:
            assert self.database is not None
            with self.database.engine.connect() as connection, connection.begin():
                locked = connection.execute(
                    text(
                        "SELECT conversation_id FROM conversation_metadata "
                        "WHERE conversation_id = :id FOR UPDATE"
                    ),
                    {"id": self.conversation_id},
                ).all()
                assert len(locked) == 1
                yield

    def blocked(self, process: subprocess.Popen[str], name: str) -> bool:
        """True once ``process`` waits for the lock (so it has read the record)."""
        still_running([process])
        if self.kind == "files":
            assert self.path is not None
            return process.pid in flock_waiters(self.path)
        if self.kind == "sqlite":
            return sleeping(process.pid)
        assert self.database is not None
        with self.database.engine.connect() as connection:
            waiting = connection.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalars()
            return name in set(waiting)

    def title(self) -> str | None:
        """The stored title, read behind convstore's back; None when the record is gone."""
        if self.kind == "files":
            assert self.path is not None
            metadata = self.path / "metadata.json"
            if not metadata.exists():
                return None
            value = json.loads(metadata.read_bytes())["title"]
            assert isinstance(value, str)
            return value
        assert self.database is not None
        with self.database.engine.connect() as connection:
            found = connection.execute(
                text("SELECT title FROM conversation_metadata WHERE conversation_id = :id"),
                {"id": self.conversation_id},
            ).all()
        return None if not found else str(found[0][0])


@pytest.fixture(
    params=[
        "files",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "files":
        yield _file_target(tmp_path)
        return
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db' / 'openhands.db'}"
    else:
        url = request.getfixturevalue("postgres_database_url")
    database = Database(url)
    conversation_id = str(uuid.uuid4())
    database.insert(conversation_id=conversation_id, title="original")
    database.insert(title="bystander")
    path = tmp_path / "db" / "openhands.db" if request.param == "sqlite" else None
    try:
        yield Target(request.param, conversation_id, ["--db", url], path=path, database=database)
    finally:
        database.dispose()


def _file_target(tmp_path: Path) -> Target:
    files = FileStoreBuilder(tmp_path / "store")
    conversation_id, _ = files.generation("2025-12", title="original")
    # A second conversation, to see that nothing else is touched.
    files.generation("2025-12", title="bystander")
    aged(files.root)  # not in use: `delete` goes as far as the lock
    return Target(
        "files",
        conversation_id,
        ["--file-store", str(files.root)],
        path=files.root / "sessions" / conversation_id,
    )


def _start_blocked(target: Target, name: str, *args: str) -> subprocess.Popen[str]:
    process = spawn(args[0], *target.args(name), *args[1:])
    wait_until(lambda: target.blocked(process, name), f"{name} waits for the lock")
    return process


def test_two_renames_at_once_one_wins_the_other_exits_5(target: Target) -> None:
    with target.hold():
        first = spawn("rename", *target.args("rename-a"), target.conversation_id, "Title A")
        second = spawn("rename", *target.args("rename-b"), target.conversation_id, "Title B")
        wait_until(
            lambda: target.blocked(first, "rename-a") and target.blocked(second, "rename-b"),
            "both renames have read and wait for the lock",
        )
    outcomes = {title: finish(process) for title, process in (("A", first), ("B", second))}
    statuses = sorted(status for status, _, _ in outcomes.values())
    assert statuses == [0, CONFLICT], outcomes
    winner = next(title for title, (status, _, _) in outcomes.items() if status == 0)
    loser = next(title for title, (status, _, _) in outcomes.items() if status == CONFLICT)
    assert outcomes[winner][1] == f"{target.conversation_id}\tTitle {winner}\n"
    assert "changed or disappeared since it was read" in one_line_error(outcomes[loser][2])
    # No lost update: what is stored is what the winner was told it wrote.
    assert target.title() == f"Title {winner}"
    titles = {item["title"] for item in listing(*target.store)}
    assert titles == {f"Title {winner}", "bystander"}


@pytest.mark.parametrize("first", ["delete", "rename"])
def test_delete_racing_rename_never_brings_the_conversation_back(
    target: Target, first: str
) -> None:
    """Both read the record; ``first`` commits before the other writes."""
    commands = {
        "delete": ("delete", target.conversation_id, "--yes"),
        "rename": ("rename", target.conversation_id, "Renamed"),
    }
    second = "rename" if first == "delete" else "delete"
    with target.hold():
        if target.kind == "postgresql":
            # Row lock waiters are served in arrival order.
            early = _start_blocked(target, first, *commands[first])
            late = _start_blocked(target, second, *commands[second])
            processes = {first: early, second: late}
        else:
            late = _start_blocked(target, second, *commands[second])
            late.send_signal(signal.SIGSTOP)
            early = _start_blocked(target, first, *commands[first])
            processes = {first: early, second: late}
    try:
        first_status, _, first_err = finish(processes[first])
        assert first_status == 0, first_err
    finally:
        processes[second].send_signal(signal.SIGCONT)
    second_status, _, second_err = finish(processes[second])
    assert second_status == CONFLICT, second_err
    error = one_line_error(second_err, after_preview=second == "delete")
    assert "changed or disappeared since it was read" in error

    shown = cli("show", *target.store, target.conversation_id)
    remaining = {item["conversation_id"]: item["title"] for item in listing(*target.store)}
    if first == "delete":
        assert target.title() is None
        assert shown.exit_code == 4
        assert target.conversation_id not in remaining
        if target.kind == "files":
            assert target.path is not None
            leftovers = [p.name for p in target.path.parent.iterdir()]
            assert target.conversation_id not in leftovers
            assert not [name for name in leftovers if name.startswith(".deleting-")]
    else:
        assert target.title() == "Renamed"
        assert shown.exit_code == 0
        assert remaining[target.conversation_id] == "Renamed"
    assert "bystander" in remaining.values() and len(remaining) == (1 if first == "delete" else 2)


def test_renames_that_lost_leave_no_temporary_file(tmp_path: Path) -> None:
    """Three at once on files: one wins, and the losers write nothing, not even a
    temporary file."""
    target = _file_target(tmp_path)
    assert target.path is not None
    before = target.path / "metadata.json"
    with target.hold():
        processes = [
            spawn("rename", *target.args(f"r{n}"), target.conversation_id, f"T{n}")
            for n in range(3)
        ]
        wait_until(
            lambda: all(target.blocked(p, f"r{n}") for n, p in enumerate(processes)),
            "three renames wait for the lock",
        )
    statuses = sorted(finish(process)[0] for process in processes)
    assert statuses == [0, CONFLICT, CONFLICT]
    assert sorted(p.name for p in target.path.iterdir()) == ["metadata.json"]
    assert before.read_bytes().startswith(b'{"conversation_id":')
