"""The V0 file store: ``<root>/sessions/<id>/metadata.json``, one directory per conversation.

OpenHands lists this store by reading every file for every page. convstore keeps, of
each conversation, only its sort key and filter fields (``v0_scan.Entry``): read from
the files (on every core where that pays) or, with the V0 index cache, only from the
files that changed since the last run (``v0_cache``). It reads in full just the
records it yields. The directory name is the conversation's address: it is what
OpenHands routes by, and what rename and delete act on. Nothing here follows a
symbolic link out of the store.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from convstore import parallel
from convstore.errors import Conflict, ConvstoreError, StoreUnavailable
from convstore.fsutil import tree_size
from convstore.ids import id_problem
from convstore.model import ConversationMetadata, Store, Version, format_v0_datetime
from convstore.stores import metadata_json, v0_order, v0_swap
from convstore.stores.base import Query, Removal, changed_since_read
from convstore.stores.base import fingerprint as fingerprint  # the name other modules use
from convstore.stores.v0_cache import CacheUnavailable, Manifest, V0Cache
from convstore.stores.v0_scan import METADATA as METADATA  # the name other modules use
from convstore.stores.v0_scan import (
    RACY_WINDOW_NS,
    Entry,
    Refused,
    read_entry,
    read_metadata,
    scan_chunk,
    stat_all,
)

# The clock the racy window is measured by (tests move it).
now_ns = time.time_ns
# A deleted conversation is first renamed to this hidden prefix, then removed, so a
# crash never leaves half a conversation visible; `verify` reports leftovers.
DELETING_PREFIX = ".deleting-"


class FileStore:
    """V0 conversations as directories under ``<root>/sessions``."""

    name: Store = "files"

    def __init__(
        self, root: Path, *, cache: V0Cache | None = None, workers: int | None = None
    ) -> None:
        """``cache``: the V0 index cache listings use (None: read every file each time).
        ``workers``: at most this many processes read files in a listing (None: as many
        as the cores and the store's size make worth it; 1: this process only)."""
        self.root = root
        self.sessions = root / "sessions"
        self._real_root = root.resolve()
        self.cache = cache
        self.workers = workers

    # Reading

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        if not v0_order.can_match(query):
            return
        for address in self._ordered(query):
            record = self.get(address)
            if record is not None:
                yield record

    def _ordered(self, query: Query) -> Iterator[str]:
        """The addresses of the matching conversations, in listing order.

        Only keys are kept (memory grows by sort keys, not records); the few records a
        page shows are read again in full.
        """
        found = self._directory()
        if not found.names and not found.odd:
            # No sessions/ (a 1.x-only install) or an empty one: nothing to read, and no
            # cache file to keep for it.
            return iter(())
        trust_before = found.started_ns - RACY_WINDOW_NS
        odd = self._read_odd(found.odd, trust_before)
        readable = found.names
        if self.cache is not None:
            stats = stat_all(str(self.sessions), found.names, self.workers)
            odd += self._read_odd(stats.odd, trust_before)
            readable = stats.addresses
            manifest = Manifest(stats.addresses, stats.signatures)
            try:
                listing = self.cache.listing(
                    manifest, query, lambda names: self._parse(names, trust_before)
                )
            except CacheUnavailable:
                pass  # the cache said why, if it is worth saying; the files are the truth
            else:
                extra = v0_order.keys(query, [odd, listing.extras])
                return (key[2] for key in v0_order.merged(query.sort, listing.keys, extra))
        return (key[2] for key in self._keys(readable, odd, query))

    def _directory(self) -> _Directory:
        """One pass over sessions/: conversation directories by name, the odd ones apart."""
        found = _Directory(now_ns())
        for entry in self._entries():
            name = entry.name
            if entry.is_symlink() or not _storable(name):
                found.odd.append(name)
            else:
                found.names.append(name)
        found.names.sort()
        return found

    def _keys(self, names: list[str], odd: list[Entry], query: Query) -> list[v0_order.Key]:
        """Every file read (on as many cores as pay), only the keys of matches kept."""
        workers = parallel.workers_for(len(names), self.workers)
        chunks = parallel.chunked(names, workers)
        sessions = str(self.sessions)
        calls = ((sessions, chunk, query) for chunk in chunks)
        found = v0_order.keys(query, [odd])
        for chunk, keyed in zip(
            chunks, parallel.ordered_map(v0_order.key_chunk, calls, workers), strict=True
        ):
            found.extend((flag, value, chunk[index]) for flag, value, index in keyed)
        found.sort(reverse=query.sort.descending)
        return found

    def _parse(self, names: Sequence[str], trust_before_ns: int) -> Iterator[list[Entry]]:
        """Entries of ``names`` in their order, a chunk at a time, on as many cores as pay."""
        workers = parallel.workers_for(len(names), self.workers)
        sessions = str(self.sessions)
        calls = [(sessions, chunk, trust_before_ns) for chunk in parallel.chunked(names, workers)]
        return parallel.ordered_map(scan_chunk, calls, workers)

    def _read_odd(self, names: list[str], trust_before_ns: int) -> list[Entry]:
        """Entries of directories read in this process and never cached: links (not
        followed out of the store), names SQLite cannot hold, files stat refused."""
        found = []
        for name in names:
            directory = os.path.join(self.sessions, name)
            if self._escapes(Path(directory)):
                found.append(Entry(name, None))
                continue
            entry = read_entry(name, directory + "/" + METADATA, None, trust_before_ns)
            if entry is not None:
                found.append(entry._replace(signature=None))
        return found

    def records(
        self, located: Iterable[tuple[str, bool]] | None = None
    ) -> Iterator[ConversationMetadata]:
        """Every conversation in directory order, each file read once (for batch jobs);
        or those of ``located``, a share of what ``located()`` gave."""
        for address, is_link in self.located() if located is None else located:
            record = self._load(address, is_link)
            if record is not None:
                yield record

    def count_up_to(self, limit: int) -> int:
        """How many conversation directories there are, counting no further than
        ``limit``: enough to decide whether a scan is worth spreading over processes."""
        return sum(1 for _ in itertools.islice(self._entries(), limit))

    def located(self) -> Iterator[tuple[str, bool]]:
        """Each conversation directory's address, and whether it is a symbolic link."""
        for entry in self._entries():
            if id_problem(entry.name) is None:
                yield entry.name, entry.is_symlink()

    def addresses(self) -> Iterator[str]:
        """Names under sessions/ that may be conversations (hidden names never are)."""
        return (entry.name for entry in self._entries())

    def _entries(self) -> Iterator[os.DirEntry[str]]:
        with self.session_entries() as entries:
            for entry in entries:
                if not entry.name.startswith(".") and entry.is_dir():
                    yield entry

    @contextlib.contextmanager
    def session_entries(self) -> Iterator[Iterator[os.DirEntry[str]]]:
        """Every entry of sessions/, hidden ones too (none when it does not exist);
        StoreUnavailable, in one line, when it cannot be listed."""
        try:
            entries = os.scandir(self.sessions)
        except FileNotFoundError:
            yield iter(())
            return
        except OSError as error:
            raise StoreUnavailable(f"cannot list {self.sessions}: {error.strerror}") from error
        with entries:
            yield entries

    def get(
        self, conversation_id: str, version: Version | None = None
    ) -> ConversationMetadata | None:
        # A hidden name is never a conversation (a half-deleted ".deleting-" directory),
        # and "." is sessions/ itself: deleting it would take every conversation.
        if version == "V1" or id_problem(conversation_id) is not None:
            return None
        if conversation_id.startswith("."):
            return None
        return self._load(conversation_id)

    def _load(self, address: str, is_link: bool | None = None) -> ConversationMetadata | None:
        """The record of a valid address; ``is_link`` when the caller already knows.

        Plain strings, not Path objects: batch jobs load every conversation through here.
        """
        directory = os.path.join(self.sessions, address)
        location = directory + "/" + METADATA
        if (is_link is None or is_link) and self._escapes(Path(directory)):
            return ConversationMetadata.unreadable(
                address,
                store=self.name,
                version="V0",
                location=location,
                problems=[f"{directory} is a symbolic link out of the file store; not followed"],
            )
        try:
            found = read_metadata(location)
        except Refused as error:
            return self._unreadable(address, location, str(error))
        except PermissionError:
            return self._unreadable(
                address, location, "metadata.json is not readable (permission denied)"
            )
        except OSError as error:
            return self._unreadable(
                address, location, f"metadata.json cannot be read: {error.strerror}"
            )
        if found is None:
            return None
        raw = found[1]
        decoded = metadata_json.decode(raw)
        if decoded.data is None:
            record = self._unreadable(address, location, *decoded.problems)
        else:
            record = ConversationMetadata.from_source(
                decoded.data,
                store=self.name,
                version="V0",
                location=location,
                address=address,
                problems=decoded.problems,
            )
        return record.with_token(fingerprint(raw))

    @staticmethod
    def unread(record: ConversationMetadata) -> bool:
        """True for a V0 record made without its file's bytes (permission denied, a link
        out of the store, not a regular file): one read from bytes carries their
        fingerprint as its token, even when they are not valid metadata."""
        return record.store == "files" and not record.token

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

    # Writing: each change is a compare-and-swap against what was read (``v0_swap``)

    def update(self, record: ConversationMetadata, changes: dict[str, Any]) -> ConversationMetadata:
        directory = self._writable_directory(record)
        path = directory / METADATA
        with self._unchanged(directory, record, "rewrite") as raw:
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
            v0_swap.replace(path, raw, metadata_json.encode_like(raw, decoded.data, data))
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
        # Hide every directory first (one rename each), then delete at leisure. The
        # session directory goes first, as a compare-and-swap: once hidden, it is out of
        # OpenHands' reach, and its metadata.json must still be what was read.
        hidden: list[tuple[Path, Path]] = []
        with self._unchanged(directory, record, "delete") as raw:
            others = [path for path in removal.paths if path != directory]
            path = directory
            try:
                hiding = _hiding_name(directory)
                v0_swap.move(directory, hiding, raw)
                hidden.append((directory, hiding))
                for path in others:
                    hiding = _hiding_name(path)
                    path.rename(hiding)
                    hidden.append((path, hiding))
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

    def move(self, record: ConversationMetadata, destination: Path) -> None:
        """Move the conversation's directory to ``destination`` (`migrate-v0-to-v1 --after
        archive`), if it is still as read; Conflict otherwise, with nothing moved."""
        directory = self._writable_directory(record)
        with self._unchanged(directory, record, "move") as raw:
            try:
                v0_swap.move(directory, destination, raw)
            except OSError as error:
                raise StoreUnavailable(
                    f"cannot move {directory} to {destination}: {error.strerror}"
                ) from error

    def _writable_directory(self, record: ConversationMetadata) -> Path:
        directory = self.sessions / record.conversation_id
        if self._escapes(directory):
            raise ConvstoreError(
                f"{directory} is a symbolic link out of the file store; convstore does not "
                "write through it"
            )
        return directory

    @contextlib.contextmanager
    def _unchanged(
        self, directory: Path, record: ConversationMetadata, action: str
    ) -> Iterator[bytes]:
        """``v0_swap.unchanged`` with its failures as the errors a command reports: a
        change behind convstore's back (within the block too) is a Conflict."""
        try:
            with v0_swap.unchanged(directory, record.token) as raw:
                yield raw
        except v0_swap.Changed as error:
            if error.kept_at is not None:  # not moved back: say where it is
                raise Conflict(f"{changed_since_read(record)}; {error}") from error
            raise changed_since_read(record) from error
        except Refused as error:
            raise ConvstoreError(
                f"refusing to {action} {directory / METADATA}: {error} (deal with it by hand; "
                "convstore never overwrites or deletes what it cannot read)"
            ) from error
        except PermissionError as error:
            raise StoreUnavailable(f"cannot write {directory}: permission denied") from error

    def close(self) -> None:
        """Nothing to release: every file is opened and closed per call."""


@dataclass
class _Directory:
    """What one pass over sessions/ found."""

    started_ns: int  # before the first stat: the racy window is measured from here
    names: list[str] = field(default_factory=list)  # sorted
    odd: list[str] = field(default_factory=list)


def _storable(name: str) -> bool:
    """True when SQLite can hold the name as text and orders it as Python does: a name
    that is not UTF-8 (read with surrogate escapes) is neither."""
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _hiding_name(path: Path) -> Path:
    return path.with_name(f"{DELETING_PREFIX}{path.name}-{secrets.token_hex(4)}")
