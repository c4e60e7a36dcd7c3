"""What a conversation database is: its OpenHands revision, optional tables, indexes, and
the indexes convstore adds when, and only when, an operator asks.

OpenHands' own indexes do not cover listing: its single-machine schema indexes
``conversation_version``, ``sandbox_id`` and ``parent_conversation_id`` only, so every
page sorts the whole table. ``convstore db add-indexes`` adds the three that let a
keyset page read just its rows, one per sort: created_at, last_updated_at, and the
folded title (``title_order``), an index on an expression of built-in functions only,
so OpenHands' own writes keep it up to date. They carry a ``convstore_`` prefix, so an
operator can tell them from OpenHands' and drop them; OpenHands' migrations never touch
them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import text

from convstore.stores.sql import (
    LISTING_INDEX_PREFIX,
    OWNERSHIP_TABLE,
    TABLE,
    SqlStore,
    index_names,
)
from convstore.stores.sql_connection import retrying
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
    """An index that serves the keyset listing ordered by one column."""

    name: str
    column: str

    def key(self, *, sqlite: bool) -> str:
        """What the listing orders by: the column, or the folded title."""
        return fold_sql(self.column, sqlite=sqlite) if self.column == "title" else self.column


LISTING_INDEXES = tuple(
    ListingIndex(LISTING_INDEX_PREFIX + column, column)
    for column in ("created_at", "last_updated_at", "title")
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

    @property
    def missing_listing_indexes(self) -> list[ListingIndex]:
        return [index for index in LISTING_INDEXES if index.name not in self.indexes]


def describe(store: SqlStore) -> DatabaseInfo:
    """The revision in ``alembic_version``, which optional tables and columns exist, the
    indexes of conversation_metadata, and how many rows each version has."""

    def read() -> DatabaseInfo:
        with store.engine.connect() as connection:
            revision = None
            if "alembic_version" in store.table_names:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar()
            indexes = index_names(connection)
            counts = connection.execute(
                text(
                    f"SELECT coalesce(conversation_version, 'null'), count(*) FROM {TABLE} "
                    "GROUP BY 1 ORDER BY 1"
                )
            ).all()
        return DatabaseInfo(
            location=store.display,
            dialect=store.engine.dialect.name,
            revision=revision,
            optional_tables={name: name in store.table_names for name in OPTIONAL_TABLES},
            revision_columns={name: name in store.columns for name in REVISION_COLUMNS},
            indexes=indexes,
            rows={str(version): int(count) for version, count in counts},
        )

    return retrying(store.display, read)


def add_listing_indexes(store: SqlStore, *, dry_run: bool = False) -> list[str]:
    """Create the listing indexes that are missing; returns the DDL, run or (dry) not.

    PostgreSQL builds them CONCURRENTLY, so OpenHands keeps writing meanwhile; SQLite
    also gathers the table's statistics (ANALYZE), which its planner needs to use them.
    """
    missing = describe(store).missing_listing_indexes
    statements = [_ddl(store, index) for index in missing]
    if statements and store.sqlite:
        statements.append(f"ANALYZE {TABLE}")
    if dry_run or not statements:
        return statements

    def create() -> None:
        if store.sqlite:
            with store.engine.begin() as connection:
                # ANALYZE (the last statement) matters: without statistics SQLite's
                # planner takes any equality on an indexed column (parent_conversation_id
                # IS NULL) as selective and sorts the whole table instead of reading the
                # listing index in order.
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
    if store.sqlite:
        return f"CREATE INDEX IF NOT EXISTS {index.name} ON {TABLE} ({key}, conversation_id)"
    # The listing compares text with COLLATE "C" (code-point order, as Python does).
    collated = f'{key} COLLATE "C"' if index.column == "title" else key
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index.name} ON {TABLE} "
        f'({collated}, conversation_id COLLATE "C")'
    )
