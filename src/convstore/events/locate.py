"""Where a conversation's events are: the V0 layouts of the file store, or the V1
``v1_conversations/<hex>/`` directory (single user, or under the user's directory).

Either store may be a bucket (an ``Objects``): there the V0 layouts are the same keys,
and 1.x keeps V1 events at ``users/[<user_id>/]v1_conversations/<hex>/``. A place is
found by one listing request; a location in a bucket is its store and prefix. A V0
conversation's place is found by listing the whole conversation prefix (its events,
its ``event_cache`` pages and the rest, in one request per 1,000 keys), which the
location keeps: reading, counting or dating its events lists nothing again.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from convstore.events.v0 import (
    event_ids,
    events_dir_candidates,
    find_events_dir,
    iter_events,
    iter_object_events,
    object_event_ids,
    objects_below,
)
from convstore.events.v1_files import (
    V1File,
    conversation_dir,
    directory_stats,
    iter_object_v1_events,
    iter_v1_events,
    object_stats,
)
from convstore.fsutil import tree_size
from convstore.ids import id_problem, parse_uuid

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from convstore.events.report import Problem
    from convstore.events.v0 import V0Event
    from convstore.objects.base import ObjectInfo, Objects

EventFormat = Literal["v0", "v1"]


@dataclass(frozen=True)
class EventLocation:
    """A conversation's events: a directory on local disk, or ``prefix`` in ``objects``."""

    format: EventFormat
    directory: Path | None
    objects: Objects | None = None
    prefix: str = ""
    # V0 in a bucket: every object of the conversation's prefix (the parent of
    # ``prefix``), as the listing that found it gave them.
    listing: tuple[ObjectInfo, ...] | None = None

    def below(self) -> Iterable[ObjectInfo]:
        """Every object below ``prefix`` in a bucket, from ``listing`` if there is one."""
        assert self.objects is not None
        return objects_below(self.objects, self.prefix, self.listing)

    @property
    def where(self) -> str:
        """The directory, or the prefix's URL: what a person is told."""
        if self.objects is not None:
            return self.objects.describe(self.prefix)
        return str(self.directory)

    def v0_events(self, on_problem: Callable[[Problem], None] | None = None) -> Iterator[V0Event]:
        if self.objects is not None:
            return iter_object_events(self.objects, self.prefix, on_problem, self.listing)
        assert self.directory is not None
        return iter_events(self.directory, on_problem)

    def v1_files(self, on_problem: Callable[[Problem], None] | None = None) -> Iterator[V1File]:
        if self.objects is not None:
            return iter_object_v1_events(self.objects, self.prefix, on_problem)
        assert self.directory is not None
        return iter_v1_events(self.directory, on_problem)


class UserLayouts:
    """Which conversations have a prefix in a bucket's user layout
    (``users/<user_id>/conversations/<id>/``): one delimiter listing per user, made the
    first time that user is asked about, for a batch job over many conversations
    (`migrate-v0-to-v1`). Without it, each conversation with a user costs a listing of
    its prefix there, which stores written before 2025-03 mostly do not have.

    A conversation whose user prefix appears after the user's listing (OpenHands writing
    its first event meanwhile: one in use) is looked for below ``sessions/`` only."""

    def __init__(self, objects: Objects) -> None:
        self.objects = objects
        self._names: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def has(self, user_id: str, conversation_id: str) -> bool:
        with self._lock:  # conversations are converted a few at a time, on threads
            names = self._names.get(user_id)
            if names is None:
                listed = self.objects.children_of(f"users/{user_id}/conversations").names
                names = self._names[user_id] = frozenset(listed)
        return conversation_id in names


def locate_events(
    conversation_id: str,
    version: str,
    user_id: str | None,
    file_store: Path | Objects | None,
    events_root: Path | Objects | None,
    layouts: UserLayouts | None = None,
) -> EventLocation | None:
    """The event directory (or prefix) OpenHands reads for this conversation, or None.
    ``events_root``: the ``v1_conversations`` directory, or the bucket 1.x writes to.
    ``layouts``: which conversations of the file store's bucket have a user prefix."""
    if version == "V0":
        if file_store is None:
            return None
        if not isinstance(file_store, Path):
            prefixes = v0_prefixes(conversation_id, user_id)
            if layouts is not None and user_id and not layouts.has(user_id, conversation_id):
                prefixes = [prefix for prefix in prefixes if not prefix.startswith("users/")]
            return _v0_listed(file_store, prefixes)
        found = find_events_dir(file_store, conversation_id, user_id)
        return None if found is None else EventLocation("v0", found)
    identifier = parse_uuid(conversation_id)
    if identifier is None or events_root is None:
        return None
    if not isinstance(events_root, Path):
        prefix = _first_listed(events_root, v1_prefixes(identifier, user_id))
        return None if prefix is None else EventLocation("v1", None, events_root, prefix)
    return next(
        (EventLocation("v1", path) for path in v1_directories(events_root, identifier, user_id)),
        None,
    )


def v0_prefixes(conversation_id: str, user_id: str | None) -> list[str]:
    """``events_dir_candidates`` as keys of a bucket."""
    return [path.as_posix() for path in events_dir_candidates(Path(), conversation_id, user_id)]


def v1_bucket_root(user_id: str | None) -> str:
    """Where 1.x keeps the V1 events of a user's conversations in a bucket (1.11's
    ``users/<user_id>/v1_conversations``; without a user, no user segment)."""
    if user_id and id_problem(user_id) is None:
        return f"users/{user_id}/v1_conversations"
    return "users/v1_conversations"


def v1_prefixes(identifier: uuid.UUID, user_id: str | None) -> list[str]:
    """Where 1.x keeps a V1 conversation's events in a bucket, in ``v1_candidates``'
    order: ``users/v1_conversations/<hex>`` (no user), ``users/<user_id>/...``."""
    roots = dict.fromkeys([v1_bucket_root(None), v1_bucket_root(user_id)])
    return [f"{root}/{identifier.hex}" for root in roots]


def _first_listed(objects: Objects, prefixes: list[str]) -> str | None:
    """The first prefix with an object below it (one listing request each)."""
    return next(
        (prefix for prefix in prefixes if next(iter(objects.walk(prefix)), None) is not None),
        None,
    )


def _v0_listed(objects: Objects, prefixes: list[str]) -> EventLocation | None:
    """The first of the ``events`` prefixes with an object below it, found by listing
    its conversation's prefix (every page), which the location keeps."""
    for prefix in prefixes:
        listing = tuple(objects.walk(prefix.rsplit("/", 1)[0]))
        start = prefix + "/"
        if any(info.key.startswith(start) for info in listing):
            return EventLocation("v0", None, objects, prefix, listing)
    return None


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
    file_store: Path | Objects | None,
    events_root: Path | Objects | None,
) -> list[Path | str]:
    """Every directory (or prefix's URL) ``locate_events`` looks in, in its order."""
    if version == "V0":
        if file_store is None:
            return []
        if not isinstance(file_store, Path):
            return [file_store.describe(key) for key in v0_prefixes(conversation_id, user_id)]
        return list(events_dir_candidates(file_store, conversation_id, user_id))
    identifier = parse_uuid(conversation_id)
    if identifier is None or events_root is None:
        return []
    if not isinstance(events_root, Path):
        return [events_root.describe(key) for key in v1_prefixes(identifier, user_id)]
    return list(v1_candidates(events_root, identifier, user_id))


@dataclass(frozen=True)
class EventStats:
    """What `show` says of a conversation's history: where, how many events, how big."""

    format: EventFormat
    directory: str  # or the prefix's URL in a bucket
    count: int
    bytes: int


def event_stats(location: EventLocation) -> EventStats:
    """The events OpenHands would count (V0: ``<n>.json`` files; V1: every name its glob
    matches) and the bytes of the directory's files (V0: of the whole tree)."""
    objects, where = location.objects, location.where
    if objects is not None:
        if location.format == "v1":
            stats = object_stats(objects, location.prefix)
            return EventStats("v1", where, stats.names, stats.bytes)
        listed = object_event_ids(objects, location.prefix, location.listing)
        return EventStats("v0", where, len(listed.events), listed.bytes)
    assert location.directory is not None
    if location.format == "v1":
        stats = directory_stats(location.directory)
        return EventStats("v1", where, stats.names, stats.bytes)
    count = len(event_ids(location.directory))
    return EventStats("v0", where, count, tree_size(location.directory))
