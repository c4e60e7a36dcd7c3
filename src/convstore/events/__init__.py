"""Conversation events: the V0 files convstore reads, the V1 files it writes (EVENTS.md).

A V0 conversation migrated as a V1 row opens empty in OpenHands 1.x until its history
is rewritten as V1 event files; this package does that rewriting, and reads both forms
back for ``show``, ``export`` and ``verify``. One module per job:

- ``v0``: locate a V0 conversation's ``events/``, stream its events in id order,
  report unreadable files and cache pages that differ from the files.
- ``convert``: the V0 -> V1 mapping, one event at a time, keeping only what pairing
  observations with actions needs.
- ``ids`` and ``clock``: the deterministic uuid5 event ids and the V1 timestamps.
- ``v1``: the OpenHands models a V1 file can hold, field by field; both the converter
  and the validator use it.
- ``v1_files``: the bytes of a V1 file, the atomic writer, the reader.
- ``validate``: whether 1.x would read a V1 file, and why not.
- ``pipeline``: one conversation from V0 files to durable V1 files, with its report.
"""

from convstore.events.convert import Converter, V1Event
from convstore.events.ids import NAMESPACE, event_uuid
from convstore.events.pipeline import convert_conversation
from convstore.events.report import ConversionReport, Problem
from convstore.events.v0 import V0Event, event_ids, find_events_dir, iter_events, read_event
from convstore.events.v1_files import (
    DirectoryStats,
    EventWriter,
    V1File,
    conversation_dir,
    directory_stats,
    encode,
    events_root,
    file_name,
    iter_v1_events,
    remove_temporaries,
)
from convstore.events.validate import Verdict, validate_event_bytes, validate_event_file

__all__ = [
    "NAMESPACE",
    "ConversionReport",
    "Converter",
    "DirectoryStats",
    "EventWriter",
    "Problem",
    "V0Event",
    "V1Event",
    "V1File",
    "Verdict",
    "conversation_dir",
    "convert_conversation",
    "directory_stats",
    "encode",
    "event_ids",
    "event_uuid",
    "events_root",
    "file_name",
    "find_events_dir",
    "iter_events",
    "iter_v1_events",
    "read_event",
    "remove_temporaries",
    "validate_event_bytes",
    "validate_event_file",
]
