"""Which conversations the SQL table holds, looked up a batch at a time.

Checks that compare stores (a V0 file and its V1 row, an event directory and its row)
never query per conversation: the runner collects the ids a batch needs, asks the
table once per few hundred ids through its primary key, and hands the checks a
``Known`` map. Memory holds one batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, null, select
from sqlalchemy.exc import DBAPIError

from convstore.ids import v0_form, v1_form
from convstore.model import parse_timestamp
from convstore.stores.sql import SqlStore
from convstore.stores.sql_connection import unavailable

IDS_PER_QUERY = 500


@dataclass(frozen=True, slots=True)
class RowRef:
    """What cross-store checks need of a row."""

    conversation_id: str
    version: str | None
    sandbox_id: str | None
    last_updated_at: datetime | None
    owner: str | None


@dataclass(frozen=True, slots=True)
class Known:
    """Rows of the table found for one batch, by conversation_id."""

    rows: dict[str, RowRef]

    def v1_row(self, conversation_id: str) -> RowRef | None:
        """The V1 row OpenHands routes this id to (its dashed form), if any."""
        dashed = v1_form(conversation_id)
        row = self.rows.get(dashed) if dashed is not None else None
        return row if row is not None and row.version == "V1" else None

    def v0_row(self, conversation_id: str) -> RowRef | None:
        row = self.rows.get(conversation_id)
        return row if row is not None and row.version != "V1" else None

    def any_row(self, conversation_id: str) -> RowRef | None:
        """A row for this conversation in any form: as given, dashed (V1) or hex (V0)."""
        for form in (conversation_id, v1_form(conversation_id), v0_form(conversation_id)):
            if form is not None and form in self.rows:
                return self.rows[form]
        return None


def forms(conversation_id: str) -> list[str]:
    """Every spelling under which the table may file this conversation."""
    found = [conversation_id]
    for other in (v1_form(conversation_id), v0_form(conversation_id)):
        if other is not None and other not in found:
            found.append(other)
    return found


def uuid_forms(text: str) -> list[str]:
    """The spellings an owner id may have: as given, dashed, hex (1.x owners are UUIDs)."""
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        return [text]
    return list(dict.fromkeys([text, str(parsed), parsed.hex]))


def owner_column(store: SqlStore) -> ColumnElement[Any] | None:
    """The owner of a row, as ``--user`` matches it (``SqlStore.owner_expression``)."""
    return store.owner_expression()


def lookup(store: SqlStore, ids: Iterable[str]) -> Known:
    """The rows whose conversation_id is one of ``ids`` (a few queries, by primary key)."""
    table = store.table
    owner = owner_column(store)
    statement = select(
        table.c.conversation_id,
        table.c.conversation_version,
        _column_or_null(store, "sandbox_id"),
        _column_or_null(store, "last_updated_at"),
        null() if owner is None else owner,
    )
    if store.ownership is not None:
        statement = statement.select_from(
            table.outerjoin(
                store.ownership, store.ownership.c.conversation_id == table.c.conversation_id
            )
        )
    found: dict[str, RowRef] = {}
    unique = list(dict.fromkeys(ids))
    try:
        with store.engine.connect() as connection:
            for start in range(0, len(unique), IDS_PER_QUERY):
                chunk = unique[start : start + IDS_PER_QUERY]
                for identifier, version, sandbox, updated, owned in connection.execute(
                    statement.where(table.c.conversation_id.in_(chunk))
                ):
                    found[identifier] = RowRef(
                        identifier, version, sandbox, parse_timestamp(updated), _owner_text(owned)
                    )
    except DBAPIError as error:
        raise unavailable(store.display, error) from error
    return Known(found)


def _column_or_null(store: SqlStore, name: str) -> ColumnElement[Any]:
    return store.table.c[name] if name in store.columns else null()


def _owner_text(value: Any) -> str | None:
    """An owner as one spelling: a UUID dashed (SQLite stores them as hex), else as stored."""
    if value is None:
        return None
    text = str(value)
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return text
