"""The indexes a conversation database has, whoever made them, and what each can serve.

A listing page is cheap when an index hands over its rows in the listing's order, and
that index may be OpenHands' (the enterprise chain indexes ``created_at``), convstore's
(``convstore db add-indexes``) or an operator's: what counts is its keys, not its name.
The indexes of ``conversation_metadata`` and of the 1.x ownership table are read once,
when a store is opened, from the database's own catalog (SQLAlchemy's inspector leaves
out SQLite's indexes on expressions, such as the folded title's).

An index *serves a sort* when its first key is what the listing orders by (the column,
or the folded title: ``title_order``) under the collation the listing compares with
(SQLite's BINARY, PostgreSQL's "C" for text: not "POSIX", nor "default" even where that
is "C", since PostgreSQL's planner does not take either for it), it covers every row
(not partial) and it is ready (PostgreSQL: not left invalid by an interrupted CREATE
INDEX CONCURRENTLY).
The id that breaks ties need not be its second key: both databases sort the few rows
that share a value as they read them (SQLite's "right part of ORDER BY", PostgreSQL's
incremental sort), so one column is enough.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from convstore.stores.title_order import fold_sql

# What each sort orders by, as a column of conversation_metadata.
SORT_COLUMNS = {"created": "created_at", "updated": "last_updated_at", "title": "title"}
# The collations the listing compares with (SQLite's BINARY, PostgreSQL's "C"; none
# for a timestamp): both planners read an index in order only under the very same one.
CODE_POINT_COLLATIONS = frozenset({"binary", "c", ""})


@dataclass(frozen=True)
class Index:
    """One index of a table: its keys (normalized SQL text, ``normalized``), each key's
    collation (lower case; empty where the key has none), and whether it can serve."""

    name: str
    table: str
    keys: tuple[str, ...]
    collations: tuple[str, ...]
    partial: bool = False
    ready: bool = True
    # Made by CREATE INDEX; False for SQLite's own (primary key, UNIQUE).
    declared: bool = True

    def leads_with(self, key: str, *, ordered: bool = False) -> bool:
        """True when rows can be found (or, ``ordered``, read in order) by ``key``
        through this index."""
        if not (self.ready and not self.partial and self.keys and self.keys[0] == key):
            return False
        return not ordered or self.collations[0] in CODE_POINT_COLLATIONS


@dataclass(frozen=True)
class Indexes:
    """The indexes of the tables a listing reads."""

    all: tuple[Index, ...]
    sqlite: bool

    def serving(self, field: str, table: str) -> Index | None:
        """An index that reads ``table``'s rows in the order of sort ``field``, if any."""
        key = sort_key(field, sqlite=self.sqlite)
        return self._first(table, key, ordered=True)

    def on(self, table: str, column: str) -> Index | None:
        """An index that finds ``table``'s rows by ``column``, if any."""
        return self._first(table, column, ordered=False)

    def names(self, table: str) -> list[str]:
        """The names of ``table``'s declared indexes, sorted."""
        return sorted(i.name for i in self.all if i.table == table and i.declared)

    def _first(self, table: str, key: str, *, ordered: bool) -> Index | None:
        found = (i for i in self.all if i.table == table and i.leads_with(key, ordered=ordered))
        return min(found, key=lambda index: (len(index.keys), index.name), default=None)


def sort_key(field: str, *, sqlite: bool) -> str:
    """What sort ``field`` orders by, as an index key (``normalized``)."""
    column = SORT_COLUMNS[field]
    return normalized(fold_sql(column, sqlite=sqlite) if field == "title" else column)


def reflect(connection: Connection, tables: Iterable[str]) -> Indexes:
    """The indexes of ``tables`` (those that exist), from the database's catalog."""
    sqlite = connection.dialect.name == "sqlite"
    found: list[Index] = []
    for table in tables:
        found += _sqlite_indexes(connection, table) if sqlite else _pg_indexes(connection, table)
    return Indexes(tuple(found), sqlite)


def _sqlite_indexes(connection: Connection, table: str) -> list[Index]:
    quote = connection.dialect.identifier_preparer.quote
    found = []
    for entry in connection.exec_driver_sql(f"PRAGMA index_list({quote(table)})").mappings():
        name = str(entry["name"])
        columns = [
            row
            for row in connection.exec_driver_sql(f"PRAGMA index_xinfo({quote(name)})").mappings()
            if row["key"]
        ]
        expressions: list[str] = []
        if any(row["cid"] == -2 for row in columns):  # a key on an expression: only its SQL says
            sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (name,)
            ).scalar()
            expressions = _key_texts(str(sql or ""))
        keys = []
        for position, row in enumerate(columns):
            if row["cid"] == -2:
                text = expressions[position] if position < len(expressions) else ""
                keys.append(normalized(_without_order(text)))
            else:
                keys.append(normalized(str(row["name"])))
        found.append(
            Index(
                name=name,
                table=table,
                keys=tuple(keys),
                collations=tuple(str(row["coll"] or "").lower() for row in columns),
                partial=bool(entry["partial"]),
                declared=entry["origin"] == "c",
            )
        )
    return found


_PG_INDEXES = """
SELECT i.relname AS name,
       x.indisvalid AND x.indisready AS ready,
       x.indpred IS NOT NULL AS partial,
       ARRAY(SELECT pg_get_indexdef(x.indexrelid, k, true)
             FROM generate_series(1, x.indnkeyatts) AS k ORDER BY k) AS keys,
       ARRAY(SELECT coalesce(c.collname, '')
             FROM unnest(x.indcollation::oid[]) WITH ORDINALITY AS u(oid, k)
             LEFT JOIN pg_collation AS c ON c.oid = u.oid
             WHERE u.k <= x.indnkeyatts ORDER BY u.k) AS collations
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid = to_regclass(%(table)s)
"""


def _pg_indexes(connection: Connection, table: str) -> list[Index]:
    quoted = connection.dialect.identifier_preparer.quote(table)
    rows = connection.exec_driver_sql(_PG_INDEXES, {"table": quoted}).mappings()
    return [
        Index(
            name=str(row["name"]),
            table=table,
            keys=tuple(normalized(key) for key in row["keys"]),
            collations=tuple(_pg_collation(name) for name in row["collations"]),
            partial=bool(row["partial"]),
            ready=bool(row["ready"]),
        )
        for row in rows
    ]


def _pg_collation(name: str) -> str:
    # "default" is the database's own collation, which may or may not be "C": an index
    # under it is not counted on for the listing's COLLATE "C" order.
    return name.lower() if name else ""


_LITERAL_OR_CAST = re.compile(r"('(?:[^']|'')*')|::\s*(?:text|character varying|varchar)\b")


def normalized(text: str) -> str:
    """An index key's SQL in one spelling, so that keys written by different hands (and
    PostgreSQL's own rendering of them) compare equal: no whitespace or double quotes,
    no casts to text, lower case outside string literals."""

    parts = _LITERAL_OR_CAST.split(text)
    # One capturing group: outside text, then a literal (or None: a cast), and so on.
    out = []
    for position, part in enumerate(parts):
        if position % 2:
            out.append(part or "")
        else:
            out.append(re.sub(r'[\s"]+', "", part).lower())
    return "".join(out)


def _key_texts(sql: str) -> list[str]:
    """The key list of a CREATE INDEX statement, one text per key (top-level commas)."""
    start = sql.find("(", sql.upper().find(" ON "))
    if start < 0:
        return []
    keys: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for character in sql[start + 1 :]:
        if quote:
            quote = "" if character == quote else quote
        elif character in "'\"":
            quote = character
        elif character == "(":
            depth += 1
        elif character == ")":
            if depth == 0:
                break
            depth -= 1
        elif character == "," and depth == 0:
            keys.append("".join(current))
            current = []
            continue
        current.append(character)
    keys.append("".join(current))
    return [key.strip() for key in keys]


_ORDER_SUFFIX = re.compile(r"(\s+COLLATE\s+\S+)?(\s+(ASC|DESC))?\s*$", re.IGNORECASE)


def _without_order(key: str) -> str:
    """A key's expression without its COLLATE and ASC/DESC (PRAGMA index_xinfo has them)."""
    return _ORDER_SUFFIX.sub("", key)
