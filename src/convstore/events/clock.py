"""V1 timestamps: naive UTC, fixed width, strictly increasing in V0 id order.

OpenHands 1.x sorts and filters a conversation's events by comparing their timestamp
strings, so the strings must sort in V0 id order. Only one form does that reliably:
``YYYY-MM-DDTHH:MM:SS.ffffff`` (what the SDK writes; its statistics read a naive value as
UTC). V0 wrote the server's naive local time, UTC in the official image; older files may
carry ``<secret_hidden>`` where the time was, and clocks can step back. Hence: a zoned
time becomes naive UTC, a naive one is kept, and one that does not parse or is not
later than the previous event's becomes the previous one plus a microsecond.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

TICK = timedelta(microseconds=1)
# Used when the first events' times are unknown and the caller gave no start.
EPOCH = datetime(1970, 1, 1)
# A parsed year beyond this is treated as unparsable, so adding ticks cannot overflow.
_LAST_YEAR = 9998
_CANONICAL = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}")


def parse_v0_timestamp(value: object) -> datetime | None:
    """The naive UTC (or naive as written) time a V0 ``timestamp`` holds, else None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment if moment.year <= _LAST_YEAR else None


def format_timestamp(moment: datetime) -> str:
    """The fixed-width form; ``isoformat`` would drop a zero microsecond part."""
    return moment.isoformat(timespec="microseconds")


def is_canonical(timestamp: str) -> bool:
    """Whether a V1 timestamp has the one form that sorts correctly as a string."""
    return _CANONICAL.fullmatch(timestamp) is not None


class Clock:
    """Hands out the V1 timestamps of one conversation, in V0 id order."""

    def __init__(self, start: datetime | None = None) -> None:
        # The time of a first event whose own time is unknown (e.g. the conversation's
        # created_at); the epoch keeps the output deterministic when none is given.
        if start is not None and start.tzinfo is not None:
            start = start.astimezone(UTC).replace(tzinfo=None)
        self._start = EPOCH if start is None else start
        self._previous: datetime | None = None

    def stamp(self, v0_timestamp: object) -> str:
        """The V1 timestamp of the next event, from its V0 ``timestamp`` value."""
        moment = parse_v0_timestamp(v0_timestamp)
        if self._previous is None:
            moment = self._start if moment is None else moment
        elif moment is None or moment <= self._previous:
            moment = self._previous + TICK
        self._previous = moment
        return format_timestamp(moment)

    def tick(self) -> str:
        """The timestamp of an event convstore adds: one microsecond after the last one."""
        return self.stamp(None)
