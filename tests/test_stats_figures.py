"""`convstore stats` against a naive count: every figure of every group, on stores of every
shape, with hypothesis writing the records.

The naive count reads what `list --all --format json` prints (every conversation, each
value as stored) and the cost events as the table holds them, folds twins, and adds up
in Python with exact decimals, each rule spelled out below for itself. `stats` must
agree with it on V0 files, SQLite and PostgreSQL rows of the single-machine, the
late-2025 SaaS and the 1.x enterprise schemas; values of every wrong kind included.
"""

from __future__ import annotations

import json
import math
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, MetaData, Table, text
from sqlalchemy.types import NullType

from tests.conftest import Database, v1_row
from tests.faults import cli

GROUPINGS = (
    "user", "org", "model", "repo", "provider", "trigger", "version", "status",
    "day", "week", "month", "year",
)  # fmt: skip
TOKENS = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
USERS = ("alice", "bob", "")
START = datetime(2025, 1, 1, tzinfo=UTC)
EVENTS = "conversation_cost_events"


# The naive count


def dashed(identifier: str) -> str | None:
    try:
        return str(uuid.UUID(identifier))
    except ValueError:
        return None


def stored_time(value: Any) -> datetime | None:
    """created_at as list prints it: ISO 8601 with Z when it was a time, else as stored."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def owner(record: dict[str, Any]) -> str | None:
    for name in ("user_id", "github_user_id"):
        value = record.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def period(name: str, day: date) -> str:
    if name == "day":
        return day.isoformat()
    if name == "week":
        iso = day.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}"
    return day.isoformat()[: 7 if name == "month" else 4]


def text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def dimension(record: dict[str, Any], name: str) -> str | None:
    if name in ("day", "week", "month", "year"):
        created = stored_time(record["created_at"])
        return None if created is None else period(name, created.date())
    if name == "user":
        return owner(record)
    if name == "version":
        return record["version"]
    column = {
        "org": "org_id",
        "model": "llm_model",
        "repo": "selected_repository",
        "provider": "git_provider",
        "trigger": "trigger",
        "status": "execution_status",
    }[name]
    return text_or_none(record[column])


def a_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def cost_of(value: Any) -> Decimal | None:
    """A cost counts when stored as a number from 0 up to 9e9 dollars."""
    if a_number(value) and math.isfinite(value) and 0 <= value < 9e9:
        return Decimal(repr(float(value)))
    return None


def tokens_of(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


@dataclass
class Naive:
    conversations: int = 0
    cost: Decimal = Decimal(0)
    costed: int = 0
    terms: int = 0  # amounts added: each may be off by half a nanodollar
    tokens: dict[str, int] = field(default_factory=dict)
    prs: int | None = None
    first: datetime | None = None
    last: datetime | None = None


def naive_count(
    every: list[dict[str, Any]],
    selected: list[dict[str, Any]],
    by: list[str],
    *,
    unreadable: set[str],
    events: Iterable[tuple[str, Any, Any]] = (),
) -> dict[str, Any]:
    """``selected``: what list prints with the same filters; ``every``: without them (a
    twin or a file folds a conversation whatever the filters say of it)."""
    v1_ids = {r["conversation_id"] for r in every if r["version"] == "V1"}
    file_ids = {r["conversation_id"] for r in every if r["store"] == "files"}
    groups: dict[tuple[Any, ...], Naive] = {}
    left_out: Counter[tuple[str, str]] = Counter()
    folded = {"twins": 0, "shadowed": 0}
    unread = 0
    counted: dict[str, dict[str, Any]] = {}
    for record in selected:
        if record["parent_conversation_id"] is not None:
            continue
        created = stored_time(record["created_at"])
        if record["version"] == "V0":
            if dashed(record["conversation_id"]) in v1_ids:
                folded["twins"] += 1
                continue
            if record["store"] == "sql" and record["conversation_id"] in file_ids:
                folded["shadowed"] += 1
                continue
        if record["store"] == "files" and record["conversation_id"] in unreadable:
            unread += 1
            continue
        key = tuple(dimension(record, name) for name in by)
        group = groups.setdefault(key, Naive())
        group.conversations += 1
        cost = cost_of(record["accumulated_cost"])
        if cost is not None:
            group.cost += cost
            group.costed += 1
            group.terms += 1
        elif record["accumulated_cost"] is None:
            left_out[("accumulated_cost", "missing")] += 1
        else:
            left_out[("accumulated_cost", "invalid")] += 1
        for name in TOKENS:
            value = tokens_of(record[name])
            if value is not None:
                group.tokens[name] = group.tokens.get(name, 0) + value
            elif record[name] is not None:
                left_out[(name, "invalid")] += 1
        prs = record["pr_number"]
        if isinstance(prs, list):
            group.prs = (group.prs or 0) + len(prs)
        elif prs is not None:
            left_out[("pr_number", "invalid")] += 1
        if created is not None:
            group.first = min(group.first or created, created)
            group.last = max(group.last or created, created)
        elif record["created_at"] is None:
            left_out[("created_at", "missing")] += 1
        else:
            left_out[("created_at", "invalid")] += 1
        if record["store"] == "sql":
            counted[record["conversation_id"]] = record
    if any(name in ("day", "week", "month", "year") for name in by):
        for conversation_id, delta, occurred in events:
            record = counted.get(conversation_id)
            if record is None or not a_number(delta) or not math.isfinite(delta):
                continue
            amount = Decimal(repr(float(delta)))
            when = occurred if isinstance(occurred, datetime) else stored_time(occurred)
            at = {name: period(name, when.date()) for name in ("day", "week", "month", "year")}
            key = tuple(at.get(name) or dimension(record, name) for name in by)
            groups.setdefault(key, Naive()).cost += amount
            groups[key].terms += 1
            if cost_of(record["accumulated_cost"]) is not None:
                created_key = tuple(dimension(record, name) for name in by)
                groups[created_key].cost -= amount
                groups[created_key].terms += 1
    return {"groups": groups, "left_out": left_out, "folded": folded, "unreadable": unread}


# What stats says, against it


def stats_json(store: list[str], *options: str) -> dict[str, Any]:
    result = cli("stats", *store, "--format", "json", *options)
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def listed(store: list[str], *filters: str) -> list[dict[str, Any]]:
    options = ("--all", "--sub-conversations", "--no-cache", "--format", "json")
    result = cli("list", *store, *options, *filters)
    assert result.exit_code == 0, result.output
    records: list[dict[str, Any]] = json.loads(result.stdout)
    return records


def money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(repr(value))


def assert_agree(document: dict[str, Any], expected: dict[str, Any], by: list[str]) -> None:
    naive: dict[tuple[Any, ...], Naive] = expected["groups"]
    shown = {tuple(group[name] for name in by): group for group in document["groups"]}
    assert set(shown) == set(naive)
    assert document["groups_total"] == len(naive)
    for key, group in shown.items():
        want = naive[key]
        where = f"group {key}"
        assert group["conversations"] == want.conversations, where
        # Exact but for each amount's rounding to the nanodollar.
        tolerance = Decimal("0.5e-9") * (want.terms + 1)
        if want.costed or want.cost:
            assert abs(money(group["cost"]) - want.cost) <= tolerance, where
        else:
            assert group["cost"] is None, where
        if want.costed:
            mean = want.cost / want.costed
            assert abs(money(group["mean_cost"]) - mean) <= tolerance / want.costed + Decimal(
                "1e-9"
            ), where
        else:
            assert group["mean_cost"] is None, where
        for name in TOKENS:
            assert group[name] == want.tokens.get(name), (where, name)
        assert group["prs"] == want.prs, where
        for name in ("first", "last"):
            moment = getattr(want, name)
            assert group[name] == (
                None if moment is None else moment.isoformat().replace("+00:00", "Z")
            ), where
    totals = document["totals"]
    assert totals["conversations"] == sum(g.conversations for g in naive.values())
    all_terms = sum(g.terms for g in naive.values()) + 1
    assert (
        abs((money(totals["cost"]) or 0) - sum(g.cost for g in naive.values()))
        <= Decimal("0.5e-9") * all_terms
    )
    assert document["folded"] == expected["folded"]
    assert document["not_counted"]["unreadable"] == expected["unreadable"]
    values = {
        (name, why): count
        for name, counts in document["not_counted"]["values"].items()
        for why, count in counts.items()
    }
    reported = {
        item: count
        for item, count in expected["left_out"].items()
        if count and (item[1] == "invalid" or item[0] in ("accumulated_cost", "created_at"))
    }
    assert values == reported


# Writing stores


def v0_id(draw: Any) -> str:
    kind = draw(st.sampled_from(["hex", "hex", "hex", "dashed", "upper", "other"]))
    identifier = uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))
    return {
        "hex": identifier.hex,
        "dashed": str(identifier),
        "upper": identifier.hex.upper(),
        "other": f"conv-{identifier.hex[:6]}",
    }[kind]


def moment(draw: Any) -> datetime:
    return START + timedelta(
        seconds=draw(st.integers(0, 730 * 86400)), microseconds=draw(st.integers(0, 999_999))
    )


@st.composite
def v0_document(draw: Any, conversation_id: str) -> dict[str, Any] | bytes:
    """A metadata.json: any generation's fields, values of every wrong kind included."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from([b"{not json", b"[1, 2]"]))
    document: dict[str, Any] = {"conversation_id": conversation_id, "selected_repository": None}
    created = moment(draw)
    candidates: dict[str, Any] = {
        "user_id": st.sampled_from([*USERS, None, 1181979]),
        "github_user_id": st.sampled_from(["1181979", 42, None]),
        "selected_repository": st.sampled_from(["acme/web", "acme/api", None]),
        "git_provider": st.sampled_from(["github", "gitlab", None, "hg"]),
        "trigger": st.sampled_from(["gui", "resolver", None]),
        "llm_model": st.sampled_from(["gpt-4o", "claude", None, 7]),
        "created_at": st.sampled_from(
            [
                created.isoformat().replace("+00:00", "Z"),
                created.replace(tzinfo=None).isoformat(),
                created.astimezone(timezone(timedelta(hours=-5))).isoformat(),
                None,
                "garbage",
                "2025-02-30T10:00:00Z",
                created.timestamp(),
            ]
        ),
        "accumulated_cost": st.one_of(
            st.floats(0, 200).map(lambda x: round(x, 7)),
            st.integers(0, 50),
            st.sampled_from([None, -1.5, "0.5", True, float("nan"), 1e12]),
        ),
        "pr_number": st.sampled_from([[], [4], [1, 2, 3], None, "oops", {"a": 1}, ["x"]]),
    }
    for name in ("prompt_tokens", "completion_tokens"):
        candidates[name] = st.one_of(
            st.integers(0, 10**6), st.sampled_from([None, -3, 1.5, 7.0, "12", True, 2**40])
        )
    for name, values in candidates.items():
        if draw(st.integers(0, 5)):  # a generation without the field, now and then
            document[name] = draw(values)
    return document


def raw_table(database: Database) -> Table:
    """conversation_metadata with untyped columns: SQLite gets the values as they are."""
    return Table(
        "conversation_metadata",
        MetaData(),
        *(Column(column.name, NullType()) for column in database.table.columns),
    )


@st.composite
def sql_row(
    draw: Any, *, sqlite: bool, version: str, conversation_id: str, columns: set[str], undated: bool
) -> dict[str, Any]:
    """A row as the backend can hold it: SQLite anything, PostgreSQL its columns' types."""
    created = moment(draw)
    row = v1_row(conversation_id=conversation_id, created_at=created, conversation_version=version)
    row["user_id"] = draw(st.sampled_from([*USERS, None]))
    row["llm_model"] = draw(st.sampled_from(["gpt-4o", "claude", None]))
    row["selected_repository"] = draw(st.sampled_from(["acme/web", "acme/api", None]))
    row["trigger"] = draw(st.sampled_from(["gui", "slack", None]))
    row["git_provider"] = draw(st.sampled_from(["github", None]))
    row["execution_status"] = draw(st.sampled_from(["idle", "finished", None]))
    broken_cost = [None, -2.0, float("inf"), float("nan")] + (["abc"] if sqlite else [])
    row["accumulated_cost"] = draw(
        st.one_of(st.floats(0, 200).map(lambda x: round(x, 7)), st.sampled_from(broken_cost))
    )
    broken_tokens = [None, -1] + ([1.5, "x", 2**40] if sqlite else [])
    for name in TOKENS:
        row[name] = draw(st.one_of(st.integers(0, 10**6), st.sampled_from(broken_tokens)))
    row["pr_number"] = draw(st.sampled_from([[], [3], [1, 2], None, "oops", {"a": 1}]))
    if sqlite:
        stamp = created.replace(tzinfo=None).isoformat(" ", "microseconds")
        row["created_at"] = draw(
            st.sampled_from(
                [
                    stamp,
                    stamp,
                    stamp,
                    stamp[:19],
                    created.isoformat(),
                    "garbage",
                    stamp.replace(stamp[5:10], "02-30"),
                    stamp.replace(stamp[11:13], "25"),
                    None,
                    1_700_000_000,
                ]
            )
        )
        row["last_updated_at"] = stamp
        prs = row["pr_number"]
        row["pr_number"] = prs if prs in (None, "oops") else json.dumps(prs)
    elif draw(st.integers(0, 6)) == 0:
        row["created_at"] = None
    if row["created_at"] is None and not undated:
        row["created_at"] = created if not sqlite else created.replace(tzinfo=None).isoformat(" ")
    return {name: value for name, value in row.items() if name in columns}


@dataclass
class Stores:
    """A file store and a database, emptied before each example."""

    root: Path
    database: Database | None
    enterprise: bool = False
    unreadable: set[str] = field(default_factory=set)

    @property
    def options(self) -> list[str]:
        found = ["--file-store", str(self.root), "--config", "/dev/null"]
        return found + (["--db", self.database.url] if self.database else [])

    @property
    def sqlite(self) -> bool:
        return self.database is not None and self.database.url.startswith("sqlite")

    def clear(self) -> None:
        shutil.rmtree(self.root / "sessions", ignore_errors=True)
        (self.root / "sessions").mkdir(parents=True)
        self.unreadable = set()
        if self.database is None:
            return
        tables = ["conversation_metadata"]
        if self.enterprise:
            tables = [
                "conversation_cost_events",
                "conversation_metadata_saas",
                *tables,
                '"user"',
                "org",
            ]
        with self.database.engine.begin() as connection:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))

    def write_file(self, conversation_id: str, document: dict[str, Any] | bytes) -> None:
        directory = self.root / "sessions" / conversation_id
        directory.mkdir()
        if isinstance(document, bytes):
            (directory / "metadata.json").write_bytes(document)
            self.unreadable.add(conversation_id)
        else:
            (directory / "metadata.json").write_text(json.dumps(document))

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if not rows or self.database is None:
            return
        table = raw_table(self.database) if self.sqlite else self.database.table
        with self.database.engine.begin() as connection:
            for row in rows:
                connection.execute(table.insert(), [row])

    def events(self) -> list[tuple[str, Any, Any]]:
        if self.database is None or not self.enterprise:
            return []
        with self.database.engine.connect() as connection:
            return [
                tuple(row)
                for row in connection.execute(
                    text("SELECT conversation_id, cost_delta, occurred_at FROM " + EVENTS)
                )
            ]


@st.composite
def populated(draw: Any, stores: Stores, *, v0_rows: bool, twins: bool) -> None:
    """V0 files, V1 rows (some sub-conversations, some twins of V0 conversations), and
    where the table holds them, V0 rows (some the same conversation as a file)."""
    stores.clear()
    database = stores.database
    columns = set() if database is None else set(database.table.columns.keys())
    files = [v0_id(draw) for _ in range(draw(st.integers(0, 8)))]
    files = list(dict.fromkeys(files))
    for conversation_id in files:
        stores.write_file(conversation_id, draw(v0_document(conversation_id)))
    if database is None:
        return
    sqlite = stores.sqlite
    form = {"sqlite": sqlite, "columns": columns, "undated": database.table.c.created_at.nullable}
    rows: list[dict[str, Any]] = []
    v0_ids: list[str] = []
    if v0_rows:
        v0_ids = [v0_id(draw) for _ in range(draw(st.integers(0, 6)))]
        v0_ids += draw(st.lists(st.sampled_from(files), max_size=2)) if files else []
        v0_ids = list(dict.fromkeys(v0_ids))
        rows += [draw(sql_row(version="V0", conversation_id=i, **form)) for i in v0_ids]
    v1_ids = [
        str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))) for _ in range(draw(st.integers(0, 8)))
    ]
    if twins:
        migrated = [d for i in [*files, *v0_ids] if draw(st.booleans()) and (d := dashed(i))]
        v1_ids += migrated
    # One row per id: a V0 row spelt dashed has no twin in the same table.
    v1_ids = [i for i in dict.fromkeys(v1_ids) if i not in v0_ids]
    for conversation_id in v1_ids:
        row = draw(sql_row(version="V1", conversation_id=conversation_id, **form))
        if "parent_conversation_id" in columns and v1_ids and draw(st.integers(0, 7)) == 0:
            row["parent_conversation_id"] = v1_ids[0] if v1_ids[0] != conversation_id else None
        rows.append(row)
    stores.insert(rows)
    if stores.enterprise:
        own(draw, stores, v1_ids)


def own(draw: Any, stores: Stores, v1_ids: list[str]) -> None:
    """1.x enterprise: users with emails, their orgs, who owns each V1 row, cost events."""
    database = stores.database
    assert database is not None
    orgs = [database.add_org(f"org-{n}") for n in range(2)]
    users = [
        database.add_user(orgs[n % 2], email=f"user{n}@example.com", git_user_name=f"git{n}")
        for n in range(3)
    ]
    for conversation_id in v1_ids:
        if draw(st.integers(0, 4)):
            user = draw(st.sampled_from(users))
            database.own(conversation_id, user, orgs[users.index(user) % 2])
    events = []
    for conversation_id in v1_ids:
        for _ in range(draw(st.integers(0, 3))):
            when = moment(draw)
            delta = draw(st.one_of(st.floats(0, 20).map(lambda x: round(x, 6)), st.just(-0.25)))
            stamp = when.replace(tzinfo=None).isoformat(" ", "microseconds")
            events.append({"c": conversation_id, "d": delta, "o": stamp if stores.sqlite else when})
    if events:
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    f"INSERT INTO {EVENTS} (conversation_id, cost_delta, occurred_at) "
                    "VALUES (:c, :d, :o)"
                ),
                events,
            )


# The properties

SHAPES = {
    "files": {},
    "v1-rows": {"revision": "014"},
    "saas-2025": {"saas_2025": True},
    "enterprise": {"revision": "014", "enterprise": True},
}


def _shapes() -> list[Any]:
    found = [pytest.param("files", id="files")]
    for shape in list(SHAPES)[1:]:
        found.append(pytest.param(f"{shape} sqlite", id=f"{shape}-sqlite"))
        postgresql = pytest.mark.postgresql
        found.append(pytest.param(f"{shape} postgresql", id=f"{shape}-pg", marks=postgresql))
    return found


@pytest.fixture(params=_shapes())
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Stores:
    shape, _, backend = request.param.partition(" ")
    if not backend:
        return Stores(tmp_path / "store", None)
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'openhands.db'}"
    else:
        url = request.getfixturevalue("postgres_database_url")
    database = Database(url, **SHAPES[shape])
    request.addfinalizer(database.dispose)
    return Stores(tmp_path / "store", database, enterprise=bool(SHAPES[shape].get("enterprise")))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_every_figure_agrees_with_a_naive_count_of_list(
    stores: Stores, data: st.DataObject
) -> None:
    shape_has_v0_rows = stores.database is not None and not stores.enterprise
    data.draw(populated(stores, v0_rows=shape_has_v0_rows, twins=True))
    by = data.draw(st.lists(st.sampled_from(GROUPINGS), min_size=1, max_size=2, unique=True))
    options = [f"--by={name}" for name in by]
    user = data.draw(st.sampled_from([None, None, "alice", "1181979"]))
    since = data.draw(st.sampled_from([None, None, datetime(2025, 9, 1, tzinfo=UTC)]))
    if user is not None:
        options += ["--user", user]
    if since is not None:
        options += ["--since", since.isoformat()]
    cost_by = (
        data.draw(st.sampled_from(["created", "incurred"])) if stores.enterprise else "created"
    )
    document = stats_json(stores.options, *options, "--cost-by", cost_by)
    filters = options[len(by) :]
    expected = naive_count(
        listed(stores.options),
        listed(stores.options, *filters),
        by,
        unreadable=stores.unreadable,
        events=stores.events() if cost_by == "incurred" else (),
    )
    assert document["cost_by"] == cost_by
    assert_agree(document, expected, by)
