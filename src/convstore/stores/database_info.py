"""What a conversation database is: its OpenHands revision, optional tables, indexes,
which listings an index serves, and the indexes convstore adds when, and only when, an
operator asks.

A listing page reads only its rows when an index serves its sort (``sql_indexes``),
whoever made it: OpenHands' enterprise chain indexes ``created_at``, its single-machine
schema none of the three sorts (conversation_version, sandbox_id, parent_conversation_id,
public and execution_status only), so there every page sorts the whole table.
``convstore db add-indexes`` adds, for each sort no index serves, one on the sort value
and the id (created_at, last_updated_at, or the folded title: ``title_order``, an index
on an expression of built-in functions only, so OpenHands' own writes keep it up to
date); and for ``--user``, where nothing finds a user's rows, one on the owner column
(user_id, or the 1.x ownership table's user_id and org_id), so that a user with few
conversations costs a page of their rows, not a pass over the table. They carry a
``convstore_`` prefix, so an operator can tell them from OpenHands' and drop them;
OpenHands' migrations never touch them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from convstore.stores.sql import LISTING_INDEX_PREFIX, OWNERSHIP_TABLE, TABLE, SqlStore
from convstore.stores.sql_connection import retrying
from convstore.stores.sql_indexes import SORT_COLUMNS, Index
from convstore.stores.title_order import fold_sql

OPTIONAL_TABLES = (OWNERSHIP_TABLE, "conversation_cost_events", "user", "org")
# Columns whose presence tells one OpenHands revision from another (FORMATS.md).
REVISION_COLUMNS = (
    "github_user_id",
    "parent_conversation_id",
    "public",
    "tags",
    "agent_kind",
    "execution_status",
)


@dataclass(frozen=True)
class ListingIndex:
    """An index ``db add-indexes`` adds: on ``table``, by ``column`` (for a sort: the
    sort value, then the id, so that ties come in the listing's order too)."""

    name: str
    column: str
    table: str = TABLE
    sort: str | None = None  # the sort field it serves, if it is for one

    def key(self, *, sqlite: bool) -> str:
        """What the index is on first: the column, or the folded title."""
        return fold_sql(self.column, sqlite=sqlite) if self.column == "title" else self.column


LISTING_INDEXES = tuple(
    ListingIndex(LISTING_INDEX_PREFIX + column, column, sort=field)
    for field, column in SORT_COLUMNS.items()
)
# For --user (and --org): the owner's column, in the table or the ownership table.
OWNER_INDEXES = (
    ListingIndex(LISTING_INDEX_PREFIX + "user_id", "user_id"),
    ListingIndex(LISTING_INDEX_PREFIX + "saas_user_id", "user_id", table=OWNERSHIP_TABLE),
    ListingIndex(LISTING_INDEX_PREFIX + "saas_org_id", "org_id", table=OWNERSHIP_TABLE),
)


@dataclass
class DatabaseInfo:
    location: str
    dialect: str
    revision: str | None
    optional_tables: dict[str, bool]
    revision_columns: dict[str, bool]
    indexes: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    # What reads each listing's rows: for each sort and for the owner filters (--user,
    # --org), the index that serves it, or None (a page reads the whole table).
    listings: dict[str, str | None] = field(default_factory=dict)
    # The indexes ``db add-indexes`` would add: those listings' fix.
    missing: list[str] = field(default_factory=list)


def describe(store: SqlStore) -> DatabaseInfo:
    """The revision in ``alembic_version``, which optional tables and columns exist, the
    indexes of conversation_metadata and what they serve, and how many rows each
    version has."""

    def read() -> tuple[str | None, list[tuple[str, int]]]:
        with store.engine.connect() as connection:
            revision = None
            if "alembic_version" in store.table_names:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar()
            counts = connection.execute(
                text(
                    f"SELECT coalesce(conversation_version, 'null'), count(*) FROM {TABLE} "
                    "GROUP BY 1 ORDER BY 1"
                )
            ).all()
        return revision, [(str(version), int(count)) for version, count in counts]

    revision, counts = retrying(store.display, read)
    return DatabaseInfo(
        location=store.display,
        dialect=store.engine.dialect.name,
        revision=revision,
        optional_tables={name: name in store.table_names for name in OPTIONAL_TABLES},
        revision_columns={name: name in store.columns for name in REVISION_COLUMNS},
        indexes=store.indexes.names(TABLE),
        rows=dict(counts),
        listings=_listings(store),
        missing=[index.name for index in missing_indexes(store)],
    )


def _listings(store: SqlStore) -> dict[str, str | None]:
    """Each listing an index can serve, and the name of the one that does (or None)."""

    def name(index: Index | None) -> str | None:
        return None if index is None else index.name

    found = {f"--sort {field}": name(store.indexes.serving(field, TABLE)) for field in SORT_COLUMNS}
    if store.ownership is not None:
        found["--user"] = name(store.indexes.on(OWNERSHIP_TABLE, "user_id"))
        found["--org"] = name(store.indexes.on(OWNERSHIP_TABLE, "org_id"))
    elif "user_id" in store.columns:
        found["--user"] = name(store.indexes.on(TABLE, "user_id"))
    return found


def missing_indexes(store: SqlStore) -> list[ListingIndex]:
    """The indexes ``db add-indexes`` adds: one per sort that no index serves, and one
    per owner column that no index finds rows by (``describe``'s ``listings``)."""
    missing = [
        index for index in LISTING_INDEXES if store.indexes.serving(str(index.sort), TABLE) is None
    ]
    for index in OWNER_INDEXES:
        if index.table == OWNERSHIP_TABLE and store.ownership is None:
            continue
        if index.table == TABLE and (store.ownership is not None or "user_id" not in store.columns):
            continue  # with the ownership table, user_id is the owner of old rows only
        if store.indexes.on(index.table, index.column) is None:
            missing.append(index)
    return missing


def add_listing_indexes(store: SqlStore, *, dry_run: bool = False) -> list[str]:
    """Create the listing indexes that are missing; returns the DDL, run or (dry) not.

    PostgreSQL builds them CONCURRENTLY, so OpenHands keeps writing meanwhile. SQLite's
    statistics are left as they are (no ANALYZE): the listing's plan does not need them
    (``SqlStore._steered``), and they would change how OpenHands' own queries run.
    """
    statements = [_ddl(store, index) for index in missing_indexes(store)]
    if dry_run or not statements:
        return statements

    def create() -> None:
        if store.sqlite:
            with store.engine.begin() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        else:
            with store.engine.connect() as connection:
                autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
                for statement in statements:
                    autocommit.execute(text(statement))

    retrying(store.display, create)
    return statements


def _ddl(store: SqlStore, index: ListingIndex) -> str:
    key = index.key(sqlite=store.sqlite)
    if index.sort is None:
        keys = key  # found by value: the order of a user's rows is the sort's business
    elif store.sqlite:
        keys = f"{key}, conversation_id"
    else:
        # The listing compares text with COLLATE "C" (code-point order, as Python does).
        collated = f'{key} COLLATE "C"' if index.column == "title" else key
        keys = f'{collated}, conversation_id COLLATE "C"'
    table = store.engine.dialect.identifier_preparer.quote(index.table)
    if store.sqlite:
        return f"CREATE INDEX IF NOT EXISTS {index.name} ON {table} ({keys})"
    return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index.name} ON {table} ({keys})"
