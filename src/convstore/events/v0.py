"""V0 event files: where a conversation's events live, and reading them in id order.

Event ``n`` of a conversation is ``<root>/sessions/<id>/events/<n>.json``, or, for a
conversation with a user, ``<root>/users/<user_id>/conversations/<id>/events/<n>.json``:
one compact JSON object, ``n`` an int from 0 in arrival order, with gaps. Other names are
not events. Since 2025-04 V0 also copied every full run of 25 events into
``<conversation>/event_cache/<s>-<s+25>.json`` and displayed such a page in preference to
the files, so a page that differs from its files is reported; events are always read
from the files.

Reading streams: names are listed and sorted as ints, then files are read one at a time,
with a cache page or two held besides, so memory does not grow with the events. In a
bucket (``iter_object_events``) the listing pages through every key of the events prefix
(OpenHands' own S3 listing stops at 1,000: its issue #9565) and the objects are fetched
with requests in flight, in id order (memory bounded by the window); both readers share
the parsing, the id check and the cache page comparison. Where the conversation's
prefix was listed already (``locate``: one listing finds its events, and holds its
cache pages too), that listing is used: no prefix is listed twice.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic_core

from convstore.events.report import Problem
from convstore.ids import id_problem

if TYPE_CHECKING:
    from convstore.objects.base import ObjectInfo, Objects

PAGE_SIZE = 25
_EVENT_NAME = re.compile(r"(0|[1-9][0-9]*)\.json")
_PAGE_NAME = re.compile(r"(0|[1-9][0-9]*)-(0|[1-9][0-9]*)\.json")
_ABSENT = object()


@dataclass(frozen=True, slots=True)
class V0Event:
    """One readable V0 event: its id (the file name) and the JSON object the file holds."""

    id: int
    data: dict[str, Any]  # as the file holds it
    is_action: bool
    name: str  # the action or observation type, such as ``run``
    # An action's ``args`` or an observation's ``extras`` as V0 read them (see ``_as_read``).
    args: dict[str, Any]

    @property
    def kind(self) -> str:
        """``action:<name>`` or ``observation:<name>``: the key reports count by."""
        return f"{'action' if self.is_action else 'observation'}:{self.name}"

    @property
    def cause(self) -> int | None:
        """The id of the action an observation answers."""
        cause = self.data.get("cause")
        return cause if type(cause) is int else None

    @property
    def tool_call_metadata(self) -> dict[str, Any]:
        metadata = self.data.get("tool_call_metadata")
        return metadata if isinstance(metadata, dict) else {}


def find_events_dir(root: Path, conversation_id: str, user_id: str | None = None) -> Path | None:
    """The ``events/`` directory of a V0 conversation, or None when it has none.

    With a user, the per-user layout is looked at first, then ``sessions/``: stores
    written before 2025-03 hold a user's conversations there too.
    """
    candidates = events_dir_candidates(root, conversation_id, user_id)
    return next((candidate for candidate in candidates if candidate.is_dir()), None)


def events_dir_candidates(root: Path, conversation_id: str, user_id: str | None) -> list[Path]:
    """Where ``find_events_dir`` looks, in its order (none for an id that is no name)."""
    if id_problem(conversation_id) is not None:
        return []
    candidates = [root / "sessions" / conversation_id / "events"]
    if user_id and id_problem(user_id) is None:
        user_dir = root / "users" / user_id / "conversations" / conversation_id / "events"
        candidates.insert(0, user_dir)
    return candidates


def event_ids(events_dir: Path) -> list[int]:
    """The ids of the event files in a directory, ascending; other names are ignored."""
    try:
        with os.scandir(events_dir) as entries:
            ids = [
                int(match[1]) for entry in entries if (match := _EVENT_NAME.fullmatch(entry.name))
            ]
    except FileNotFoundError:
        return []
    ids.sort()
    return ids


def read_event(path: str | Path, event_id: int) -> V0Event | Problem:
    """The event a file holds, or why V0 could not have read it either."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as error:
        return Problem(Path(path), f"cannot be read: {error.strerror or error}")
    return parse_event(raw, event_id, Path(path))


def parse_event(raw: bytes, event_id: int, where: Path | str) -> V0Event | Problem:
    """The event ``raw`` (the file or object at ``where``) holds, or why V0 could not
    have read it either."""
    try:
        data = _loads(raw)
    except (ValueError, RecursionError) as error:
        return Problem(where, f"not JSON: {error}")
    if not isinstance(data, dict):
        return Problem(where, "not a JSON object")
    # V0 itself looked at `action` first.
    for key, payload in (("action", "args"), ("observation", "extras")):
        if isinstance(data.get(key), str):
            is_action = key == "action"
            return V0Event(
                event_id, data, is_action, data[key], _as_read(is_action, data.get(payload))
            )
    return Problem(where, "has neither `action` nor `observation`: not an event V0 could read")


_FILE_EDITOR_CALL = "print(file_editor(**"


def _as_read(is_action: bool, payload: object) -> dict[str, Any]:
    """Args or extras with the older keys moved where V0's reader moved them.

    Renamed: ``is_confirmed`` (now ``confirmation_state``), ``images_urls`` (now
    ``image_urls``). Older file actions kept their arguments in
    ``translated_ipython_code`` as ``print(file_editor(**{...}))``. Observations of
    commands kept ``exit_code`` and ``command_id`` (the pid) beside the metadata, and
    they win over it. Keys V0 dropped (``keep_prompt``, ``task_completed``, ...) stay:
    nothing reads them.
    """
    if not isinstance(payload, dict):
        return {}
    moved = dict(payload)
    if is_action:
        for old, new in (("is_confirmed", "confirmation_state"), ("images_urls", "image_urls")):
            if old in moved:
                moved[new] = moved.pop(old)
        code = moved.get("translated_ipython_code")
        if isinstance(code, str) and code.startswith(_FILE_EDITOR_CALL) and code.endswith("))"):
            with contextlib.suppress(
                ValueError, SyntaxError, TypeError, MemoryError, RecursionError
            ):
                arguments = ast.literal_eval(code[len(_FILE_EDITOR_CALL) : -2])
                if isinstance(arguments, dict):
                    moved |= arguments
    else:
        legacy = {
            new: moved[old]
            for old, new in (("exit_code", "exit_code"), ("command_id", "pid"))
            if old in moved
        }
        if legacy:
            metadata = moved.get("metadata")
            moved["metadata"] = (metadata if isinstance(metadata, dict) else {}) | legacy
    return moved


def _loads(raw: bytes) -> Any:
    try:
        # pydantic's parser is three times as fast as json's on these files.
        return pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError:
        # It refuses what V0 could write but JSON cannot hold: half a surrogate pair
        # ("\ud83d"), and NaN or Infinity, read as null (which pydantic writes for
        # them anyway) so that a page and its file compare equal.
        return json.loads(raw, parse_constant=lambda _: None)


def iter_events(
    events_dir: Path, on_problem: Callable[[Problem], None] | None = None
) -> Iterator[V0Event]:
    """The readable events of a conversation, in id order, one file at a time.

    Unreadable files are skipped and passed to ``on_problem``; when it is given, the
    cache pages next to ``events_dir`` are compared with the files as they stream by.
    """
    pages = _directory_pages(events_dir.parent / "event_cache") if on_problem else None
    directory = os.fspath(events_dir)

    def read() -> Iterator[tuple[int, V0Event | Problem, Path | str]]:
        for event_id in event_ids(events_dir):
            # A plain string, not a Path: this runs once per event.
            path = os.path.join(directory, f"{event_id}.json")
            yield event_id, read_event(path, event_id), path

    return _checked(read(), pages, on_problem, paths=True)


@dataclass
class ListedEvents:
    """The events of an ``events`` prefix by id, with their listings; ``bytes``: of every
    object below the prefix (``tree_size`` of the directory)."""

    events: list[tuple[int, ObjectInfo]]
    bytes: int


def objects_below(
    objects: Objects, prefix: str, listing: Sequence[ObjectInfo] | None = None
) -> Iterable[ObjectInfo]:
    """Every object below ``prefix``: from ``listing`` (every object of a prefix above
    it, listed already) where there is one, else listed now (every page)."""
    if listing is None:
        return objects.walk(prefix)
    start = prefix + "/"
    return [info for info in listing if info.key.startswith(start)]


def object_event_ids(
    objects: Objects, prefix: str, listing: Sequence[ObjectInfo] | None = None
) -> ListedEvents:
    """The events of a conversation's ``events`` prefix in a store of objects, by id,
    with their listings (sizes); other names are ignored. Every page of the listing
    (``objects_below``: or the listing given)."""
    found = ListedEvents([], 0)
    for info in objects_below(objects, prefix, listing):
        found.bytes += info.size
        match = _EVENT_NAME.fullmatch(info.key[len(prefix) + 1 :])
        if match:
            found.events.append((int(match[1]), info))
    found.events.sort(key=lambda item: item[0])
    return found


def iter_object_events(
    objects: Objects,
    prefix: str,
    on_problem: Callable[[Problem], None] | None = None,
    listing: Sequence[ObjectInfo] | None = None,
) -> Iterator[V0Event]:
    """``iter_events`` of the events below ``prefix`` (``.../<id>/events``) in a store
    of objects: the same events, problems and cache page findings, objects named by URL.
    ``listing``: every object of the conversation's prefix, listed already."""
    pages = None
    if on_problem:
        pages = _object_pages(objects, prefix.rsplit("/", 1)[0] + "/event_cache", listing)
    listed = object_event_ids(objects, prefix, listing).events
    keys = [info.key for _, info in listed]

    def read() -> Iterator[tuple[int, V0Event | Problem, Path | str]]:
        for (event_id, info), found in zip(listed, objects.read_many(keys), strict=True):
            where = objects.describe(info.key)
            if found is None:
                yield event_id, Problem(where, "cannot be read: removed while read"), where
            else:
                yield event_id, parse_event(found.data, event_id, where), where

    return _checked(read(), pages, on_problem)


# A cache page: its first event id, where it is, and how to read it.
_Page = tuple[int, Path | str, Callable[[], bytes]]


def _directory_pages(cache_dir: Path) -> list[_Page]:
    pages: list[_Page] = []
    try:
        with os.scandir(cache_dir) as entries:
            for entry in entries:
                match = _PAGE_NAME.fullmatch(entry.name)
                if match and int(match[2]) == int(match[1]) + PAGE_SIZE:
                    path = Path(entry.path)
                    pages.append((int(match[1]), path, path.read_bytes))
    except (FileNotFoundError, NotADirectoryError):
        pass
    return pages


def _object_pages(
    objects: Objects, cache_prefix: str, listing: Sequence[ObjectInfo] | None
) -> list[_Page]:
    """The cache pages below ``cache_prefix``, each read only when reached."""
    pages: list[_Page] = []
    for info in objects_below(objects, cache_prefix, listing):
        match = _PAGE_NAME.fullmatch(info.key[len(cache_prefix) + 1 :])
        if match and int(match[2]) == int(match[1]) + PAGE_SIZE:
            pages.append((int(match[1]), objects.describe(info.key), _reader(objects, info.key)))
    return pages


def _reader(objects: Objects, key: str) -> Callable[[], bytes]:
    def read() -> bytes:
        found = objects.read(key)
        if found is None:
            raise FileNotFoundError(f"{key} was removed while read")
        return found.data

    return read


def _checked(
    results: Iterator[tuple[int, V0Event | Problem, Path | str]],
    pages: list[_Page] | None,
    on_problem: Callable[[Problem], None] | None,
    *,
    paths: bool = False,
) -> Iterator[V0Event]:
    """The readable events of ``results`` (in id order), each unreadable one and each
    ``id`` field that is not the name's passed to ``on_problem``, the cache ``pages``
    compared as the events stream by. ``paths``: the places are file paths (given as
    plain strings, which are cheaper per event) rather than URLs."""
    cache = _CachePages(pages, on_problem) if pages is not None and on_problem else None
    for event_id, result, where in results:
        if isinstance(result, Problem):
            if on_problem:
                on_problem(result)
            if cache:
                cache.check(event_id, None)
            continue
        if cache:
            cache.check(event_id, result.data)
        if on_problem and result.data.get("id") != event_id:
            message = f"its id field is {result.data.get('id')!r}; read as event {event_id}"
            on_problem(Problem(Path(where) if paths else where, message))
        yield result
    if cache:
        cache.finish()


class _CachePages:
    """Compares ``event_cache`` pages with the event files while those stream by in id order."""

    def __init__(self, pages: list[_Page], on_problem: Callable[[Problem], None]) -> None:
        self._on_problem = on_problem
        # Popped from the end: lowest start first.
        self._pages = sorted(pages, key=lambda page: page[0], reverse=True)
        # The page copies of events not yet reached: event id -> (page, copy).
        self._pending: dict[int, tuple[Path | str, object]] = {}

    def check(self, event_id: int, data: dict[str, Any] | None) -> None:
        """Compare the page copy of one event with its file (None: the file is unreadable)."""
        while self._pages and self._pages[-1][0] <= event_id:
            self._load(*self._pages.pop())
        for missing in sorted(other for other in self._pending if other < event_id):
            self._report_missing(missing)
        page, copy = self._pending.pop(event_id, (None, _ABSENT))
        if page is None or copy == data:
            return
        what = "is unreadable" if data is None else "differs from it"
        self._report(page, f"holds event {event_id}, but events/{event_id}.json {what}")

    def finish(self) -> None:
        """Report page copies of events that have no file after the last one."""
        while True:
            for missing in sorted(self._pending):
                self._report_missing(missing)
            if not self._pages:
                return
            self._load(*self._pages.pop())

    def _load(self, start: int, page: Path | str, read: Callable[[], bytes]) -> None:
        try:
            copies = _loads(read())
        except (OSError, ValueError, RecursionError) as error:
            self._on_problem(Problem(page, f"cache page cannot be read: {error}"))
            return
        if not isinstance(copies, list):
            self._on_problem(Problem(page, "cache page is not a JSON list"))
            return
        for offset, copy in enumerate(copies):
            copied_id = copy.get("id") if isinstance(copy, dict) else None
            event_id = copied_id if type(copied_id) is int else start + offset
            self._pending[event_id] = (page, copy)

    def _report_missing(self, event_id: int) -> None:
        page, _ = self._pending.pop(event_id)
        self._report(page, f"holds event {event_id}, but events/{event_id}.json does not exist")

    def _report(self, page: Path | str, what: str) -> None:
        self._on_problem(Problem(page, f"cache page {what} (V0 showed the page)"))
