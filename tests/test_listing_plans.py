"""Every plan a SQL listing can take gives the same rows in the same order, and reads
what it should: the index that serves the sort, whoever made it, or the filter's own.

The same rows are listed under every combination of indexes a deployment may have
(OpenHands' single-machine ones only; its enterprise chain's created_at and user_id;
``db add-indexes``' own; an operator's, on an expression and partial ones; SQLite with
and without statistics) on SQLite and PostgreSQL, each listing compared with the rows
filtered and ordered in Python (``Query.matches``, ``record_position``), and walked
page by page through cursors. The plans themselves are read with EXPLAIN, from the
statements a listing really runs (captured as SQLAlchemy sends them).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, event, text

from convstore.stores.base import Query, Sort, decode_cursor, record_position
from convstore.stores.catalog import Catalog
from convstore.stores.database_info import add_listing_indexes, describe
from convstore.stores.sql import SqlStore
from convstore.stores.title_order import fold_sql
from tests.conftest import Database, v1_row

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ROWS = 400
SORTS = [
    Sort(field, descending)
    for field in ("created", "updated", "title")
    for descending in (True, False)
]
RARE, COMMON = "bob", "alice"  # about 6 rows and most of them
ORG_RARE = uuid.UUID(int=1)  # the org of the ownership table's rare user
OWNER_RARE = uuid.UUID(int=2)


def rows_for(database: Database, count: int) -> list[dict[str, Any]]:
    """``count`` rows of every kind a listing meets: ties in every sort value, values
    missing, titles alike but for case, V0 rows, sub-conversations, a rare user."""
    columns = database.table.columns
    made = []
    for n in range(count):
        created = None if n % 37 == 5 else T0 + timedelta(minutes=n // 3)
        updated = None if n % 41 == 7 else T0 + timedelta(hours=(count - n) // 4)
        title = (
            None if n % 29 == 3 else ("Apple", "apple", "Zebra", "ärger", f"task {n % 13}")[n % 5]
        )
        row = v1_row(
            conversation_id=str(uuid.UUID(int=(n * 7919) % 1_000_003 + 1)),
            created_at=created,
            last_updated_at=updated,
            title=title,
            user_id=RARE if n % 67 == 1 else (None if n % 19 == 4 else COMMON),
            selected_repository=("acme/web", "acme/api", "Other/tool")[n % 3],
            conversation_version="V0" if n % 11 == 2 else "V1",
            execution_status="running" if n % 23 == 0 else ("finished", "idle")[n % 2],
            parent_conversation_id=(
                str(uuid.UUID(int=(n - 1) * 7919 % 1_000_003 + 1)) if n % 31 == 9 else None
            ),
            trigger="gui" if n % 2 else "resolver",
        )
        made.append({name: value for name, value in row.items() if name in columns})
    return made


def build(
    url: str, *, enterprise: bool = False, count: int = ROWS
) -> tuple[Database, list[dict[str, Any]]]:
    database = Database(url, enterprise=enterprise)
    rows = rows_for(database, count)
    with database.engine.begin() as connection:
        connection.execute(database.table.insert(), rows)
    if enterprise:
        # Most rows have an ownership row (1.x writes one with every conversation); the
        # rest are found by conversation_metadata's own user_id (rows from before 1.x).
        database._execute("INSERT INTO org (id, name) VALUES (:id, 'other')", id=ORG_RARE)
        orgs = [database.add_org("acme"), ORG_RARE]
        owners = [database.add_user(orgs[0]) for _ in range(3)]
        rare = database.add_user(orgs[1], OWNER_RARE)
        owned = [
            {
                "conversation_id": row["conversation_id"],
                "user_id": database.stored_uuid(rare if n % 53 == 2 else owners[n % 3]),
                "org_id": database.stored_uuid(orgs[1] if n % 53 == 2 else orgs[0]),
            }
            for n, row in enumerate(rows)
            if n % 5 != 4
        ]
        with database.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO conversation_metadata_saas (conversation_id, user_id, org_id) "
                    "VALUES (:conversation_id, :user_id, :org_id)"
                ),
                owned,
            )
    return database, rows


def create_indexes(database: Database, kind: str) -> None:
    """Indexes as each kind of hand makes them."""
    sqlite = database.url.startswith("sqlite")
    statements: list[str] = []
    if kind in ("enterprise", "analyzed"):  # OpenHands' enterprise migrations (003)
        statements += [
            f"CREATE INDEX ix_conversation_metadata_{column} ON conversation_metadata ({column})"
            for column in ("user_id", "created_at")
        ]
    if kind == "operator":
        fold = fold_sql("title", sqlite=sqlite)
        collate = "" if sqlite else ' COLLATE "C"'
        statements += [
            f"CREATE INDEX op_title ON conversation_metadata ({fold}{collate})",
            "CREATE INDEX op_updated ON conversation_metadata (last_updated_at DESC)",
            # Partial: it holds only some rows, so it must never be read as serving.
            "CREATE INDEX op_created_v0 ON conversation_metadata (created_at) "
            "WHERE conversation_version = 'V0'",
        ]
    with database.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    if kind == "convstore":
        store = SqlStore(create_engine(database.url))
        add_listing_indexes(store)
        store.close()
    if kind == "analyzed" and sqlite:
        with database.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
    if not sqlite:  # statistics, as autovacuum gathers them on a live server
        with database.engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))


def queries(enterprise: bool) -> list[Query]:
    found = [Query(sort=sort) for sort in SORTS]
    found += [Query(version="V1", sort=sort) for sort in SORTS]
    owners = [str(OWNER_RARE)] if enterprise else []
    for user in [RARE, COMMON, "nobody", *owners]:
        found += [Query(user=user), Query(user=user, version="V1", sort=Sort("title", False))]
    found += [
        Query(status="running"),
        Query(status="finished", sort=Sort("updated", True), version="V1"),
        Query(created_since=T0 + timedelta(minutes=100), sort=Sort("title", True)),
        Query(created_since=T0 + timedelta(minutes=20), created_until=T0 + timedelta(minutes=60)),
        Query(updated_since=T0 + timedelta(hours=80), sort=Sort("created", False)),
        Query(updated_until=T0 + timedelta(hours=30), sort=Sort("updated", True)),
        Query(repo="ACME/", trigger="gui", sort=Sort("updated", False)),
        Query(title="apple", sub_conversations=True),
        Query(version="V0", sub_conversations=True, sort=Sort("created", False)),
    ]
    if enterprise:
        found += [Query(org=str(ORG_RARE)), Query(org=str(ORG_RARE), user=str(OWNER_RARE))]
    return found


def expected(everything: list[Any], query: Query) -> list[str]:
    matching = [record for record in everything if query.matches(record)]
    matching.sort(
        key=lambda record: record_position(query.sort, record), reverse=query.sort.descending
    )
    return [record.conversation_id for record in matching]


def listed(store: SqlStore, query: Query) -> list[str]:
    return [record.conversation_id for record in store.search(query)]


def paged(store: SqlStore, query: Query, limit: int) -> list[str]:
    """The listing a page at a time, each page from the cursor the one before gave."""
    catalog = Catalog(sql=store)
    found: list[str] = []
    while True:
        page = catalog.page(query, limit)
        found += [record.conversation_id for record in page.items]
        if page.next_cursor is None:
            return found
        query = query.starting_after(decode_cursor(query.sort, page.next_cursor))


# "analyzed": the enterprise indexes and SQLite's statistics (PostgreSQL has them always).
KINDS = ["openhands", "enterprise", "convstore", "operator", "analyzed"]


@pytest.mark.parametrize("enterprise", [False, True], ids=["single-machine", "1.x-enterprise"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_plan_lists_the_same_rows_in_the_same_order(database_url, kind, enterprise):
    database, rows = build(database_url, enterprise=enterprise)
    create_indexes(database, kind)
    store = SqlStore(create_engine(database_url))
    everything = list(store.search(Query(sub_conversations=True)))
    assert sorted(r.conversation_id for r in everything) == sorted(
        r["conversation_id"] for r in rows
    )
    for query in queries(enterprise):
        want = expected(everything, query)
        assert listed(store, query) == want, query
        # Every filter steered, and none: the plan changes, the rows may not.
        for selective in (0, 10**9):
            store.selective_rows = selective
            assert listed(store, query) == want, (query, selective)
        store.selective_rows = SqlStore.selective_rows
    for query in [Query(sort=sort) for sort in SORTS] + [Query(user=COMMON, sort=SORTS[3])]:
        assert paged(store, query, 23) == expected(everything, query), query
    store.close()
    database.dispose()


# The plans, read with EXPLAIN from the statements a listing runs


@contextmanager
def statements_run(store: SqlStore) -> Iterator[list[tuple[str, Any]]]:
    """The listing pages ``store`` sends to its database while the block runs."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "ORDER BY" in statement:
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def plan_of(store: SqlStore, query: Query) -> str:
    """The database's plan for the first page of ``query``, as one line of text."""
    with statements_run(store) as seen:
        next(iter(store.search(query)), None)
    statement, parameters = seen[0]
    explain = "EXPLAIN QUERY PLAN " if store.sqlite else "EXPLAIN "
    with store.engine.connect() as connection:
        lines = connection.exec_driver_sql(explain + statement, parameters).all()
    return " | ".join(str(line[-1]) for line in lines)


def reads_in_order(plan: str, index: str, *, sqlite: bool) -> bool:
    """The plan reads ``index`` and sorts nothing but ties (no sort of the table)."""
    if sqlite:
        return f"USING INDEX {index}" in plan and "TEMP B-TREE FOR ORDER BY" not in plan
    sorts = [
        step
        for step in plan.split(" | ")
        if step.strip().startswith("->  Sort") or step.startswith("Sort")
    ]
    return f"using {index} on" in plan and "Index Scan" in plan and not sorts


@pytest.fixture
def enterprise_store(database_url):
    """The single-machine table with OpenHands' enterprise indexes, at SQLite's and at
    PostgreSQL's: what the issue's first row measures, a few hundred rows of it."""
    database, _ = build(database_url)
    create_indexes(database, "enterprise")
    yield small_table_store(database_url)
    database.dispose()


def small_table_store(url: str) -> SqlStore:
    """A store of the small test table that plans as on a large one: a filter counts
    as selective when it matches fewer than 50 rows (as a table of 10^6 rows has it
    at 5,000), so that every V1 row, or the common user's, is not."""
    store = SqlStore(create_engine(url))
    store.selective_rows = 50
    return store


def test_a_page_reads_openhands_created_at_index_in_order(enterprise_store):
    store = enterprise_store
    for query in (Query(version="V1"), Query(), Query(version="V1", sort=Sort("created", False))):
        plan = plan_of(store, query)
        assert reads_in_order(plan, "ix_conversation_metadata_created_at", sqlite=store.sqlite), (
            plan
        )
    # Deep in the listing, through a cursor: the same plan.
    middle = list(store.search(Query(version="V1")))[ROWS // 3]
    deep = Query(version="V1").starting_after(record_position(Query().sort, middle))
    plan = plan_of(store, deep)
    assert reads_in_order(plan, "ix_conversation_metadata_created_at", sqlite=store.sqlite), plan


def test_a_rare_user_is_read_through_the_user_index_and_a_common_one_in_order(enterprise_store):
    store = enterprise_store
    assert "ix_conversation_metadata_user_id" in plan_of(store, Query(user=RARE, version="V1"))
    plan = plan_of(store, Query(user=COMMON, version="V1"))
    assert reads_in_order(plan, "ix_conversation_metadata_created_at", sqlite=store.sqlite), plan


def test_a_sort_no_index_serves_reads_the_table_and_db_info_says_so(enterprise_store):
    store = enterprise_store
    plan = plan_of(store, Query(version="V1", sort=Sort("updated", True)))
    if store.sqlite:
        assert "SCAN conversation_metadata" in plan and "TEMP B-TREE FOR ORDER BY" in plan, plan
    else:
        assert "Seq Scan" in plan and "Sort" in plan, plan
    info = describe(store)
    assert info.listings == {
        "--sort created": "ix_conversation_metadata_created_at",
        "--sort updated": None,
        "--sort title": None,
        "--user": "ix_conversation_metadata_user_id",
    }
    assert info.missing == [
        "convstore_ix_conversation_metadata_last_updated_at",
        "convstore_ix_conversation_metadata_title",
    ]


def test_every_sort_reads_the_index_db_add_indexes_adds(database_url):
    database, _ = build(database_url)
    create_indexes(database, "convstore")
    store = small_table_store(database_url)
    for field, column in (
        ("created", "created_at"),
        ("updated", "last_updated_at"),
        ("title", "title"),
    ):
        for descending in (True, False):
            plan = plan_of(store, Query(version="V1", sort=Sort(field, descending)))
            index = f"convstore_ix_conversation_metadata_{column}"
            assert reads_in_order(plan, index, sqlite=store.sqlite), (field, plan)
    assert describe(store).missing == []
    store.close()
    database.dispose()


def test_an_operators_indexes_serve_as_well(database_url):
    database, _ = build(database_url)
    create_indexes(database, "operator")
    store = small_table_store(database_url)
    for field, index in (("title", "op_title"), ("updated", "op_updated")):
        plan = plan_of(store, Query(version="V1", sort=Sort(field, False)))
        assert reads_in_order(plan, index, sqlite=store.sqlite), plan
    # The partial index holds V0 rows only: created is served by no index.
    assert describe(store).listings["--sort created"] is None
    store.close()
    database.dispose()


def test_a_1x_owner_is_found_through_the_ownership_index(database_url):
    """``--user`` in a 1.x enterprise database: the owner of most rows is in
    conversation_metadata_saas, whose (user_id, org_id) index finds them; the rows
    without an ownership row are found by their own user_id, in a second arm."""
    # Enough rows that PostgreSQL's planner reads an index rather than the whole table.
    database, _ = build(database_url, enterprise=True, count=20_000)
    create_indexes(database, "enterprise")
    store = small_table_store(database_url)
    rare = str(OWNER_RARE)
    with statements_run(store) as seen:
        list(store.search(Query(user=rare)))
    explain = "EXPLAIN QUERY PLAN " if store.sqlite else "EXPLAIN "
    with store.engine.connect() as connection:
        plans = [
            " | ".join(str(line[-1]) for line in connection.exec_driver_sql(explain + s, p).all())
            for s, p in seen
        ]
    assert any("ix_conversation_metadata_saas_user_id_org_id" in plan for plan in plans), plans
    assert any("ix_conversation_metadata_user_id" in plan for plan in plans), plans
    info = describe(store)
    assert info.listings["--user"] == "ix_conversation_metadata_saas_user_id_org_id"
    assert info.listings["--org"] == "ix_conversation_metadata_saas_org_id"
    store.close()
    database.dispose()


def test_db_add_indexes_offers_an_index_for_the_owner_where_none_finds_it(database_url):
    database, _ = build(database_url)  # single-machine: no index on user_id
    store = SqlStore(create_engine(database_url))
    assert describe(store).listings["--user"] is None
    assert "convstore_ix_conversation_metadata_user_id" in describe(store).missing
    add_listing_indexes(store)
    store.close()
    store = SqlStore(create_engine(database_url))
    assert describe(store).listings["--user"] == "convstore_ix_conversation_metadata_user_id"
    assert "convstore_ix_conversation_metadata_user_id" in plan_of(store, Query(user=RARE))
    store.close()
    database.dispose()


def test_an_unusable_index_is_not_counted_on(database_url):
    """A collation that orders otherwise, or (PostgreSQL) an index an interrupted
    CREATE INDEX CONCURRENTLY left invalid, serves no sort."""
    database, _ = build(database_url)
    sqlite = database_url.startswith("sqlite")
    collation = "NOCASE" if sqlite else '"POSIX"'
    with database.engine.begin() as connection:
        fold = fold_sql("title", sqlite=sqlite)
        connection.execute(
            text(f"CREATE INDEX odd_title ON conversation_metadata ({fold} COLLATE {collation})")
        )
        connection.execute(text("CREATE INDEX ready ON conversation_metadata (last_updated_at)"))
        if not sqlite:
            connection.execute(
                text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'ready'::regclass")
            )
    store = SqlStore(create_engine(database_url))
    listings = describe(store).listings
    assert listings["--sort updated"] == (None if not sqlite else "ready")
    assert listings["--sort title"] is None
    store.close()
    database.dispose()


def test_a_store_reads_its_indexes_once(database_url):
    database, _ = build(database_url)
    store = SqlStore(create_engine(database_url))
    with database.engine.begin() as connection:
        connection.execute(text("CREATE INDEX later ON conversation_metadata (created_at)"))
    assert describe(store).listings["--sort created"] is None  # as it was when opened
    store.close()
    assert describe(SqlStore(create_engine(database_url))).listings["--sort created"] == "later"
    database.dispose()


def test_queries_cover_the_filters():
    """The listings above use every filter a query has but ``parent`` (children():
    test_sql_store): a new filter needs a case here."""
    used = {
        name
        for query in queries(True)
        for name in (f.name for f in fields(Query))
        if getattr(query, name) not in (None, False)
    }
    assert used | {"sort", "after", "parent"} == {f.name for f in fields(Query)}


def test_db_add_indexes_offers_the_ownership_indexes_of_a_database_before_118(database_url):
    """Between enterprise migrations 089 and 118 the ownership table had no index but
    its primary key: ``db add-indexes`` offers one on its user_id and one on its org_id,
    and the owner's rows are then found through them."""
    database, _ = build(database_url, enterprise=True, count=2000)
    with database.engine.begin() as connection:
        for name in (
            "ix_conversation_metadata_saas_user_id_org_id",
            "ix_conversation_metadata_saas_org_id",
        ):
            connection.execute(text(f"DROP INDEX {name}"))
    store = small_table_store(database_url)
    info = describe(store)
    assert info.listings["--user"] is None and info.listings["--org"] is None
    added = [
        "convstore_ix_conversation_metadata_saas_user_id",
        "convstore_ix_conversation_metadata_saas_org_id",
    ]
    assert set(added) <= set(info.missing)
    add_listing_indexes(store)
    store.close()
    store = small_table_store(database_url)
    assert [describe(store).listings[option] for option in ("--user", "--org")] == added
    query = Query(user=str(OWNER_RARE))
    assert listed(store, query) == expected(
        list(store.search(Query(sub_conversations=True))), query
    )
    store.close()
    database.dispose()
