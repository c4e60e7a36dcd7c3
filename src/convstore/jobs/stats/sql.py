"""What the SQL store adds to ``convstore stats``: GROUP BY queries, never rows one by one.

The database adds up each group itself, by the rules of ``figures`` written in SQL, and
returns one row per group and creation day (days roll up into weeks, months and years
in Python, which also checks that each day is a real date). Three things need care:

- **One conversation, counted once.** A V0 row whose V1 twin exists (the same UUID,
  dashed) is what OpenHands shows as the V1 row: it is left out and only counted as
  folded. A V0 row that a V0 file of the same id shadows (OpenHands reads the file
  first) is left out by id. A table without V0 rows (one index probe says so) needs
  neither, and its queries carry no lookup of a twin per row.
- **Values of the wrong kind.** The first query is the cheap one: plain sums, and a
  count of the rows holding anything but ordinary values (a cost or token count out of
  range, a pr_number that is not a list; in SQLite, which holds any value in any
  column, also a created_at not in SQLAlchemy's own text form). Only when that count,
  a day or a sum says something is odd does a second, careful query judge every value
  as ``figures`` does; in SQLite, rows whose created_at is in another text form are
  then read whole and judged in Python, as ``list`` reads them.
- **Time in UTC, computed alike.** A creation day is the first 10 characters of
  SQLite's naive-UTC text, and PostgreSQL's ``created_at`` cast to a date in UTC.

``--cost-by incurred`` adds one more query over ``conversation_cost_events``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    exists,
    func,
    literal_column,
    not_,
    null,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB

from convstore.jobs.stats.figures import (
    FACETS,
    MAX_COST,
    MAX_TOKENS,
    TIME_DIMENSIONS,
    TOKEN_FIGURES,
    Contribution,
    Figures,
    contribution,
)
from convstore.jobs.stats.tally import Tally
from convstore.stores.base import Query
from convstore.stores.sql import SqlStore
from convstore.stores.sql_connection import retrying
from convstore.stores.sql_values import undecodable
from convstore.timestamps import parse_timestamp

EVENTS_TABLE = "conversation_cost_events"
# Facet columns of conversation_metadata (user and org: the owner, version: the kind).
FACET_COLUMNS = {
    "model": "llm_model",
    "repo": "selected_repository",
    "provider": "git_provider",
    "trigger": "trigger",
    "status": "execution_status",
}
# SQLAlchemy's text form of a timestamp in SQLite, which OpenHands' rows carry (naive
# UTC): what the cheap query takes for ordinary, as two GLOBs (hours 00-19, 20-23).
_ORDINARY_TIMES = tuple(
    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] "
    f"{hours}:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]'"
    for hours in ("[01][0-9]", "2[0-3]")
)
# What the careful query compares as text: a date, a time to the second, digits after a
# point or nothing (the day is checked in Python).
_DATED = "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] {hours}:[0-5][0-9]:[0-5][0-9]*'"


def _text(value: str) -> ColumnElement[Any]:
    """A constant written into the statement: grouped expressions must not hold bound
    parameters, or PostgreSQL cannot tell a grouped expression from its selected twin."""
    return literal_column("'" + value.replace("'", "''") + "'", String())


class Aggregation:
    """The queries of one ``stats`` run against one database."""

    def __init__(self, store: SqlStore, query: Query, tally: Tally, shadowed: Sequence[str]):
        self.store = store
        self.query = query
        self.tally = tally
        self.shadowed = list(shadowed)
        self.table = store.table
        self.sqlite = store.sqlite
        self.dated = any(name in TIME_DIMENSIONS for name in tally.by)
        self.facets = [name for name in FACETS if name in tally.by]
        self.folding = True  # whether V0 rows may be twins or shadowed (``run`` finds out)
        # SQLite: the rows whose created_at SQL cannot judge, as Python counted them.
        self.read_whole: dict[str, Contribution] = {}

    # The whole run

    def run(self) -> None:
        # Without V0 rows (a 1.x database, once migrated) nothing is folded: the queries
        # then carry no twin lookup, which would cost a subquery per row to plan around.
        self.folding = self._has_v0()
        if self.folding:
            self.tally.twins += self._count(self._is_twin())
        if self.folding and self.shadowed:
            shadowed = self.table.c.conversation_id.in_(self.shadowed)
            self.tally.shadowed += self._count(shadowed, not_(self._is_twin()), shadowing=False)
        rows = self._fetch(self._cheap())
        if self._ordinary(rows):
            self._collect(rows, careful=False)
            return
        self._collect(self._fetch(self._careful()), careful=True)
        if self.sqlite:
            for record in self.store.matching(self.query, *self._where(), *self._unusual()):
                item = contribution(record)
                self.tally.add(item)
                self.read_whole[item.conversation_id] = item

    def _v0_forms(self) -> list[ColumnElement[bool]]:
        """Not V1, spelt so that the version index finds V0 rows among any number of V1."""
        version = self.table.c.conversation_version
        return [version < _text("V1"), version > _text("V1"), version.is_(None)]

    def _is_v0(self) -> ColumnElement[bool]:
        return or_(*self._v0_forms())

    def _has_v0(self) -> bool:
        """Whether the table holds any V0 row at all: an index probe per form (SQLite
        scans the table for the three of them in one EXISTS)."""
        probes = [exists().where(form) for form in self._v0_forms()]
        return bool(self._fetch(select(or_(*probes)))[0][0])

    def _count(self, *conditions: ColumnElement[bool], shadowing: bool = True) -> int:
        """How many V0 rows the query selects that meet ``conditions`` (twins, shadowed
        rows: what is folded)."""
        statement = (
            select(func.count())
            .select_from(self._joined(self.table))
            .where(*self.store.conditions(self.query), self._is_v0(), *conditions)
        )
        if shadowing and self.shadowed:
            statement = statement.where(self.table.c.conversation_id.not_in(self.shadowed))
        return int(self._fetch(statement)[0][0])

    def has_events(self) -> bool:
        return EVENTS_TABLE in self.store.table_names

    def incur(self) -> None:
        """``--cost-by incurred``: each cost event's delta moves from the period its
        conversation was created in to the period it occurred in. What the events do
        not cover (cost from before OpenHands recorded them) stays where it was."""
        events = self._events_table()
        delta = events.c.cost_delta
        valid = self._delta_valid(delta)
        amount = self._signed_nanodollars(delta)
        # Only a conversation whose own cost counted gives up what its events cover.
        covered = and_(valid, self._cost_valid(self._column("accumulated_cost")))
        sums = [
            func.sum(case((valid, amount))).label("incurred"),
            func.sum(case((covered, amount))).label("covered"),
            func.count(case((valid, 1))).label("events"),
        ]
        joined = events.join(self.table, events.c.conversation_id == self.table.c.conversation_id)
        occurred = self._day(events.c.occurred_at, parse=True).label("occurred")
        keys = [
            *self._facet_keys(),
            self._day(self._column("created_at")).label("created"),
            occurred,
        ]
        ids = self.table.c.conversation_id
        statement = (
            select(*keys, *sums)
            .select_from(self._joined(joined))
            .where(*self._where(), ids.not_in(list(self.read_whole)))
            .group_by(*self._grouped(keys))
        )
        for row in self._fetch(statement):
            self._shift(self._facets_of(row), _date(row.created), row)
        if not self.read_whole:
            return
        # The rows read whole: their group and creation day as Python counted them.
        keys = [ids.label("conversation_id"), occurred]
        statement = (
            select(*keys, *sums)
            .select_from(self._joined(joined))
            .where(*self._where(), ids.in_(list(self.read_whole)))
            .group_by(*self._grouped(keys))
        )
        for row in self._fetch(statement):
            item = self.read_whole[row.conversation_id]
            facets = dict(zip(FACETS, item.facets, strict=True))
            self._shift(facets, None if item.created is None else item.created.date(), row)

    def _shift(self, facets: dict[str, str | None], created: date | None, row: Any) -> None:
        """One row of ``incur``'s sums: cost into the period it occurred in, out of the
        one its conversation was created in."""
        if row.events:  # a period with cost events is a group, however they add up
            self.tally.shift_cost(facets, _date(row.occurred), int(row.incurred or 0))
        if row.covered:
            self.tally.shift_cost(facets, created, -int(row.covered))

    # The statements

    def _cheap(self) -> Select[Any]:
        """Plain sums, and a count of the rows that may be anything else."""
        cost = self._column("accumulated_cost")
        created = self._column("created_at")
        aggregates: list[Any] = [
            func.count().label("conversations"),
            # In range: an infinity would overflow the sum (and count as odd).
            func.sum(case((and_(cost >= 0, cost < MAX_COST), self._nanodollars(cost)))).label(
                "cost"
            ),
            func.count(cost).label("costed"),
        ]
        odd: list[ColumnElement[bool]] = [not_(and_(cost >= 0, cost < MAX_COST))]
        for name in TOKEN_FIGURES:
            tokens = self._column(name)
            aggregates.append(func.sum(tokens).label(name))
            odd.append(not_(and_(tokens >= 0, tokens <= MAX_TOKENS)))
        prs = self._column("pr_number")
        aggregates.append(func.sum(self._pr_count(prs)).label("prs"))
        odd.append(self._pr_invalid(prs).is_not(None))
        if self.sqlite:  # PostgreSQL's timestamps are typed: none is odd
            times = (created.op("GLOB")(literal_column(p)) for p in _ORDINARY_TIMES)
            odd.append(not_(or_(*times)))
            if not self.dated:  # else each day is a group, checked in Python
                odd.append(self._impossible_day(created))
        aggregates += [
            func.min(created).label("first"),
            func.max(created).label("last"),
            func.count(created).label("created_stored"),
            func.count(case((or_(*odd), 1))).label("odd"),
        ]
        return self._grouped_select(aggregates, by_day=self.dated)

    def _careful(self) -> Select[Any]:
        """Every value judged as ``figures`` judges it; in SQLite, only rows whose
        created_at is ordinary text or null (``_unusual`` reads the rest)."""
        cost = self._column("accumulated_cost")
        created = self._column("created_at")
        valid_cost = self._cost_valid(cost)
        aggregates: list[Any] = [
            func.count().label("conversations"),
            func.sum(case((valid_cost, self._nanodollars(cost)))).label("cost"),
            func.count(case((valid_cost, 1))).label("costed"),
            func.count(cost).label("cost_stored"),
        ]
        for name in TOKEN_FIGURES:
            tokens = self._column(name)
            valid = self._tokens_valid(tokens)
            aggregates += [
                func.sum(case((valid, tokens))).label(name),
                func.count(case((and_(tokens.is_not(None), not_(valid)), 1))).label(
                    f"{name}_invalid"
                ),
            ]
        prs = self._column("pr_number")
        counted = self._pr_count(prs)
        aggregates += [
            func.sum(counted).label("prs"),
            func.count(self._pr_invalid(prs)).label("prs_invalid"),
            func.min(created).label("first"),
            func.max(created).label("last"),
            func.count(created).label("created_stored"),
        ]
        # SQLite: by day whatever --by says, so that Python sees every day and refuses
        # those that are not real dates (2025-02-30 is text SQLite keeps as it is).
        statement = self._grouped_select(aggregates, by_day=self.dated or self.sqlite)
        if self.sqlite:
            statement = statement.where(or_(self._ordinary_text(), created.is_(None)))
        return statement

    def _grouped_select(self, aggregates: list[Any], *, by_day: bool) -> Select[Any]:
        keys = self._facet_keys()
        if by_day:
            keys.append(self._day(self._column("created_at")).label("day"))
        statement = select(*keys, *aggregates).select_from(self._joined(self.table))
        return statement.where(*self._where()).group_by(*self._grouped(keys))

    # Reading the answers

    def _ordinary(self, rows: Sequence[Any]) -> bool:
        """Whether the cheap query's answer can stand: no odd row, sums that stayed
        whole, and every day and first and last a real time."""
        for row in rows:
            if row.odd or any(isinstance(row._mapping[name], float) for name in TOKEN_FIGURES):
                return False
            if self.dated and row.day is not None and _date(row.day) is None:
                return False
            for moment in (row.first, row.last):
                if moment is not None and parse_timestamp(moment) is None:
                    return False
        return True

    def _collect(self, rows: Sequence[Any], *, careful: bool) -> None:
        tally = self.tally
        for row in rows:
            values = row._mapping
            figures = Figures(
                conversations=values["conversations"],
                cost=int(values["cost"] or 0),
                costed=values["costed"],
                tokens=[_whole(values[name]) for name in TOKEN_FIGURES],
                prs=_whole(values["prs"]),
            )
            stored_cost = values["cost_stored"] if careful else values["costed"]
            tally.leave_out("accumulated_cost", "missing", figures.conversations - stored_cost)
            tally.leave_out("accumulated_cost", "invalid", stored_cost - figures.costed)
            if careful:
                for name in TOKEN_FIGURES:
                    tally.leave_out(name, "invalid", values[f"{name}_invalid"])
                tally.leave_out("pr_number", "invalid", values["prs_invalid"])
            tally.leave_out(
                "created_at", "missing", figures.conversations - values["created_stored"]
            )
            for moment in (values["first"], values["last"]):
                figures.seen(parse_timestamp(moment))
            day = values.get("day")
            when = _date(day)
            if day is not None and when is None:
                figures = tally.undated(figures)
            tally.merge(self._facets_of(row), when, figures)

    def _facets_of(self, row: Any) -> dict[str, str | None]:
        values = row._mapping
        facets = {name: values[name] for name in self.facets}
        undecodable(facets)  # SQLite text that is not UTF-8, shown as list shows it
        return facets

    # Expressions

    def _facet_keys(self) -> list[Any]:
        """One key per facet --by names (each key a GROUP BY column: SQLite sorts by all
        of them, so there is none it was not asked for)."""
        return [self._facet(name).label(name) for name in self.facets]

    def _facet(self, name: str) -> ColumnElement[Any]:
        ownership = self.store.ownership
        if name == "user":
            found = [self._uuid_text(ownership.c.user_id)] if ownership is not None else []
            found += [
                self.table.c[n] for n in ("user_id", "github_user_id") if n in self.store.columns
            ]
            if not found:
                return null()
            return found[0] if len(found) == 1 else func.coalesce(*found)
        if name == "org":
            return null() if ownership is None else self._uuid_text(ownership.c.org_id)
        if name == "version":
            v1 = self.table.c.conversation_version == _text("V1")
            return case((v1, _text("V1")), else_=_text("V0"))
        column = FACET_COLUMNS[name]
        return self.table.c[column] if column in self.store.columns else null()

    def _uuid_text(self, column: ColumnElement[Any]) -> ColumnElement[Any]:
        """An owner id as ``list`` shows it: SQLite's 32 hex digits dashed."""
        text = cast(column, String)
        if not self.sqlite:
            return text
        return func.coalesce(self._dashed(text), text)

    def _is_twin(self) -> ColumnElement[bool]:
        """A V1 row has this row's id, dashed (``ids.v1_form``): asked of V0 rows only."""
        twin = self.table.alias("convstore_twin")
        return exists().where(
            twin.c.conversation_id == self._dashed(self.table.c.conversation_id),
            twin.c.conversation_version == _text("V1"),
        )

    def _dashed(self, identifier: ColumnElement[Any]) -> ColumnElement[Any]:
        """The dashed form of a UUID spelt as ``uuid.UUID`` reads it (hex or dashed, any
        case, braces, urn:uuid:), else NULL."""
        spelt = func.replace(
            func.replace(identifier, _text("urn:"), _text("")), _text("uuid:"), _text("")
        )
        trimmed = (func.trim if self.sqlite else func.btrim)(spelt, _text("{}"))
        digits = func.lower(func.replace(trimmed, _text("-"), _text("")))
        if self.sqlite:
            hexadecimal = digits.op("NOT GLOB")(_text("*[^0-9a-f]*"))
        else:
            hexadecimal = digits.op("!~")(_text("[^0-9a-f]"))
        parts = [
            func.substr(digits, start, size)
            for start, size in ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))
        ]
        dashed: ColumnElement[Any] = parts[0]
        for part in parts[1:]:
            dashed = dashed.concat(_text("-")).concat(part)
        return case((and_(func.length(digits) == 32, hexadecimal), dashed))

    def _day(self, column: ColumnElement[Any], *, parse: bool = False) -> ColumnElement[Any]:
        """The UTC day of a timestamp: SQLite's text cut to its date (``parse``: as
        SQLite's date() reads any ISO form), PostgreSQL's cast to a date in UTC."""
        if self.sqlite:
            return func.date(column) if parse else func.substr(column, 1, 10)
        if isinstance(column.type, DateTime) and column.type.timezone:
            column = column.op("AT TIME ZONE")(_text("UTC"))
        return cast(column, Date)

    def _ordinary_text(self) -> ColumnElement[bool]:
        """SQLite: created_at in a text form that sorts as its time does, read as
        Python reads it: date, space, time to the second, then digits after a point."""
        created = self._column("created_at")
        shaped = or_(
            *(
                created.op("GLOB")(literal_column(_DATED.format(hours=h)))
                for h in ("[01][0-9]", "2[0-3]")
            )
        )
        fraction = and_(
            func.substr(created, 20, 1) == _text("."),
            func.length(created) > 20,
            func.substr(created, 21).op("NOT GLOB")(_text("*[^0-9]*")),
        )
        return and_(shaped, or_(func.length(created) == 19, fraction))

    def _impossible_day(self, created: ColumnElement[Any]) -> ColumnElement[bool]:
        """SQLite: a date of digits that is no day (2025-02-30, 2025-13-01, 0000-01-01),
        as ``date.fromisoformat`` has it. SQLite's date() with a modifier rolls 02-30
        over to 03-02 and refuses month 13 (without one it keeps 02-30); it is asked
        only of the rare dates that may be impossible."""
        day = func.substr(created, 1, 10)
        year_zero = func.substr(created, 1, 4) == _text("0000")
        rare = or_(
            not_(func.substr(created, 6, 2).between(_text("01"), _text("12"))),
            not_(func.substr(created, 9, 2).between(_text("01"), _text("28"))),
            year_zero,
        )
        return and_(rare, or_(year_zero, func.date(day, _text("+0 days")).is_distinct_from(day)))

    def _unusual(self) -> list[ColumnElement[bool]]:
        """SQLite: the rows the careful query leaves out (read whole instead)."""
        created = self._column("created_at")
        return [created.is_not(None), not_(self._ordinary_text())]

    def _column(self, name: str) -> ColumnElement[Any]:
        return self.table.c[name] if name in self.store.columns else null()

    def _cost_valid(self, cost: ColumnElement[Any]) -> ColumnElement[bool]:
        in_range = and_(cost >= 0, cost < MAX_COST)  # NaN and infinities fail it
        if not self.sqlite:
            return in_range
        return and_(func.typeof(cost).in_([_text("integer"), _text("real")]), in_range)

    def _delta_valid(self, delta: ColumnElement[Any]) -> ColumnElement[bool]:
        in_range = and_(delta > -MAX_COST, delta < MAX_COST)
        if not self.sqlite:
            return in_range
        return and_(func.typeof(delta).in_([_text("integer"), _text("real")]), in_range)

    def _tokens_valid(self, tokens: ColumnElement[Any]) -> ColumnElement[bool]:
        in_range = and_(tokens >= 0, tokens <= MAX_TOKENS)
        if not self.sqlite:
            return in_range
        return and_(func.typeof(tokens) == _text("integer"), in_range)

    def _nanodollars(self, cost: ColumnElement[Any]) -> ColumnElement[Any]:
        """``figures.nanodollars`` of a cost >= 0, in the same float operations."""
        scaled = cost * literal_column("1000000000.0") + literal_column("0.5")
        if self.sqlite:
            return cast(scaled, Integer)  # CAST truncates, as int() does
        return cast(func.trunc(scaled), BigInteger)

    def _signed_nanodollars(self, delta: ColumnElement[Any]) -> ColumnElement[Any]:
        return case((delta < 0, -self._nanodollars(-delta)), else_=self._nanodollars(delta))

    def _json_type(self, document: ColumnElement[Any]) -> ColumnElement[Any]:
        """The JSON type of a JSON column's value (array, null, ...); NULL for SQL NULL
        and, in SQLite, for text that is not JSON."""
        if self.sqlite:
            return case((func.json_valid(document) == 1, func.json_type(document)))
        jsonb = isinstance(document.type, JSONB)
        return (func.jsonb_typeof if jsonb else func.json_typeof)(document)

    def _pr_text(self, prs: ColumnElement[Any]) -> ColumnElement[Any]:
        """pr_number as the text it is stored as: what the common values are told by
        without parsing JSON (PostgreSQL's json has no = operator)."""
        return prs if self.sqlite else cast(prs, String)

    def _pr_count(self, prs: ColumnElement[Any]) -> ColumnElement[Any]:
        """The entries of a JSON list, else NULL (an empty list told by its text)."""
        jsonb = not self.sqlite and isinstance(prs.type, JSONB)
        length = func.jsonb_array_length if jsonb else func.json_array_length
        return case(
            (self._pr_text(prs) == _text("[]"), 0),
            (self._json_type(prs) == _text("array"), length(prs)),
        )

    def _pr_invalid(self, prs: ColumnElement[Any]) -> ColumnElement[Any]:
        """1 where pr_number holds a value that is not a JSON list (SQLite: or not JSON).
        JSON null, which SQLAlchemy writes for None and list shows as null, is none; an
        empty list or null is told by its text, without parsing JSON."""
        common = self._pr_text(prs).in_([_text("[]"), _text("null")])
        kind = func.coalesce(self._json_type(prs), _text(""))
        return case(
            (or_(prs.is_(None), common), null()),
            (kind.not_in([_text("array"), _text("null")]), 1),
        )

    # Plumbing

    def _where(self) -> list[ColumnElement[bool]]:
        """The rows counted: those the query selects, but V0 rows folded into their V1
        twin (a V1 row needs no more than one comparison) or shadowed by a file."""
        conditions = self.store.conditions(self.query)
        if not self.folding:
            return conditions
        v1 = self.table.c.conversation_version == _text("V1")
        conditions.append(or_(v1, not_(self._is_twin())))
        if self.shadowed:
            conditions.append(self.table.c.conversation_id.not_in(self.shadowed))
        return conditions

    def _joined(self, selectable: Any) -> Any:
        ownership = self.store.ownership
        if ownership is None:
            return selectable
        return selectable.outerjoin(
            ownership, ownership.c.conversation_id == self.table.c.conversation_id
        )

    def _grouped(self, keys: Sequence[Any]) -> list[Any]:
        # By position (the keys come first): one spelling of each grouped expression,
        # which PostgreSQL needs, and no label that is a keyword ("user").
        return [literal_column(str(position)) for position in range(1, len(keys) + 1)]

    def _events_table(self) -> Table:
        def reflect() -> Table:
            with self.store.engine.connect() as connection:
                return Table(EVENTS_TABLE, MetaData(), autoload_with=connection)

        events = retrying(self.store.display, reflect)
        if self.sqlite:
            for column in events.columns:
                if isinstance(column.type, DateTime):
                    column.type = String()  # SQLite keeps text: read it raw, as sql.py does
        return events

    def _fetch(self, statement: Select[Any]) -> Sequence[Any]:
        def once() -> Sequence[Any]:
            with self.store.engine.connect() as connection:
                return connection.execute(statement).all()

        return retrying(self.store.display, once)


def _date(value: Any) -> date | None:
    """A day key as the database gave it: a date, or SQLite's text of one (None when it
    is not a real date, as Python's calendar has it)."""
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


def _whole(value: Any) -> int | None:
    """A sum of whole numbers (PostgreSQL gives bigint sums as numeric)."""
    return None if value is None else int(value)


def lookup_versions(store: SqlStore, ids: Sequence[str]) -> dict[str, str | None]:
    """``conversation_version`` of the rows whose id is one of ``ids`` (one query)."""
    table = store.table
    statement = select(table.c.conversation_id, table.c.conversation_version).where(
        table.c.conversation_id.in_(list(ids))
    )

    def once() -> dict[str, str | None]:
        with store.engine.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(statement)}

    return retrying(store.display, once)
