"""Checks of the V0 file store: each ``sessions/<id>/`` prefix and its metadata.json.

The scan is the hot loop of ``verify``: one listing of ``sessions/``, then per
conversation one bounded read and one ``json.loads`` (``Objects.map_prefixes``: worker
processes on local disk, requests in flight on a bucket). A conversation's prefix is
listed only where that can find something: where metadata.json is missing (what is
there instead), and on local disk for the temporary files an interrupted write leaves
(a bucket's PUT leaves none, so no request). The checks look at the decoded dict with
plain tests; pydantic runs only on a value the type screen does not accept
(``fields``). Every sentence says what OpenHands does with the file, because that is
what an operator needs to weigh it.
"""

from __future__ import annotations

import functools
import json
import os
import re
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
from convstore.objects.base import Forbidden, OutOfStore, Read, Refused, View
from convstore.owners import owner_of
from convstore.quoting import clip
from convstore.stores import metadata_json
from convstore.stores.files import METADATA, SESSIONS, FileStore, reason
from convstore.stores.v0_scan import parses

SKIPS = "OpenHands skips this conversation"
_MINTED = re.compile(r"[0-9a-f]{32}")
_KNOWN = {"trigger": KNOWN_TRIGGERS, "git_provider": KNOWN_GIT_PROVIDERS}
_USAGE = frozenset({"accumulated_cost", *TOKEN_FIELDS})


@dataclass(slots=True)
class FileItem:
    """One directory under ``sessions/`` and what reading its metadata.json gave."""

    conversation_id: str  # the prefix's name: what OpenHands routes by
    directory: str  # where the prefix is; plain strings in the hot loop
    names: list[str] = field(default_factory=list)  # what it holds, when that was looked at
    raw: bytes | None = None
    # ``raw`` decoded. A worker process drops it before sending the item (a parsed dict
    # costs more to send than to parse again), and ``decoded`` parses again on demand:
    # only a file that failed the screen is ever looked at that closely.
    parsed: metadata_json.Decoded | None = None
    unreadable: str | None = None  # why metadata.json cannot be read
    escapes_to: Path | None = None  # a symbolic link out of the store, not followed
    healthy: bool = False  # passed the screen: no screened check can find anything
    path: str = ""  # where its metadata.json is
    version: str = ""  # of ``raw``: what a repair's write is conditional on
    modified: datetime | None = None  # when metadata.json was last written

    def __post_init__(self) -> None:
        if not self.path:
            self.path = f"{self.directory}/{METADATA}"

    @property
    def decoded(self) -> metadata_json.Decoded | None:
        if self.parsed is None and self.raw is not None:
            self.parsed = metadata_json.decode(self.raw)
        return self.parsed

    @decoded.setter
    def decoded(self, value: metadata_json.Decoded | None) -> None:
        self.parsed = value

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
        return SetFields(
            self.conversation_id, self.version, tuple(changes.items()), f"{what} in {self.path}"
        )


Subject = FileItem | Leftover | V0EventsDir | V0View


# Conversations per chunk a worker reads: a round trip's cost spread thin, and few
# subjects held per chunk in flight.
CHUNK = 1000


def scan(
    store: FileStore, context: Context, *, views: bool = True, workers: int | None = None
) -> Iterator[Subject]:
    """Every conversation prefix of ``sessions/`` and the leftovers beside it; with
    ``views``, a ``V0View`` of each readable conversation for the cross-store checks.

    In name order, whatever the number of processes: the store reads chunks of the
    listing in worker processes where that pays (``workers``: at most that many; None:
    as many as pay) and hands their subjects back in the order given.
    """
    objects = store.objects
    children = objects.children_of(SESSIONS)
    user = context.user
    for name in children.names:
        if name.startswith("."):
            hidden = leftover(
                objects.describe(SESSIONS),
                name,
                is_dir=True,
                conversation_id=None,
                lock=None,
            )
            if hidden is not None and (user is None or context.owned(recorded_owner(hidden.path))):
                yield hidden
    names = [name for name in children.names if not name.startswith(".")]
    count = objects.workers_for(
        min(len(names), 2 * parallel.MIN_ITEMS_PER_WORKER),
        store.workers if workers is None else workers,
    )
    reduce = functools.partial(inspect, user, views, store.directory is not None)
    for subjects in objects.map_prefixes(SESSIONS, names, reduce, workers=count, chunk=CHUNK):
        yield from subjects
    for name in children.linked:
        if not name.startswith("."):
            yield from reduce(objects.view(SESSIONS, name))


def inspect(user: str | None, views: bool, on_disk: bool, view: View) -> list[Subject]:
    """The subjects of one conversation prefix (in a worker, or here). ``on_disk``: the
    store is a directory (a bucket's prefixes are named by key)."""
    context = Context(user, 0.0, 0.0, None, None, None)  # only its scope is used here
    name = view.name
    item = FileItem(name, view.describe(), path=view.describe(METADATA))
    outcome = view.read(METADATA, limit=metadata_json.MAX_METADATA_BYTES, whole=parses)
    if isinstance(outcome, OutOfStore):
        if user is not None:
            return []  # whose it is would mean following it
        return [FileItem(name, outcome.link, escapes_to=Path(outcome.target))]
    found: list[Subject] = []
    if isinstance(outcome, Refused):
        item.unreadable = _unreadable(outcome)
    elif outcome is None:
        try:
            item.names = view.entries()
        except Refused as refused:
            item.unreadable = str(refused)
        else:
            if "events" in item.names:
                # no metadata: no owner to scope by
                if user is not None:
                    return []
                if on_disk:
                    return [V0EventsDir(name, Path(item.directory), None)]
                return [V0EventsDir(name, item.directory, None, prefix=f"{SESSIONS}/{name}")]
    elif isinstance(outcome, Read):
        item.raw, item.version, item.modified = outcome.data, outcome.version, outcome.modified
        item.decoded = metadata_json.decode(item.raw)
        item.healthy = healthy(item)
    data = item.data
    if user is not None:
        owner = None if data is None else owner_of(data.get("user_id"), data.get("github_user_id"))
        if not context.owned(owner):
            return []
    found.append(item)
    if views and data is not None:
        found.append(V0View(name, item.path, "files", data.get("last_updated_at")))
    for entry_name in view.leftovers():
        left = leftover(
            item.directory,
            entry_name,
            is_dir=False,
            conversation_id=name,
            lock=Path(item.directory),
        )
        if left is not None:
            found.append(left)
    item.parsed = None  # see FileItem.parsed
    return found


def _unreadable(refused: Refused) -> str:
    """Why metadata.json cannot be read, with what a person needs to act on it."""
    if isinstance(refused, Forbidden):
        detail = f" ({refused.detail})" if refused.detail else ""
        return f"metadata.json cannot be read by uid {os.geteuid()}: permission denied{detail}"
    return reason(refused)


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
        "restore metadata.json from a backup; or, if the conversation was deleted (an "
        f"interrupted delete leaves this), `convstore delete {item.conversation_id}` "
        "removes what remains",
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
            item.conversation_id,
            item.version,
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
    modified = item.modified or datetime.now(UTC)
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
