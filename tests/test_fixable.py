"""The catalog tells the truth about --fix: every check it marks fixable has a repair that
`convstore verify --fix` carries out on a real store, and no other check offers one.

A scenario per fixable check plants the defect in real files and a real SQLite database;
a check marked fixable without a scenario fails here, so a promise of --fix can never
again go without a repair behind it (files.id-mismatch was listed as fixable for months
while --fix repaired only one of its cases).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.jobs.verify import CATALOG
from convstore.sample import encode
from tests.conftest import Database, FileStoreBuilder

runner = CliRunner()
OLD = time.time() - 3600  # older than a leftover may be while its writer still runs
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

Stores = tuple[FileStoreBuilder, Database]
DROP = object()


def _file(stores: Stores, address: str | None = None, **changes: Any) -> str:
    """A current V0 file (in ``sessions/<address>``), with ``changes`` (``DROP`` removes
    a key)."""
    files = stores[0]
    named = {} if address is None else {"conversation_id": address}
    cid, document = files.generation("2025-12", user_id="alice", **named)
    for key, value in changes.items():
        if value is DROP:
            document.pop(key, None)
        else:
            document[key] = value
    files.write(cid, document)
    return cid


def _row(stores: Stores, **values: Any) -> str:
    return str(stores[1].insert(**values)["conversation_id"])


def _byte_order_mark(stores: Stores) -> str:
    cid = _file(stores)
    path = stores[0].root / "sessions" / cid / "metadata.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    return cid


def _dashed_id_inside(stores: Stores) -> str:
    cid = uuid.uuid4().hex
    return _file(stores, cid, conversation_id=str(uuid.UUID(cid)))


def _temporary_leftover(stores: Stores) -> str:
    cid = _file(stores)
    stale = stores[0].root / "sessions" / cid / ".metadata.json.0123abcd.convstore-tmp"
    stale.write_bytes(b"{")
    os.utime(stale, (OLD, OLD))
    return cid


def _deleting_leftover(stores: Stores) -> str:
    cid = uuid.uuid4().hex
    hidden = stores[0].root / "sessions" / f".deleting-{cid}-89abcdef"
    (hidden / "events").mkdir(parents=True)
    (hidden / "metadata.json").write_bytes(encode({"conversation_id": cid}))
    os.utime(hidden, (OLD, OLD))
    return cid


def _sqlite_timestamp_text(stores: Stores) -> str:
    database = stores[1]
    cid = _row(stores, created_at=T0)
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE conversation_metadata SET created_at = ? WHERE conversation_id = ?",
            ("2026-03-01T12:00:00Z", cid),
        )
    return cid


def _migrated_with_live_sandbox(stores: Stores) -> str:
    identifier = uuid.uuid4()
    _file(stores, identifier.hex)
    return _row(stores, conversation_id=str(identifier), sandbox_id="oh-agent-server-1a2b3c")


# check id -> plants one defect that check reports and --fix repairs; returns the id of the
# conversation the finding names.
SCENARIOS: dict[str, Callable[[Stores], str]] = {
    "files.encoding": _byte_order_mark,
    "files.id-mismatch": _dashed_id_inside,
    "files.missing-created-at": lambda stores: _file(stores, created_at=DROP),
    "files.required-field": lambda stores: _file(stores, pr_number=None),
    "files.numeric-user-id": lambda stores: _file(stores, user_id=42),
    "files.temporary-leftover": _temporary_leftover,
    "files.deleting-leftover": _deleting_leftover,
    "sql.v1-null-timestamp": lambda stores: _row(stores, created_at=None, last_updated_at=T0),
    "sql.v1-pr-number": lambda stores: _row(stores, pr_number=None),
    "sql.v1-null-usage": lambda stores: _row(stores, prompt_tokens=None),
    "sql.timestamp-text": _sqlite_timestamp_text,
    "sql.v1-live-sandbox-id": _migrated_with_live_sandbox,
}
FIXABLE = [check.id for check in CATALOG if check.fixable]


@pytest.fixture
def stores(files: FileStoreBuilder, tmp_path: Any) -> Any:
    # SQLite at a 2025 revision: every fixable SQL check applies there (timestamp text is
    # SQLite's; null usage and pr_number are faults of 2025 tables only).
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}", revision="001")
    yield files, database
    database.dispose()


def _verify(stores: Stores, *args: str) -> tuple[int, list[dict[str, Any]]]:
    files, database = stores
    store = ["--file-store", str(files.root), "--db", database.url]
    result = runner.invoke(app, ["verify", *store, "--format", "jsonl", *args])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("check", FIXABLE)
def test_every_check_marked_fixable_is_repaired_by_fix(stores, check):
    assert check in SCENARIOS, f"{check} is marked fixable: add a scenario that --fix repairs"
    cid = SCENARIOS[check](stores)
    _, before = _verify(stores, "--check", check)
    (finding,) = [f for f in before if f["conversation_id"] == cid]
    assert finding["fixable"] and finding["repair"], finding
    status, fixed = _verify(stores, "--check", check, "--fix")
    (repaired,) = [f for f in fixed if f["conversation_id"] == cid]
    assert repaired["outcome"] == "repaired", repaired
    assert status == 0
    _, after = _verify(stores, "--check", check)
    assert [f for f in after if f["conversation_id"] == cid] == []


def test_only_checks_marked_fixable_offer_a_repair(stores):
    """Every scenario at once, and the unfixable cases beside them: a repair comes only
    from a check the catalog lists as fixable."""
    for plant in SCENARIOS.values():
        plant(stores)
    _file(stores, conversation_id=uuid.uuid4().hex)  # another conversation's id: by hand
    _file(stores, prompt_tokens="many")
    _row(stores, sandbox_id=None)
    _, findings = _verify(stores)
    offered = {finding["check"] for finding in findings if finding["repair"]}
    assert offered == set(SCENARIOS) == set(FIXABLE)
    unfixable = {finding["check"] for finding in findings if not finding["fixable"]}
    assert {"files.id-mismatch", "files.invalid-field", "sql.v1-null-sandbox"} <= unfixable


def test_the_catalog_listing_says_which_checks_fix_what():
    listed = json.loads(runner.invoke(app, ["verify", "--list-checks", "--format", "json"]).stdout)
    assert [entry["check"] for entry in listed if entry["fixable"]] == FIXABLE
    (mismatch,) = [entry for entry in listed if entry["check"] == "files.id-mismatch"]
    assert "--fix: where" in mismatch["description"]
