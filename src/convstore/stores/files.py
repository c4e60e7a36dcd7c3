"""The V0 file store: ``<root>/sessions/<id>/metadata.json``, one directory per conversation.

OpenHands lists this store by reading every file for every page. convstore scans it
once per listing, keeping only each conversation's sort key and filter fields
(``Summary``), then reads in full just the records it yields. The directory name is
the conversation's address: it is what OpenHands routes by, and what rename and
delete act on. Nothing here follows a symbolic link out of the store.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from convstore.errors import ConvstoreError, StoreUnavailable
from convstore.fsutil import atomic_write, locked_directory, tree_size
from convstore.ids import id_problem
from convstore.model import (
    ConversationMetadata,
    Store,
    Version,
    format_v0_datetime,
    parse_timestamp,
)
from convstore.stores import metadata_json
from convstore.stores.base import Query, Removal, changed_since_read, comes_after, position

METADATA = "metadata.json"
# A deleted conversation is first renamed to this hidden prefix, then removed, so a
# crash never leaves half a conversation visible; `verify` reports leftovers.
DELETING_PREFIX = ".deleting-"


@dataclass(slots=True)
class Summary:
    """What a listing needs of one file: its filter fields and sort values."""

    conversation_id: str
    user_id: str | None = None
    title: str | None = None
    selected_repository: str | None = None
    trigger: str | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    version: Version = "V0"
    execution_status: str | None = None
    org_id: str | None = None
    parent_conversation_id: str | None = None


def summarize(address: str, data: dict[str, Any] | None) -> Summary:
    """The listing fields of a decoded file, read exactly as the full model reads them."""
    if data is None:
        return Summary(address)
    user_id = data.get("user_id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        user_id = str(user_id)
    return Summary(
        address,
        user_id=_text(user_id),
        title=_text(data.get("title")),
        selected_repository=_text(data.get("selected_repository")),
        trigger=_text(data.get("trigger")),
        created_at=parse_timestamp(data.get("created_at")),
        last_updated_at=parse_timestamp(data.get("last_updated_at")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def fingerprint(raw: bytes) -> str:
    return hashlib.blake2b(raw, digest_size=16).hexdigest()


class FileStore:
    """V0 conversations as directories under ``<root>/sessions``."""

    name: Store = "files"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sessions = root / "sessions"
        self._real_root = root.resolve()

    # Reading

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        if query.version == "V1":
            return
        sort, after = query.sort, query.after
        # Only the positions are kept (memory grows by sort keys, not records); the few
        # records a page shows are read again in full.
        keys = []
        for address, data in self._scan():
            summary = summarize(address, data)
            if query.matches(summary):
                key = position(sort, sort.value_of(summary), address, self.name)
                if after is None or comes_after(sort, key, after):
                    keys.append(key)
        keys.sort(reverse=sort.descending)
        for key in keys:
            record = self.get(key.conversation_id)
            if record is not None:
                yield record

    def records(self) -> Iterator[ConversationMetadata]:
        """Every conversation in directory order, each file read once (for batch jobs)."""
        for entry in self._entries():
            record = self.get(entry.name)
            if record is not None:
                yield record

    def addresses(self) -> Iterator[str]:
        """Names under sessions/ that may be conversations (hidden names never are)."""
        return (entry.name for entry in self._entries())

    def _scan(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Every conversation directory and its decoded metadata (None when unreadable).

        The hot loop of every listing: plain strings and scandir's cached types, no
        Path objects, one open and one read per file.
        """
        for entry in self._entries():
            if entry.is_symlink() and self._escapes(Path(entry.path)):
                yield entry.name, None
                continue
            try:
                raw = _read_bounded(entry.path + "/" + METADATA)
            except (OSError, _TooLarge):
                yield entry.name, None
                continue
            if raw is not None:
                yield entry.name, metadata_json.decode(raw).data

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        try:
            entries = os.scandir(self.sessions)
        except FileNotFoundError:
            return
        except OSError as error:
            raise StoreUnavailable(f"cannot list {self.sessions}: {error.strerror}") from error
        with entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_dir():
                    yield entry

    def get(
        self, conversation_id: str, version: Version | None = None
    ) -> ConversationMetadata | None:
        # A hidden name is never a conversation (a half-deleted ".deleting-" directory),
        # and "." is sessions/ itself: deleting it would take every conversation.
        if version == "V1" or id_problem(conversation_id) is not None:
            return None
        if conversation_id.startswith("."):
            return None
        directory = self.sessions / conversation_id
        path = directory / METADATA
        location = str(path)
        if self._escapes(directory):
            return ConversationMetadata.unreadable(
                conversation_id,
                store=self.name,
                version="V0",
                location=location,
                problems=[f"{directory} is a symbolic link out of the file store; not followed"],
            )
        try:
            raw = _read_bounded(path)
        except _TooLarge as error:
            return self._unreadable(conversation_id, location, str(error))
        except PermissionError:
            return self._unreadable(
                conversation_id, location, "metadata.json is not readable (permission denied)"
            )
        except OSError as error:
            return self._unreadable(
                conversation_id, location, f"metadata.json cannot be read: {error.strerror}"
            )
        if raw is None:
            return None
        decoded = metadata_json.decode(raw)
        if decoded.data is None:
            record = self._unreadable(conversation_id, location, *decoded.problems)
        else:
            record = ConversationMetadata.from_source(
                decoded.data,
                store=self.name,
                version="V0",
                location=location,
                address=conversation_id,
                problems=decoded.problems,
            )
        return record.with_token(fingerprint(raw))

    def _unreadable(self, address: str, location: str, *problems: str) -> ConversationMetadata:
        return ConversationMetadata.unreadable(
            address, store=self.name, version="V0", location=location, problems=list(problems)
        )

    def _escapes(self, directory: Path) -> bool:
        """True when a session directory is a symbolic link that leaves the store."""
        try:
            if not directory.is_symlink():
                return False
        except PermissionError as error:  # the directory above it cannot be searched
            raise StoreUnavailable(f"cannot read {directory.parent}: permission denied") from error
        return not directory.resolve().is_relative_to(self._real_root)

    def disk_usage(self, record: ConversationMetadata) -> int:
        """Bytes of the conversation's directories (metadata, events, the user's copy)."""
        return sum(tree_size(path) for path in self._directories(record))

    def _directories(self, record: ConversationMetadata) -> list[Path]:
        """Every directory that belongs to one V0 conversation, inside the store.

        Its events may be under users/<user>/conversations/<id>: only its own user's
        (any user's when the record names none), and never through a link out of users/.
        """
        address = record.conversation_id
        found = [self.sessions / address]
        users = self.root / "users"
        with contextlib.suppress(OSError):
            real_users = users.resolve()
            for user in os.scandir(users):
                if record.user_id is not None and user.name != record.user_id:
                    continue
                candidate = Path(user.path) / "conversations" / address
                if (
                    user.is_dir(follow_symlinks=False)
                    and candidate.is_dir()
                    and candidate.resolve().is_relative_to(real_users)
                ):
                    found.append(candidate)
        return [path for path in found if path.exists() and not self._escapes(path)]

    # Writing

    def update(self, record: ConversationMetadata, changes: dict[str, Any]) -> ConversationMetadata:
        directory = self._writable_directory(record)
        path = directory / METADATA
        with self._locked(directory, record):
            raw = _read_to_write(path, "rewrite")
            if raw is None or fingerprint(raw) != record.token:
                raise changed_since_read(record)
            decoded = metadata_json.decode(raw)
            if decoded.data is None or decoded.problems:
                raise ConvstoreError(
                    f"refusing to rewrite {path}: {'; '.join(decoded.problems)} "
                    "(fix the file by hand; convstore never overwrites what it cannot read)"
                )
            data = dict(decoded.data)
            data.update(
                (name, format_v0_datetime(value) if isinstance(value, datetime) else value)
                for name, value in changes.items()
            )
            atomic_write(path, metadata_json.encode_like(raw, decoded.data, data), path.stat())
        updated = self.get(record.conversation_id)
        if updated is None:
            raise changed_since_read(record)
        return updated

    def plan_removal(self, record: ConversationMetadata) -> Removal:
        directory = self.sessions / record.conversation_id
        if self._escapes(directory):
            return Removal(
                record,
                blockers=[
                    f"{directory} is a symbolic link to {directory.resolve()}, outside the "
                    "file store; convstore does not delete through it (remove the link by hand)"
                ],
            )
        paths = self._directories(record)
        return Removal(record, paths=paths, bytes_on_disk=sum(tree_size(p) for p in paths))

    def remove(self, removal: Removal) -> None:
        record = removal.record
        directory = self._writable_directory(record)
        with self._locked(directory, record):
            raw = _read_to_write(directory / METADATA, "delete")
            if raw is None or fingerprint(raw) != record.token:
                raise changed_since_read(record)
            # Hide every directory first (one rename each), then delete at leisure.
            hidden: list[tuple[Path, Path]] = []
            try:
                for path in removal.paths:
                    hidden.append((path, _hide(path)))
            except OSError as error:
                # All or nothing: a conversation half hidden would vanish from listings
                # while the command reports a failure.
                for original, hiding in reversed(hidden):
                    hiding.rename(original)
                raise StoreUnavailable(
                    f"cannot delete {path}: {error.strerror}; nothing was deleted"
                ) from error
        for _, hiding in hidden:
            shutil.rmtree(hiding, ignore_errors=True)

    def _writable_directory(self, record: ConversationMetadata) -> Path:
        directory = self.sessions / record.conversation_id
        if self._escapes(directory):
            raise ConvstoreError(
                f"{directory} is a symbolic link out of the file store; convstore does not "
                "write through it"
            )
        return directory

    @contextlib.contextmanager
    def _locked(self, directory: Path, record: ConversationMetadata) -> Iterator[None]:
        try:
            with locked_directory(directory):
                yield
        except FileNotFoundError as error:
            raise changed_since_read(record) from error
        except PermissionError as error:
            raise StoreUnavailable(f"cannot write {directory}: permission denied") from error

    def close(self) -> None:
        """Nothing to release: every file is opened and closed per call."""


class _TooLarge(Exception):
    pass


def _read_bounded(path: str | Path) -> bytes | None:
    """The file's bytes, None when it does not exist.

    Refuses what cannot be metadata before reading it: a file larger than
    MAX_METADATA_BYTES, or something that is not a regular file (a FIFO or a link to
    /dev/zero would never end). The read is sized by the file, not by the bound: a
    1 MiB buffer per file would cost more than reading the file.
    """
    limit = metadata_json.MAX_METADATA_BYTES
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise _TooLarge("metadata.json is a symbolic link; convstore does not follow it") from None
    with open(descriptor, "rb") as stream:
        status = os.fstat(stream.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise _TooLarge("metadata.json is not a regular file; it is not metadata")
        if status.st_size > limit:
            raise _TooLarge(
                f"metadata.json is {status.st_size:,} bytes, more than the {limit:,} "
                "convstore reads; it is not metadata"
            )
        raw = stream.read()  # sized by fstat: one allocation the size of the file
    if len(raw) > limit:
        raise _TooLarge(f"metadata.json grew past the {limit:,} bytes convstore reads")
    return raw


def _read_to_write(path: Path, action: str) -> bytes | None:
    """``_read_bounded`` for a writer: what is not metadata is refused, and not touched."""
    try:
        return _read_bounded(path)
    except _TooLarge as error:
        raise ConvstoreError(
            f"refusing to {action} {path}: {error} (deal with it by hand; convstore never "
            "overwrites or deletes what it cannot read)"
        ) from error


def _hide(path: Path) -> Path:
    hidden = path.with_name(f"{DELETING_PREFIX}{path.name}-{secrets.token_hex(4)}")
    path.rename(hidden)
    return hidden
