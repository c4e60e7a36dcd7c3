"""Where a conversation's events are: the V0 layouts of the file store, or the V1
``v1_conversations/<hex>/`` directory (single user, or under the user's directory)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from convstore.events.v0 import event_ids, events_dir_candidates, find_events_dir
from convstore.events.v1_files import conversation_dir, directory_stats
from convstore.fsutil import tree_size
from convstore.ids import id_problem, parse_uuid

EventFormat = Literal["v0", "v1"]


@dataclass(frozen=True)
class EventLocation:
    format: EventFormat
    directory: Path


def locate_events(
    conversation_id: str,
    version: str,
    user_id: str | None,
    file_store: Path | None,
    events_root: Path | None,
) -> EventLocation | None:
    """The event directory OpenHands reads for this conversation, or None."""
    if version == "V0":
        if file_store is None:
            return None
        found = find_events_dir(file_store, conversation_id, user_id)
        return None if found is None else EventLocation("v0", found)
    identifier = parse_uuid(conversation_id)
    if identifier is None or events_root is None:
        return None
    return next(
        (EventLocation("v1", path) for path in v1_directories(events_root, identifier, user_id)),
        None,
    )


def v1_directories(root: Path, identifier: uuid.UUID, user_id: str | None) -> list[Path]:
    """Every existing V1 event directory of a conversation (``v1_candidates``)."""
    candidates = v1_candidates(root, identifier, user_id)
    return [path for path in candidates if path.is_dir() and not path.is_symlink()]


def v1_candidates(root: Path, identifier: uuid.UUID, user_id: str | None) -> list[Path]:
    """Where a V1 conversation's events may be: single user,
    ``<persistence>/v1_conversations/<hex>``; with a user id, 1.x writes
    ``<persistence>/<user_id>/v1_conversations/<hex>`` on local disk."""
    candidates = [conversation_dir(root, identifier)]
    if user_id and id_problem(user_id) is None:
        candidates.append(conversation_dir(root.parent / user_id / root.name, identifier))
    return candidates


def searched_directories(
    conversation_id: str,
    version: str,
    user_id: str | None,
    file_store: Path | None,
    events_root: Path | None,
) -> list[Path]:
    """Every directory ``locate_events`` looks in for this conversation, in its order."""
    if version == "V0":
        return (
            []
            if file_store is None
            else events_dir_candidates(file_store, conversation_id, user_id)
        )
    identifier = parse_uuid(conversation_id)
    if identifier is None or events_root is None:
        return []
    return v1_candidates(events_root, identifier, user_id)


@dataclass(frozen=True)
class EventStats:
    """What `show` says of a conversation's history: where, how many events, how big."""

    format: EventFormat
    directory: Path
    count: int
    bytes: int


def event_stats(location: EventLocation) -> EventStats:
    """The events OpenHands would count (V0: ``<n>.json`` files; V1: every name its glob
    matches) and the bytes of the directory's files."""
    if location.format == "v1":
        stats = directory_stats(location.directory)
        return EventStats("v1", location.directory, stats.names, stats.bytes)
    count = len(event_ids(location.directory))
    return EventStats("v0", location.directory, count, tree_size(location.directory))
