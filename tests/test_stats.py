"""`convstore stats`: exact money, conversations counted once, what was not counted, cost
by the period it was incurred in, SQL rows added up in the database, the output shapes the
README documents, sorting and --top, the chart, usage errors and completion.

Every figure against a naive count, on random stores: tests/test_stats_figures.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import create_engine, event, text

from convstore.cli import render
from convstore.jobs import stats
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database, FileStoreBuilder
from tests.faults import cli, one_line_error
from tests.test_completion import complete_in_process

README = Path(__file__).parent.parent / "README.md"
JANUARY = datetime(2026, 1, 10, 12, tzinfo=UTC)
FEBRUARY = datetime(2026, 2, 10, 12, tzinfo=UTC)
FIGURES = [
    "conversations",
    "cost",
    "mean_cost",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "prs",
    "first",
    "last",
]


def run(*args: Any) -> dict[str, Any]:
    result = cli("stats", "--config", "/dev/null", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def by_key(document: dict[str, Any], name: str) -> dict[Any, dict[str, Any]]:
    return {group[name]: group for group in document["groups"]}


def v0_file(files: FileStoreBuilder, **values: Any) -> str:
    conversation_id = values.pop("conversation_id", uuid.uuid4().hex)
    document = {
        "conversation_id": conversation_id,
        "selected_repository": "acme/web",
        "user_id": "alice",
        "created_at": "2026-01-05T10:00:00Z",
        "accumulated_cost": 1.0,
        "prompt_tokens": 10,
        "completion_tokens": 1,
        "pr_number": [],
        **values,
    }
    files.write(conversation_id, document)
    return conversation_id


# Money


def test_costs_add_up_exactly_and_round_to_cents_only_when_printed(
    files: FileStoreBuilder, make_database
) -> None:
    """Three 0.005 costs are 0.015, which is 2 cents; added as floats they are the double
    0.01499999..., 1 cent. Ten 0.1 are 1.0, not 0.9999999999999999."""
    database: Database = make_database()
    for _ in range(3):
        v0_file(files, accumulated_cost=0.005, created_at="2026-01-05T10:00:00Z")
        database.insert(accumulated_cost=0.005, created_at=JANUARY)
    for _ in range(10):
        v0_file(files, accumulated_cost=0.1, created_at="2026-02-05T10:00:00Z")
        database.insert(accumulated_cost=0.1, created_at=FEBRUARY)
    # What adding floats would print: 1 cent, and not quite a dollar.
    assert f"{sum([0.005] * 3):.2f}" == "0.01" and sum([0.1] * 10) != 1.0
    for store in (["--file-store", str(files.root)], ["--db", database.url]):
        months = by_key(run(*store), "month")
        assert months["2026-01"]["cost"] == 0.015
        assert months["2026-02"]["cost"] == 1.0
        assert months["2026-02"]["mean_cost"] == 0.1
        table = cli("stats", "--config", "/dev/null", *store)
        january = next(line for line in table.stdout.splitlines() if line.startswith("2026-01"))
        assert "$0.02" in january.split()
        rows = list(csv.reader(io.StringIO(cli("stats", *store, "--format", "csv").stdout)))
        assert rows[1][:4] == ["group", "2026-01", "3", "0.015"]


# Counted once, and what was not counted


def test_a_conversation_counts_once_as_openhands_shows_it(
    files: FileStoreBuilder, make_database
) -> None:
    """A V0 file or V0 row migrated to V1 counts as its V1 row; a V0 row that a V0 file
    of the same id shadows counts as the file; the output says how many it folded."""
    database: Database = make_database(saas_2025=True)
    migrated_file = v0_file(files, accumulated_cost=5.0)
    database.insert(conversation_id=str(uuid.UUID(migrated_file)), accumulated_cost=7.0)
    migrated_row = uuid.uuid4().hex
    database.insert(conversation_id=migrated_row, conversation_version="V0", accumulated_cost=9.0)
    database.insert(conversation_id=str(uuid.UUID(migrated_row)), accumulated_cost=11.0)
    shadowing = v0_file(files, accumulated_cost=3.0)
    database.insert(conversation_id=shadowing, conversation_version="V0", accumulated_cost=13.0)
    store = ["--file-store", str(files.root), "--db", database.url]
    document = run(*store, "--by", "version")
    versions = by_key(document, "version")
    assert versions["V1"]["conversations"] == 2 and versions["V1"]["cost"] == 18.0
    assert versions["V0"]["conversations"] == 1 and versions["V0"]["cost"] == 3.0
    assert document["folded"] == {"twins": 2, "shadowed": 1}
    assert document["totals"]["conversations"] == 3
    table = cli("stats", "--config", "/dev/null", *store).stdout
    assert "2 V0 conversation(s) counted once, as the V1 row each became" in table
    assert "1 V0 row(s) counted once, as the V0 file of the same id" in table


def test_what_could_not_be_counted_is_said_and_the_rest_counts(
    files: FileStoreBuilder, make_database
) -> None:
    database: Database = make_database()
    v0_file(files, accumulated_cost="0.5", prompt_tokens=-3, pr_number="oops")
    v0_file(files, created_at="not a time")
    files.write("0f83cf799c8c5a129939996ab6ae6908", b"{not json")
    database.insert(accumulated_cost=float("nan") if "postgresql" in database.url else -1.0)
    document = run("--file-store", files.root, "--db", database.url, "--by", "user")
    assert document["totals"]["conversations"] == 3  # the unreadable file is not one
    assert document["not_counted"] == {
        "unreadable": 1,
        "values": {
            "accumulated_cost": {"invalid": 2},
            "prompt_tokens": {"invalid": 1},
            "pr_number": {"invalid": 1},
            "created_at": {"invalid": 1},
        },
    }
    alice = by_key(document, "user")["alice"]
    assert alice["cost"] == 1.0 and alice["prompt_tokens"] == 10 + 10  # what did count
    table = cli("stats", "--config", "/dev/null", "--file-store", files.root, "--db", database.url)
    assert "not counted: 1 conversation(s) whose metadata could not be read" in table.stdout
    assert "left out: accumulated_cost of 2 invalid" in table.stdout


@pytest.mark.parametrize(
    ("day", "valid"),
    [
        ("2025-02-30", False),
        ("2025-04-31", False),
        ("2025-06-00", False),
        ("2025-02-29", False),
        ("2024-02-29", True),
        ("2025-03-31", True),
    ],
)
def test_an_impossible_day_between_others_is_invalid_whatever_the_grouping(
    tmp_path: Path, day: str, valid: bool
) -> None:
    """SQLite keeps 2025-02-30 as text in SQLAlchemy's own form (PostgreSQL's typed
    timestamps cannot hold it): neither the first nor the last time of its group, it is
    still found, as list finds it, when the groups are not periods (regression: --by
    user counted it as a time); a real 29 February is a time."""
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    ids = [database.insert(user_id="alice")["conversation_id"] for _ in range(3)]
    stamps = [f"{when} 10:00:00.000000" for when in ("2024-01-01", day, "2025-12-31")]
    with database.engine.begin() as connection:
        for identifier, stamp in zip(ids, stamps, strict=True):
            connection.execute(
                text("UPDATE conversation_metadata SET created_at = :t WHERE conversation_id = :i"),
                {"t": stamp, "i": identifier},
            )
    listed = json.loads(cli("list", "--db", database.url, "--format", "json").stdout)
    assert ({item["created_at"] for item in listed} >= {f"{day}T10:00:00Z"}) == valid
    for by in ("user", "model", "month"):
        document = run("--db", database.url, "--by", by)
        assert document["totals"]["conversations"] == 3, by
        invalid = {} if valid else {"created_at": {"invalid": 1}}
        assert document["not_counted"]["values"] == invalid, by
        assert document["totals"]["first"] == "2024-01-01T10:00:00Z", by


# Cost when it was incurred


def enterprise(make_database) -> Database:
    database: Database = make_database(enterprise=True)
    org = database.add_org()
    database.user = database.add_user(org, email="ada@example.com", git_user_name="ada-l")  # type: ignore[attr-defined]
    database.org = org  # type: ignore[attr-defined]
    return database


def add_events(database: Database, conversation_id: str, *events: tuple[float, datetime]) -> None:
    sqlite = database.url.startswith("sqlite")
    with database.engine.begin() as connection:
        for delta, when in events:
            connection.execute(
                text(
                    "INSERT INTO conversation_cost_events (conversation_id, cost_delta, "
                    "occurred_at) VALUES (:c, :d, :o)"
                ),
                {
                    "c": conversation_id,
                    "d": delta,
                    "o": when.replace(tzinfo=None).isoformat(" ") if sqlite else when,
                },
            )


def test_incurred_cost_lands_in_the_months_it_was_spent(make_database) -> None:
    """$10 created in January, of which $3 incurred in January and $5 in February (the
    other $2 before events were recorded: it stays in January); $2 created in February
    without events. The total is the same either way."""
    database = enterprise(make_database)
    long_one = database.insert(accumulated_cost=10.0, created_at=JANUARY)["conversation_id"]
    add_events(database, long_one, (3.0, JANUARY), (5.0, FEBRUARY))
    database.insert(accumulated_cost=2.0, created_at=FEBRUARY)
    created = by_key(run("--db", database.url), "month")
    assert (created["2026-01"]["cost"], created["2026-02"]["cost"]) == (10.0, 2.0)
    incurred_document = run("--db", database.url, "--cost-by", "incurred")
    incurred = by_key(incurred_document, "month")
    assert (incurred["2026-01"]["cost"], incurred["2026-02"]["cost"]) == (5.0, 7.0)
    assert incurred_document["cost_by"] == "incurred"
    assert incurred_document["totals"]["cost"] == 12.0
    # Conversations, tokens and PRs stay where the conversation was created.
    assert incurred["2026-01"]["conversations"] == 1 and incurred["2026-02"]["conversations"] == 1


def test_a_month_whose_cost_events_add_up_to_nothing_is_still_a_group(make_database) -> None:
    """Cost refunded in the month it was spent: the month had events, so it is a group,
    with no conversations (regression: events netting to 0 made no group)."""
    database = enterprise(make_database)
    conversation = database.insert(accumulated_cost=1.0, created_at=JANUARY)["conversation_id"]
    add_events(database, conversation, (0.5, FEBRUARY), (-0.5, FEBRUARY))
    months = by_key(run("--db", database.url, "--cost-by", "incurred"), "month")
    assert set(months) == {"2026-01", "2026-02"}
    assert months["2026-01"]["cost"] == 1.0
    assert months["2026-02"]["conversations"] == 0


def test_incurred_cost_leaves_the_month_a_conversation_read_whole_counts_in(
    tmp_path: Path,
) -> None:
    """SQLite: a created_at SQL cannot judge (a number of seconds, a time with an offset)
    is read whole and counted in the month Python reads; the cost its events cover
    leaves that month, not another (regression: it left a month of no time at all)."""
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}", enterprise=True)
    stored = {"1767225600": "2026-01", "2026-02-01T01:00:00+05:00": "2026-01"}
    for created in stored:
        conversation = database.insert(accumulated_cost=10.0)["conversation_id"]
        with database.engine.begin() as connection:
            connection.execute(
                text("UPDATE conversation_metadata SET created_at = :t WHERE conversation_id = :i"),
                {"t": int(created) if created.isdigit() else created, "i": conversation},
            )
        add_events(database, conversation, (4.0, FEBRUARY))
    created_months = by_key(run("--db", database.url), "month")
    assert {month: group["cost"] for month, group in created_months.items()} == {"2026-01": 20.0}
    incurred = by_key(run("--db", database.url, "--cost-by", "incurred"), "month")
    assert {month: group["cost"] for month, group in incurred.items()} == {
        "2026-01": 12.0,
        "2026-02": 8.0,
    }


def test_incurred_without_cost_events_says_so_and_counts_by_creation(make_database) -> None:
    database: Database = make_database()
    database.insert(accumulated_cost=1.0)
    result = cli("stats", "--db", database.url, "--cost-by", "incurred", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cost_by"] == "created"
    assert "has no conversation_cost_events table" in result.stderr
    assert "--cost-by created" in result.stderr


# In the database, never row by row


Executed = tuple[str, Any]


@pytest.fixture
def statements(make_database) -> Iterator[tuple[Database, list[Executed]]]:
    database: Database = make_database()
    seen: list[Executed] = []
    yield database, seen


def catalog_watching(database: Database, seen: list[Executed]) -> Catalog:
    """A catalog on the database whose every statement (and its parameters) is noted."""
    engine = create_engine(database.url)

    @event.listens_for(engine, "before_cursor_execute")
    def _record(_connection: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    return Catalog(sql=SqlStore(engine))


def reads_rows(statement: str) -> bool:
    """A statement that returns conversation_metadata's rows as they are, not added up."""
    lowered = statement.lower()
    return (
        lowered.lstrip().startswith("select")
        and not lowered.lstrip().startswith("select (exists")  # a probe: one boolean
        and "conversation_metadata" in lowered
        and "group by" not in lowered
        and "count(" not in lowered
        and "information_schema" not in lowered
        and "pg_catalog" not in lowered
        and "sqlite_master" not in lowered
    )


def test_sql_rows_are_added_up_by_the_database(statements) -> None:
    database, seen = statements
    for day in range(1, 29):
        for user in ("alice", "bob", "carol"):
            database.insert(user_id=user, created_at=JANUARY.replace(day=day), accumulated_cost=0.5)
    with catalog_watching(database, seen) as catalog:
        report = stats.run(catalog, stats.Request(by=("user", "month")))
    assert [row.figures.conversations for row in report.rows] == [28, 28, 28]
    assert not [statement for statement, _ in seen if reads_rows(statement)]
    grouped = [s for s, _ in seen if "group by" in s.lower() and "FROM conversation_metadata" in s]
    assert len(grouped) == 1
    # Without V0 rows nothing can be folded: no twin is looked up for each row.
    assert "convstore_twin" not in grouped[0]


def test_only_rows_the_database_cannot_judge_are_read_whole(statements) -> None:
    """SQLite: a created_at in another text form (which sorts apart from the rest) sends
    the run to its careful query, and only those rows are read whole, to be judged as
    list judges them."""
    database, seen = statements
    for day in range(1, 11):
        database.insert(created_at=JANUARY.replace(day=day))
    odd = {database.insert()["conversation_id"], database.insert()["conversation_id"]}
    with database.engine.begin() as connection:
        for number, identifier in enumerate(sorted(odd)):
            form = "2026-02-01T10:00:00Z" if number == 0 else "a while ago"
            if not database.url.startswith("sqlite"):
                continue  # PostgreSQL's timestamps are typed: nothing odd to hold
            connection.execute(
                text("UPDATE conversation_metadata SET created_at = :t WHERE conversation_id = :i"),
                {"t": form, "i": identifier},
            )
    with catalog_watching(database, seen) as catalog:
        report = stats.run(catalog, stats.Request(by=("month",)))
    whole = [executed for executed in seen if reads_rows(executed[0])]
    months = {row.key[0]: row.figures.conversations for row in report.rows}
    if database.url.startswith("sqlite"):
        assert months == {"2026-01": 10, "2026-02": 1, None: 1}
        assert report.left_out == {"created_at": {"invalid": 1}}
        assert len(whole) == 1
        with database.engine.connect() as connection:  # the rows that statement read
            rows = connection.exec_driver_sql(*whole[0]).all()
        assert {row[0] for row in rows} == odd
    else:
        assert months == {"2026-01": 10, "2026-03": 2} and whole == []


# Output shapes (README, "convstore stats")


def test_machine_formats_have_the_documented_shapes(files: FileStoreBuilder) -> None:
    v0_file(files, user_id="alice")
    v0_file(files, user_id="bob", created_at="2026-02-05T10:00:00Z")
    store = ["--file-store", str(files.root), "--by", "user", "--by", "month"]
    document = run(*store)
    assert list(document) == [
        "by",
        "cost_by",
        "sort",
        "groups",
        "totals",
        "groups_total",
        "folded",
        "not_counted",
        "notes",
    ]
    group_keys = ["user", "month", "email", *FIGURES, "share"]
    assert all(list(group) == group_keys for group in document["groups"])
    assert list(document["totals"]) == FIGURES
    lines = cli("stats", *store, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines[:-1]] == document["groups"]
    assert json.loads(lines[-1]) == {k: v for k, v in document.items() if k != "groups"}
    rows = list(csv.reader(io.StringIO(cli("stats", *store, "--format", "csv").stdout)))
    assert rows[0] == ["row", "user", "month", "email", *FIGURES, "share"]
    assert [row[0] for row in rows[1:]] == ["group", "group", "total"]
    assert rows[-1][1:4] == ["", "", ""] and rows[-1][4] == "2"
    readme = README.read_text()
    for key in [*group_keys, "groups_total", "folded", "not_counted", "cost_by"]:
        assert f"`{key}`" in readme, key


def test_sort_top_and_nulls_last(files: FileStoreBuilder) -> None:
    for user, cost in (("a", 3.0), ("b", 1.0), ("c", 2.0), ("d", None)):
        v0_file(files, user_id=user, accumulated_cost=cost)
    store = ["--file-store", str(files.root), "--by", "user"]
    order = lambda *more: [g["user"] for g in run(*store, *more)["groups"]]  # noqa: E731
    assert order() == ["a", "c", "b", "d"]  # default -cost; unknown cost last
    assert order("--sort", "cost") == ["b", "c", "a", "d"]
    assert order("--sort", "-group") == ["d", "c", "b", "a"]
    topped = run(*store, "--top", "2")
    assert [g["user"] for g in topped["groups"]] == ["a", "c"]
    assert topped["groups_total"] == 4 and topped["totals"]["cost"] == 6.0
    table = cli("stats", "--config", "/dev/null", *store, "--top", "2").stdout
    assert "2 of 4 groups shown (--top); the totals are of all" in table


def test_a_chart_of_cost_over_time_on_a_terminal_only(files: FileStoreBuilder, monkeypatch) -> None:
    v0_file(files, accumulated_cost=4.0)
    v0_file(files, accumulated_cost=1.0, created_at="2026-02-05T10:00:00Z")
    store = ["--config", "/dev/null", "--file-store", str(files.root)]
    piped = cli("stats", *store)
    assert "cost per month" not in piped.stdout and "█" not in piped.stdout.split("share")[0]
    screen = io.StringIO()
    monkeypatch.setattr(
        render, "out", Console(width=60, file=screen, force_terminal=True, color_system=None)
    )
    assert cli("stats", *store).exit_code == 0
    lines = screen.getvalue().splitlines()
    assert lines[0] == "cost per month"
    chart = lines[1:7]
    assert chart[0].startswith("$4.00 │") and chart[-1].lstrip().startswith("$0 │")
    # January's column is full height, February's a quarter of it.
    january, february = _columns(chart)
    assert "".join(january) == "██████"
    assert "".join(february) == "    ▄█"  # a quarter of 6 cells: 1.5 of them
    assert "2026-01" in lines[7] and "2026-02" in lines[7]


def _columns(chart: list[str]) -> tuple[list[str], list[str]]:
    """The first two columns of bars, top down (a bar is as wide as the top one's run)."""
    bars = [line.split("│", 1)[1].ljust(20) for line in chart]
    width = len(bars[0]) - len(bars[0].lstrip("█"))
    return [bar[0] for bar in bars], [bar[width] for bar in bars]


# Usage


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--by", "colour"], "--by 'colour' is not a grouping"),
        (["--by", "user,nope"], "--by 'nope' is not a grouping"),
        (["--sort", "price"], "--sort 'price' is not a figure"),
        (["--status", "idle"], "--status can never match"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "is not before --until"),
    ],
)
def test_what_cannot_be_counted_is_a_usage_error(
    files: FileStoreBuilder, options: list[str], message: str
) -> None:
    v0_file(files)
    result = cli("stats", "--config", "/dev/null", "--file-store", files.root, *options)
    assert result.exit_code == 2
    assert message in one_line_error(result.stderr)


def test_top_must_be_positive(files: FileStoreBuilder) -> None:
    result = cli("stats", "--file-store", files.root, "--top", "0")
    assert result.exit_code == 2 and "--top" in result.stderr


def test_library_and_command_agree(files: FileStoreBuilder) -> None:
    """The command only translates: the library's report is what it prints."""
    v0_file(files, user_id="alice", accumulated_cost=2.5)
    catalog = Catalog(files=FileStore(files.root))
    report = stats.run(catalog, stats.Request(query=Query(user="alice"), by=("user",)))
    [row] = report.rows
    assert (row.key, row.figures.conversations, str(row.figures.dollars)) == (
        ("alice",),
        1,
        "2.500000000",
    )
    assert by_key(run("--file-store", files.root, "--by", "user"), "user")["alice"]["cost"] == 2.5


# Completion


def test_completion_offers_groupings_and_figures() -> None:
    assert "month" in complete_in_process("convstore stats --by ")
    assert complete_in_process("convstore stats --by us") == ["user"]
    assert complete_in_process("convstore stats --by user,mo") == ["user,model", "user,month"]
    offered = complete_in_process("convstore stats --by user --by ")
    assert "user" not in offered and "month" in offered
    assert complete_in_process("convstore stats --sort co") == [
        "conversations",
        "cost",
        "completion_tokens",
    ]
    # After --sort, a word starting with - is an option name to click: all are offered.
    assert set(complete_in_process("convstore stats --sort ")) >= {"group", "cost", "-cost", "last"}


def test_readme_examples_run(files: FileStoreBuilder) -> None:
    """The README's examples of stats run as written (store options added)."""
    v0_file(files)
    examples = re.findall(r"^convstore stats(.*?)(?:  #.*)?$", README.read_text(), re.MULTILINE)
    assert len(examples) >= 3
    for example in examples:
        options = [word for word in example.split(">")[0].split() if word]
        result = cli("stats", "--config", "/dev/null", "--file-store", files.root, *options)
        assert result.exit_code == 0, (example, result.output)
