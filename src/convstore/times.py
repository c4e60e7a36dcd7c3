"""Times an operator types: an ISO date or time, or an age such as ``7d`` or ``12h``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from convstore.errors import UsageError
from convstore.model import as_utc

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    match = _AGE.match(text.strip().lower())
    if match is None:
        raise UsageError(f"invalid age {text!r}: use a number and s, m, h, d or w, such as 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime from ``2025-06-01``, ``2025-06-01T12:00``, or an age ago (``7d``)."""
    now = now or datetime.now(UTC)
    if _AGE.match(text.strip().lower()):
        return now - parse_age(text)
    try:
        return as_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise UsageError(
            f"invalid time {text!r}: use an ISO date or time (2025-06-01, 2025-06-01T12:00Z) "
            "or an age such as 7d or 12h"
        ) from None


def parse_optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)
