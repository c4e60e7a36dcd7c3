"""The V0 file store: ``sessions/<id>/metadata.json``, one prefix per conversation, wherever
the store is: a directory, an S3 bucket, a GCS bucket (``convstore.objects``).

This module states the V0 store's rules once, for every place: which names are
conversations, how a metadata.json becomes a record (and what is wrong with it), what a
rename writes, what a deletion removes and in which order. Where the files are is the
``Objects`` below it, which never lets it ask: local disk and buckets answer the same
questions, each its fastest way (worker processes and a directory descriptor on local
disk, requests in flight on a bucket; see ``objects.base``).

OpenHands lists this store by reading every file for every page. convstore keeps, of
each conversation, only its sort key and filter fields (``v0_scan.Entry``): read from
the files or, with the V0 index cache, only from those that changed since the last run
(``v0_cache``: on local disk a stat tells which, on a bucket a conditional read does;
a listing on fields set at creation takes a bucket's cached entries as they are and
confirms those it shows: ``creation_fields``, ``v0_checked``). It reads in full just
the records it yields; a whole-store listing keeps those it read in the cache, and the
next one shows the records of unchanged files from there (``v0_cache.Kept``). The
prefix's name is the conversation's address: what OpenHands routes by, and what rename
and delete act on. Nothing is read or deleted through a symbolic link out of the store.
``stats`` goes through the same cache, which also keeps each conversation's figures
(``totals``; ``counted`` without it).

A change is a compare-and-swap against the bytes a record was read from (its token is
their version): ``Objects.write_if_unchanged`` for a rewrite, ``delete_trees`` guarded
by metadata.json for a deletion (metadata.json first, so a conversation leaves listings
in one step), ``move_tree`` likewise for an archive. A deletion cut short leaves objects
without metadata.json: the conversation's *remains*, which `verify` reports and a
`delete` of its id removes.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from convstore.errors import Conflict, ConvstoreError, StoreUnavailable
from convstore.ids import id_problem
from convstore.model import (
    PACKED_SHAPE,
    ConversationMetadata,
    Store,
    Version,
    format_v0_datetime,
)
from convstore.objects.base import (
    Forbidden,
    Linked,
    NotRegular,
    Objects,
    Outcome,
    OutOfStore,
    Read,
    Refused,
    Signatures,
    TooLarge,
    Unchanged,
)
from convstore.record_text import FORMATS
from convstore.stores import metadata_json, v0_order
from convstore.stores.base import Query, Removal, changed_since_read
from convstore.stores.base import fingerprint as fingerprint  # the name other modules use
from convstore.stores.creation_fields import only_creation_fields
from convstore.stores.v0_cache import (
    CacheUnavailable,
    Counted,
    Grouping,
    Kept,
    Manifest,
    Totals,
    V0Cache,
)
from convstore.stores.v0_checked import Checked, checked
from convstore.stores.v0_scan import METADATA as METADATA  # the name other modules use
from convstore.stores.v0_scan import Entry, entry_from, entry_read, parses

T = TypeVar("T")

SESSIONS = "sessions"
USERS = "users"
ARCHIVE = "sessions-migrated"  # where migrate-v0-to-v1 --after archive moves conversations
# What a record of a conversation's remains says: objects without metadata.json.
REMAINS = (
    "metadata.json is gone but other files of the conversation remain (an interrupted "
    "delete, or a conversation never saved); `convstore delete` of its id removes them"
)
# Entries written to the cache per transaction, when a listing reads files for it.
PARSE_CHUNK = 5000
# A listing reads this many records one by one before it reads the rest as a batch: more
# than a page, so a page never starts a worker; little beside a whole store.
READ_HERE = 1000
# Records per call to a worker when a listing reads them as a batch (about 1 MB of them).
STREAM_CHUNK = 1000
# What ``stats`` makes of one read of a metadata.json (``v0_cache.Counted``); None when
# there is none; UNCHANGED passed on. A module-level function or a partial of one: worker
# processes run it.
CountReduce = Callable[[str, Outcome], Counted | Unchanged | None]


@dataclass
class Ordered:
    """The addresses of a listing, in order; and the scan of the cache it was listed
    through (None: listed from the files), which says which kept records are current."""

    addresses: Iterator[str]
    scan: Manifest | None = None


class FileStore:
    """V0 conversations as prefixes ``sessions/<id>/`` of a directory or bucket."""

    name: Store = "files"

    def __init__(
        self,
        objects: Objects | Path,
        *,
        cache: V0Cache | None = None,
        workers: int | None = None,
    ) -> None:
        """``objects``: where the files are (a path: that directory). ``cache``: the V0
        index cache listings use (None: read every file each time). ``workers``: at
        most this many processes read files in a batch (None: as many as the cores and
        the store's size make worth it; 1: this process only)."""
        if isinstance(objects, Path):
            from convstore.objects.local import LocalObjects

            objects = LocalObjects(objects)
        self.objects = objects
        self.cache = cache
        self.workers = workers
        self._batch_listing: tuple[list[str], list[str]] | None = None  # ``located``

    @property
    def location(self) -> str:
        return self.objects.location

    @property
    def directory(self) -> Path | None:
        """The store's directory on local disk (None: a bucket), for the event code, which
        reads a directory through paths (fast, in worker processes) and a bucket through
        ``Objects``."""
        return self.objects.directory

    # Listing

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        """The matching records in listing order. A page's few records are read here, one
        by one; past ``READ_HERE`` (a whole-store listing) the rest are read as a batch
        is, on every core or with requests in flight, ``STREAM_CHUNK`` at a time, so
        memory holds a few chunks of records and the addresses, never the store. A
        listing chosen from a bucket's cache reads windows of them (``v0_checked``)."""
        if not v0_order.can_match(query):
            return
        names, odd = self._shown()
        ordered = self._ordered(query, names, odd)
        if isinstance(ordered, Checked):  # read already, each as it is now
            yield from checked(query, ordered.keys, self._read_chosen, ordered.correct)
            return
        for address in itertools.islice(ordered.addresses, READ_HERE):
            if (record := self.get(address)) is not None:
                yield record
        rest = list(ordered.addresses)
        if not rest:
            return
        kept = None
        if ordered.scan is not None and self.cache is not None:
            kept = self.cache.kept(ordered.scan, PACKED_SHAPE)
        try:
            yield from self._streamed(rest, set(odd), kept)
        finally:
            if kept is not None:
                kept.close()

    def _streamed(
        self, addresses: list[str], alone: set[str], kept: Kept | None
    ) -> Iterator[ConversationMetadata]:
        """The records of ``addresses``, in order: those ``kept`` holds of unchanged files
        from there, the others read as a batch, ``STREAM_CHUNK`` at a time, and kept for
        the next listing. ``alone``: links, read through the store's rule for them."""
        usable = set() if kept is None else kept.usable()
        batch = self.objects.map_reads(
            SESSIONS,
            [address for address in addresses if address not in alone and address not in usable],
            METADATA,
            functools.partial(_pickled_record_from, self.objects, kept is not None),
            limit=metadata_json.MAX_METADATA_BYTES,
            workers=self.workers,
            whole=parses,
            chunk=STREAM_CHUNK,
        )
        for start in range(0, len(addresses), STREAM_CHUNK):
            chunk = addresses[start : start + STREAM_CHUNK]
            stored = {} if kept is None else kept.fetch([a for a in chunk if a in usable])
            read: list[tuple[str, bytes, bytes]] = []
            for address in chunk:
                record: ConversationMetadata | None
                if address in alone or (address in usable and address not in stored):
                    record = self.get(address)  # a link; or kept, replaced since
                elif address in usable:
                    record = _unpickled(stored[address])
                elif (found := next(batch)) is None:
                    continue  # gone
                else:
                    signature, pickled = found
                    if signature is not None:
                        read.append((address, signature, pickled))
                    record = _unpickled(pickled)
                if record is not None:
                    yield record
            if kept is not None:
                kept.keep(read)

    def _ordered(self, query: Query, names: list[str], odd: list[str]) -> Ordered | Checked:
        """The addresses of the matching conversations of ``_conversations()``, in listing
        order; or, chosen from the cache on a bucket, their keys, which the records read
        must confirm (``v0_checked``). Only keys are kept (memory grows by sort keys, not
        records)."""
        if not names and not odd:
            # No sessions/ (a 1.x-only install) or an empty one: nothing to read, and no
            # cache file to keep for it.
            return Ordered(iter(()))
        extras = self._one_by_one(odd)
        if self.cache is not None:
            listing = self._cached(names, extras, query)
            if listing is not None:
                return listing
        found = v0_order.keys(query, [extras])
        reduce = v0_order.key_reducer(query)
        for name, key in zip(names, self._map(names, reduce), strict=True):
            if key is not None:
                found.append((*key, name))
        found.sort(reverse=query.sort.descending)
        return Ordered(key[2] for key in found)

    def _cached(
        self, names: list[str], extras: list[Entry], query: Query
    ) -> Ordered | Checked | None:
        """The listing through the cache, or None when it cannot be used. On a store with
        cheap signatures (local disk) the cache compares them with its own and reads
        again what differs; a cold cache has none, and every file is read as on a
        bucket (the read gives the signature). On a bucket, a query on fields set at
        creation takes the cache's entries as they are (``creation_fields``; the records
        shown are read and confirm them: ``v0_checked``); any other is read
        conditionally against the signature the cache holds for each object
        (``v0_cache``)."""
        assert self.cache is not None
        stats = self._stat_scan(names)
        trusted = self.directory is None and only_creation_fields(query)
        try:
            if stats is not None:
                extras += self._one_by_one(stats.odd)
                manifest = Manifest(stats.names, stats.packed, stats.size)
                listing = self.cache.listing(manifest, query, self._parse)
            elif trusted:
                listing = self.cache.members(names, query, self._parse)
            else:
                revalidate = functools.partial(self._revalidate, reduce=entry_from)
                listing = self.cache.revalidated(names, query, revalidate, self._parse)
        except CacheUnavailable:
            if stats is not None:
                names[:] = stats.names
            return None  # the cache said why, if it is worth saying; the files are the truth
        extra = v0_order.keys(query, [extras, listing.extras])
        keys = v0_order.merged(query.sort, listing.keys, extra)
        if trusted:
            return Checked(keys, self.cache.correct)
        return Ordered((key[2] for key in keys), listing.scan)

    def _shown(self) -> tuple[list[str], list[str]]:
        """``_conversations`` that a listing shows and stats counts: names that can be a
        conversation's (``_addressable``, as ``get`` has it). Batch jobs see every name
        (``located``): verify reports the others, as OpenHands cannot open them."""
        names, odd = self._conversations()
        return [n for n in names if _addressable(n)], [n for n in odd if _addressable(n)]

    def _conversations(self) -> tuple[list[str], list[str]]:
        """One listing of sessions/: the conversations a batch reads, sorted (plain order:
        SQLite's and the cache's), and the odd ones read one at a time and never
        cached: links (followed only within the store), names SQLite cannot hold."""
        children = self.objects.children_of(SESSIONS)
        names: list[str] = []
        odd = [name for name in children.linked if not name.startswith(".")]
        for name in children.names:
            if not name.startswith("."):
                (names if _storable(name) else odd).append(name)
        names.sort()
        return names, odd

    def _map(self, names: Sequence[str], reduce: Callable[[str, Any], Any]) -> Iterator[Any]:
        return self.objects.map_reads(
            SESSIONS,
            names,
            METADATA,
            reduce,
            limit=metadata_json.MAX_METADATA_BYTES,
            workers=self.workers,
            whole=parses,
        )

    def _parse(self, names: Sequence[str]) -> Iterator[list[Entry]]:
        """Entries of ``names`` in their order, a chunk at a time (for the cache)."""
        entries = (entry for entry in self._map(names, entry_from) if isinstance(entry, Entry))
        while chunk := list(itertools.islice(entries, PARSE_CHUNK)):
            yield chunk

    def _stat_scan(self, names: list[str]) -> Signatures | None:
        """The cache's scan of ``names`` by a stat of each; None where it is made by
        reading them (``_revalidate``): a store without cheap signatures (a bucket), or a
        cold cache, which has no signature to compare a stat with (every file is read
        anyway, and a stat first is waste)."""
        assert self.cache is not None
        if self.cache.is_cold():
            return None
        return self.objects.stat_many(SESSIONS, names, METADATA, workers=self.workers)

    def _revalidate(
        self,
        names: Sequence[str],
        known: Sequence[bytes | None],
        reduce: Callable[[str, Outcome], T],
    ) -> Iterator[T]:
        """For each name, ``reduce`` of a conditional read (many in flight) against the
        signature ``known``: UNCHANGED passed on, else what it makes of the object as
        read now (``entry_from``: its entry; None when gone)."""
        return self.objects.map_reads(
            SESSIONS,
            names,
            METADATA,
            reduce,
            limit=metadata_json.MAX_METADATA_BYTES,
            workers=self.workers,
            whole=parses,
            known=known,
        )

    def _read_chosen(
        self, addresses: Sequence[str]
    ) -> Iterator[tuple[Entry | None, ConversationMetadata | None]]:
        """The entry and the record of each conversation a checked listing chose, read
        now (requests in flight); (None, None) for one gone, or no conversation
        (``get``'s rule)."""
        listed = [address for address in addresses if _addressable(address)]
        found = self.objects.map_reads(
            SESSIONS,
            listed,
            METADATA,
            functools.partial(_entry_and_record, self.objects),
            limit=metadata_json.MAX_METADATA_BYTES,
            workers=self.workers,
            whole=parses,
        )
        results = dict(zip(listed, found, strict=True))
        return (results.get(address, (None, None)) for address in addresses)

    def _one_by_one(self, names: Iterable[str]) -> list[Entry]:
        """Entries of conversations read in this process, never cached."""
        found = []
        for name in names:
            entry = entry_from(name, self._outcome(name))
            if isinstance(entry, Entry):
                found.append(entry._replace(signature=None))
        return found

    # For stats: each file's entry and figures (``v0_cache.Counted``)

    def totals(self, query: Query, reduce: CountReduce, grouping: Grouping) -> Totals | None:
        """What ``stats`` adds up of the conversations matching ``query``, through the V0
        index cache (``v0_cache.totals``: only files without figures there are read,
        with ``reduce``), plus those counted in memory, the odd ones (links, names SQLite
        cannot hold) among them. None when there is no cache or it cannot be used: the
        caller then reads every file (``counted``)."""
        if self.cache is None:
            return None
        names, odd = self._shown()
        if not names and not odd:
            return Totals([], [])  # and no cache file to keep for it
        count = functools.partial(self._count, reduce=reduce)
        stats = self._stat_scan(names)
        try:
            if stats is not None:
                odd += stats.odd
                manifest = Manifest(stats.names, stats.packed, stats.size)
                totals = self.cache.totals(manifest, query, count, grouping)
            else:
                revalidate = functools.partial(self._revalidate, reduce=reduce)
                totals = self.cache.revalidated_totals(names, query, revalidate, count, grouping)
        except CacheUnavailable:
            return None  # the cache said why, if it is worth saying; the files are the truth
        totals.extras += self._count_alone(odd, reduce)
        return totals

    def counted(self, reduce: CountReduce) -> Iterator[Counted]:
        """Every conversation's ``reduce``, each file read once, in name order (a batch,
        in worker processes where it pays), then the odd ones."""
        names, odd = self._shown()
        for chunk in self._count(names, reduce):
            yield from chunk
        yield from self._count_alone(odd, reduce)

    def _count(self, names: Sequence[str], reduce: CountReduce) -> Iterator[list[Counted]]:
        found = (item for item in self._map(names, reduce) if isinstance(item, Counted))
        while chunk := list(itertools.islice(found, PARSE_CHUNK)):
            yield chunk

    def _count_alone(self, names: Iterable[str], reduce: CountReduce) -> list[Counted]:
        """``reduce`` of conversations read in this process, never cached."""
        found = []
        for name in names:
            item = reduce(name, self._outcome(name))
            if isinstance(item, Counted):
                found.append(item._replace(entry=item.entry._replace(signature=None)))
        return found

    def records(
        self, located: Iterable[tuple[str, bool]] | None = None
    ) -> Iterator[ConversationMetadata]:
        """Every conversation, each file read once (for batch jobs), in name order; or
        those of ``located``, a share of what ``located()`` gave. Read in a batch, on
        this process's share: the job spreads itself over processes."""
        names: list[str] = []
        odd: list[str] = []
        for address, alone in self.located() if located is None else located:
            (odd if alone else names).append(address)
        reduce = functools.partial(_record_from, self.objects)
        batch = self.objects.map_reads(
            SESSIONS,
            names,
            METADATA,
            reduce,
            limit=metadata_json.MAX_METADATA_BYTES,
            workers=1,
            whole=parses,
        )
        for record in itertools.chain(batch, (self._load(name) for name in odd)):
            if record is not None:
                yield record

    def count_up_to(self, limit: int) -> int:
        """How many conversations there are, counting no further than ``limit``: enough
        to decide whether a batch is worth spreading over processes."""
        return sum(1 for _ in itertools.islice(self.addresses(), limit))

    def addresses(self) -> Iterator[str]:
        """Names under sessions/ that may be conversations (hidden names never are), in
        name order: those a batch reads, then the odd ones."""
        return (address for address, _ in self.located())

    def located(self) -> Iterator[tuple[str, bool]]:
        """``addresses``, each with whether it is read alone (a link, a name SQLite
        cannot hold) rather than in a batch.

        A batch job counts, then reads (`migrate-v0-to-v1`, `stats`): sessions/ is
        listed for it once per store opened, and each later call walks that listing."""
        if self._batch_listing is None:
            self._batch_listing = self._conversations()
        names, odd = self._batch_listing
        return itertools.chain(((name, False) for name in names), ((name, True) for name in odd))

    def get(
        self, conversation_id: str, version: Version | None = None
    ) -> ConversationMetadata | None:
        if version == "V1" or not _addressable(conversation_id):
            return None
        return self._load(conversation_id)

    def _load(self, address: str) -> ConversationMetadata | None:
        return _record_from(self.objects, address, self._outcome(address))

    def _outcome(self, address: str) -> Read | Refused | None:
        try:
            return self.objects.read(
                _key(address), limit=metadata_json.MAX_METADATA_BYTES, whole=parses
            )
        except Refused as refused:
            return refused

    def remains(self, conversation_id: str) -> ConversationMetadata | None:
        """The conversation's remains, when its prefix holds objects but no metadata.json
        (``REMAINS``), as a record ``plan_removal`` takes; None otherwise."""
        if not _addressable(conversation_id):
            return None
        if self.objects.stat(_key(conversation_id)) is not None:
            return None
        prefix = f"{SESSIONS}/{conversation_id}"
        try:
            if next(iter(self.objects.walk(prefix)), None) is None:
                return None
        except Refused:
            return None  # a link out of the store: not ours to look into
        return ConversationMetadata.unreadable(
            conversation_id,
            store=self.name,
            version="V0",
            location=self.objects.describe(prefix),
            problems=[REMAINS],
        )

    def has_metadata(self, address: str) -> bool:
        """Whether ``sessions/<address>/metadata.json`` exists (one stat or HEAD)."""
        try:
            return self.objects.stat(_key(address)) is not None
        except Refused:
            return True  # it is there, whatever it is

    def origins(self, address: str) -> Iterator[Origin]:
        """Where a V0 conversation's metadata.json is, live and archived (`migrate-v0-to-v1
        --after archive`): those that exist, in that order."""
        for prefix in (SESSIONS, ARCHIVE):
            key = f"{prefix}/{address}/{METADATA}"
            try:
                present = self.objects.stat(key) is not None
            except Refused:
                present = True
            if present:
                yield Origin(self.objects, key)

    @staticmethod
    def unread(record: ConversationMetadata) -> bool:
        """True for a V0 record made without its file's bytes (permission denied, a link
        out of the store, not a regular file): one read from bytes carries their
        version as its token, even when they are not valid metadata."""
        return record.store == "files" and not record.token

    def modified(self, record: ConversationMetadata) -> datetime | None:
        """When its metadata.json was last written, looked at now (None: gone, or not
        a plain object)."""
        try:
            found = self.objects.stat(_key(record.conversation_id))
        except Refused:
            return None
        return None if found is None else found.modified

    def disk_usage(self, record: ConversationMetadata) -> int:
        """Bytes of the conversation's objects (metadata, events, the user's copy)."""
        try:
            return self.objects.plan_trees(self._trees(record))[1]
        except OutOfStore:
            return 0

    def events_prefix(self, record: ConversationMetadata) -> str | None:
        """Where the conversation's V0 event objects are (``<prefix>/events`` of its
        trees, as ``describe`` prints it), if it has any; one listing request each."""
        try:
            for tree in self._trees(record):
                events = f"{tree}/events"
                if next(iter(self.objects.walk(events)), None) is not None:
                    return self.objects.describe(events)
        except OutOfStore:
            return None
        return None

    def _trees(self, record: ConversationMetadata) -> list[str]:
        """Every prefix that belongs to one V0 conversation, inside the store.

        Its events may be under users/<user>/conversations/<id>: only its own user's
        (any user's when the record names none), and never through a link out of the
        store.
        """
        address = record.conversation_id
        found = [f"{SESSIONS}/{address}"]
        user = record.user_id
        if user is not None:
            users = [user] if id_problem(user) is None and not user.startswith(".") else []
        else:
            users = self.objects.children_of(USERS).names
        for name in users:
            prefix = f"{USERS}/{name}/conversations/{address}"
            try:
                if next(iter(self.objects.walk(prefix)), None) is not None:
                    found.append(prefix)
            except Refused:
                continue  # through a link out of the store: not followed
        return found

    # Writing: each change is a compare-and-swap against what was read

    def update(self, record: ConversationMetadata, changes: dict[str, Any]) -> ConversationMetadata:
        def edit(raw: bytes) -> bytes:
            decoded = metadata_json.decode(raw)
            if decoded.data is None or decoded.problems:
                raise ConvstoreError(
                    f"refusing to rewrite {record.location}: {'; '.join(decoded.problems)} "
                    "(fix the file by hand; convstore never overwrites what it cannot read)"
                )
            data = dict(decoded.data)
            data.update(
                (name, format_v0_datetime(value) if isinstance(value, datetime) else value)
                for name, value in changes.items()
            )
            return metadata_json.encode_like(raw, decoded.data, data)

        try:
            self.rewrite(record.conversation_id, record.token, edit)
        except Conflict as error:
            raise _changed(record, error) from error
        updated = self.get(record.conversation_id)
        if updated is None:
            raise changed_since_read(record)
        return updated

    def rewrite(self, address: str, version: str, edit: Callable[[bytes], bytes]) -> None:
        """Replace metadata.json by ``edit`` of its bytes, if they are still at ``version``
        (the token of the record read): Conflict otherwise, nothing written. What cannot
        be metadata is never rewritten (ConvstoreError)."""
        key = _key(address)
        found = self._guarded(address, "rewrite")
        if found is None or found.version != version:
            raise Conflict(f"{self.objects.describe(key)} changed since it was read")
        with self._refusals(address, "rewrite"):
            self.objects.write_if_unchanged(key, edit(found.data), found.version)
        if self.cache is not None and self.directory is None:
            # A bucket's listings trust the fields set at creation the cache holds
            # (``creation_fields``), and a repair may set one (created_at): the entry
            # goes, and the next listing reads the object as a new one.
            self.cache.correct([], [address])

    def _guarded(self, address: str, action: str) -> Read | None:
        with self._refusals(address, action):
            return self.objects.read(
                _key(address), limit=metadata_json.MAX_METADATA_BYTES, whole=parses
            )

    def plan_removal(self, record: ConversationMetadata) -> Removal:
        try:
            trees = self._trees(record)
            places, size = self.objects.plan_trees(trees)
        except OutOfStore as refused:
            return Removal(
                record,
                blockers=[
                    f"{refused.link} is a symbolic link to {refused.target}, outside the file "
                    "store; convstore does not delete through it (remove the link by hand)"
                ],
            )
        return Removal(record, places=places, prefixes=trees, bytes_on_disk=size)

    def remove(self, removal: Removal) -> None:
        record = removal.record
        address = record.conversation_id
        guard = None if REMAINS in record.problems else (_key(address), record.token)
        if guard is not None and not record.token:
            self._guarded(address, "delete")  # says why it was not read, if it still is not
            raise changed_since_read(record)
        try:
            with self._refusals(address, "delete"):
                self.objects.delete_trees(removal.prefixes, guard)
        except Conflict as error:
            raise _changed(record, error) from error

    def move(self, record: ConversationMetadata, destination: str) -> None:
        """Move the conversation's prefix below ``destination`` (`migrate-v0-to-v1 --after
        archive`), if it is still as read; Conflict otherwise, with nothing moved."""
        address = record.conversation_id
        if not record.token:
            self._guarded(address, "move")  # says why it was not read, if it still is not
            raise changed_since_read(record)
        try:
            with self._refusals(address, "move"):
                self.objects.move_tree(
                    f"{SESSIONS}/{address}", destination, (_key(address), record.token)
                )
        except Conflict as error:
            raise _changed(record, error) from error

    def _refusals(self, address: str, action: str) -> contextlib.AbstractContextManager[None]:
        return _refusals(self.objects.describe(_key(address)), action)

    def close(self) -> None:
        """Nothing to release: every object is read per call."""


@contextlib.contextmanager
def _refusals(location: str, action: str) -> Iterator[None]:
    """What the store refuses, as the errors a command reports about a write: a file that
    cannot be metadata is dealt with by hand (exit 1); one this user may not touch is
    exit 3."""
    try:
        yield
    except Forbidden as error:
        raise StoreUnavailable(f"cannot {action} {location}: permission denied") from error
    except OutOfStore as error:
        raise ConvstoreError(f"{error}; convstore does not write through it") from error
    except Refused as error:
        raise ConvstoreError(
            f"refusing to {action} {location}: {reason(error)} (deal with it by hand; "
            "convstore never overwrites or deletes what it cannot read)"
        ) from error


@dataclass(frozen=True)
class Origin:
    """A metadata.json found by ``origins``."""

    objects: Objects
    key: str

    @property
    def location(self) -> str:
        return self.objects.describe(self.key)

    def user(self) -> str | None:
        """The user_id it records (None when it records none or cannot be read)."""
        try:
            found = self.objects.read(self.key, limit=metadata_json.MAX_METADATA_BYTES)
        except Refused:
            return None
        data = None if found is None else metadata_json.decode(found.data).data
        user = None if data is None else data.get("user_id")
        return None if user is None else str(user)


def _entry_and_record(
    objects: Objects, address: str, outcome: Read | Refused | Unchanged | None
) -> tuple[Entry | None, ConversationMetadata | None]:
    """What a listing knows of a conversation and what it shows, from one read."""
    entry = entry_from(address, outcome)
    record = _record_from(objects, address, outcome)
    return (entry if isinstance(entry, Entry) else None), record


def _record_from(
    objects: Objects, address: str, outcome: Read | Refused | Unchanged | None
) -> ConversationMetadata | None:
    """The record of what reading ``sessions/<address>/metadata.json`` gave (None:
    absent). In a worker process too: plain values in, one record out."""
    if outcome is None or isinstance(outcome, Unchanged):
        return None
    location = objects.describe(_key(address))
    if isinstance(outcome, Refused):
        return _unreadable(address, location, reason(outcome))
    return _decoded_record(address, location, outcome, metadata_json.decode(outcome.data))


def entry_and_record(
    objects: Objects, address: str, outcome: Read | Refused | Unchanged | None
) -> tuple[Entry, ConversationMetadata] | None:
    """What a listing (``v0_scan.entry_from``) and a batch job (a record) make of one
    read of ``sessions/<address>/metadata.json``, from one decoding (``stats``)."""
    if outcome is None or isinstance(outcome, Unchanged):
        return None
    location = objects.describe(_key(address))
    if isinstance(outcome, Refused):
        return Entry(address, None), _unreadable(address, location, reason(outcome))
    decoded = metadata_json.decode(outcome.data)
    entry = entry_read(address, outcome, decoded.data)
    return entry, _decoded_record(address, location, outcome, decoded)


def _decoded_record(
    address: str, location: str, read: Read, decoded: metadata_json.Decoded
) -> ConversationMetadata:
    if decoded.data is None:
        record = _unreadable(address, location, *decoded.problems)
    else:
        record = ConversationMetadata.from_source(
            decoded.data,
            store="files",
            version="V0",
            location=location,
            address=address,
            problems=decoded.problems,
        )
    return record.with_token(read.version, read.modified)


def _pickled_record_from(
    objects: Objects, keep: bool, address: str, outcome: Read | Refused | Unchanged | None
) -> tuple[bytes | None, bytes] | None:
    """``_record_from`` in a worker, packed and pickled (cheaper than the pool pickling
    the model), with the signature of the bytes it was made from when the listing keeps
    it (``keep``: its output in each machine format made too); None for a signature no
    later scan may trust."""
    record = _record_from(objects, address, outcome)
    if record is None:
        return None
    signature = None
    if keep:
        record.make_output_texts(FORMATS)  # printed as kept, whichever the next listing prints
        if isinstance(outcome, Read) and outcome.stable:
            signature = outcome.signature
    return signature, pickle.dumps(record.packed(), protocol=pickle.HIGHEST_PROTOCOL)


def _unpickled(pickled: bytes) -> ConversationMetadata:
    # Kept records come from the user's own cache file (``V0Cache._own_file`` refuses
    # another user's), records read now from this run's worker processes: unpickling
    # them runs nothing the user could not run.
    return ConversationMetadata.unpacked(pickle.loads(pickled))


def _unreadable(address: str, location: str, *problems: str) -> ConversationMetadata:
    return ConversationMetadata.unreadable(
        address, store="files", version="V0", location=location, problems=list(problems)
    )


def reason(refused: Refused) -> str:
    """Why a metadata.json was not read, as a record says it."""
    if isinstance(refused, TooLarge | NotRegular) and not isinstance(refused, Linked):
        return f"{refused}; it is not metadata"
    return str(refused)


def _changed(record: ConversationMetadata, error: Conflict) -> Conflict:
    """A change behind convstore's back, as a command reports it (with where a directory
    read was kept, when it could not go back)."""
    note = getattr(error, "note", None)
    if note:
        return Conflict(f"{changed_since_read(record)}; {note}")
    return changed_since_read(record)


def _addressable(address: str) -> bool:
    """Whether ``address`` can be a conversation's: an id OpenHands' API accepts, and not
    hidden (a half-deleted ".deleting-" directory; "." is sessions/ itself, and deleting
    it would take every conversation)."""
    return id_problem(address) is None and not address.startswith(".")


def _key(address: str) -> str:
    return f"{SESSIONS}/{address}/{METADATA}"


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
