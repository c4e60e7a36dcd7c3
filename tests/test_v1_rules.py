"""One rule table for V1 rows (convstore.v1_rules), and two views that agree on it.

`list` and `show` report a V1 row's problems as the SQL store reads it; `verify` reports
findings of its sql.* checks. Both must say the same about every row, on every schema
revision OpenHands' migrations build: the hypothesis test below holds them equal. (A
revision that leaves conversation_metadata unchanged builds the table of the one before,
so each table is tested once.)
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete
from typer.testing import CliRunner

from convstore import v1_rules
from convstore.cli.app import app
from convstore.jobs import verify as job
from convstore.schema import REVISIONS
from convstore.stores.catalog import Catalog
from convstore.stores.sql import SqlStore
from tests.conftest import v1_row

runner = CliRunner()
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHAPES: dict[str, dict[str, Any]] = {
    revision.id: {"revision": revision.id} for revision in REVISIONS if revision.columns
}
SHAPES["saas-2025"] = {"saas_2025": True}
COUNTERS = ("cache_read_tokens", "cache_write_tokens", "context_window", "per_turn_token")


def _catalog(url: str) -> Catalog:
    return Catalog(sql=SqlStore(create_engine(url)))


def _views(catalog: Catalog, ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """What `list` says of each row (its problems) and what `verify` finds (the rule checks)."""
    assert catalog.sql is not None
    listed = {}
    for cid in ids:
        record = catalog.sql.get(cid)
        assert record is not None
        listed[cid] = sorted(record.problems)
    found: dict[str, list[str]] = {cid: [] for cid in ids}
    for finding in job.Verification(catalog, job.Options(include=("sql",))).run():
        if finding.check in v1_rules.RULES and finding.conversation_id in found:
            found[finding.conversation_id].append(finding.problem)
    return listed, {cid: sorted(problems) for cid, problems in found.items()}


# -- the table itself ----------------------------------------------------------------


BROKEN = {
    "conversation_id": "not-a-uuid",
    "sandbox_id": None,
    "created_at": None,
    "last_updated_at": T0,
    "pr_number": None,
    "trigger": "automation",
    "accumulated_cost": None,
    "prompt_tokens": -3,
    "total_tokens": None,
    "reasoning_tokens": -1,
    "parent_conversation_id": "nope",
}


def test_a_2025_table_needs_every_rule_of_formats_md():
    assert v1_rules.problems(BROKEN, "2025") == [
        "conversation_id 'not-a-uuid' is not a UUID, so OpenHands cannot load this V1 row",
        "sandbox_id is null, so OpenHands cannot load this V1 row",
        "created_at is null: the 2025 app server cannot load this V1 row",
        "trigger 'automation' exists only in OpenHands 1.x, but this database is at a 2025 "
        "revision, whose server cannot load the row",
        "pr_number is null; the 2025 app server cannot load this V1 row (it expects a JSON list)",
        "accumulated_cost is null; the 2025 app server cannot load this V1 row "
        "(OpenHands 1.x reads null as 0)",
        "prompt_tokens is negative (-3), so OpenHands cannot load this V1 row",
        "reasoning_tokens is negative (-1): OpenHands shows a wrong figure",
        "parent_conversation_id 'nope' is not a UUID, so OpenHands cannot load this V1 row",
    ]


def test_a_1x_table_reads_nulls_as_defaults_and_knows_1x_values():
    faults = v1_rules.faults(BROKEN, "1.x")
    assert set(faults) == {
        "sql.v1-invalid-id",
        "sql.v1-null-sandbox",
        "sql.v1-null-timestamp",
        "sql.negative-usage",
        "sql.v1-parent-not-uuid",
    }
    (late,) = faults["sql.v1-null-timestamp"]
    assert late.severity == "warning" and "looks new on every listing" in late.problem
    assert [fault.severity for fault in faults["sql.negative-usage"]] == ["error", "warning"]


def test_a_null_total_tokens_breaks_no_rule():
    """total_tokens is counted, never read into the server's models (nor is
    reasoning_tokens): a null one loads on every release."""
    row = v1_row(total_tokens=None, reasoning_tokens=None)
    assert v1_rules.faults(row, "2025") == {} and v1_rules.faults(row, "1.x") == {}


def test_the_generation_is_read_from_the_columns():
    assert v1_rules.generation_of({"conversation_id", "github_user_id"}) == "2025"
    assert v1_rules.generation_of({"conversation_id", "user_id", "tags"}) == "1.x"


def test_every_rule_is_a_check_of_verify():
    ids = {check.id for check in job.CATALOG}
    assert set(v1_rules.RULES) <= ids


# -- the regression: list and verify disagreed on null usage columns ---------------------


@pytest.mark.parametrize("revision", ["001", "014"])
def test_list_and_verify_agree_on_null_usage(make_database, revision):
    database = make_database(revision=revision)
    counters = dict.fromkeys(COUNTERS, 0)
    total = database.insert(**counters, total_tokens=None)["conversation_id"]
    prompt = database.insert(**counters, prompt_tokens=None)["conversation_id"]
    store = ["--db", database.url]
    listed = json.loads(runner.invoke(app, ["list", *store, "--format", "json"]).stdout)
    problems = {item["conversation_id"]: item["problems"] for item in listed}
    verified = runner.invoke(app, ["verify", *store, "--check", "sql", "--format", "jsonl"])
    findings = [json.loads(line) for line in verified.stdout.splitlines()]
    found = {
        cid: [f["problem"] for f in findings if f["conversation_id"] == cid] for cid in problems
    }
    assert problems[total] == [] and found[total] == []
    if revision == "001":
        assert problems[prompt] == found[prompt] and len(problems[prompt]) == 1
        assert "prompt_tokens is null; the 2025 app server" in problems[prompt][0]
    else:  # OpenHands 1.x reads null usage as 0
        assert problems[prompt] == found[prompt] == []


# -- the two views, on every revision ----------------------------------------------------


def _maybe(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from([None, *values])


_IDS = st.uuids().flatmap(
    lambda u: st.sampled_from([str(u), u.hex, str(u).upper(), f"not-a-uuid-{u.hex[:6]}"])
)
_ROWS = st.fixed_dictionaries(
    {
        "conversation_id": _IDS,
        "sandbox_id": _maybe("sandbox-1", "oh-agent-server-1"),
        "created_at": _maybe(T0),
        "last_updated_at": _maybe(T0),
        "trigger": _maybe("gui", "automation", "carrier_pigeon"),
        "git_provider": _maybe("github", "forgejo", "sourceforge"),
        "execution_status": _maybe("running", "sleeping"),
        "pr_number": _maybe([], [3, 4]),
        "accumulated_cost": _maybe(0.5, -0.5),
        **{
            name: _maybe(0, 7, -1)
            for name in (
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "reasoning_tokens",
                *COUNTERS,
            )
        },
        "parent_conversation_id": _maybe(str(uuid.UUID(int=7)), "parent-x"),
        "tags": _maybe({"team": "web"}),
        "agent_kind": _maybe("openhands"),
        "public": _maybe(True),
    }
)


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_list_and_verify_say_the_same_of_every_row(make_database, shape):
    database = make_database(**SHAPES[shape])
    catalog = _catalog(database.url)
    # A column that is NOT NULL in this schema gets a valid value: the database refuses null.
    required = [column.name for column in database.table.columns if not column.nullable]
    columns = set(database.table.columns.keys())

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(st.lists(_ROWS, min_size=1, max_size=6, unique_by=lambda row: row["conversation_id"]))
    def check(drawn: list[dict[str, Any]]) -> None:
        rows = []
        for values in drawn:
            row = v1_row(**values)
            for name in required:
                if row.get(name) is None:
                    row[name] = v1_row(conversation_id=row["conversation_id"])[name]
            rows.append({name: value for name, value in row.items() if name in columns})
        with database.engine.begin() as connection:  # one commit: a SQLite commit syncs
            connection.execute(delete(database.table))
            connection.execute(database.table.insert(), rows)
        ids = [row["conversation_id"] for row in rows]
        listed, found = _views(catalog, ids)
        assert listed == found

    try:
        check()
    finally:
        catalog.close()
