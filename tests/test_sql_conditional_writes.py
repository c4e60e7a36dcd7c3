"""Rename and delete of a row change it only if it still holds what was read (issue 14,
item 2): on SQLite and on PostgreSQL (``database_url`` runs each test on both).

OpenHands updates a V1 row as its agent runs, without asking anyone. Each test here
lets a real `convstore` process read the row, stops it before its write, changes the
row from another connection, and lets it go: the command exits 5 and the other
writer's change is intact. How it is stopped, with no hook in convstore:

- SQLite: the test holds the write lock (``BEGIN IMMEDIATE``); the command has read and
  waits for the lock in SQLite's busy handler. The test changes the row in the
  transaction that holds the lock and commits.
- PostgreSQL: the test holds the row's lock (``SELECT ... FOR UPDATE``); the command's
  read in its transaction passes, and its conditional UPDATE or DELETE waits for the
  lock (seen in pg_stat_activity, with its statement). The test changes the row and
  commits; the waiting statement then matches nothing.

`delete` runs with --force: whether a conversation looks in use is not what is tested.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Database
from tests.faults import finish, one_line_error, sleeping, spawn, still_running, wait_until

CONFLICT = 5


class Interference:
    """Another connection that changes a row while a convstore process waits to write."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.sqlite = database.url.startswith("sqlite")
        self._statements: list[tuple[str, dict[str, Any]]] = []

    def args(self, name: str) -> list[str]:
        url = self.database.url
        if not self.sqlite:  # named, to be found waiting in pg_stat_activity
            url += f"{'&' if '?' in url else '?'}application_name={name}"
        return ["--db", url]

    @contextlib.contextmanager
    def holding(self, table: str, conversation_id: str) -> Iterator[Any]:
        """Hold what a writer of this row waits for; run statements in that transaction
        (``execute``), committed when the block ends."""
        if self.sqlite:
            path = self.database.url.removeprefix("sqlite:///")
            connection = sqlite3.connect(path, isolation_level=None)
            try:
                connection.execute("BEGIN IMMEDIATE")
                yield lambda sql, **values: connection.execute(sql, values)
                connection.execute("COMMIT")
            finally:
                connection.close()
            return
        with self.database.engine.connect() as connection, connection.begin():
            locked = connection.execute(
                text(f"SELECT 1 FROM {table} WHERE conversation_id = :id FOR UPDATE"),
                {"id": conversation_id},
            ).all()
            assert len(locked) == 1
            yield lambda sql, **values: connection.execute(text(sql), values)

    def waiting(self, process: subprocess.Popen[str], name: str, statement: str) -> bool:
        """True once the process waits to write: on PostgreSQL, in ``statement``."""
        still_running([process])
        if self.sqlite:
            return sleeping(process.pid)
        with self.database.engine.connect() as connection:
            queries = connection.execute(
                text(
                    "SELECT query FROM pg_stat_activity WHERE application_name = :name "
                    "AND wait_event_type = 'Lock'"
                ),
                {"name": name},
            ).scalars()
            return any(query.lstrip().upper().startswith(statement) for query in queries)

    def row(self, conversation_id: str) -> dict[str, Any] | None:
        with self.database.engine.connect() as connection:
            found = (
                connection.execute(
                    text("SELECT * FROM conversation_metadata WHERE conversation_id = :id"),
                    {"id": conversation_id},
                )
                .mappings()
                .all()
            )
        return dict(found[0]) if found else None

    def owner(self, conversation_id: str) -> str | None:
        with self.database.engine.connect() as connection:
            found = connection.execute(
                text("SELECT user_id FROM conversation_metadata_saas WHERE conversation_id = :id"),
                {"id": conversation_id},
            ).all()
        return None if not found else uuid.UUID(str(found[0][0])).hex


def _interfered(
    interference: Interference,
    command: list[str],
    table: str,
    conversation_id: str,
    statement: str,
    change: str,
    **values: Any,
) -> tuple[int, str, str]:
    """Run ``command`` (store options added), change the row while it waits to write."""
    name = f"convstore-{uuid.uuid4().hex[:8]}"
    with interference.holding(table, conversation_id) as execute:
        process = spawn(command[0], *interference.args(name), *command[1:])
        wait_until(
            lambda: interference.waiting(process, name, statement),
            f"{command[0]} has read and waits to write",
        )
        execute(change, **values)
    return finish(process)


@pytest.fixture
def interference(database_url: str) -> Iterator[Interference]:
    database = Database(database_url)
    try:
        yield Interference(database)
    finally:
        database.dispose()


@pytest.fixture
def enterprise(database_url: str) -> Iterator[Interference]:
    database = Database(database_url, revision="014", enterprise=True)
    try:
        yield Interference(database)
    finally:
        database.dispose()


def test_rename_of_a_row_updated_meanwhile_exits_5_and_keeps_the_update(
    interference: Interference,
) -> None:
    row = interference.database.insert(title="original", accumulated_cost=0.5)
    cid = row["conversation_id"]
    status, _, err = _interfered(
        interference,
        ["rename", cid, "renamed"],
        "conversation_metadata",
        cid,
        "UPDATE CONVERSATION_METADATA",
        "UPDATE conversation_metadata SET accumulated_cost = 9.25 WHERE conversation_id = :id",
        id=cid,
    )
    assert status == CONFLICT, err
    assert "changed or disappeared since it was read" in one_line_error(err)
    stored = interference.row(cid)
    assert stored is not None
    assert stored["accumulated_cost"] == 9.25 and stored["title"] == "original"


def test_rename_of_a_row_deleted_meanwhile_does_not_bring_it_back(
    interference: Interference,
) -> None:
    cid = interference.database.insert(title="original")["conversation_id"]
    status, _, err = _interfered(
        interference,
        ["rename", cid, "renamed"],
        "conversation_metadata",
        cid,
        "UPDATE CONVERSATION_METADATA",
        "DELETE FROM conversation_metadata WHERE conversation_id = :id",
        id=cid,
    )
    assert status == CONFLICT, err
    assert interference.row(cid) is None


def test_delete_of_a_row_updated_meanwhile_exits_5_and_keeps_the_row(
    interference: Interference,
) -> None:
    cid = interference.database.insert(title="original")["conversation_id"]
    bystander = interference.database.insert(title="bystander")["conversation_id"]
    status, _, err = _interfered(
        interference,
        ["delete", cid, "--yes", "--force"],
        "conversation_metadata",
        cid,
        "DELETE FROM CONVERSATION_METADATA",
        "UPDATE conversation_metadata SET title = 'renamed by OpenHands' "
        "WHERE conversation_id = :id",
        id=cid,
    )
    assert status == CONFLICT, err
    assert "changed or disappeared since it was read" in one_line_error(err, after_preview=True)
    stored = interference.row(cid)
    assert stored is not None and stored["title"] == "renamed by OpenHands"
    assert interference.row(bystander) is not None


def test_delete_of_a_conversation_whose_owner_changed_meanwhile_keeps_both_rows(
    enterprise: Interference,
) -> None:
    """1.x enterprise: the ownership row is deleted only while it holds the owner read.
    (Before, only conversation_metadata's row was locked and checked: a new owner
    committed before the ownership row's DELETE was deleted with it.)"""
    database = enterprise.database
    org = database.add_org()
    first, second = database.add_user(org), database.add_user(org)
    cid = database.insert(title="owned")["conversation_id"]
    database.own(cid, first, org)
    status, _, err = _interfered(
        enterprise,
        ["delete", cid, "--yes", "--force"],
        "conversation_metadata_saas",
        cid,
        "DELETE FROM CONVERSATION_METADATA_SAAS",
        "UPDATE conversation_metadata_saas SET user_id = :user WHERE conversation_id = :id",
        user=database.stored_uuid(second),
        id=cid,
    )
    assert status == CONFLICT, err
    assert enterprise.row(cid) is not None
    assert enterprise.owner(cid) == second.hex


def test_rows_with_nulls_and_json_are_renamed_and_deleted(interference: Interference) -> None:
    """The conditions compare nulls null-safely and JSON as text: a row nobody touched
    always matches what was read (no false conflict on any column's value)."""
    database = interference.database
    values = {"pr_number": [7, 9], "selected_repository": None, "trigger": None}
    if "tags" in database.table.columns:
        values["tags"] = {"team": "web"}
    cid = database.insert(title="original", **values)["conversation_id"]
    args = interference.args("plain")
    renamed = finish(spawn("rename", *args, cid, "renamed"))
    assert renamed[0] == 0, renamed[2]
    stored = interference.row(cid)
    assert stored is not None and stored["title"] == "renamed"
    deleted = finish(spawn("delete", *args, cid, "--yes", "--force"))
    assert deleted[0] == 0, deleted[2]
    assert interference.row(cid) is None


def test_migrate_after_remove_keeps_a_v0_row_updated_after_its_read(
    interference: Interference,
) -> None:
    """--after remove deletes a SaaS V0 row only while it holds what the migration read
    (before, it was deleted by id: a change made meanwhile went with it)."""
    database = interference.database
    cid = uuid.uuid4().hex
    database.insert(conversation_id=cid, conversation_version="V0", sandbox_id=None, title="v0")
    status, out, err = _interfered(
        interference,
        ["migrate-v0-to-v1", "--after", "remove", "--no-events"],
        "conversation_metadata",
        cid,
        "DELETE FROM CONVERSATION_METADATA",
        "UPDATE conversation_metadata SET title = 'renamed by OpenHands' "
        "WHERE conversation_id = :id",
        id=cid,
    )
    assert status == 1, err
    assert "not removed: its row changed after it was read" in out
    stored = interference.row(cid)
    assert stored is not None and stored["title"] == "renamed by OpenHands"
