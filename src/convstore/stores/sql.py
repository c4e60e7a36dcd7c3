"""The ``conversation_metadata`` table: V0 rows (SaaS) and V1 rows, over any SQLAlchemy URL.

The table is reflected, never declared: a real database sits at whatever OpenHands
revision last ran, so convstore reads the columns that exist and writes only those.
It never creates or alters OpenHands' tables. Where the 1.x enterprise ownership
table ``conversation_metadata_saas`` exists, the owner comes from it, joined.

Listings are keyset walks in chunks: each chunk is one short query that starts
strictly after the last key returned, so no cursor or transaction stays open while a
person reads a page, and memory holds one chunk at a time.

A rename or delete changes a row only if it still holds what was read: in one
transaction the row is read again and checked against the record's fingerprint, then
updated or deleted by a statement whose WHERE compares every column with the values
just read (``_AsRead``). A change committed in between, which OpenHands makes without
asking, leaves the statement nothing to match: rowcount 0, Conflict, and the
transaction rolls back.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import operator
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    false,
    func,
    inspect,
    literal,
    literal_column,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SAWarning
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from convstore.errors import StoreUnavailable
from convstore.ids import abbreviates, prefix_forms
from convstore.model import ConversationMetadata, Store, Version
from convstore.stores.base import (
    STORE_ORDER,
    Position,
    Query,
    Removal,
    Sort,
    changed_since_read,
    fingerprint,
    record_position,
)
from convstore.stores.sql_connection import retrying, serialize_sqlite_writes, unavailable
from convstore.stores.sql_indexes import SORT_COLUMNS, Indexes, reflect
from convstore.stores.sql_values import (
    JSON_COLUMNS,
    TIMESTAMP_COLUMNS,
    RowForm,
    json_or_text,
    sqlite_timestamp,
    time_parameter,
    undecodable,
)
from convstore.stores.title_order import fold_sql, require_ascii_lower
from convstore.v1_rules import Generation, generation_of
from convstore.v1_rules import problems as v1_row_problems

TABLE = "conversation_metadata"
OWNERSHIP_TABLE = "conversation_metadata_saas"
# Tables convstore removes with a conversation, in the same transaction, because
# OpenHands' own delete does (FORMATS.md: cost events block the delete otherwise).
DEPENDENT_TABLES = ("conversation_cost_events", OWNERSHIP_TABLE)
OWNER = "convstore_owner"  # the label of the ownership table's user_id in selects
# `convstore db add-indexes` names its indexes with this prefix and the sort column.
LISTING_INDEX_PREFIX = "convstore_ix_conversation_metadata_"
# SQLAlchemy reflects no index on an expression from SQLite, and says so on stderr
# whenever the table is reflected (a store opened, verify, a delete's foreign keys):
# convstore's listing index on the folded title is one, an operator's may be another.
# convstore reads every index itself (sql_indexes), those included.
warnings.filterwarnings(
    "ignore", "Skipped unsupported reflection of expression-based index", SAWarning
)
# Greater than every id in code point order; no row has it.
AFTER_EVERY_ID = "\U0010ffff"
# Chunks grow so a first page costs one small query and a full scan few large ones.
FIRST_CHUNK, LARGEST_CHUNK = 32, 2000
T = TypeVar("T")
# One condition of a listing, with the indexed column it narrows ("table.column"), if
# it narrows one column of one table: what the plan may read it through.
Term = tuple[str | None, ColumnElement[bool]]
# A table whose column refers to a row's conversation_id, and whether it cascades.
Reference = tuple[Table, Column[Any], bool]


class SqlStore:
    """Conversations as rows of ``conversation_metadata`` in one database."""

    name: Store = "sql"
    # A filter that matches fewer rows than this is read through its own index (SQLite);
    # one that matches more, in the order of the sort (``_steered`` says why).
    selective_rows = 5000

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._referencing: list[Reference] | None = None
        database = engine.url.database
        # The SQLite file, for what lives beside it (the migration lock); None elsewhere.
        self.sqlite_file = (
            Path(database.removeprefix("file:")) if self.sqlite and database else None
        )
        self.display = (
            str(self.sqlite_file)
            if self.sqlite_file is not None
            else engine.url.render_as_string(hide_password=True)
        )
        if self.sqlite:
            serialize_sqlite_writes(engine)
        try:
            retrying(self.display, self._reflect)
        except NoSuchTableError as error:
            raise StoreUnavailable(f"{self.display}: table {error} disappeared") from error
        if self.sqlite:
            # SQLite keeps timestamps and JSON as text; read them raw and parse them
            # leniently here, so one odd value is a problem entry, not a crash.
            for column in self.table.columns:
                if column.name in TIMESTAMP_COLUMNS or column.name == "pr_number":
                    column.type = String()
                if column.name == "tags":
                    column.type = String()
        self.columns = frozenset(self.table.columns.keys())
        # Which release's rules a V1 row of this table must satisfy (convstore.v1_rules).
        self.generation: Generation = generation_of(self.columns)

    def _reflect(self) -> None:
        """Read the table as this database has it: once per run."""
        metadata = MetaData()
        with self.engine.connect() as connection:
            names = set(inspect(connection).get_table_names())
            if TABLE not in names:
                raise StoreUnavailable(
                    f"{self.display} has no table {TABLE}: not an OpenHands database, or "
                    "OpenHands has not created it yet (convstore never creates it)"
                )
            self.table = Table(TABLE, metadata, autoload_with=connection)
            self.ownership = (
                Table(OWNERSHIP_TABLE, metadata, autoload_with=connection)
                if OWNERSHIP_TABLE in names
                else None
            )
            self.table_names = frozenset(names)
            # Every index, whoever made it: the listing's plan is chosen from them.
            self.indexes: Indexes = reflect(connection, [TABLE, OWNERSHIP_TABLE])

    # Reading

    def _select(self) -> Select[Any]:
        table = self.table
        if self.ownership is None:
            return select(table)
        owner = self.ownership
        return select(
            table,
            cast(owner.c.user_id, String).label(OWNER),
            cast(owner.c.org_id, String).label("org_id"),
        ).select_from(table.outerjoin(owner, owner.c.conversation_id == table.c.conversation_id))

    def owner_expression(self) -> ColumnElement[Any] | None:
        """``owners.owner_of`` in SQL: the 1.x ownership table's user where it exists,
        else user_id, else github_user_id (early SaaS rows); None without any of them."""
        table = self.table
        found: list[ColumnElement[Any]] = []
        if self.ownership is not None:
            found.append(cast(self.ownership.c.user_id, String))
        found += [table.c[name] for name in ("user_id", "github_user_id") if name in self.columns]
        if len(found) < 2:
            return found[0] if found else None
        return func.coalesce(*found)

    def _record(self, row: RowMapping) -> ConversationMetadata:
        data = dict(row)  # once: a RowMapping is slow to walk
        token = _row_fingerprint(data)
        problems = []
        version_text = data.get("conversation_version")
        version: Version = "V1" if version_text == "V1" else "V0"
        if version_text not in ("V0", "V1"):
            problems.append(
                f"conversation_version is {version_text!r}, neither V0 nor V1, so OpenHands "
                "shows this row nowhere"
            )
        problems += undecodable(data)
        for name in TIMESTAMP_COLUMNS:
            if isinstance(data.get(name), str):
                data[name] = sqlite_timestamp(data[name])
        for name in JSON_COLUMNS:
            if isinstance(data.get(name), str):
                data[name] = json_or_text(data[name])
        if version == "V1":
            problems += v1_row_problems(data, self.generation)
        owner = data.pop(OWNER, None)
        if owner is not None:
            data["user_id"] = _canonical_uuid_text(owner)
        if data.get("org_id") is not None:
            data["org_id"] = _canonical_uuid_text(data["org_id"])
        record = ConversationMetadata.from_source(
            data,
            store=self.name,
            version=version,
            location=f"{TABLE} in {self.display}",
            problems=problems,
            source_fields=data.keys(),
        )
        return record.with_token(token)

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        """Matching rows in ``query.sort`` order, in growing chunks.

        Rows with a sort value come first, then rows without one (nulls last either
        way). Each part is walked with its own plain ORDER BY and a row-value keyset
        bound, the shape an index on the sort value serves directly, so a page costs
        the same at any depth. A filter an index can narrow may split the walk in
        disjoint arms (``_arms``), each read through its own index and merged here.
        """
        walks = [self._walk(query, arm) for arm in range(len(self._arms(query)))]
        if len(walks) == 1:
            return walks[0]
        sort = query.sort
        return heapq.merge(
            *walks, key=lambda record: record_position(sort, record), reverse=sort.descending
        )

    def _walk(self, query: Query, arm: int) -> Iterator[ConversationMetadata]:
        """The rows of one arm of ``query``, after ``query.after``, in chunks."""
        statement = self._arm_statement(query, arm)
        sort, anchor = query.sort, query.after
        in_nulls = anchor is not None and _is_null_position(sort, anchor)
        chunk = FIRST_CHUNK
        while True:
            page = self._part(statement, sort, anchor, nulls=in_nulls).limit(chunk)
            rows = self._fetch(page)
            record = None
            for row in rows:
                record = self._record(row)
                yield record
            if len(rows) == chunk:
                assert record is not None
                anchor = record_position(sort, record)
                chunk = min(chunk * 2, LARGEST_CHUNK)
            elif in_nulls:
                return
            else:  # the values are exhausted: the nulls follow, from their start
                in_nulls, anchor, chunk = True, None, FIRST_CHUNK

    def _arm_statement(self, query: Query, arm: int) -> Select[Any]:
        """Every row of one arm of ``query``, its filters read as the plan says."""
        steered = self._steered(self._arms(query)[arm], query.sort)
        terms = self._arms(query, steered)[arm]
        return self._select().where(*(condition for _, condition in terms))

    def _steered(self, terms: list[Term], sort: Sort) -> frozenset[str]:
        """The filter columns SQLite must not read through their index (``+column``).

        SQLite's planner has no statistics unless someone ran ANALYZE (OpenHands never
        does), so it takes an equality on any indexed column for a selective one:
        ``conversation_version = 'V1'`` or ``parent_conversation_id IS NULL``, true of
        nearly every row, and it reads the whole table through that index and sorts it,
        where the index on the sort value would have handed over the page. So the plan
        counts, through its index and up to ``selective_rows``, the rows each indexed
        filter matches: the one that matches fewest, if that is fewer, is left to the
        planner (a page costs at most the rows it matches, sorted); every other one is
        steered away, and the page is read in the order of the sort, through an index
        that serves it if there is one (a page costs about its rows divided by the share
        of rows that match), else in one pass over the table, which is then sorted.
        PostgreSQL keeps statistics and chooses well by itself: it is never steered.
        """
        if not self.sqlite:
            return frozenset()
        sort_column = f"{TABLE}.{SORT_COLUMNS[sort.field]}"
        candidates = sorted(
            {
                key
                for key, _ in terms
                if key is not None and key != sort_column and self._indexed(key)
            }
        )
        limit = self.selective_rows
        counts = {
            key: self._matches_up_to([c for k, c in terms if k == key], limit) for key in candidates
        }
        selective = [key for key in candidates if counts[key] < limit]
        kept = min(selective, key=counts.__getitem__, default=None)
        return frozenset(key for key in candidates if key != kept)

    def _indexed(self, key: str) -> bool:
        table, column = key.split(".")
        return self.indexes.on(table, column) is not None

    def _matches_up_to(self, conditions: list[ColumnElement[bool]], limit: int) -> int:
        """How many rows match ``conditions`` (the terms on ``key``), counting no
        further than ``limit`` (through the index on that column: a few ms)."""
        matching = select(literal(1)).select_from(self.table).where(*conditions).limit(limit)
        statement = select(func.count()).select_from(matching.subquery())
        return int(retrying(self.display, lambda: self._scalar(statement)))

    def _scalar(self, statement: Select[Any]) -> Any:
        with self.engine.connect() as connection:
            return connection.execute(statement).scalar_one()

    def _part(
        self, statement: Select[Any], sort: Sort, anchor: Position | None, *, nulls: bool
    ) -> Select[Any]:
        """The rows of one part (with or without a sort value) after ``anchor``."""
        value = self._sort_column(sort)
        identifier = self._collated(self.table.c.conversation_id)
        descending = sort.descending
        # Ties between stores: this store's row with the anchor's id comes after the
        # anchor only when this store sorts after the anchor's store.
        rank = STORE_ORDER[self.name]
        if anchor is None:
            include_same_id = False
        elif descending:
            include_same_id = rank < anchor.store_rank
        else:
            include_same_id = rank > anchor.store_rank
        if anchor is not None and not self.sqlite:
            anchor = _without_nul(anchor)
        if nulls:
            part = statement.where(value.is_(None))
            keys: list[ColumnElement[Any]] = [identifier]
            bound: list[Any] = [anchor.conversation_id] if anchor else []
        else:
            part = statement.where(value.is_not(None))
            keys = [value, identifier]
            bound = [self._bind_value(sort, anchor.value), anchor.conversation_id] if anchor else []
        if anchor is not None:
            if not nulls:
                # Implied by the row value, and there for SQLite: it seeks an index on
                # an expression (the folded title) only with a bound on that alone.
                part = part.where(value <= bound[0] if descending else value >= bound[0])
            left, right = tuple_(*keys), tuple_(*bound)
            if descending:
                part = part.where(left <= right if include_same_id else left < right)
            else:
                part = part.where(left >= right if include_same_id else left > right)
        return part.order_by(*[key.desc() if descending else key.asc() for key in keys])

    def matching(
        self, query: Query, *conditions: ColumnElement[bool]
    ) -> Iterator[ConversationMetadata]:
        """The rows ``query``'s filters and ``conditions`` select, in no order: for the few
        rows a batch job must read whole (``stats``: those the database cannot judge)."""
        statement = self._select().where(*self._filters(query), *conditions)
        return (self._record(row) for row in self._fetch(statement))

    def conditions(self, query: Query) -> list[ColumnElement[bool]]:
        """The WHERE conditions of ``query``'s filters, for statements built elsewhere
        (``stats``' GROUP BY queries): the rows ``search`` would list, in any order."""
        return self._filters(query)

    def count(self, query: Query) -> int:
        """How many rows ``query`` matches (one COUNT, for progress bars)."""
        statement = select(func.count()).select_from(
            self._select().where(*self._filters(query)).subquery()
        )
        try:
            with self.engine.connect() as connection:
                return int(connection.execute(statement).scalar_one())
        except DBAPIError as error:
            raise unavailable(self.display, error) from error

    def get(
        self, conversation_id: str, version: Version | None = None
    ) -> ConversationMetadata | None:
        statement = self._select().where(self.table.c.conversation_id == conversation_id)
        if version is not None:
            statement = statement.where(_version_is(self.table.c.conversation_version, version))
        rows = self._fetch(statement)
        return self._record(rows[0]) if rows else None

    def abbreviated_by(self, digits: str, limit: int) -> list[ConversationMetadata]:
        """Rows whose id ``digits`` abbreviate (``ids.abbreviates``), at most ``limit``.

        One range on the primary key per form (hex, dashed), which its index serves: an
        id that continues the prefix with hex digits and dashes sorts below the prefix
        followed by "g" in byte order and in the linguistic collations alike.
        """
        column = self.table.c.conversation_id
        ranges = [and_(column >= form, column < form + "g") for form in prefix_forms(digits)]
        rows = self._fetch(self._select().where(or_(*ranges)).limit(limit))
        records = (self._record(row) for row in rows)
        return [record for record in records if abbreviates(digits, record.conversation_id)]

    def _fetch(self, statement: Select[Any]) -> Sequence[RowMapping]:
        def once() -> Sequence[RowMapping]:
            with self.engine.connect() as connection:
                return connection.execute(statement).mappings().all()

        return retrying(self.display, once)

    def _filters(self, query: Query) -> list[ColumnElement[bool]]:
        """``query``'s filters as conditions on ``_select()``'s rows: one list, for a
        statement that reads every matching row (counts, aggregates)."""
        found = [condition for _, condition in self._terms(query)]
        if query.user is not None:
            found.append(self._owner_is(query.user))
        return found

    def _arms(self, query: Query, steered: frozenset[str] = frozenset()) -> list[list[Term]]:
        """``query``'s filters as disjoint sets of terms whose union it matches: one, or
        two where the owner is looked for in two places (``_owner_arms``)."""
        common = self._terms(query, steered)
        if query.user is None:
            return [common]
        return [common + owner for owner in self._owner_arms(query.user, steered)]

    def _terms(self, query: Query, steered: frozenset[str] = frozenset()) -> list[Term]:
        """Every filter of ``query`` but the owner, each with the column it narrows;
        a column named in ``steered`` is read as ``+column`` (``_steered``)."""
        table = self.table
        found: list[Term] = []

        def on(name: str, condition: Callable[[ColumnElement[Any]], ColumnElement[bool]]) -> None:
            if name in self.columns:
                key = f"{TABLE}.{name}"
                found.append((key, condition(self._read(table.c[name], key in steered))))
            else:
                found.append((None, false()))

        if query.version is not None:
            version = query.version
            on("conversation_version", lambda column: _version_is(column, version))
        if query.trigger is not None:
            on("trigger", lambda column: column == query.trigger)
        if query.status is not None:
            on("execution_status", lambda column: column == query.status)
        if query.org is not None:
            if self.ownership is None:
                found.append((None, false()))
            else:
                key = f"{OWNERSHIP_TABLE}.org_id"
                orgs = self.ownership.c.org_id.in_(uuid_forms(query.org))
                found.append((key, self._owned_where(orgs, key in steered)))
        if query.parent is not None:
            on("parent_conversation_id", lambda column: column == query.parent)
        elif not query.sub_conversations and "parent_conversation_id" in self.columns:
            on("parent_conversation_id", lambda column: column.is_(None))
        for name, needle in (("title", query.title), ("selected_repository", query.repo)):
            if needle is not None:
                found.append((None, self._contains(table.c[name], needle)))
        for name, since, until in (
            ("created_at", query.created_since, query.created_until),
            ("last_updated_at", query.updated_since, query.updated_until),
        ):
            if since is not None or until is not None:
                on(name, functools.partial(self._within, since=since, until=until))
        return found

    def _within(
        self, column: ColumnElement[Any], *, since: datetime | None, until: datetime | None
    ) -> ColumnElement[bool]:
        bounds = [] if since is None else [column >= self._bind_time(since)]
        bounds += [] if until is None else [column < self._bind_time(until)]
        return and_(*bounds)

    @staticmethod
    def _read(column: ColumnElement[Any], steered: bool) -> ColumnElement[Any]:
        """A column as a filter reads it: ``+column`` where the plan steers SQLite's
        planner away from its index (``_steered``)."""
        if not steered:
            return column
        return UnaryExpression(column, operator=custom_op("+"), type_=column.type)

    def _owned_where(self, condition: ColumnElement[bool], steered: bool) -> ColumnElement[bool]:
        """The rows whose ownership row meets ``condition``: a subquery, which either
        database can start from (through the ownership table's index on the column the
        condition is on) where a condition on the outer-joined table keeps SQLite from
        reading that table first."""
        assert self.ownership is not None
        owned = select(self.ownership.c.conversation_id).where(condition)
        return self._read(self.table.c.conversation_id, steered).in_(owned)

    def _owner_is(self, user: str) -> ColumnElement[bool]:
        """``base.owned_by`` in SQL (``owner_expression``), as one condition."""
        arms = self._owner_arms(user, frozenset())
        return or_(*(and_(*(condition for _, condition in arm)) for arm in arms))

    def _owner_arms(self, user: str, steered: frozenset[str]) -> list[list[Term]]:
        """``owner_expression`` is ``user``, as disjoint sets of terms an index can serve.

        Without the ownership table the owner is user_id (github_user_id where that is
        null: early SaaS rows). With it, the owner of a row that has an ownership row is
        that row's user_id, found through OpenHands' index on (user_id, org_id); of one
        that has none, the table's own columns as before. One condition over both
        tables (a coalesce) could be read through neither index: every page of a
        ``--user`` listing would join the whole table.
        """
        own = self._table_owner_terms(user, steered)
        if self.ownership is None:
            return [own]
        owner = self.ownership.c.user_id
        owned: ColumnElement[bool]
        if self.sqlite:
            # The column's text as stored (hex, or dashed where a writer chose that),
            # without a CAST, which would keep SQLite from its index.
            owned = type_coerce(owner, String()).in_(uuid_forms(user))
        else:
            parsed = _parsed_uuid(user)
            owned = false() if parsed is None else owner == parsed
        key = f"{OWNERSHIP_TABLE}.user_id"
        return [[(key, self._owned_where(owned, key in steered))], [(None, owner.is_(None)), *own]]

    def _table_owner_terms(self, user: str, steered: frozenset[str]) -> list[Term]:
        """The owner as conversation_metadata's own columns say (``owners.owner_of``):
        user_id, else github_user_id (early SaaS rows)."""
        table = self.table
        has_user, has_github = "user_id" in self.columns, "github_user_id" in self.columns
        if self.ownership is None:
            if not has_user:
                return [(None, false())]
            forms = [user]
        else:
            forms = uuid_forms(user)
        if not has_github:
            if not has_user:
                return [(None, false())]
            key = f"{TABLE}.user_id"
            return [(key, self._read(table.c.user_id, key in steered).in_(forms))]
        legacy = table.c.github_user_id.in_(forms)
        if not has_user:
            return [(f"{TABLE}.github_user_id", legacy)]
        plain = self._read(table.c.user_id, f"{TABLE}.user_id" in steered).in_(forms)
        return [(None, or_(plain, and_(table.c.user_id.is_(None), legacy)))]

    def _contains(self, column: Column[Any], needle: str) -> ColumnElement[bool]:
        # Literal substring match: % and _ in what the operator typed match themselves.
        escaped = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        lowered = func.convstore_lower(column) if self.sqlite else func.lower(column)
        return lowered.like(f"%{escaped}%", escape="\\")

    def _bind_time(self, value: datetime) -> Any:
        return time_parameter(value, sqlite=self.sqlite)

    def _sort_column(self, sort: Sort) -> ColumnElement[Any]:
        """What ``sort`` orders by: a column, or the folded title (``title_order``)."""
        column = self.table.c[SORT_COLUMNS[sort.field]]
        if sort.field != "title":
            return self._collated(column)
        if self.sqlite:
            require_ascii_lower(self.display)
        name = self.engine.dialect.identifier_preparer.format_column(column, use_table=True)
        return self._collated(literal_column(fold_sql(name, sqlite=self.sqlite), String()))

    def _collated(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        # Python compares strings by code point; so do SQLite and PostgreSQL's "C".
        if self.sqlite or not isinstance(column.type, String):
            return column
        return column.collate("C")

    def _bind_value(self, sort: Sort, value: Any) -> Any:
        if sort.field == "title":
            return literal(value, String())
        return self._bind_time(value)

    # Writing

    def update(self, record: ConversationMetadata, changes: dict[str, Any]) -> ConversationMetadata:
        values = {
            name: self._bind_time(value) if isinstance(value, datetime) else value
            for name, value in changes.items()
            if name in self.columns
        }

        def rename(connection: Connection) -> None:
            read = self._as_read(connection, record)
            statement = self.table.update().where(*read.row, *read.ownership).values(**values)
            if connection.execute(statement).rowcount != 1:
                raise changed_since_read(record)

        self.write(rename)
        updated = self.get(record.conversation_id)
        if updated is None:
            raise changed_since_read(record)
        return updated

    def plan_removal(self, record: ConversationMetadata) -> Removal:
        rows = [f"{TABLE} row {record.conversation_id}"]
        blockers: list[str] = []
        try:
            with self.engine.connect() as connection:
                for table, column, cascades in self._references(connection):
                    count = connection.execute(
                        select(func.count())
                        .select_from(table)
                        .where(column == record.conversation_id)
                    ).scalar_one()
                    if not count:
                        continue
                    if cascades or table.name in DEPENDENT_TABLES:
                        rows.append(f"{count} row(s) of {table.name}")
                    else:
                        blockers.append(
                            f"{count} row(s) of {table.name} reference it (foreign key "
                            "without ON DELETE CASCADE); delete them first"
                        )
        except DBAPIError as error:
            raise unavailable(self.display, error) from error
        return Removal(record, rows=rows, blockers=blockers)

    def remove(self, removal: Removal) -> None:
        record = removal.record

        def delete(connection: Connection) -> None:
            read = self._as_read(connection, record)
            for table, column, _cascades in self._references(connection):
                if table.name == OWNERSHIP_TABLE:
                    owned = connection.execute(table.delete().where(*read.ownership_row(table)))
                    if owned.rowcount != read.owned:
                        raise changed_since_read(record)
                elif table.name in DEPENDENT_TABLES:
                    connection.execute(table.delete().where(column == record.conversation_id))
            # An ownership row that differs from the one read was not deleted above:
            # the row goes only if none is left.
            statement = self.table.delete().where(*read.row, *read.nothing_owns())
            if connection.execute(statement).rowcount != 1:
                raise changed_since_read(record)

        self.write(delete)

    def _references(self, connection: Connection) -> list[Reference]:
        """What refers to a row, reflected once per run: a retention job deleting
        thousands of rows reflected every table of the database for each before."""
        if self._referencing is None:
            self._referencing = _references(connection)
        return self._referencing

    # Bulk writes, for batch jobs that hold one transaction per batch

    def rows_with_ids(
        self, connection: Connection, ids: list[str]
    ) -> dict[str, ConversationMetadata]:
        """The records whose conversation_id is one of ``ids``, by id (one query)."""
        statement = self._select().where(self.table.c.conversation_id.in_(ids))
        return {
            row["conversation_id"]: self._record(row)
            for row in connection.execute(statement).mappings()
        }

    def row_form(self, fields: Iterable[str]) -> RowForm:
        """The form of logical rows with ``fields`` in this table: the columns of them it has."""
        return RowForm([name for name in fields if name in self.columns], sqlite=self.sqlite)

    def insert_parameters(
        self, connection: Connection, form: RowForm, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """One bulk INSERT of rows that ``form.parameters`` encoded, in primary-key order.

        The ids are random, so in the order given each row's entry lands on a random page
        of the primary key's index (and of sandbox_id's, made of the same UUID); in key
        order consecutive entries share pages, which made SQLite's inserts of 5,000 rows
        about a fifth cheaper.
        """
        if not rows:
            return
        if "conversation_id" in form.names:
            key = operator.itemgetter(form.names.index("conversation_id"))
            rows = sorted(rows, key=key)
        if not self.sqlite:
            named = [dict(zip(form.names, row, strict=True)) for row in rows]
            connection.execute(self.table.insert(), named)
            return
        # SQLite: the driver's executemany, without SQLAlchemy's per-row parameter
        # processing, which cost a third of a migration's insert.
        quote = self.engine.dialect.identifier_preparer.quote
        statement = (
            f"INSERT INTO {quote(TABLE)} ({', '.join(quote(name) for name in form.names)}) "
            f"VALUES ({', '.join('?' for _ in form.names)})"
        )
        connection.exec_driver_sql(statement, rows)

    def replace_rows(self, connection: Connection, rows: list[dict[str, Any]]) -> None:
        """One bulk UPDATE, by conversation_id, of the columns the rows carry."""
        if not rows:
            return
        values = [self._columns(row) for row in rows]
        names = [name for name in values[0] if name != "conversation_id"]
        statement = (
            self.table.update()
            .where(self.table.c.conversation_id == bindparam("target_id"))
            .values({name: bindparam(name) for name in names})
        )
        connection.execute(
            statement, [{**value, "target_id": value["conversation_id"]} for value in values]
        )

    def delete_rows(self, connection: Connection, ids: list[str]) -> None:
        if ids:
            connection.execute(self.table.delete().where(self.table.c.conversation_id.in_(ids)))

    def _columns(self, row: dict[str, Any]) -> dict[str, Any]:
        """A logical row as this table stores it: its columns only, SQLite's text forms."""
        return self.row_form(row).stored(row)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed on success."""
        with self.engine.connect() as connection:
            if self.sqlite:
                connection.execution_options(convstore_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in one write transaction; a deadlock or serialization failure
        rolls it back and runs it again, a bounded number of times."""

        def once() -> T:
            with self.transaction() as connection:
                return work(connection)

        return retrying(self.display, once)

    def _as_read(self, connection: Connection, record: ConversationMetadata) -> _AsRead:
        """The row of ``record`` read again in this transaction, as conditions that hold
        only while it is unchanged; Conflict if it changed since ``record`` was read."""
        table = self.table
        texts = [cast(table.c[name], Text).label(_text_label(name)) for name in self._json_columns]
        statement = (
            self._select()
            .add_columns(*texts)
            .where(table.c.conversation_id == record.conversation_id)
        )
        row = connection.execute(statement).first()
        if row is None:
            raise changed_since_read(record)
        mapping = row._mapping
        data = {name: value for name, value in mapping.items() if not _is_text_label(name)}
        if _row_fingerprint(data) != record.token:
            raise changed_since_read(record)
        # Null-safe equality (IS NOT DISTINCT FROM; SQLite's IS) with each value read;
        # JSON as text, since PostgreSQL's json type has no equality.
        conditions = [table.c.conversation_id == record.conversation_id]
        for column in table.columns:
            if column.name in self._json_columns:
                text = mapping[_text_label(column.name)]
                conditions.append(cast(column, Text).is_not_distinct_from(text))
            elif column.name != "conversation_id":
                conditions.append(column.is_not_distinct_from(mapping[column]))
        owner = (mapping[OWNER], mapping["org_id"]) if self.ownership is not None else None
        return _AsRead(self, record.conversation_id, conditions, owner)

    @property
    def _json_columns(self) -> frozenset[str]:
        """Columns holding JSON (text in SQLite, where convstore reads them as text)."""
        return frozenset(
            column.name
            for column in self.table.columns
            if column.name in JSON_COLUMNS or isinstance(column.type, JSON)
        )

    def close(self) -> None:
        self.engine.dispose()


class _AsRead:
    """A row as read in a write transaction: conditions that match it only while it
    holds those values (``row``), and its ownership row's (1.x enterprise)."""

    def __init__(
        self,
        store: SqlStore,
        conversation_id: str,
        row: list[ColumnElement[bool]],
        owner: tuple[Any, Any] | None,
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.row = row
        self.owner = owner
        # Rows the ownership table had for it as read (a row of nulls reads as none).
        self.owned = 0 if owner is None or owner == (None, None) else 1

    @property
    def ownership(self) -> list[ColumnElement[bool]]:
        """Conditions on the ownership row, for a statement on conversation_metadata."""
        ownership = self.store.ownership
        if ownership is None or self.owner is None:
            return []
        mine = ownership.c.conversation_id == self.conversation_id
        user, org = self.owner
        return [
            select(cast(ownership.c.user_id, String))
            .where(mine)
            .scalar_subquery()
            .is_not_distinct_from(user),
            select(cast(ownership.c.org_id, String))
            .where(mine)
            .scalar_subquery()
            .is_not_distinct_from(org),
        ]

    def ownership_row(self, table: Table) -> list[ColumnElement[bool]]:
        """Conditions that match the ownership row only while it holds what was read."""
        assert self.owner is not None
        user, org = self.owner
        return [
            table.c.conversation_id == self.conversation_id,
            cast(table.c.user_id, String).is_not_distinct_from(user),
            cast(table.c.org_id, String).is_not_distinct_from(org),
        ]

    def nothing_owns(self) -> list[ColumnElement[bool]]:
        """No ownership row is left for the conversation (for its delete)."""
        ownership = self.store.ownership
        if ownership is None:
            return []
        return [~exists().where(ownership.c.conversation_id == self.conversation_id)]


def _text_label(column: str) -> str:
    return f"convstore_text_{column}"


def _is_text_label(name: str) -> bool:
    return name.startswith("convstore_text_")


def _references(connection: Connection) -> list[Reference]:
    """Every (table, column, cascades) whose foreign key names conversation_metadata's id."""
    inspector = inspect(connection)
    found = []
    metadata = MetaData()
    for name in inspector.get_table_names():
        for key in inspector.get_foreign_keys(name):
            if key["referred_table"] == TABLE and key["referred_columns"] == ["conversation_id"]:
                table = Table(name, metadata, autoload_with=connection)
                cascades = (key.get("options") or {}).get("ondelete", "").upper() == "CASCADE"
                found.append((table, table.c[key["constrained_columns"][0]], cascades))
    if OWNERSHIP_TABLE in inspector.get_table_names() and not any(
        table.name == OWNERSHIP_TABLE for table, _, _ in found
    ):
        ownership = Table(OWNERSHIP_TABLE, metadata, autoload_with=connection)
        found.append((ownership, ownership.c.conversation_id, False))
    return found


def _without_nul(anchor: Position) -> Position:
    """An anchor PostgreSQL accepts that splits its rows where ``anchor`` does.

    Its text cannot hold NUL, which a file's title can. Since no row's title holds one,
    a title P + NUL + ... comes after exactly the titles up to P, which the anchor
    (P, an id after every id) splits off alike.
    """
    value = anchor.value
    if not isinstance(value, str) or "\0" not in value:
        return anchor
    return anchor._replace(value=value.split("\0", 1)[0], conversation_id=AFTER_EVERY_ID)


def _is_null_position(sort: Sort, anchor: Position) -> bool:
    """True when the anchor has no sort value (see ``base.position``)."""
    return anchor.has_value if not sort.descending else not anchor.has_value


def _canonical_uuid_text(value: Any) -> str:
    """Owner ids are UUIDs in 1.x; SQLite stores them as 32 hex digits, PostgreSQL dashed."""
    text = str(value)
    try:
        return str(uuid.UUID(text)) if len(text) == 32 else text
    except ValueError:
        return text


def _version_is(column: ColumnElement[Any], version: Version) -> ColumnElement[bool]:
    """OpenHands opens a row as V1 when its conversation_version is "V1", else as V0."""
    if version == "V1":
        return column == "V1"
    return or_(column.is_(None), column != "V1")


def _parsed_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def uuid_forms(text: str) -> list[str]:
    """The spellings a UUID column may hold for an id: as given, dashed, hex."""
    forms = [text]
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return forms
    return [*forms, str(parsed), parsed.hex]


def _row_fingerprint(row: Mapping[str, Any]) -> str:
    """What a row held when read, for optimistic concurrency: its values by column."""
    return fingerprint(repr(sorted(row.items())).encode())
