"""One conversation's V0 events to V1 files: read, convert, write, report.

This is the call the migrate job makes per conversation, after it has located the V0
events (``v0.find_events_dir``) and before it commits the V1 row: when it returns, every
event file is in place and durable. It streams: one V0 event is read, converted and
written before the next is read. A re-run writes identical files and reports them
unchanged; a dry run writes nothing and counts what a run would write.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from convstore.errors import UsageError
from convstore.events.convert import Converter
from convstore.events.locate import EventLocation
from convstore.events.report import ConversionReport, Problem
from convstore.events.v0 import iter_events
from convstore.events.v1_files import EventWriter, ObjectEventWriter, conversation_dir
from convstore.ids import parse_uuid

if TYPE_CHECKING:
    from convstore.objects.base import Objects


def convert_conversation(
    v0_events: Path | EventLocation,
    conversation_id: str | uuid.UUID,
    events_root: Path | tuple[Objects, str],
    *,
    dry_run: bool = False,
    start: datetime | None = None,
) -> ConversionReport:
    """Write the V1 event files of a V0 conversation into ``events_root/<hex>/``.

    ``v0_events``: its ``events/`` directory, or where they are in a bucket.
    ``events_root`` is ``<persistence_dir>/v1_conversations`` (or the per-user one), or
    a store of objects and the prefix there (``users/[<user>/]v1_conversations``), where
    each object is created only if absent.
    ``start`` is the time of leading events whose own time is unreadable, such as the
    conversation's ``created_at``. A conversation whose id is not a UUID gets no V1 row,
    hence no events: UsageError.
    """
    conversation = (
        conversation_id if isinstance(conversation_id, uuid.UUID) else parse_uuid(conversation_id)
    )
    if conversation is None:
        raise UsageError(
            f"conversation {conversation_id!r} has no UUID id: it cannot become a V1 "
            "conversation, so its events are not converted"
        )
    report = ConversionReport(conversation, dry_run=dry_run)
    converter = Converter(conversation, report, start=start)
    if isinstance(v0_events, EventLocation):
        events = v0_events.v0_events(report.problems.append)
    else:
        events = iter_events(v0_events, report.problems.append)
    writer: EventWriter | ObjectEventWriter
    if isinstance(events_root, Path):
        writer = EventWriter(conversation_dir(events_root, conversation), dry_run=dry_run)
    else:
        objects, prefix = events_root
        writer = ObjectEventWriter(objects, f"{prefix}/{conversation.hex}", dry_run=dry_run)
    with writer:
        for event in events:
            for v1_event in converter.convert(event):
                writer.write(v1_event)
    report.written, report.unchanged = writer.written, writer.unchanged
    if isinstance(writer, ObjectEventWriter):
        report.problems += [
            Problem(where, "exists with other content; left alone (never overwritten)")
            for where in writer.differing
        ]
    report.events = writer.written + writer.unchanged
    return report
