"""A V0 conversation without created_at: hidden by OpenHands' V0 reader, but only until its
V1 twin exists. Then OpenHands opens the V1 row for its id (a UUID routes to V1 first, and
1.x has no V0 reader), so the V0 copy hides nothing, and neither `list`/`show` (its
problems) nor `verify` (files.missing-created-at) reports it as hiding anything; verify's
cross.v0-and-v1 (info) still says that the copy is superseded and what to do with it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.model import CREATED_AT_MISSING, CREATED_AT_NULL
from tests.conftest import Database, FileStoreBuilder

runner = CliRunner()
UNDATED = {"missing": CREATED_AT_MISSING, "null": CREATED_AT_NULL}


def cli(*args: Any) -> Any:
    return runner.invoke(app, [str(arg) for arg in args])


def _undated_file(files: FileStoreBuilder, how: str, **values: Any) -> str:
    cid, document = files.generation("2025-12", **values)
    if how == "missing":
        del document["created_at"]
    else:
        document["created_at"] = None
    files.write(cid, document)
    return cid


def _v0_problems(store: list[Any], cid: str, *user: str) -> list[str]:
    listed = cli("list", *store, "--version", "V0", "--all", "--format", "json", *user)
    assert listed.exit_code == 0, listed.output
    (item,) = [item for item in json.loads(listed.stdout) if item["conversation_id"] == cid]
    return list(item["problems"])


def _findings(store: list[Any], *more: str) -> list[dict[str, Any]]:
    result = cli("verify", *store, "--format", "jsonl", *more)
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("how", list(UNDATED))
def test_an_undated_file_hides_nothing_once_its_v1_twin_exists(files, make_database, how):
    database: Database = make_database()
    twin = uuid.uuid4()
    alone = _undated_file(files, how, user_id="alice")
    migrated = _undated_file(files, how, conversation_id=twin.hex, user_id="alice")
    store = ["--file-store", files.root, "--db", database.url]

    # Before the migration both hide: list, show and verify say so.
    assert _v0_problems(store, migrated) == [UNDATED[how]]
    before = _findings(store)
    flagged = {f["conversation_id"] for f in before if f["check"] == "files.missing-created-at"}
    assert flagged == {alone, migrated}

    database.insert(conversation_id=str(twin), user_id="alice")
    assert _v0_problems(store, migrated) == []
    assert _v0_problems(store, alone) == [UNDATED[how]]
    shown = json.loads(cli("show", *store, alone, "--format", "json").stdout)
    assert shown["problems"] == [UNDATED[how]]
    after = _findings(store)
    flagged = {f["conversation_id"] for f in after if f["check"] == "files.missing-created-at"}
    assert flagged == {alone}
    superseded = [f for f in after if f["check"] == "cross.v0-and-v1"]
    assert [(f["conversation_id"], f["severity"]) for f in superseded] == [(migrated, "info")]
    # --fix leaves the superseded copy alone: nothing reads it for this id.
    raw = (files.root / "sessions" / migrated / "metadata.json").read_bytes()
    fixed = cli("verify", *store, "--fix", "--check", "files.missing-created-at")
    assert fixed.exit_code == 0, fixed.output
    assert (files.root / "sessions" / migrated / "metadata.json").read_bytes() == raw
    assert _findings(store, "--check", "files.missing-created-at") == []


def test_another_users_v1_row_is_not_a_twin_under_user(files, make_database):
    """Under --user, a V1 row of someone else is not shown for this user's id: the file's
    missing created_at still hides it from its user, and both views keep saying so."""
    database: Database = make_database()
    twin = uuid.uuid4()
    cid = _undated_file(files, "missing", conversation_id=twin.hex, user_id="alice")
    database.insert(conversation_id=str(twin), user_id="bob")
    store = ["--file-store", files.root, "--db", database.url]
    assert _v0_problems(store, cid, "--user", "alice") == [CREATED_AT_MISSING]
    scoped = _findings(store, "--user", "alice", "--check", "files.missing-created-at")
    assert [f["conversation_id"] for f in scoped] == [cid]
    assert _v0_problems(store, cid) == []  # unscoped, the V1 row answers for the id


def test_an_undated_v0_row_hides_nothing_once_its_v1_twin_exists(make_database):
    """SaaS V0 rows: the same rule, where the table allows a null created_at."""
    database: Database = make_database(revision="001")
    twin, alone = uuid.uuid4(), uuid.uuid4()
    for identifier in (twin, alone):
        database.insert(
            conversation_id=identifier.hex,
            conversation_version="V0",
            created_at=None,
            sandbox_id=None,
        )
    store = ["--db", database.url]
    assert _v0_problems(store, twin.hex) == [CREATED_AT_NULL]
    database.insert(conversation_id=str(twin))
    assert _v0_problems(store, twin.hex) == []
    assert _v0_problems(store, alone.hex) == [CREATED_AT_NULL]
