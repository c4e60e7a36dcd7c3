"""Checks across stores: a V0 conversation and the V1 row it became (or did not).

OpenHands routes an id that parses as a UUID to the V1 row with the dashed form first
and falls back to V0 only when there is none; OpenHands 1.x has no V0 code at all.
So a V0 conversation with a V1 twin is shown as the V1 row, and one without is
invisible after the upgrade. These checks see each V0 conversation (file or SQL V0
row) once, with its batch's rows looked up in one query. Under ``--user`` a row of
another user is not this user's twin: it is neither named nor counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from convstore.ids import parse_uuid, v1_form
from convstore.jobs.checks.base import Check, Context, Issue, needs_sql
from convstore.jobs.checks.lookup import RowRef
from convstore.model import Store, format_v0_datetime, parse_timestamp

SHOWN = "OpenHands opens the V1 row for this id (a UUID routes to V1 first; 1.x has no V0)"


@dataclass(frozen=True, slots=True)
class V0View:
    """A readable V0 conversation, from a file or a V0 row."""

    conversation_id: str
    location: str
    store: Store
    last_updated_at: Any  # as stored; parsed only when a twin is compared

    def lookup_ids(self) -> list[str]:
        dashed = v1_form(self.conversation_id)
        return [self.conversation_id] if dashed is None else [self.conversation_id, dashed]


def v1_twin(conversation_id: str, context: Context) -> RowRef | None:
    """The V1 row OpenHands shows for this V0 id, if it is in scope (--user sees only its
    own). Needs the id's dashed form looked up in the batch (``lookup_ids``)."""
    row = context.known.v1_row(conversation_id)
    return row if row is not None and context.owned(row.owner) else None


def _table(context: Context) -> str:
    return context.schema.location if context.schema is not None else "the database"


def _archive_hint(view: V0View) -> str:
    if view.store == "files":
        return "migrate-v0-to-v1 --after archive moves the V0 copy to sessions-migrated/"
    return "migrate-v0-to-v1 --after remove deletes the V0 row once its V1 row is read back"


def _newer(view: V0View, context: Context) -> tuple[str, str] | None:
    """The V0 and V1 update times when the V0 copy changed after its V1 row was written."""
    twin = v1_twin(view.conversation_id, context)
    if twin is None or twin.last_updated_at is None:
        return None
    updated = parse_timestamp(view.last_updated_at)
    if updated is None or updated <= twin.last_updated_at:
        return None
    return format_v0_datetime(updated), format_v0_datetime(twin.last_updated_at)


def both_versions(view: V0View, context: Context) -> Iterator[Issue]:
    twin = v1_twin(view.conversation_id, context)
    if twin is None or _newer(view, context) is not None:
        return
    yield Issue(
        f"also V1 row {twin.conversation_id} in {_table(context)}: {SHOWN}",
        f"nothing to do once the migration is checked; {_archive_hint(view)}",
    )


def newer_than_v1(view: V0View, context: Context) -> Iterator[Issue]:
    times = _newer(view, context)
    twin = v1_twin(view.conversation_id, context)
    if times is None or twin is None:
        return
    yield Issue(
        f"updated at {times[0]}, after its V1 row {twin.conversation_id} ({times[1]}): "
        f"{SHOWN}, so the later V0 changes are hidden",
        "run convstore migrate-v0-to-v1 --overwrite to carry them over",
    )


def not_migrated(view: V0View, context: Context) -> Iterator[Issue]:
    if v1_twin(view.conversation_id, context) is not None:
        return
    if parse_uuid(view.conversation_id) is None:
        yield Issue(
            "not migrated, and its id is not a UUID: OpenHands 1.x cannot show it, and "
            "migrate-v0-to-v1 skips it by default",
            "run convstore migrate-v0-to-v1 --non-uuid remap (it derives a new id and "
            "reports the mapping)",
        )
        return
    yield Issue(
        "not migrated yet: OpenHands 1.x has no V0 code and shows it to no one",
        "run convstore migrate-v0-to-v1 before upgrading (or now)",
    )


def in_both_stores(view: V0View, context: Context) -> Iterator[Issue]:
    row = context.known.v0_row(view.conversation_id)
    if view.store != "files" or row is None or not context.owned(row.owner):
        return
    yield Issue(
        f"also a V0 row {view.conversation_id} in {_table(context)}: OpenHands reads the "
        "file first, so the row is shadowed",
        "keep the copy that is current and delete the other (`convstore show` prints both "
        "locations)",
    )


CHECKS: tuple[Check[V0View], ...] = (
    Check(
        "cross.v0-and-v1",
        "info",
        "the same conversation as V0 (hex) and V1 (dashed): OpenHands shows the V1 row",
        V0View,
        both_versions,
        lookup=True,
        applies=needs_sql,
    ),
    Check(
        "cross.v0-newer-than-v1",
        "warning",
        "a V0 conversation changed after its V1 row was written: the changes are hidden",
        V0View,
        newer_than_v1,
        lookup=True,
        applies=needs_sql,
    ),
    Check(
        "cross.v0-not-migrated",
        "info",
        "a V0 conversation with no V1 row: invisible in OpenHands 1.x",
        V0View,
        not_migrated,
        lookup=True,
        applies=needs_sql,
    ),
    Check(
        "cross.v0-in-both-stores",
        "warning",
        "a V0 conversation both as a file and as a V0 row: the file shadows the row",
        V0View,
        in_both_stores,
        lookup=True,
        applies=needs_sql,
    ),
)
