from datetime import UTC, datetime, timedelta

import pytest

from convstore.errors import UsageError
from convstore.times import parse_age, parse_time

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("12h", NOW - timedelta(hours=12)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        ("2025-06-01T12:30", datetime(2025, 6, 1, 12, 30, tzinfo=UTC)),
        ("2025-06-01T12:30:00+02:00", datetime(2025, 6, 1, 10, 30, tzinfo=UTC)),
        ("2025-06-01T12:30:00Z", datetime(2025, 6, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_times_and_ages(text, expected):
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "7 days", "-3d", "2025-13-01"])
def test_bad_times_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_time(text, NOW)


def test_age():
    assert parse_age("90d") == timedelta(days=90)
    with pytest.raises(UsageError, match="invalid age"):
        parse_age("90")
