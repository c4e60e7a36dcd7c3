"""Event ids (uuid5, fixed forever) and V1 timestamps (fixed width, strictly increasing)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from convstore.events.clock import Clock, format_timestamp, is_canonical, parse_v0_timestamp
from convstore.events.ids import NAMESPACE, event_uuid

CONVERSATION = uuid.UUID("7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f")


def sha1_uuid(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """RFC 4122 name-based version 5, computed by hand rather than with uuid.uuid5."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    return uuid.UUID(bytes=bytes(digest))


def test_namespace_is_the_one_events_md_fixes() -> None:
    url_namespace = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # RFC 4122 NAMESPACE_URL
    expected = sha1_uuid(url_namespace, "https://github.com/OpenHands/OpenHands#v0-event")
    assert expected == uuid.UUID("97f32b43-60e6-5cf4-be6d-2b9c83d65c5b")
    assert expected == NAMESPACE


def test_event_ids_are_uuid5_of_the_dashed_conversation_and_the_v0_id() -> None:
    expected = sha1_uuid(NAMESPACE, "7c1d3f0e-2b9a-4c5d-8e6f-0a1b2c3d4e5f:5")
    assert expected == uuid.UUID("c39342da-76ac-5889-b714-572bf91d9027")
    assert event_uuid(CONVERSATION, 5) == expected


def test_an_added_event_uses_the_obs_suffix() -> None:
    expected = sha1_uuid(NAMESPACE, "7c1d3f0e-2b9a-4c5d-8e6f-0a1b2c3d4e5f:40:obs")
    assert expected == uuid.UUID("ee8f3e48-217e-5c19-b4bc-e5f98a59bba5")
    assert event_uuid(CONVERSATION, 40, added=True) == expected
    assert event_uuid(CONVERSATION, 40) != expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-11-03T14:02:05.435558", datetime(2025, 11, 3, 14, 2, 5, 435558)),  # naive: kept
        ("2025-11-03T14:02:05", datetime(2025, 11, 3, 14, 2, 5)),
        ("2025-11-03T15:02:05.5+01:00", datetime(2025, 11, 3, 14, 2, 5, 500000)),  # zoned: UTC
        ("2025-11-03T14:02:05Z", datetime(2025, 11, 3, 14, 2, 5)),
        ("<secret_hidden>", None),
        ("", None),
        (1762178525, None),
        (None, None),
        ("9999-12-31T23:59:59.999999", None),  # no room left to add microseconds
    ],
)
def test_parse_v0_timestamp(value: object, expected: datetime | None) -> None:
    assert parse_v0_timestamp(value) == expected


def test_format_is_fixed_width_even_on_a_whole_second() -> None:
    assert format_timestamp(datetime(2025, 1, 2, 3, 4, 5)) == "2025-01-02T03:04:05.000000"
    assert is_canonical("2025-01-02T03:04:05.000000")
    assert not is_canonical("2025-01-02T03:04:05")
    assert not is_canonical("2025-01-02T03:04:05.000000+00:00")


def test_clock_repairs_unparsable_and_backward_times() -> None:
    clock = Clock()
    stamps = [
        clock.stamp("2025-11-03T14:00:00.000000"),
        clock.stamp("<secret_hidden>"),  # previous + 1 µs
        clock.stamp("2025-11-03T13:00:00.000000"),  # earlier: previous + 1 µs
        clock.stamp("2025-11-03T14:00:00.000001"),  # equal to the previous: + 1 µs
        clock.tick(),  # an added event
        clock.stamp("2025-11-03T14:00:05"),
    ]
    assert stamps == [
        "2025-11-03T14:00:00.000000",
        "2025-11-03T14:00:00.000001",
        "2025-11-03T14:00:00.000002",
        "2025-11-03T14:00:00.000003",
        "2025-11-03T14:00:00.000004",
        "2025-11-03T14:00:05.000000",
    ]


def test_clock_start_is_used_when_the_first_time_is_unknown() -> None:
    aware = datetime(2025, 1, 6, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    clock = Clock(start=aware)
    assert clock.stamp("<secret_hidden>") == "2025-01-06T08:00:00.000000"
    assert clock.stamp(None) == "2025-01-06T08:00:00.000001"
    assert Clock().stamp("<secret_hidden>") == "1970-01-01T00:00:00.000000"
    assert Clock(start=datetime(2025, 1, 1, tzinfo=UTC)).stamp("2024-06-01T00:00:00") == (
        "2024-06-01T00:00:00.000000"  # a readable first time wins over the start
    )
