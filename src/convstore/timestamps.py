"""Stored timestamps: the one lenient parser every reader shares, the one textual form
every output writes, and an integer form.

Kept free of pydantic and SQLAlchemy, so the processes that scan the V0 file store in
parallel start in milliseconds (``convstore.stores.v0_scan``). ``model`` re-exports
``as_utc`` and ``parse_timestamp``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC, as OpenHands reads them (and SQLite stores no zone)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_timestamp(value: Any) -> datetime | None:
    """A stored timestamp as an aware UTC datetime, or None when it is not one.

    The one parser for every path (full records, light summaries, SQL text), so a
    record sorts the same wherever it was read.
    """
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        if isinstance(value, str):
            return as_utc(datetime.fromisoformat(value))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: the form OpenHands writes in metadata.json, and the
    one every output of convstore uses, for people and programs alike."""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def to_micros(value: datetime) -> int:
    """Microseconds since 1970 of an aware datetime: exact, and ordered as datetimes are.

    Python datetimes carry microseconds, so the integer loses nothing; it is what the
    V0 index cache stores and sorts by, and what listings compare in their hot loops.
    """
    return (value - EPOCH) // _MICROSECOND


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
