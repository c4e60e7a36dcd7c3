"""How values travel between Python and the columns of ``conversation_metadata``.

SQLite keeps timestamps (naive UTC, in SQLAlchemy's text form, as OpenHands' rows carry
them) and JSON as text, and holds whatever bytes it is given as TEXT; PostgreSQL takes
aware datetimes, and SQLAlchemy encodes its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from convstore.timestamps import as_utc

TIMESTAMP_COLUMNS = ("created_at", "last_updated_at")
JSON_COLUMNS = ("pr_number", "tags")  # text in SQLite
# SQLAlchemy's own SQLite text form, which OpenHands' rows carry: naive UTC.
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"


class RowForm:
    """How logical rows (column names to Python values) become the parameters of the
    table's statements: the columns named, in order, and each value in the form the
    driver takes. SQLite keeps timestamps and JSON as text; PostgreSQL takes aware
    datetimes, and SQLAlchemy encodes its JSON.

    Plain data, so worker processes can encode a migration's rows and the process that
    writes only executes the INSERT.
    """

    def __init__(self, names: Iterable[str], *, sqlite: bool) -> None:
        self.names = tuple(names)
        self.sqlite = sqlite
        # By position, not per value by type: a migration encodes 10^5 rows here. The
        # timestamp columns are the table's only datetimes (FORMATS.md).
        self.timestamps = [i for i, name in enumerate(self.names) if name in TIMESTAMP_COLUMNS]
        self.documents = (
            [i for i, name in enumerate(self.names) if name in JSON_COLUMNS] if sqlite else []
        )

    def parameters(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """``row``'s values for ``names``, in the forms the columns store."""
        values = [row[name] for name in self.names]
        for index in self.timestamps:
            value = values[index]
            if isinstance(value, datetime):
                values[index] = time_parameter(value, sqlite=self.sqlite)
        for index in self.documents:
            document = values[index]
            if document is not None:
                values[index] = "[]" if document == [] else json.dumps(document)
        return tuple(values)

    def stored(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """``parameters`` by column name."""
        return dict(zip(self.names, self.parameters(row), strict=True))


def time_parameter(value: datetime, *, sqlite: bool) -> Any:
    """A timestamp as a statement's parameter: ``SQLITE_TIMESTAMP`` text, or aware UTC."""
    return _sqlite_text(value) if sqlite else as_utc(value)


def _sqlite_text(value: datetime) -> str:
    """``SQLITE_TIMESTAMP`` of a datetime (naive UTC), a few times faster than strftime
    for the aware UTC values a migration writes."""
    if value.tzinfo is UTC and value.year >= 1000:
        return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00"
    return as_utc(value).strftime(SQLITE_TIMESTAMP)


def lenient_text(raw: bytes) -> str:
    """SQLite TEXT as a str even when it is not UTF-8 (``undecodable`` then says so)."""
    return raw.decode("utf-8", "surrogateescape")


def undecodable(data: dict[str, Any]) -> list[str]:
    """Text columns holding bytes that are not UTF-8 (read by ``lenient_text``): shown
    with U+FFFD in their place, each reported, since OpenHands cannot read such a row."""
    found = []
    for name, value in data.items():
        if isinstance(value, str) and not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raw = value.encode("utf-8", "surrogateescape")
                data[name] = raw.decode("utf-8", "replace")
                found.append(
                    f"{name} holds bytes that are not UTF-8; OpenHands cannot read this row"
                )
    return found


def sqlite_timestamp(text: str) -> Any:
    """A timestamp column's text as aware UTC; text that is no timestamp, as it is."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        return text


def json_or_text(text: str) -> Any:
    """A JSON column's text decoded; text that is no JSON, as it is."""
    try:
        return json.loads(text)
    except ValueError:
        return text
