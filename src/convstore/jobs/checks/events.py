"""Checks of event directories: history with no conversation, and files 1.x would drop.

V0 events live in ``sessions/<id>/events/`` or ``users/<user>/conversations/<id>/events/``;
a directory there whose conversation has no metadata anywhere (no metadata.json, no
row in any form) is history no one can list or migrate. V1 events live in
``v1_conversations/<hex>/`` beside the file store and the SQLite database, per user
under ``users/<user>/`` or ``<user>/``; OpenHands 1.x deletes a row and leaves that
directory, and an interrupted migration writes one before its row. Each V1 file is
judged by ``convstore.events.validate``, the same rules the converter writes by.

In a bucket the same places are prefixes: the V0 layouts below the file store's root,
the V1 ones below ``users/[<user>/]v1_conversations/`` of the events bucket. A subject
found there carries its ``prefix`` and is read through the store's ``Objects``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from convstore.events.v0 import event_ids, object_event_ids
from convstore.events.v1_files import DirectoryStats, directory_stats, object_stats
from convstore.events.validate import Verdict, validate_event_bytes, validate_event_file
from convstore.jobs.checks.base import Check, Context, Issue, needs_sql, plural
from convstore.jobs.checks.leftovers import Leftover, directory_entries, leftover
from convstore.jobs.checks.lookup import forms
from convstore.objects.base import Objects
from convstore.stores.files import METADATA

V1_DIRECTORY = "v1_conversations"
_HEX_DIGITS = frozenset("0123456789abcdef")


@dataclass(frozen=True, slots=True)
class V0EventsDir:
    """A V0 conversation directory that holds ``events/`` (users layout, or sessions/
    without metadata.json)."""

    conversation_id: str
    directory: Path | str  # a path, or the prefix's URL
    user: str | None  # the <user> of users/<user>/conversations/, None under sessions/
    prefix: str | None = None  # its key prefix when the file store is a bucket

    @property
    def location(self) -> str:
        return str(self.directory)

    def lookup_ids(self) -> list[str]:
        return forms(self.conversation_id)

    def has_metadata(self, objects: Objects | None) -> bool:
        """Whether a metadata.json is beside its events."""
        if self.prefix is not None and objects is not None:
            return objects.head(f"{self.prefix}/{METADATA}") is not None
        return isinstance(self.directory, Path) and (self.directory / METADATA).exists()

    def event_count(self, objects: Objects | None) -> int:
        if self.prefix is not None and objects is not None:
            return len(object_event_ids(objects, f"{self.prefix}/events").events)
        return len(event_ids(Path(self.directory) / "events"))


@dataclass(slots=True)
class V1EventsDir:
    """One ``v1_conversations/<name>/`` directory."""

    directory: Path | str  # a path, or the prefix's URL
    owner: str | None  # the user of a per-user layout, None at the top level
    conversation_id: str | None  # dashed; None when the name is not 32 hex digits
    # In a bucket: the store and the prefix (``users/[<user>/]v1_conversations/<name>``).
    objects: Objects | None = None
    prefix: str = ""
    _verdicts: list[tuple[Path | str, Verdict]] | None = field(default=None, repr=False)

    @property
    def location(self) -> str:
        return str(self.directory)

    @property
    def name(self) -> str:
        """The directory's name: the conversation's hex id, if it is one."""
        return self.prefix.rsplit("/", 1)[-1] if self.objects else Path(self.directory).name

    def lookup_ids(self) -> list[str]:
        return [] if self.conversation_id is None else forms(self.conversation_id)

    def stats(self) -> DirectoryStats:
        if self.objects is not None:
            return object_stats(self.objects, self.prefix)
        return directory_stats(Path(self.directory))

    def flawed(self) -> list[tuple[Path | str, Verdict]]:
        """The files 1.x would drop or show wrongly (read once, kept only when flawed)."""
        if self._verdicts is None and self.objects is not None:
            self._verdicts = []
            objects, prefix = self.objects, self.prefix
            keys = [
                info.key
                for info in objects.walk(prefix)
                if "/" not in (name := info.key[len(prefix) + 1 :]) and not name.startswith(".")
            ]
            for key, found in zip(keys, objects.read_many(keys), strict=True):
                if found is None:
                    continue  # removed meanwhile
                verdict = validate_event_bytes(found.data, key[len(prefix) + 1 :])
                if verdict.errors or verdict.warnings:
                    self._verdicts.append((objects.describe(key), verdict))
        if self._verdicts is None:
            self._verdicts = []
            for entry in directory_entries(Path(self.directory)):
                if entry.name.startswith(".") or not entry.is_file(follow_symlinks=False):
                    continue
                verdict = validate_event_file(Path(entry.path))
                if verdict.errors or verdict.warnings:
                    self._verdicts.append((Path(entry.path), verdict))
        return self._verdicts


# Scanning


def scan_v0_users(root: Path, context: Context) -> Iterator[V0EventsDir | Leftover]:
    """``users/<user>/conversations/<id>/`` directories that hold events, and leftovers."""
    for user_entry in directory_entries(root / "users"):
        user = user_entry.name
        if not user_entry.is_dir(follow_symlinks=False) or not context.owned(user):
            continue
        conversations = Path(user_entry.path, "conversations")
        for entry in directory_entries(conversations):
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith("."):
                found = leftover(
                    conversations.as_posix(),
                    entry.name,
                    is_dir=True,
                    conversation_id=None,
                    lock=None,
                )
                if found is not None:
                    yield found
            elif os.path.isdir(os.path.join(entry.path, "events")):
                yield V0EventsDir(entry.name, Path(entry.path), user)


def scan_v0_user_objects(objects: Objects, context: Context) -> Iterator[V0EventsDir]:
    """``scan_v0_users`` of a file store in a bucket: ``users/<user>/conversations/<id>``
    prefixes with events (delimiter listings, one listing request per conversation)."""
    for user in objects.children("users"):
        if not context.owned(user):
            continue
        for name in objects.children(f"users/{user}/conversations"):
            prefix = f"users/{user}/conversations/{name}"
            if next(iter(objects.walk(f"{prefix}/events")), None) is not None:
                yield V0EventsDir(name, objects.describe(prefix), user, prefix=prefix)


def v1_roots(context: Context) -> list[tuple[Path, str | None]]:
    """Every ``v1_conversations`` directory beside the stores, with its layout's user."""
    bases: list[Path] = []
    roots: list[tuple[Path, str | None]] = []
    if context.events_root is not None:
        if context.events_root.name == V1_DIRECTORY:
            bases.append(context.events_root.parent)  # with its per-user layout
        else:
            roots.append((context.events_root.resolve(), None))
    if context.files is not None and context.files.directory is not None:
        bases.append(context.files.directory)
    if context.sql is not None and context.sql.sqlite_file is not None:
        bases.append(context.sql.sqlite_file.parent)
    for base in dict.fromkeys(path.resolve() for path in bases):
        roots.append((base / V1_DIRECTORY, None))
        for entry in directory_entries(base / "users"):
            roots.append((Path(entry.path, V1_DIRECTORY), entry.name))
        for entry in directory_entries(base):
            if entry.name not in ("users", "sessions", V1_DIRECTORY) and entry.is_dir(
                follow_symlinks=False
            ):
                roots.append((Path(entry.path, V1_DIRECTORY), entry.name))
    return [
        (root, owner)
        for root, owner in dict.fromkeys(roots)
        if root.is_dir() and (owner is None or context.owned(owner))
    ]


def scan_v1(context: Context) -> Iterator[V1EventsDir | Leftover]:
    if context.events_bucket is not None:
        yield from scan_v1_objects(context.events_bucket, context)
    for root, owner in v1_roots(context):
        for entry in directory_entries(root):
            name = entry.name
            if name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            conversation = _dashed(name)
            yield V1EventsDir(Path(entry.path), owner, conversation)
            for inner in directory_entries(Path(entry.path)):
                if inner.name.startswith("."):
                    found = leftover(
                        entry.path,
                        inner.name,
                        is_dir=False,
                        conversation_id=conversation,
                        lock=None,
                    )
                    if found is not None and _owned(owner, conversation, context):
                        yield found


def scan_v1_objects(objects: Objects, context: Context) -> Iterator[V1EventsDir]:
    """The V1 conversation prefixes of an events bucket: ``users/v1_conversations/<hex>``
    and ``users/<user>/v1_conversations/<hex>`` (delimiter listings; a bucket's PUT is
    whole, so no leftovers)."""
    roots: list[tuple[str, str | None]] = [(f"users/{V1_DIRECTORY}", None)]
    roots += [
        (f"users/{user}/{V1_DIRECTORY}", user)
        for user in objects.children("users")
        if user != V1_DIRECTORY and context.owned(user)
    ]
    for root, owner in roots:
        for name in objects.children(root):
            if name.startswith("."):
                continue
            prefix = f"{root}/{name}"
            directory = objects.describe(prefix)
            yield V1EventsDir(directory, owner, _dashed(name), objects=objects, prefix=prefix)


def _dashed(name: str) -> str | None:
    if len(name) != 32 or not set(name) <= _HEX_DIGITS:
        return None
    return f"{name[:8]}-{name[8:12]}-{name[12:16]}-{name[16:20]}-{name[20:]}"


def _owned(layout_owner: str | None, conversation: str | None, context: Context) -> bool:
    """A per-user layout is its user's; a top-level directory is its row's owner's."""
    if context.user is None or layout_owner is not None:
        return True
    row = context.known.v1_row(conversation) if conversation is not None else None
    return row is not None and context.owned(row.owner)


# The checks


def v0_without_metadata(item: V0EventsDir, context: Context) -> Iterator[Issue]:
    objects = None if context.files is None else context.files.objects
    if item.has_metadata(objects):
        return
    if context.files is not None and context.files.has_metadata(item.conversation_id):
        return
    if context.known.any_row(item.conversation_id) is not None:
        return
    count = item.event_count(objects)
    where = " or in the database" if context.sql is not None else ""
    yield Issue(
        f"{plural(count, 'event file')} but no metadata.json here, in sessions/{where}: "
        "OpenHands cannot list this conversation and migrate-v0-to-v1 cannot convert it",
        "restore its metadata.json from a backup (`convstore export` can still read the "
        "events), or remove the directory if the conversation was deleted",
    )


def v1_without_row(item: V1EventsDir, context: Context) -> Iterator[Issue]:
    if not _owned(item.owner, item.conversation_id, context):
        return  # under --user, a top-level directory without a row belongs to no one known
    if item.conversation_id is None:
        yield Issue(
            f"{item.name!r} is not a conversation's 32-digit hex id, so OpenHands "
            "never reads this directory",
            "rename it to the hex id of its conversation, or remove it if it is not one",
        )
        return
    if context.known.v1_row(item.conversation_id) is not None:
        return
    stats = item.stats()
    size = f"{plural(stats.names, 'file')}, {stats.bytes:,} bytes"
    hexadecimal = item.name
    source = context.known.v0_row(hexadecimal)
    migrating = source is not None or (
        context.files is not None and context.files.has_metadata(hexadecimal)
    )
    if migrating:
        yield Issue(
            f"events of V0 conversation {hexadecimal} ({size}) have no V1 row: a migration "
            "was interrupted before committing it",
            "run convstore migrate-v0-to-v1 again; it rewrites the same files and commits the row",
        )
        return
    yield Issue(
        f"no V1 row {item.conversation_id} for these events ({size}): OpenHands deleted the "
        "conversation and left its directory, so no one can see this history",
        "remove the directory to reclaim the space, or keep it as an archive",
    )


def v1_unreadable(item: V1EventsDir, context: Context) -> Iterator[Issue]:
    if not _owned(item.owner, item.conversation_id, context):
        return
    for path, verdict in item.flawed():
        if verdict.errors:
            yield Issue(
                f"OpenHands 1.x drops this event file: {'; '.join(verdict.errors)}",
                "restore it from a backup; if convstore wrote it, run migrate-v0-to-v1 again "
                "to rewrite it",
                location=str(path),
            )


def v1_misplaced(item: V1EventsDir, context: Context) -> Iterator[Issue]:
    if not _owned(item.owner, item.conversation_id, context):
        return
    for path, verdict in item.flawed():
        if verdict.warnings and not verdict.errors:
            yield Issue(
                f"OpenHands 1.x shows this event wrongly: {'; '.join(verdict.warnings)}",
                "rename the file to <event id hex>.json and write the timestamp as "
                "YYYY-MM-DDTHH:MM:SS.ffffff, naive UTC",
                location=str(path),
            )


V0_CHECKS: tuple[Check[V0EventsDir], ...] = (
    Check(
        "events.v0-without-metadata",
        "warning",
        "V0 event directories whose conversation has no metadata anywhere",
        V0EventsDir,
        v0_without_metadata,
        lookup=True,
    ),
)
V1_CHECKS: tuple[Check[V1EventsDir], ...] = (
    Check(
        "events.v1-without-row",
        "warning",
        "v1_conversations/<hex> directories with no V1 row",
        V1EventsDir,
        v1_without_row,
        lookup=True,
        applies=needs_sql,
    ),
    Check(
        "events.v1-unreadable",
        "error",
        "V1 event files OpenHands 1.x cannot read (and drops from view)",
        V1EventsDir,
        v1_unreadable,
        lookup=True,
    ),
    Check(
        "events.v1-misplaced",
        "warning",
        "V1 event files 1.x shows out of order or cannot fetch by id",
        V1EventsDir,
        v1_misplaced,
        lookup=True,
    ),
)
