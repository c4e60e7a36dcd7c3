"""The questions every place that holds conversation files answers, and what they return.

A key is a ``/``-separated path relative to the store's root (the directory, or the bucket
and prefix of the URL): ``sessions/<id>/metadata.json``. Object stores have no
directories; a *child* of a prefix is the next segment of the keys below it, as a
delimiter listing reports it, and local disk is made to answer the same way.

Two tokens describe an object's state, because the stores hand out different ones:

- ``signature`` (listings, stats and reads): changes whenever the object's content does,
  and is as cheap as the listing: the ETag on S3 and GCS, a stat signature (mtime, ctime,
  size, inode) on local disk. What a cache compares to decide whether to read an object
  again; bytes, so a cache keeps it as it is.
- ``version`` (reads and writes): what a conditional write or delete takes: the ETag on
  S3 (``If-Match``), the generation on GCS (``ifGenerationMatch``), the content's digest
  on local disk (compared under the directory's lock). Listings of GCS do not carry the
  generation, and stat cannot prove content unchanged, hence two tokens.

The compare-and-swap contract, stated once for every store: ``write_if_unchanged`` and a
``delete`` or ``delete_trees`` with a version act only if the object is still at the
version the caller read; a change made behind convstore up to the write itself is found
and never overwritten (``Conflict``, nothing written). How each store keeps it is its own
business (``local``: flock and an atomic exchange; ``buckets``: preconditions).

Batches (many conversations' metadata.json at once) are methods of their own, so that each
store can do them its fastest way and the stores above never ask which one they have:
``map_reads`` (local disk: worker processes reading through a directory descriptor;
buckets: requests in flight) and ``stat_many`` (local disk: a stat each, in parallel;
buckets: None, since only a read tells an object's state cheaply: see ``stores.v0_cache``).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from convstore.errors import Conflict, StoreUnavailable, UsageError

# Requests in flight for a batch of reads: enough to hide a bucket's round trip (tens of
# milliseconds) behind others, few enough that memory holds only this many objects.
IN_FLIGHT = 32
T = TypeVar("T")
K = TypeVar("K")


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as a listing or a stat reports it."""

    key: str
    size: int
    modified: datetime | None  # aware, UTC
    signature: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """An object's content and the tokens of exactly that content."""

    key: str
    data: bytes
    version: str
    signature: bytes
    modified: datetime | None = None  # aware, UTC
    # False when an equal signature seen later would not prove the content unchanged
    # (local disk: a file changed within a tick of a coarse file-system clock): a cache
    # keeps only stable signatures.
    stable: bool = True


class Unchanged:
    """What ``read_if_changed`` answers for an object still at the signature given."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = Unchanged()


class Refused(StoreUnavailable):
    """An object the store will not hand over as data; the message says why, naming the
    object. Subclasses say what kind of refusal it is, for a caller that words it."""


class Forbidden(Refused):
    """This object may not be read (permission denied on it, not on the store);
    ``detail``: its owner and mode, where the store has them."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class TooLarge(Refused):
    """The object is larger than the caller's limit; it was not read."""


class NotRegular(Refused):
    """Not a plain object: a FIFO, a device, a symbolic link (local disk)."""


class Linked(NotRegular):
    """The object itself is a symbolic link (local disk): never opened."""


class OutOfStore(Refused):
    """The key leads out of the store through a symbolic link (local disk): ``link`` is
    the link's path, ``target`` where it leads."""

    def __init__(self, message: str, link: str = "", target: str = "") -> None:
        super().__init__(message)
        self.link = link
        self.target = target


# What a batch read hands a reducer for one key: the read, nothing (absent), why not, or
# (given the signature it had) that it is unchanged.
Outcome = Read | Refused | Unchanged | None
Reduce = Callable[[str, Outcome], T]
Whole = Callable[[bytes], bool]


@dataclass
class Children:
    """The child prefixes of a prefix: ``names`` in key order, and apart from them those
    the store reaches through a symbolic link (local disk only), which a batch does not
    read: one read at a time looks where each leads (``OutOfStore``)."""

    names: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)


@dataclass
class Signatures:
    """``stat_many``: the names whose object exists, their signatures (one buffer of
    equal-sized records: for 10^5 objects a third of the memory of as many bytes
    objects), and the names whose object could not be examined or is no plain object."""

    names: list[str]
    packed: bytearray
    size: int  # bytes per signature
    odd: list[str]

    def signature(self, index: int) -> bytes:
        start = index * self.size
        return bytes(self.packed[start : start + self.size])


class View(ABC):
    """One child prefix of a batch (``map_prefixes``), as a check of it reads it."""

    name: str

    @abstractmethod
    def read(self, leaf: str, *, limit: int | None = None, whole: Whole | None = None) -> Outcome:
        """``read`` of ``<prefix>/<name>/<leaf>``; a ``Refused`` is returned, not raised."""

    @abstractmethod
    def entries(self) -> list[str]:
        """The names directly below it, objects and child prefixes, hidden ones too;
        ``Refused`` when it cannot be listed."""

    def leftovers(self) -> list[str]:
        """Names below it that interrupted writes of this store left (local disk: hidden
        temporary files); none on a bucket, whose PUT is whole, so no request."""
        return []

    @abstractmethod
    def describe(self, leaf: str = "") -> str:
        """Where it (or ``leaf`` below it) is, fit to print."""


class Objects(ABC):
    """A local directory, an S3 bucket or a GCS bucket, under one root."""

    # Where this is, fit to print: a URL or a path, never a credential.
    location: str
    # The directory this store is on local disk; None for a bucket. Only for the event
    # readers and writers, which read and write a directory through paths (in worker
    # processes, with batched syncs): everything else asks the questions below.
    directory: Path | None = None
    # Where the credentials come from, fit to print (never a secret); None: none needed.
    credentials: str | None = None

    # Listing

    @abstractmethod
    def children_of(self, prefix: str) -> Children:
        """The child prefixes of ``prefix`` (``sessions`` -> each conversation id). One
        delimiter listing: no key below a child is enumerated, however many there are."""

    def children(self, prefix: str) -> Iterator[str]:
        """``children_of(prefix).names``."""
        return iter(self.children_of(prefix).names)

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object below ``prefix``, at any depth, in key order, page by page."""

    # Reading

    @abstractmethod
    def read(
        self, key: str, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | None:
        """The object's content and tokens; None when there is none. ``Refused`` (naming
        the object) for one the store will not hand over: larger than ``limit``, no plain
        object, not readable by this user, or reached through a link out of the store.

        ``whole``: whether content is complete (a JSON object parses). A store whose
        objects a writer rewrites in place (local disk) reads again, for a moment, what
        was just modified and is not whole; a bucket's PUT replaces an object at once."""

    @abstractmethod
    def read_if_changed(
        self, key: str, signature: bytes, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | Unchanged | None:
        """``UNCHANGED`` when the object still has ``signature``; else as ``read``.

        Buckets: a conditional GET (``If-None-Match``), no body when unchanged."""

    def read_many(self, keys: Iterable[str], in_flight: int = IN_FLIGHT) -> Iterator[Read | None]:
        """``read`` of each key, in the order given, with up to ``in_flight`` requests
        outstanding (and no more objects than that held)."""
        return _ordered(self.read, keys, in_flight)

    def map_reads(
        self,
        prefix: str,
        names: Sequence[str],
        leaf: str,
        reduce: Reduce[T],
        *,
        limit: int | None = None,
        workers: int | None = None,
        whole: Whole | None = None,
        known: Sequence[bytes | None] | None = None,
        chunk: int | None = None,
    ) -> Iterator[T]:
        """``reduce(name, outcome)`` of the object ``<prefix>/<name>/<leaf>`` of each name,
        in the order given, where ``outcome`` is what ``read`` gave (a ``Refused`` is
        handed over, not raised); with ``known`` (a signature or None per name), what
        ``read_if_changed`` gave. ``names`` come from ``children_of(prefix).names``.

        Here, as buckets do it: requests in flight, ``reduce`` in this process. Local
        disk spreads reads and reduction over up to ``workers`` processes (None: as many
        as pay), so ``reduce`` must be a module-level function (or a partial of one);
        ``chunk`` names at most per call to a worker (None: a few calls per worker),
        where the results are large and memory must hold only a few chunks of them."""

        def one(item: tuple[str, bytes | None]) -> T:
            name, signature = item
            key = f"{prefix}/{name}/{leaf}"
            try:
                if signature is None:
                    outcome: Outcome = self.read(key, limit=limit, whole=whole)
                else:
                    outcome = self.read_if_changed(key, signature, limit=limit, whole=whole)
            except Refused as refused:
                outcome = refused
            return reduce(name, outcome)

        signatures = [None] * len(names) if known is None else known
        return _ordered(one, zip(names, signatures, strict=True), IN_FLIGHT)

    def map_prefixes(
        self,
        prefix: str,
        names: Sequence[str],
        reduce: Callable[[View], T],
        *,
        workers: int | None = None,
        chunk: int | None = None,
    ) -> Iterator[T]:
        """``reduce(view)`` of each child ``<prefix>/<name>``, in the order given: a check
        that reads each conversation's metadata and looks further only where it must.
        Here: in flight, as ``map_reads``. Local disk: in worker processes, ``chunk``
        names per call (few results held in flight)."""
        return _ordered(lambda name: reduce(self.view(prefix, name)), names, IN_FLIGHT)

    def view(self, prefix: str, name: str) -> View:
        """The child ``<prefix>/<name>`` as ``map_prefixes`` hands it over, for one
        looked at alone."""
        return _KeyView(self, f"{check_prefix(prefix)}/{name}", name)

    @abstractmethod
    def entries(self, prefix: str) -> list[str]:
        """The names directly below ``prefix``: objects and child prefixes (one delimiter
        listing); ``Refused`` when it cannot be listed."""

    def leftovers(self, prefix: str) -> list[str]:
        """Names directly below ``prefix`` that interrupted writes of this store left;
        none here (a bucket's PUT is whole)."""
        return []

    def stat_many(
        self, prefix: str, names: Sequence[str], leaf: str, *, workers: int | None = None
    ) -> Signatures | None:
        """The signatures of ``<prefix>/<name>/<leaf>`` without reading them, when the
        store has a way cheaper than a read (local disk: a stat each); None when it has
        not (a bucket: a listing of every key below, events included, or a request per
        object that costs what a conditional read does)."""
        return None

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """The object's size, time and signature without its content; None when absent."""

    @abstractmethod
    def head(self, key: str) -> tuple[str, bytes] | None:
        """The object's (version, signature) without its content; None when absent."""

    def workers_for(self, items: int, limit: int | None = None) -> int:
        """How many worker processes a batch of ``items`` objects to read and parse is
        worth here: none on a bucket, whose reads wait on the network (requests in
        flight on threads cover that, and a forked child could not use this client)."""
        return 0

    # Writing

    @abstractmethod
    def create_if_absent(self, key: str, data: bytes) -> str:
        """Create the object; Conflict when it exists. Returns its version."""

    @abstractmethod
    def write_if_unchanged(self, key: str, data: bytes, version: str) -> str:
        """Replace the object if it is still at ``version``; Conflict when it changed or
        is gone, with nothing written. Returns the new version."""

    @abstractmethod
    def copy(self, key: str, destination: str) -> None:
        """Copy an object to another key (within the store), replacing what is there."""

    @abstractmethod
    def delete(self, key: str, version: str | None = None) -> None:
        """Remove the object (nothing to do when it is absent). With ``version``: only if
        it is still at that version; Conflict when it changed or is gone."""

    def delete_all(self, keys: Iterable[str]) -> None:
        """Remove every one of ``keys`` that exists, unconditionally."""
        for key in keys:
            self.delete(key)

    def delete_trees(self, prefixes: Sequence[str], guard: tuple[str, str] | None = None) -> None:
        """Remove every object below each of ``prefixes``; with ``guard`` (key, version),
        that object first and only if it is still at that version (Conflict otherwise,
        nothing removed), so what a listing finds by it leaves listings in one step.

        Here, as buckets do it: the guard, then the rest, prefix by prefix. A run cut
        short after the guard leaves objects without it, which a rerun removes. Local
        disk hides every directory first (one rename each), so none is left half."""
        if guard is not None:
            self.delete(*guard)
        for prefix in prefixes:
            self.delete_all(info.key for info in self.walk(prefix))

    def move_tree(self, prefix: str, destination: str, guard: tuple[str, str]) -> None:
        """Move every object below ``prefix`` below ``destination``, if ``guard`` (key,
        version) is still at its version; Conflict otherwise, nothing moved.

        Here, as buckets do it: a copy of each object (the guard's first, from the
        version read... then compared again by its conditional delete), then a delete
        of the originals, the guard first. A change to the guard meanwhile removes the
        copies and is a Conflict."""
        key, version = guard
        moved = [info.key for info in self.walk(prefix)]
        copies = [destination + moved_key[len(prefix) :] for moved_key in moved]
        for original, copied in zip(moved, copies, strict=True):
            self.copy(original, copied)
        try:
            self.delete(key, version)
        except Conflict:
            self.delete_all(copies)
            raise
        self.delete_all(moved_key for moved_key in moved if moved_key != key)

    def plan_trees(self, prefixes: Sequence[str]) -> tuple[list[str], int]:
        """What ``delete_trees`` of ``prefixes`` would remove, as a plan shows it (here:
        each object), and how many bytes that frees."""
        listed, total = [], 0
        for prefix in prefixes:
            for info in self.walk(prefix):
                listed.append(f"object {self.describe(info.key)}")
                total += info.size
        return listed, total

    @abstractmethod
    def describe(self, key: str) -> str:
        """Where a key is, fit to print: a path, or the object's URL."""

    @abstractmethod
    def probe(self) -> None:
        """One request that proves the store is there and readable with the credentials
        given; StoreUnavailable in one line when not."""

    @property
    @abstractmethod
    def identity(self) -> str:
        """What names this store's V0 index cache file: the same for every way of
        writing the same store (a resolved path; a URL and its endpoint)."""


class _KeyView(View):
    """A child prefix seen through the store's own calls, one request each."""

    def __init__(self, objects: Objects, prefix: str, name: str) -> None:
        self.objects = objects
        self.prefix = prefix
        self.name = name

    def read(self, leaf: str, *, limit: int | None = None, whole: Whole | None = None) -> Outcome:
        try:
            return self.objects.read(f"{self.prefix}/{leaf}", limit=limit, whole=whole)
        except Refused as refused:
            return refused

    def entries(self) -> list[str]:
        return self.objects.entries(self.prefix)

    def leftovers(self) -> list[str]:
        return self.objects.leftovers(self.prefix)

    def describe(self, leaf: str = "") -> str:
        return self.objects.describe(f"{self.prefix}/{leaf}" if leaf else self.prefix)


def content_version(data: bytes) -> str:
    """The version of an object on a store that has no version of its own (local disk):
    a digest of its content, so a write can be made conditional on it."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def check_key(key: str) -> str:
    """``key`` if it names an object inside the root: no empty, ``.`` or ``..`` segment,
    no leading or trailing ``/``, no NUL (S3 would take most of these; local disk would
    resolve them outside the root)."""
    segments = key.split("/")
    if not key or "\0" in key or any(s in ("", ".", "..") for s in segments):
        raise UsageError(f"not a valid object key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A prefix as listings take it: a key, or ``""`` for the root; no trailing ``/``."""
    return prefix if prefix == "" else check_key(prefix)


def name_of(key: str) -> str:
    """The last segment of a key: what a message about the object calls it."""
    return key.rsplit("/", 1)[-1]


def changed(key: str, location: str, note: str | None = None) -> Conflict:
    """``key`` is not at the version read (or gone): nothing was written. ``note``: what
    a person must know besides (where a directory read was kept)."""
    error = Conflict(f"{location}: {key} changed since it was read; nothing was written")
    error.note = note  # type: ignore[attr-defined]
    return error


def exists(key: str, location: str) -> Conflict:
    return Conflict(f"{location}: {key} already exists; nothing was written")


def in_flight(function: Callable[[K], T], items: Iterable[K], count: int) -> Iterator[T]:
    """``function`` of each item, up to ``count`` calls at a time on threads, the results
    in the order of ``items`` (work that waits on a bucket: a conversation's events)."""
    return _ordered(function, items, count)


def _ordered(function: Callable[[K], T], keys: Iterable[K], in_flight: int) -> Iterator[T]:
    """A sliding window of ``in_flight`` calls on as many threads (a read releases the
    GIL while it waits for the store), yielded in the order of ``keys``."""
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix="convstore-read")
    window: deque[Future[T]] = deque()
    try:
        for key in keys:
            window.append(pool.submit(function, key))
            if len(window) >= in_flight:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for pending in window:
            pending.cancel()
        pool.shutdown(wait=True)
