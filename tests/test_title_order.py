"""--sort title: titles compare with A-Z folded to a-z, by code point, ties by id; the
same order in Python, the V0 cache, SQLite and PostgreSQL, so merged pages never skip or
repeat a conversation, with or without `db add-indexes` and the V0 cache.

The fold is written out here a second time (``expected_fold``), independently of
``title_order``, as the definition the README gives.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.errors import StoreUnavailable, UsageError
from convstore.objects import local as local_objects
from convstore.objects.local import RACY_WINDOW_NS
from convstore.stores import title_order
from convstore.stores.base import Query, Sort, decode_cursor, record_position
from convstore.stores.catalog import Catalog
from convstore.stores.database_info import add_listing_indexes
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from convstore.stores.v0_cache import FORMAT, V0Cache, _parts
from tests.conftest import Database, FileStoreBuilder, v1_row

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
# Letters whose case Unicode knows but the fold leaves alone (Kelvin sign, dotted I,
# titlecase DŽ, sharp s), the ends of the planes, and a character beyond the BMP: the
# order must be code point order, not UTF-16's or a locale's.
TITLE_ALPHABET = "aAbBzZ _~\x7f\x00äÄéÉßİıǅ\u212a\uffff😀"  # noqa: RUF001
STORE_RANK = {"files": 0, "sql": 1}


def expected_fold(title: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in title)


def expected_order(rows: list[tuple[str, str, str | None]], descending: bool) -> list:
    """(store, id) of ``rows`` (store, id, title) in the listing order of --sort title."""
    keyed = [(store, identifier, title) for store, identifier, title in rows]
    values = sorted(
        (r for r in keyed if r[2] is not None),
        key=lambda r: (expected_fold(r[2]), r[1], STORE_RANK[r[0]]),
        reverse=descending,
    )
    nulls = sorted(
        (r for r in keyed if r[2] is None),
        key=lambda r: (r[1], STORE_RANK[r[0]]),
        reverse=descending,
    )
    return [(store, identifier) for store, identifier, _ in values + nulls]


def every_character(*, nul: bool) -> str:
    """Every Unicode scalar value (no surrogates), NUL only where the store can hold it."""
    first = 0 if nul else 1
    return "".join(chr(c) for c in range(first, 0x110000) if not 0xD800 <= c < 0xE000)


def test_the_fold_lowers_ascii_capitals_and_nothing_else():
    assert title_order.fold("Write RELEASE notes") == "write release notes"
    assert title_order.fold("ÄÖÜ ǅ \u212a İ ß Zürich") == "ÄÖÜ ǅ \u212a İ ß zürich"
    everything = every_character(nul=True)
    assert title_order.fold(everything) == expected_fold(everything)


def test_this_sqlite_library_has_the_ascii_only_lower_the_fold_needs():
    # A fact about the build the suite runs on: an ICU build would be refused (below).
    assert title_order.sqlite_lower_is_ascii()


def test_every_database_folds_every_character_as_python_does(database_url):
    database = Database(database_url)
    sqlite = database_url.startswith("sqlite")
    everything = every_character(nul=sqlite)  # PostgreSQL's text cannot hold NUL
    statement = text(f"SELECT {title_order.fold_sql(':title', sqlite=sqlite)}")
    with database.engine.connect() as connection:
        folded = connection.execute(statement, {"title": everything}).scalar_one()
    assert folded == expected_fold(everything)
    database.dispose()


def test_every_database_orders_titles_across_the_whole_range_as_python_does(database_url):
    """One title per sampled code point (and each in capitals): the store's order, read
    in SQL, with and without the index, is the fold's code point order."""
    database = Database(database_url)
    sqlite = database_url.startswith("sqlite")
    sampled = [c for c in range(0 if sqlite else 1, 0x110000, 331) if not 0xD800 <= c < 0xE000]
    titles = [f"x{chr(c)}y" for c in sampled] + ["XAY", "xay", "Xby", "X\uffffy", "X😀Y"]
    rows = []
    with database.engine.begin() as connection:
        for number, title in enumerate(titles):
            row = {"conversation_id": str(uuid.UUID(int=number)), "title": title}
            connection.execute(database.table.insert(), [{**v1_row(), **row}])
            rows.append(("sql", row["conversation_id"], title))
    for indexed in (False, True):
        if indexed:
            add_listing_indexes(SqlStore(create_engine(database_url)))
        store = SqlStore(create_engine(database_url))
        for descending in (False, True):
            query = Query(sort=Sort("title", descending))
            listed = [("sql", r.conversation_id) for r in store.search(query)]
            assert listed == expected_order(rows, descending), (indexed, descending)
        store.close()
    database.dispose()


# The issue's example, through the command line: every store alone and all merged.

FILE_TITLES = {"a" * 32: "Write release notes", "b" * 32: "apple", "c" * 32: None}
ROW_TITLES = {
    "00000000-0000-4000-8000-000000000001": "Banana",
    "00000000-0000-4000-8000-000000000002": "ZEBRA crossing",
    "00000000-0000-4000-8000-000000000003": "ärger",
    "00000000-0000-4000-8000-000000000004": "APPLE",
}
# "apple" (a file, id bbbb...) and "APPLE" (a row, id 0000...) fold alike: by id.
ASCENDING = ["APPLE", "apple", "Banana", "Write release notes", "ZEBRA crossing", "ärger", None]


@pytest.fixture
def issue_stores(tmp_path, database_url):
    builder = FileStoreBuilder(tmp_path / "store")
    for identifier, title in FILE_TITLES.items():
        builder.write(identifier, {"conversation_id": identifier, "title": title})
    database = Database(database_url)
    for identifier, title in ROW_TITLES.items():
        database.insert(conversation_id=identifier, title=title, created_at=T0)
    yield ["--file-store", str(builder.root)], ["--db", database_url]
    database.dispose()


def _titles(*arguments):
    result = runner.invoke(app, ["list", "--all", "--format", "json", *arguments])
    assert result.exit_code == 0, result.output
    return [item["title"] for item in json.loads(result.stdout)]


@pytest.mark.parametrize("indexed", [False, True], ids=["no-indexes", "indexes"])
@pytest.mark.parametrize("cache", [[], ["--no-cache"]], ids=["cache", "no-cache"])
def test_list_sort_title_is_case_insensitive_in_every_store(issue_stores, indexed, cache):
    files, database = issue_stores
    if indexed:
        assert runner.invoke(app, ["db", "add-indexes", *database]).exit_code == 0
    ascending = ASCENDING
    both = [*files, *database, *cache]
    assert _titles(*both, "--sort", "title") == ascending
    values = ascending[:-1]
    assert _titles(*both, "--sort", "-title") == [*reversed(values), None]
    assert _titles(*files, *cache, "--sort", "title") == [
        t for t in ascending if t in FILE_TITLES.values()
    ]
    assert _titles(*database, "--sort", "title") == [
        t for t in ascending if t in ROW_TITLES.values()
    ]


# Pages of generated titles, across files, SQLite and PostgreSQL


@pytest.fixture(params=[False, True], ids=["no-indexes", "indexes"])
def title_database(request, database_url):
    """An empty database; on PostgreSQL its title column has a collation that is neither
    "C" nor code point order, which the listing must not depend on."""
    database = Database(database_url)
    if not database_url.startswith("sqlite"):
        with database.engine.begin() as connection:
            collation = connection.execute(
                text(
                    "SELECT collname FROM pg_collation WHERE collname IN "
                    "('und-x-icu', 'en-x-icu', 'en_US.utf8', 'C.utf8') "
                    "ORDER BY collname = 'und-x-icu' DESC, collname LIMIT 1"
                )
            ).scalar()
            assert collation, "the test server has no collation but C"
            connection.execute(
                text(
                    "ALTER TABLE conversation_metadata ALTER COLUMN title "
                    f'TYPE varchar COLLATE "{collation}"'
                )
            )
    if request.param:
        add_listing_indexes(SqlStore(create_engine(database_url)))
    yield database
    database.dispose()


@pytest.fixture(params=[False, True], ids=["no-cache", "cache"])
def cached(request, monkeypatch):
    """With the V0 cache, every file is seen as old enough to be cached (its SQL path)."""
    if request.param:
        monkeypatch.setattr(local_objects, "now_ns", lambda: time.time_ns() + 2 * RACY_WINDOW_NS)
    return request.param


entry = st.tuples(
    st.sampled_from(["files", "sql-v0", "sql-v1"]),
    st.integers(0, 15),  # a small id space: the same id in files and in SQL ties across stores
    st.none() | st.text(alphabet=TITLE_ALPHABET, max_size=6),
)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    entries=st.lists(entry, max_size=30, unique_by=lambda e: (e[0], e[1])),
    page_size=st.integers(1, 7),
    descending=st.booleans(),
)
def test_title_pages_concatenated_are_the_listing_in_fold_order(
    title_database, cached, entries, page_size, descending
):
    database = title_database
    postgresql = not database.url.startswith("sqlite")
    with database.engine.begin() as connection:
        connection.execute(database.table.delete())
    with tempfile.TemporaryDirectory() as directory:
        builder = FileStoreBuilder(Path(directory) / "store")
        rows = []
        for where, number, title in entries:
            identifier = uuid.UUID(int=number)
            if where == "files":
                builder.write(identifier.hex, {"conversation_id": identifier.hex, "title": title})
                rows.append(("files", identifier.hex, title))
                continue
            if postgresql and title is not None:
                title = title.replace("\x00", "")  # PostgreSQL's text cannot hold NUL
            conversation_id = str(identifier) if where == "sql-v1" else identifier.hex
            database.insert(
                conversation_id=conversation_id,
                conversation_version="V1" if where == "sql-v1" else "V0",
                created_at=T0 + timedelta(minutes=number),
                title=title,
            )
            rows.append(("sql", conversation_id, title))
        cache = V0Cache.for_store(builder.root, Path(directory) / "cache") if cached else None
        catalog = Catalog(
            files=FileStore(builder.root, cache=cache),
            sql=SqlStore(create_engine(database.url)),
        )
        order = Sort("title", descending)
        everything = [(r.store, r.conversation_id) for r in catalog.search(Query(sort=order))]
        walked, query = [], Query(sort=order)
        while True:
            page = catalog.page(query, page_size)
            walked += [(r.store, r.conversation_id) for r in page.items]
            assert len(page.items) <= page_size
            if page.next_cursor is None:
                break
            query = query.starting_after(decode_cursor(order, page.next_cursor))
        catalog.close()
    assert walked == everything == expected_order(rows, descending)


def test_pages_resume_after_a_file_title_holding_nul_in_every_database(tmp_path, database_url):
    """PostgreSQL refuses NUL in text, so a page that ends at such a file's title once
    failed there ("cannot use ...: ... NUL"); every row must still come once, in order."""
    builder = FileStoreBuilder(tmp_path / "store")
    builder.write("a" * 32, {"conversation_id": "a" * 32, "title": "ab\x00c"})
    database = Database(database_url)
    rows = [("files", "a" * 32, "ab\x00c")]
    for number, title in enumerate(["ab", "AB", "ab\x01", "abc", "aa", "Ab!"]):
        identifier = str(uuid.UUID(int=number))
        database.insert(conversation_id=identifier, title=title)
        rows.append(("sql", identifier, title))
    catalog = Catalog(files=FileStore(builder.root), sql=SqlStore(create_engine(database_url)))
    for descending in (False, True):
        order = Sort("title", descending)
        walked, query = [], Query(sort=order)
        while True:
            page = catalog.page(query, 1)
            walked += [(r.store, r.conversation_id) for r in page.items]
            if page.next_cursor is None:
                break
            query = query.starting_after(decode_cursor(order, page.next_cursor))
        assert walked == expected_order(rows, descending)
    catalog.close()
    database.dispose()


# Cursors


def _cursor(payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_title_cursor_from_before_the_fold_is_refused_and_a_time_cursor_still_works():
    old_title = _cursor({"sort": "title", "key": [False, "Write", "a" * 32, 0]})
    with pytest.raises(UsageError, match=r"older convstore.*list again from the first page"):
        decode_cursor(Sort("title", False), old_title)
    old_time = _cursor({"sort": "-created", "key": [True, T0.isoformat(), "a" * 32, 0]})
    assert decode_cursor(Sort(), old_time).value == T0


def test_an_old_title_cursor_is_one_line_and_exit_2_on_the_command_line(issue_stores):
    files, _ = issue_stores
    old = _cursor({"sort": "title", "key": [False, "Write", "a" * 32, 0]})
    result = runner.invoke(app, ["list", *files, "--sort", "title", "--cursor", old])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "older convstore" in result.stderr


def test_a_title_cursor_holds_the_folded_title(issue_stores):
    files, database = issue_stores
    result = runner.invoke(app, ["list", *files, *database, "--sort", "title", "--limit", "2"])
    assert result.exit_code == 0, result.output
    token = result.stderr.strip().splitlines()[-1].split()[-1]
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert payload["format"] == 2 and payload["key"][1] == "apple"


# The indexes serve the title order


def _plan(connection, statement) -> str:
    sql = str(statement.compile(connection.engine, compile_kwargs={"literal_binds": True}))
    if connection.dialect.name == "sqlite":
        rows = connection.execute(text("EXPLAIN QUERY PLAN " + sql))
        return " ".join(str(row[-1]) for row in rows)
    return " ".join(str(row[0]) for row in connection.execute(text("EXPLAIN " + sql)))


@pytest.mark.parametrize("descending", [False, True])
def test_the_title_index_serves_every_page_in_order(database_url, descending):
    database = Database(database_url)
    with database.engine.begin() as connection:
        titles = [f"{'Tt'[i % 2]}itle {i % 997}" for i in range(4000)]
        connection.execute(database.table.insert(), [{**v1_row(), "title": t} for t in titles])
    add_listing_indexes(SqlStore(create_engine(database_url)))
    store = SqlStore(create_engine(database_url))
    sort = Sort("title", descending)
    middle = list(store.search(Query(sort=sort)))[2000]
    # The table is small: planned as a large one (tests/test_listing_plans.py).
    store.selective_rows = 50
    base = store._arm_statement(Query(sort=sort), 0)
    with store.engine.connect() as connection:
        if not database_url.startswith("sqlite"):
            connection.execute(text("ANALYZE conversation_metadata"))
        for anchor in (None, record_position(sort, middle)):
            plan = _plan(connection, store._part(base, sort, anchor, nulls=False).limit(32))
            assert "convstore_ix_conversation_metadata_title" in plan, plan
            assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
            if anchor is not None and database_url.startswith("sqlite"):
                assert "SEARCH" in plan, plan  # a seek, not a read from the index's start
    store.close()
    database.dispose()


def test_the_v0_cache_reads_its_title_index_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(local_objects, "now_ns", lambda: time.time_ns() + 2 * RACY_WINDOW_NS)
    builder = FileStoreBuilder(tmp_path / "store")
    for number in range(50):
        identifier = f"{number:032x}"
        builder.write(identifier, {"conversation_id": identifier, "title": f"T{number % 7}"})
    cache = V0Cache.for_store(builder.root, tmp_path / "cache")
    store = FileStore(builder.root, cache=cache)
    for descending in (False, True):
        sort = Sort("title", descending)
        listed = list(store.search(Query(sort=sort)))
        connection = sqlite3.connect(cache.path)
        for anchor in (None, record_position(sort, listed[20])):
            statement, parameters, _ = _parts(Query(sort=sort, after=anchor))[0]
            rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = " ".join(str(row[-1]) for row in rows)
            assert "entries_title" in plan and "TEMP B-TREE" not in plan, plan
            if anchor is not None:
                assert "SEARCH" in plan, plan
        connection.close()


# A SQLite library whose lower() is not the fold


def test_a_sqlite_lower_beyond_ascii_is_refused_for_titles_and_the_cache_steps_aside(
    tmp_path, monkeypatch
):
    """A fake at a boundary, as a last resort: no ICU build of SQLite is at hand, so the
    probe of the library answers as one would."""
    builder = FileStoreBuilder(tmp_path / "store")
    builder.write("a" * 32, {"conversation_id": "a" * 32, "title": "B"})
    builder.write("b" * 32, {"conversation_id": "b" * 32, "title": "a"})
    database = Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.insert(title="x")
    monkeypatch.setattr(title_order, "sqlite_lower_is_ascii", lambda: False)
    store = SqlStore(create_engine(database.url))
    with pytest.raises(StoreUnavailable, match="ICU"):
        list(store.search(Query(sort=Sort("title", False))))
    assert len(list(store.search(Query()))) == 1  # other sorts are unaffected
    store.close()
    cache = V0Cache.for_store(builder.root, tmp_path / "cache")
    files = FileStore(builder.root, cache=cache)
    listed = [r.title for r in files.search(Query(sort=Sort("title", False)))]
    assert listed == ["a", "B"]
    assert not cache.path.exists()  # read from the files, the cache untouched
    database.dispose()


def test_a_cache_of_the_former_format_is_rebuilt_with_the_folded_title_index(tmp_path, monkeypatch):
    monkeypatch.setattr(local_objects, "now_ns", lambda: time.time_ns() + 2 * RACY_WINDOW_NS)
    builder = FileStoreBuilder(tmp_path / "store")
    for identifier, title in (("a" * 32, "b"), ("b" * 32, "A"), ("c" * 32, "C")):
        builder.write(identifier, {"conversation_id": identifier, "title": title})
    cache = V0Cache.for_store(builder.root, tmp_path / "cache")
    store = FileStore(builder.root, cache=cache)
    list(store.search(Query()))
    with sqlite3.connect(cache.path) as connection:  # as format 1 left it
        connection.execute("DROP INDEX entries_title")
        connection.execute("CREATE INDEX entries_title ON entries (title, address)")
        connection.execute("PRAGMA user_version = 1")
    connection.close()
    titles = [r.title for r in store.search(Query(sort=Sort("title", False)))]
    assert titles == ["A", "b", "C"]
    with sqlite3.connect(cache.path) as connection:
        (index,) = connection.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'entries_title'"
        ).fetchone()
        (version,) = connection.execute("PRAGMA user_version").fetchone()
    connection.close()
    assert "lower(title)" in index and version == FORMAT
