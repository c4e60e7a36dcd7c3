"""A filter that can never match is a usage error (exit 2) naming the valid values, in
every command that takes it: not an empty answer an operator (or a retention job) takes
for "there is nothing". On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Database, FileStoreBuilder
from tests.faults import cli, one_line_error

USAGE = 2
STATUSES = "deleting, error, finished, idle, paused, running, stuck"


def _usage_error(result_stderr: str, exit_code: int, *expected: str) -> None:
    assert exit_code == USAGE, result_stderr
    line = one_line_error(result_stderr)
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize("status", ["bogus", "Paused", "RUNNING", ""])
def test_an_unknown_status_names_the_statuses(
    make_database: Callable[..., Database], status: str
) -> None:
    database = make_database()
    database.insert(execution_status="paused")
    result = cli("list", "--db", database.url, "--status", status)
    _usage_error(
        result.stderr,
        result.exit_code,
        f"--status {status!r} is not an execution status; use one of {STATUSES}",
    )
    listed = cli("list", "--db", database.url, "--status", "paused", "--format", "json")
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 1


def test_status_on_a_database_without_execution_status_can_never_match(
    make_database: Callable[..., Database], files: FileStoreBuilder
) -> None:
    database = make_database(revision="012")
    database.insert()
    result = cli("list", "--db", database.url, "--status", "idle")
    _usage_error(result.stderr, result.exit_code, "has no execution_status", "1.x")
    alone = cli("list", "--file-store", files.root, "--status", "idle")
    _usage_error(alone.stderr, alone.exit_code, "--status can never match: no database")


def test_org_on_a_database_without_organisations_can_never_match(
    make_database: Callable[..., Database], files: FileStoreBuilder
) -> None:
    plain = make_database()
    plain.insert()
    result = cli("list", "--db", plain.url, "--org", "acme")
    _usage_error(result.stderr, result.exit_code, "--org can never match", "no organisations")
    alone = cli("list", "--file-store", files.root, "--org", "acme")
    _usage_error(alone.stderr, alone.exit_code, "--org can never match: no database")


def test_org_on_an_enterprise_database_is_a_filter(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'enterprise.db'}", enterprise=True)
    org = database.add_org()
    user = database.add_user(org)
    row = database.insert(user_id=str(user))
    database.own(row["conversation_id"], user, org)
    database.dispose()
    listed = cli("list", "--db", tmp_path / "enterprise.db", "--org", str(org), "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [item["conversation_id"] for item in json.loads(listed.stdout)] == [
        row["conversation_id"]
    ]


@pytest.mark.parametrize(
    ("command", "since", "until"),
    [
        (["list"], "--since", "--until"),
        (["list"], "--updated-since", "--updated-until"),
        (["export", "--all", "-o", "{out}"], "--since", "--until"),
    ],
)
@pytest.mark.parametrize(
    ("later", "earlier"), [("2025-06-02", "2025-06-01"), ("1d", "7d"), ("2025-06-01", "2025-06-01")]
)
def test_since_not_before_until_can_never_match(
    files: FileStoreBuilder,
    tmp_path: Path,
    command: list[str],
    since: str,
    until: str,
    later: str,
    earlier: str,
) -> None:
    files.generation("2025-12")
    out = tmp_path / "out"
    arguments = [part.format(out=out) for part in command]
    result = cli(*arguments, "--file-store", files.root, since, later, until, earlier)
    _usage_error(result.stderr, result.exit_code, f"{since} ", f"is not before {until} ")
    assert not out.exists()  # refused before anything was written
