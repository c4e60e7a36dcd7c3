"""Which OpenHands schema the database is at, and the checks about the table itself.

Rules for V1 rows changed between releases, so checks ask which generation the table
belongs to (``convstore.v1_rules.generation_of`` says how it is told).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from convstore.jobs.checks.base import Check, Context, Issue
from convstore.stores.sql import OWNERSHIP_TABLE, TABLE, SqlStore
from convstore.stores.sql_connection import unavailable
from convstore.stores.sql_indexes import Index
from convstore.v1_rules import Generation, generation_of


@dataclass(frozen=True)
class Schema:
    """The table as found: revision, columns, indexed columns, optional tables."""

    revision: str | None
    columns: frozenset[str]
    tables: frozenset[str]
    # The index that hands over rows newest first, whoever made it (stores.sql_indexes:
    # the rule the listing itself goes by); None when no index serves that sort.
    created_order_index: str | None
    location: str

    @property
    def generation(self) -> Generation:
        return generation_of(self.columns)

    @property
    def ownership(self) -> bool:
        return OWNERSHIP_TABLE in self.tables

    def describe(self) -> str:
        revision = self.revision or "unknown (no alembic_version)"
        shape = "OpenHands 1.x" if self.generation == "1.x" else "OpenHands 2025 (V0 era)"
        enterprise = ", enterprise ownership table" if self.ownership else ""
        return f"revision {revision}, {shape} schema{enterprise}"

    def as_dict(self) -> dict[str, object]:
        return {
            "revision": self.revision,
            "generation": self.generation,
            "ownership_table": self.ownership,
            "location": self.location,
        }


def read_schema(store: SqlStore) -> Schema:
    try:
        with store.engine.connect() as connection:
            revision = None
            if "alembic_version" in store.table_names:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar()
    except DBAPIError as error:
        raise unavailable(store.display, error) from error
    return Schema(
        revision=None if revision is None else str(revision),
        columns=store.columns,
        tables=store.table_names,
        created_order_index=_name(store.indexes.serving("created", TABLE)),
        location=f"{TABLE} in {store.display}",
    )


def only_2025(context: Context) -> str | None:
    """For rules that OpenHands 1.x relaxed (it reads nulls as defaults)."""
    if context.schema is None:
        return "needs a database (--db)"
    if context.schema.generation == "1.x":
        return "OpenHands 1.x reads these nulls as defaults"
    return None


def needs_column(name: str, since: str) -> Callable[[Context], str | None]:
    """For checks of a column that only some revisions have."""

    def applies(context: Context) -> str | None:
        if context.schema is None:
            return "needs a database (--db)"
        if name not in context.schema.columns:
            return f"the table has no {name} column (added in revision {since})"
        return None

    return applies


def _name(index: Index | None) -> str | None:
    return None if index is None else index.name


def needs_ownership(context: Context) -> str | None:
    if context.schema is None:
        return "needs a database (--db)"
    if not context.schema.ownership:
        return f"no {OWNERSHIP_TABLE} table: only OpenHands 1.x enterprise has one"
    return None


def needs_schema(context: Context) -> str | None:
    return None if context.schema is not None else "needs a database (--db)"


def needs_sqlite(context: Context) -> str | None:
    """For SQLite's text forms (PostgreSQL stores timestamps as timestamps)."""
    if context.schema is None or context.sql is None:
        return "needs a database (--db)"
    return None if context.sql.sqlite else "PostgreSQL stores timestamps as timestamps"


def no_created_at_index(schema: Schema, _context: Context) -> Iterator[Issue]:
    if "created_at" not in schema.columns or schema.created_order_index is not None:
        return
    yield Issue(
        "no index serves listings by creation time (one whose first key is created_at, "
        "covering every row), so every such listing reads the whole table (OpenHands' "
        "single-machine schema has none)",
        "run `convstore db add-indexes` if listings are slow; OpenHands ignores extra indexes",
        conversation_id=None,
        location=schema.location,
    )


CHECKS: tuple[Check[Schema], ...] = (
    Check(
        "sql.no-created-at-index",
        "info",
        "no index on created_at: listings by creation time scan the table",
        Schema,
        no_created_at_index,
        applies=needs_schema,
    ),
)
