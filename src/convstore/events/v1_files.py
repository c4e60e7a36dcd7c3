"""V1 event files on disk: their bytes, writing them atomically, and reading them back.

A conversation's events live in ``<events root>/<conversation uuid hex>/``, one file per
event named ``<event uuid hex>.json``, holding ``model_dump_json(indent=2)`` in UTF-8.
The bytes come from pydantic's own JSON serializer, so they equal what the SDK writes
for the same model: two-space indent, ``": "`` and ``","`` separators, characters
unescaped, floats formatted as pydantic does (``0.00001``, where ``json`` writes
``1e-05``).

Writing is atomic and durable per file: a hidden temporary file (OpenHands' glob skips
names starting with "."), synced, then renamed into place, then the directory synced. A
file already holding the same bytes is left alone, so a re-run writes nothing. Files are
synced in batches: on Linux one ``syncfs`` makes a whole batch durable before any of it
is renamed, which gives the guarantee of one ``fsync`` per file at a fraction of the cost
(git's ``core.fsyncMethod=batch`` rests on the same idea); elsewhere each file is
``fsync``-ed. Each file's modification time is set to its event's time: some OpenHands
event services order events by modification time rather than by timestamp.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import pydantic_core

from convstore.events.report import Problem
from convstore.events.validate import validate_event_bytes
from convstore.fsutil import TEMPORARY_SUFFIX, fsync_directory

if TYPE_CHECKING:
    from convstore.objects.base import ObjectInfo, Objects

BATCH = 256
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode(event: Mapping[str, Any]) -> bytes:
    """The bytes of ``model_dump_json(indent=2)`` for an event built by ``v1``."""
    try:
        return pydantic_core.to_json(event, indent=2, inf_nan_mode="null")
    except pydantic_core.PydanticSerializationError:
        # A V0 file can hold half of a surrogate pair as an escape ("\ud83d"), which
        # UTF-8 cannot encode; it becomes U+FFFD, the same in a call and its action.
        event = _replace_lone_surrogates(event)
        return pydantic_core.to_json(event, indent=2, inf_nan_mode="null")


def events_root(persistence_dir: Path, user_id: str | None = None) -> Path:
    """Where 1.x keeps event directories on local disk: ``[<user_id>/]v1_conversations``."""
    base = persistence_dir / user_id if user_id else persistence_dir
    return base / "v1_conversations"


def conversation_dir(events_root: Path, conversation: uuid.UUID) -> Path:
    """``<events root>/<hex>``: the directory 1.x reads a conversation's events from."""
    return events_root / conversation.hex


def file_name(event: Mapping[str, Any]) -> str:
    """``<UUID(id).hex>.json``: the only name under which 1.x can fetch the event."""
    return f"{uuid.UUID(event['id']).hex}.json"


class EventWriter:
    """Writes the V1 event files of one conversation; a context manager.

    Nothing is renamed into place before it is durable, and everything is in place once
    the block ends without an error. One writer per directory at a time (the caller's
    lock): opening the writer removes temporary files a killed run left behind.
    """

    def __init__(self, directory: Path, *, dry_run: bool = False, batch: int = BATCH) -> None:
        self.directory = directory
        self.dry_run = dry_run
        self.batch = batch
        self.written = 0
        self.unchanged = 0
        self._staged: list[tuple[str, str]] = []  # (temporary, final) paths
        self._created = directory.is_dir()
        # In a directory this writer creates, no file can already hold an event: the
        # comparison, a failed open per event, is skipped.
        self._empty = not self._created
        # Temporary names follow fsutil's convention, so `verify` recognises leftovers;
        # a counter instead of fresh randomness per file saves a system call.
        self._token = secrets.token_hex(4)
        self._count = 0
        if self._created and not dry_run:
            remove_temporaries(directory)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None:
            self.flush()
        else:
            for temporary, _ in self._staged:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)

    def write(self, event: Mapping[str, Any]) -> bool:
        """Write one event unless its file already holds the same bytes; True if written.

        In a dry run nothing is written; the return value says whether it would be.
        """
        data = encode(event)
        # Plain strings, not Path objects: this runs once per event.
        name = file_name(event)
        path = os.path.join(self.directory, name)
        if not self._empty and _holds(path, data):
            self.unchanged += 1
            return False
        self.written += 1
        if self.dry_run:
            return True
        if not self._created:
            self.directory.mkdir(parents=True, exist_ok=True)
            fsync_directory(self.directory.parent)  # the new directory's own entry
            self._created = True
        self._count += 1
        temporary = os.path.join(
            self.directory, f".{name}.{self._token}-{self._count}{TEMPORARY_SUFFIX}"
        )
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with open(descriptor, "wb", closefd=True) as stream:
                stream.write(data)
                stream.flush()
                _set_mtime(descriptor, event.get("timestamp"))
                if _SYNCFS is None:
                    os.fsync(descriptor)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._staged.append((temporary, path))
        if len(self._staged) >= self.batch:
            self.flush()
        return True

    def flush(self) -> None:
        """Make the staged files durable, rename them into place, sync the directory."""
        if not self._staged:
            return
        if _SYNCFS is not None:
            _syncfs(self.directory)
        for temporary, path in self._staged:
            os.replace(temporary, path)
        self._staged.clear()
        fsync_directory(self.directory)


class ObjectEventWriter:
    """``EventWriter`` for a conversation's prefix in a store of objects (a bucket, or a
    directory through ``Objects``); a context manager.

    Each event object is created only if absent (S3 ``If-None-Match: *``, GCS
    ``ifGenerationMatch=0``), up to ``in_flight`` requests at a time: a rerun never
    overwrites. An object already there with the same bytes counts as unchanged; with
    other bytes it is left alone and reported (``differing``). When the block ends
    without an error every object is in place (a PUT is whole and durable once
    answered); an error ends the block once the requests in flight are answered.
    """

    def __init__(
        self,
        objects: Objects,
        prefix: str,
        *,
        dry_run: bool = False,
        in_flight: int | None = None,
    ) -> None:
        from convstore.objects.base import IN_FLIGHT

        self.objects = objects
        self.prefix = prefix
        self.dry_run = dry_run
        self.written = 0
        self.unchanged = 0
        self.differing: list[str] = []  # the URLs of objects left alone
        self._in_flight = in_flight or IN_FLIGHT
        self._pool = ThreadPoolExecutor(self._in_flight, thread_name_prefix="convstore-write")
        self._window: deque[Future[None]] = deque()
        self._lock = threading.Lock()

    def __enter__(self) -> ObjectEventWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            while self._window:
                pending = self._window.popleft()
                if error is None:
                    pending.result()
                else:
                    pending.cancel()
        finally:
            self._pool.shutdown(wait=True)

    def write(self, event: Mapping[str, Any]) -> None:
        """Create the event's object unless it exists (counted when answered)."""
        key = f"{self.prefix}/{file_name(event)}"
        self._window.append(self._pool.submit(self._create, key, encode(event)))
        if len(self._window) >= self._in_flight:
            self._window.popleft().result()

    def _create(self, key: str, data: bytes) -> None:
        from convstore.errors import Conflict

        if self.dry_run:
            found = self.objects.read(key)
        else:
            try:
                self.objects.create_if_absent(key, data)
            except Conflict:
                found = self.objects.read(key)
            else:
                found = None
        with self._lock:  # the requests' threads count here
            if found is None:
                self.written += 1  # or, in a dry run, would be
            elif found.data == data:
                self.unchanged += 1
            else:
                self.differing.append(self.objects.describe(key))


def remove_temporaries(directory: Path) -> int:
    """Remove the temporary files a killed writer left in ``directory``; how many."""
    removed = 0
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(TEMPORARY_SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed += 1
    return removed


@dataclass(frozen=True)
class V1File:
    """One readable event file of a V1 conversation."""

    path: Path | str  # a path, or an object's URL
    size: int
    event: dict[str, Any]


@dataclass(frozen=True)
class DirectoryStats:
    names: int  # what 1.x's unfiltered count says: every name its glob matches
    bytes: int


def directory_stats(directory: Path) -> DirectoryStats:
    """The event count 1.x would show for a directory, and the bytes of its files."""
    names = size = 0
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            names += 1
            if entry.is_file(follow_symlinks=False):
                size += entry.stat(follow_symlinks=False).st_size
    return DirectoryStats(names, size)


def iter_v1_events(
    directory: Path, on_problem: Callable[[Problem], None] | None = None
) -> Iterator[V1File]:
    """A conversation's events in the order 1.x shows them: by timestamp string.

    Files 1.x would drop are skipped and passed to ``on_problem``. Only each file's
    timestamp is kept while sorting; the events are read again one at a time.
    """
    order: list[tuple[str, str]] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                raw = path.read_bytes()
            except OSError as error:
                _tell(on_problem, Problem(path, f"cannot be read: {error.strerror or error}"))
                continue
            verdict = validate_event_bytes(raw, entry.name)
            if not verdict.readable:
                _tell(on_problem, Problem(path, "; ".join(verdict.errors)))
                continue
            # Without a timestamp, 1.x stamps the event as it reads it: it sorts last.
            # Ties are broken by name, to be deterministic (1.x's follow its glob).
            order.append((json.loads(raw).get("timestamp", "\uffff"), entry.name))
    order.sort()
    for _, name in order:
        path = directory / name
        raw = path.read_bytes()
        yield V1File(path, len(raw), json.loads(raw))


def object_stats(objects: Objects, prefix: str) -> DirectoryStats:
    """``directory_stats`` of a conversation's prefix in a store of objects: the names
    directly below it that 1.x's glob matches, and the bytes of those objects."""
    names: set[str] = set()
    size = 0
    for info in objects.walk(prefix):
        name, _, deeper = info.key[len(prefix) + 1 :].partition("/")
        if name.startswith("."):
            continue
        names.add(name)
        if not deeper:
            size += info.size
    return DirectoryStats(len(names), size)


def iter_object_v1_events(
    objects: Objects, prefix: str, on_problem: Callable[[Problem], None] | None = None
) -> Iterator[V1File]:
    """``iter_v1_events`` of a conversation's prefix in a store of objects: every page
    of its listing, the objects fetched with requests in flight, twice (to order them,
    then in order), so that memory holds a window of them, not the conversation."""
    listed = [info for info in objects.walk(prefix) if _event_object(info, prefix)]
    order: list[tuple[str, str]] = []
    for info, found in zip(listed, objects.read_many(info.key for info in listed), strict=True):
        name = info.key[len(prefix) + 1 :]
        if found is None:
            _tell(on_problem, Problem(objects.describe(info.key), "removed while read"))
            continue
        verdict = validate_event_bytes(found.data, name)
        if not verdict.readable:
            _tell(on_problem, Problem(objects.describe(info.key), "; ".join(verdict.errors)))
            continue
        order.append((json.loads(found.data).get("timestamp", "\uffff"), info.key))
    order.sort(key=lambda item: (item[0], item[1][len(prefix) + 1 :]))
    keys = [key for _, key in order]
    for key, found in zip(keys, objects.read_many(keys), strict=True):
        if found is None:
            _tell(on_problem, Problem(objects.describe(key), "removed while read"))
            continue
        yield V1File(objects.describe(key), len(found.data), json.loads(found.data))


def _event_object(info: ObjectInfo, prefix: str) -> bool:
    """Whether an object of a V1 conversation's listing is one 1.x's glob would read."""
    name = info.key[len(prefix) + 1 :]
    return "/" not in name and not name.startswith(".")


def _tell(on_problem: Callable[[Problem], None] | None, problem: Problem) -> None:
    if on_problem is not None:
        on_problem(problem)


def _holds(path: str, data: bytes) -> bool:
    try:
        with open(path, "rb") as stream:
            return stream.read(len(data) + 1) == data
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return False


def _set_mtime(descriptor: int, timestamp: object) -> None:
    if not isinstance(timestamp, str):
        return
    try:
        moment = datetime.fromisoformat(timestamp).replace(tzinfo=UTC)
        delta = moment - _EPOCH
        nanoseconds = (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
        os.utime(descriptor, ns=(nanoseconds, nanoseconds))
    except (ValueError, OverflowError, OSError):
        pass  # only an ordering hint: the timestamp string is what 1.x sorts by


def _load_syncfs() -> Callable[[int], int] | None:
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()


def _syncfs(directory: Path) -> None:
    """Flush every file of the file system that holds ``directory`` to stable storage."""
    assert _SYNCFS is not None
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _SYNCFS(descriptor) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(directory))
    finally:
        os.close(descriptor)


def _replace_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_replace_lone_surrogates(k): _replace_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_lone_surrogates(item) for item in value]
    return value
