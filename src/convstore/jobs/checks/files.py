"""Checks of the V0 file store: each ``sessions/<id>/`` directory and its metadata.json.

The scan is the hot loop of ``verify``: one ``scandir`` of ``sessions/``, then per
conversation one ``listdir`` (for leftovers and missing files), one bounded read and one
``json.loads``. The checks look at the decoded dict with plain tests; pydantic runs only
on a value the type screen does not accept (``fields``). Every sentence says what
OpenHands does with the file, because that is what an operator needs to weigh it.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from convstore import parallel
from convstore.ids import id_problem, parse_uuid, v1_form
from convstore.jobs.checks.base import Check, Context, Issue
from convstore.jobs.checks.events import V0EventsDir
from convstore.jobs.checks.fields import TESTS, TYPES, V0_DEFAULTS, invalid_fields
from convstore.jobs.checks.leftovers import Leftover, leftover, recorded_owner
from convstore.jobs.checks.lookup import forms
from convstore.jobs.checks.repairs import UTF8_BOM, SetFields, utf8_bytes
from convstore.jobs.checks.twins import V0View, v1_twin
from convstore.model import (
    CREATED_AT_MISSING,
    CREATED_AT_NULL,
    KNOWN_GIT_PROVIDERS,
    KNOWN_TRIGGERS,
    TOKEN_FIELDS,
    format_v0_datetime,
    parse_timestamp,
)
from convstore.owners import owner_of
from convstore.quoting import clip
from convstore.stores import metadata_json
from convstore.stores.files import METADATA, FileStore, fingerprint
from convstore.stores.v0_scan import Found, settled

SKIPS = "OpenHands skips this conversation"
_MINTED = re.compile(r"[0-9a-f]{32}")
_KNOWN = {"trigger": KNOWN_TRIGGERS, "git_provider": KNOWN_GIT_PROVIDERS}
_USAGE = frozenset({"accumulated_cost", *TOKEN_FIELDS})


@dataclass(slots=True)
class FileItem:
    """One directory under ``sessions/`` and what reading its metadata.json gave."""

    conversation_id: str  # the directory name: what OpenHands routes by
    directory: str  # plain strings in the hot loop: a Path costs more than the checks
    names: list[str] = field(default_factory=list)
    raw: bytes | None = None
    # ``raw`` decoded. A worker process drops it before sending the item (a parsed dict
    # costs more to send than to parse again), and ``decoded`` parses again on demand:
    # only a file that failed the screen is ever looked at that closely.
    parsed: metadata_json.Decoded | None = None
    unreadable: str | None = None  # why metadata.json cannot be read
    escapes_to: Path | None = None  # a symbolic link out of the store, not followed
    healthy: bool = False  # passed the screen: no screened check can find anything

    @property
    def decoded(self) -> metadata_json.Decoded | None:
        if self.parsed is None and self.raw is not None:
            self.parsed = metadata_json.decode(self.raw)
        return self.parsed

    @decoded.setter
    def decoded(self, value: metadata_json.Decoded | None) -> None:
        self.parsed = value

    @property
    def path(self) -> str:
        return f"{self.directory}/{METADATA}"

    @property
    def location(self) -> str:
        return self.path if self.raw is not None or self.unreadable else self.directory

    @property
    def data(self) -> dict[str, Any] | None:
        return None if self.decoded is None else self.decoded.data

    def lookup_ids(self) -> list[str]:
        """Ids to look up: a directory without metadata.json may have it in SQL, and a
        file without created_at hides nothing if its V1 twin exists."""
        missing = self.raw is None and self.unreadable is None and self.escapes_to is None
        if missing:
            return forms(self.conversation_id)
        if not self.healthy and self.data is not None and self.data.get("created_at") is None:
            dashed = v1_form(self.conversation_id)
            return [] if dashed is None else [dashed]
        return []

    def edit(self, what: str, **changes: Any) -> SetFields:
        """A repair of this file, valid only while it holds the bytes just read."""
        assert self.raw is not None
        path, token = Path(self.path), fingerprint(self.raw)
        return SetFields(path, token, tuple(changes.items()), f"{what} in {path}")


Subject = FileItem | Leftover | V0EventsDir | V0View


# Directories per chunk a worker reads: a round trip's cost spread thin, and few
# subjects held per chunk in flight.
CHUNK = 1000
# (name, path, kind): "hidden", "hidden directory", "link" or "directory"
Listed = tuple[str, str, str]


def scan(
    store: FileStore, context: Context, *, views: bool = True, workers: int | None = None
) -> Iterator[Subject]:
    """Every conversation directory of ``sessions/`` and the leftovers beside it; with
    ``views``, a ``V0View`` of each readable conversation for the cross-store checks.

    In directory order, whatever the number of processes: chunks of the listing go to
    worker processes (``workers``: at most that many; None: as many as pay) and their
    subjects come back in the order given.
    """
    with store.session_entries() as entries:
        size = store.count_up_to(2 * parallel.MIN_ITEMS_PER_WORKER)
        count = parallel.workers_for(size, store.workers if workers is None else workers)
        place = (store.sessions.as_posix(), str(store.root.resolve()))
        listed = _listed(entries)
        if not count:  # one entry at a time: memory holds what the runner's batch holds
            for one in listed:
                yield from scan_chunk(*place, [one], context.user, views)
            return
        calls = ((*place, chunk, context.user, views) for chunk in _chunks(listed, CHUNK))
        for subjects in parallel.ordered_map(scan_chunk, calls, count):
            yield from subjects


def _listed(entries: Iterator[os.DirEntry[str]]) -> Iterator[Listed]:
    for entry in entries:
        if entry.name.startswith("."):
            hidden = "hidden directory" if entry.is_dir(follow_symlinks=False) else "hidden"
            yield entry.name, entry.path, hidden
        elif entry.is_symlink():
            yield entry.name, entry.path, "link"
        elif entry.is_dir():
            yield entry.name, entry.path, "directory"


def _chunks(items: Iterator[Listed], size: int) -> Iterator[list[Listed]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def scan_chunk(
    sessions: str, root: str, listed: list[Listed], user: str | None, views: bool
) -> list[Subject]:
    """The subjects of some entries of sessions/, in order (in a worker, or here)."""
    context = Context(user, 0.0, 0.0, None, None, None)  # only its scope is used here
    real_root = Path(root)
    found: list[Subject] = []
    for name, path, kind in listed:
        if kind.startswith("hidden"):
            hidden = leftover(
                sessions,
                name,
                is_dir=kind == "hidden directory",
                conversation_id=None,
                lock=None,
            )
            if hidden is not None and (user is None or context.owned(recorded_owner(hidden.path))):
                found.append(hidden)
        elif kind == "link":
            target = Path(path).resolve()
            if not target.is_relative_to(real_root):
                if user is None:  # whose it is would mean following it
                    found.append(FileItem(name, path, escapes_to=target))
            elif target.is_dir():
                found.extend(_conversation(path, name, context, views))
        else:
            found.extend(_conversation(path, name, context, views))
    if len(listed) > 1:  # a worker's chunk, about to be sent back
        for subject in found:
            if isinstance(subject, FileItem):
                subject.parsed = None  # see FileItem.parsed
    return found


def _conversation(directory: str, name: str, context: Context, views: bool) -> Iterator[Subject]:
    item = FileItem(name, directory)
    try:
        item.names = os.listdir(directory)
    except OSError as error:
        item.unreadable = f"the directory cannot be listed: {error.strerror}"
    else:
        if METADATA in item.names:
            _read(item)
        elif "events" in item.names:
            if context.user is None:  # no metadata: no owner to scope by
                yield V0EventsDir(name, Path(directory), None)
            return
    data = item.data
    if context.user is not None:
        owner = None if data is None else owner_of(data.get("user_id"), data.get("github_user_id"))
        if not context.owned(owner):
            return
    yield item
    if views and data is not None:
        yield V0View(name, item.path, "files", data.get("last_updated_at"))
    for entry_name in item.names:
        if entry_name.startswith("."):
            found = leftover(
                directory, entry_name, is_dir=False, conversation_id=name, lock=Path(directory)
            )
            if found is not None:
                yield found


def _read(item: FileItem) -> None:
    """Read metadata.json, refusing what cannot be metadata before reading it; read again
    while it looks caught mid-rewrite, as every reader does (``v0_scan.settled``)."""
    try:
        found = settled(lambda: _read_once(item.path))
    except _Unreadable as error:
        item.unreadable = str(error)
        return
    if found is None:
        return  # removed since the directory was listed: as if it never was
    item.raw = found[1]
    item.decoded = metadata_json.decode(item.raw)
    item.healthy = healthy(item)


class _Unreadable(Exception):
    """Why metadata.json cannot be read as metadata."""


def _read_once(path: str) -> Found | None:
    """One read of metadata.json, None when it does not exist.

    Opened non-blocking, so a FIFO in its place is refused instead of waited on, and
    read with one unbuffered read sized by fstat: half the cost of a buffered file.
    """
    limit = metadata_json.MAX_METADATA_BYTES
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise _Unreadable(_permission_denied(path)) from None
    except OSError as error:
        raise _Unreadable(f"metadata.json cannot be read: {error.strerror}") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise _Unreadable("metadata.json is not a regular file, so it is not metadata")
        size = status.st_size
        if size > limit:
            raise _Unreadable(
                f"metadata.json is {size:,} bytes, more than the {limit:,} convstore reads: "
                "it is not metadata"
            )
        raw = os.read(descriptor, size + 1)
        while len(raw) > size and len(raw) <= limit:  # it grew since fstat: read the rest
            more = os.read(descriptor, limit + 1 - len(raw))
            if not more:
                break
            raw += more
    except OSError as error:
        raise _Unreadable(f"metadata.json cannot be read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(raw) > limit:
        raise _Unreadable(f"metadata.json grew past the {limit:,} bytes convstore reads")
    return status, raw


def healthy(item: FileItem) -> bool:
    """True only when no check of this module can find anything in the file.

    The common case in a real store, tested in one pass over the keys so that a
    healthy file costs one function call instead of a dozen. It may say False for a
    file the checks pass (they then run and find nothing), never True for one they
    would flag: tests/test_verify.py holds every check to that.
    """
    decoded, data = item.decoded, item.data
    if decoded is None or data is None or decoded.problems or item.unreadable:
        return False
    name = item.conversation_id
    if data.get("conversation_id") != name or data.get("created_at") is None:
        return False
    if "selected_repository" not in data or not _MINTED.fullmatch(name):
        return False
    for key, value in data.items():
        if value is None:
            if key in V0_DEFAULTS:
                return False
            continue
        types = TYPES.get(key)
        if types is None:
            test = TESTS.get(key)
            if test is not None and not test(value):
                return False
        elif type(value) not in types:
            return False
        elif key in _KNOWN:
            if value not in _KNOWN[key]:
                return False
        elif key in _USAGE and value < 0:
            return False
    return True


def _permission_denied(path: str) -> str:
    try:
        status = os.stat(path)
    except OSError:
        return "metadata.json cannot be read: permission denied"
    return (
        f"metadata.json cannot be read by uid {os.geteuid()}: permission denied "
        f"(owner uid {status.st_uid}, mode {status.st_mode & 0o777:o})"
    )


# The checks. Each returns quickly on a healthy file: most return on their first test.


def symlink_outside(item: FileItem, _context: Context) -> Iterator[Issue]:
    if item.escapes_to is None:
        return
    yield Issue(
        f"{item.directory} is a symbolic link to {item.escapes_to}, outside the file store; "
        "convstore neither reads nor writes through it (OpenHands follows it)",
        "move the conversation into sessions/ and remove the link, or remove the link if "
        "the target is not meant to be part of this store",
    )


def unreadable(item: FileItem, _context: Context) -> Iterator[Issue]:
    if item.unreadable is None:
        return
    if "permission denied" in item.unreadable:
        remedy = (
            "run verify as the user OpenHands runs as, or give the file the owner and mode "
            "of the other metadata.json files (chown, chmod)"
        )
    else:
        remedy = "inspect it by hand; restore metadata.json from a backup if it is damaged"
    yield Issue(item.unreadable, remedy)


def missing_metadata(item: FileItem, context: Context) -> Iterator[Issue]:
    if item.raw is not None or item.unreadable or item.escapes_to or item.decoded is not None:
        return
    if context.sql is not None and context.known.any_row(item.conversation_id) is not None:
        return  # the conversation's metadata is a row; this directory holds its other files
    shown = ", ".join(sorted(item.names)[:5]) + (", …" if len(item.names) > 5 else "")
    holds = f"it holds {shown}" if item.names else "it is empty"
    yield Issue(
        f"the directory has no metadata.json, so OpenHands does not list it ({holds})",
        "restore metadata.json from a backup, or remove the directory if the conversation "
        "was deleted",
    )


def encoding(item: FileItem, _context: Context) -> Iterator[Issue]:
    raw, decoded = item.raw, item.decoded
    if raw is None or decoded is None or not decoded.problems or not _misencoded(raw):
        return
    problem = decoded.problems[0]
    converted = utf8_bytes(raw) if decoded.data is not None else None
    if converted is None:
        yield Issue(
            problem,
            "re-encode it as UTF-8 by hand, repairing the invalid bytes (convstore does not "
            "guess lost characters)",
        )
        return
    what = "without the byte order mark" if raw.startswith(UTF8_BOM) else "instead of UTF-16/32"
    yield Issue(
        problem,
        "--fix rewrites it as UTF-8, same JSON",
        SetFields(
            Path(item.path),
            fingerprint(raw),
            (),
            f"rewrite {item.path} as UTF-8 {what}, same JSON",
            reencode=True,
        ),
    )


def invalid_json(item: FileItem, _context: Context) -> Iterator[Issue]:
    if item.decoded is None or item.decoded.data is not None:
        return
    yield Issue(
        f"{item.decoded.problems[-1]}; OpenHands cannot list or open this conversation",
        "restore metadata.json from a backup or repair it by hand (convstore never rewrites "
        "a file it cannot parse)",
    )


def invalid_id(item: FileItem, _context: Context) -> Iterator[Issue]:
    if _MINTED.fullmatch(item.conversation_id):
        return  # the form OpenHands mints: valid, and the common case
    problem = id_problem(item.conversation_id)
    if problem is None:
        return
    yield Issue(
        f"{problem[0].upper()}{problem[1:]}: OpenHands' API refuses it, so the conversation "
        "cannot be opened",
        "rename the directory to a valid id (OpenHands mints uuid4().hex) and set "
        "conversation_id inside metadata.json to match",
    )


def id_mismatch(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None or data.get("conversation_id") == item.conversation_id:
        return
    written = data.get("conversation_id")
    address = item.conversation_id
    if isinstance(written, str):
        problem = (
            f"conversation_id inside metadata.json is {clip(written)}, not the directory name "
            f"{address!r}: OpenHands lists it under that id and opening it fails"
        )
    elif written is None:
        problem = f"metadata.json has no conversation_id, so {SKIPS}"
    else:
        problem = (
            f"conversation_id inside metadata.json is not a string ({clip(written)}), so {SKIPS}"
        )
    why = _directory_is_the_id(written, address)
    if why is None:
        yield Issue(
            problem,
            f"if this directory is the conversation, set conversation_id to {address!r}; if "
            "the file was copied from another conversation, restore the right one",
        )
        return
    yield Issue(
        problem,
        f"--fix sets it to the directory name {address!r} ({why})",
        item.edit(f"set conversation_id to {address!r}", conversation_id=address),
    )


def _directory_is_the_id(written: Any, address: str) -> str | None:
    """Why the directory name is clearly the id to write into the file, or None when the
    file may belong to another conversation (copied), which only a person can tell.

    The directory name is the address OpenHands routes by; a value that names no other
    conversation cannot be a copy's.
    """
    if id_problem(address) is not None:
        return None  # the directory needs renaming first (files.invalid-id)
    if written is None:
        return "the file names no conversation"
    if not isinstance(written, str) or id_problem(written) is not None:
        return "the file's value is not an id, so it names no other conversation"
    if (parsed := parse_uuid(written)) is not None and parsed == parse_uuid(address):
        return "the same UUID, spelled differently"
    return None


def missing_created_at(item: FileItem, context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None or data.get("created_at") is not None:
        return
    if v1_twin(item.conversation_id, context) is not None:
        # OpenHands opens the V1 row for this id, so this copy hides nothing; that it is a
        # leftover copy is cross.v0-and-v1's to say, with what to do about it.
        return
    value, source = _creation_time(item, data)
    yield Issue(
        CREATED_AT_MISSING if "created_at" not in data else CREATED_AT_NULL,
        "--fix sets it from the file's modification time (or last_updated_at, if earlier)",
        item.edit(f"set created_at to {value} ({source})", created_at=value),
    )


def _creation_time(item: FileItem, data: dict[str, Any]) -> tuple[str, str]:
    modified = datetime.fromtimestamp(os.stat(item.path).st_mtime, UTC)
    updated = parse_timestamp(data.get("last_updated_at"))
    if updated is not None and updated < modified:
        return format_v0_datetime(updated), "its last_updated_at, earlier than the file's mtime"
    return format_v0_datetime(modified), "the file's modification time"


def required_field(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None:
        return
    for name, default in V0_DEFAULTS.items():
        if name in data and data[name] is None:
            yield Issue(
                f"{name} is null, so {SKIPS}",
                f"--fix sets it to {default!r}, the value OpenHands writes by default",
                item.edit(f"set {name} to {default!r}", **{name: default}),
            )
    if "selected_repository" not in data:
        yield Issue(
            f"selected_repository is missing; OpenHands requires the key (null is fine), "
            f"so {SKIPS}",
            "--fix adds it as null (no repository)",
            item.edit("add selected_repository: null", selected_repository=None),
        )


def invalid_field(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None:
        return
    numeric_user = _numeric(data.get("user_id"))
    skip = frozenset({"user_id"}) if numeric_user else frozenset()
    for sentence in invalid_fields(data, skip):
        yield Issue(
            f"{sentence}; {SKIPS}",
            f"correct {sentence.split(' ', 1)[0]} by hand, or remove the key so OpenHands "
            "uses its default",
        )


def unknown_value(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None:
        return
    for name, known in (("trigger", KNOWN_TRIGGERS), ("git_provider", KNOWN_GIT_PROVIDERS)):
        value = data.get(name)
        if isinstance(value, str) and value not in known:
            yield Issue(
                f"{name} {value!r} is not a value any OpenHands release knows, so {SKIPS}",
                f"set {name} to null or one of {', '.join(sorted(known))} "
                "(migrate-v0-to-v1 writes null and warns)",
            )


def numeric_user_id(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None or not _numeric(user := data.get("user_id")):
        return
    yield Issue(
        f"user_id is a number ({user}); OpenHands expects a string, so {SKIPS}",
        "--fix writes the same id as a string",
        item.edit(f"set user_id to {str(user)!r}", user_id=str(user)),
    )


def negative_usage(item: FileItem, _context: Context) -> Iterator[Issue]:
    data = item.data
    if data is None:
        return
    for name in ("accumulated_cost", *TOKEN_FIELDS):
        value = data.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            yield Issue(
                f"{name} is negative ({value}); OpenHands 1.x rejects negative usage and "
                "migrate-v0-to-v1 writes 0",
                f"correct {name} by hand if the true value is known",
            )


def _misencoded(raw: bytes) -> bool:
    """A byte order mark, UTF-16/32, or bytes that are not UTF-8: what decode reports first."""
    if raw.startswith(UTF8_BOM) or json.detect_encoding(raw) != "utf-8":
        return True
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _numeric(value: Any) -> bool:
    return type(value) is int


CHECKS: tuple[Check[FileItem], ...] = (
    Check(
        "files.symlink-outside",
        "warning",
        "a sessions/ entry is a symbolic link that leaves the file store",
        FileItem,
        symlink_outside,
        screened=True,
    ),
    Check(
        "files.unreadable",
        "error",
        "metadata.json cannot be read (permission, size, I/O)",
        FileItem,
        unreadable,
        screened=True,
    ),
    Check(
        "files.missing-metadata",
        "warning",
        "a conversation directory without metadata.json (and without events)",
        FileItem,
        missing_metadata,
        lookup=True,
    ),
    Check(
        "files.encoding",
        "error",
        "metadata.json is not plain UTF-8 (byte order mark, UTF-16, invalid bytes)",
        FileItem,
        encoding,
        screened=True,
        fixable=True,
    ),
    Check(
        "files.invalid-json",
        "error",
        "metadata.json is not a JSON object",
        FileItem,
        invalid_json,
        screened=True,
    ),
    Check(
        "files.invalid-id",
        "error",
        "the directory name is not an id OpenHands' API accepts",
        FileItem,
        invalid_id,
        screened=True,
    ),
    Check(
        "files.id-mismatch",
        "error",
        "conversation_id inside metadata.json differs from the directory name (--fix: where "
        "the file's is absent, not an id, or the same UUID spelled otherwise)",
        FileItem,
        id_mismatch,
        screened=True,
        fixable=True,
    ),
    Check(
        "files.missing-created-at",
        "error",
        "created_at missing or null: OpenHands hides the conversation (unless its V1 row exists)",
        FileItem,
        missing_created_at,
        screened=True,
        fixable=True,
        lookup=True,
    ),
    Check(
        "files.required-field",
        "error",
        "a field OpenHands requires is null or missing (pr_number, cost, tokens, repository)",
        FileItem,
        required_field,
        screened=True,
        fixable=True,
    ),
    Check(
        "files.invalid-field",
        "error",
        "a field has a value of the wrong type",
        FileItem,
        invalid_field,
        screened=True,
    ),
    Check(
        "files.unknown-value",
        "error",
        "trigger or git_provider outside every value OpenHands knows",
        FileItem,
        unknown_value,
        screened=True,
    ),
    Check(
        "files.numeric-user-id",
        "error",
        "user_id is a number (early 2025 files); OpenHands expects a string",
        FileItem,
        numeric_user_id,
        screened=True,
        fixable=True,
    ),
    Check(
        "files.negative-usage",
        "warning",
        "negative cost or token counts",
        FileItem,
        negative_usage,
        screened=True,
    ),
)
