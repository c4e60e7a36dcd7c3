"""The questions every place that holds conversation files answers, and what they return.

A key is a ``/``-separated path relative to the store's root (the directory, or the bucket
and prefix of the URL): ``sessions/<id>/metadata.json``. Object stores have no
directories; a *child* of a prefix is the next segment of the keys below it, as a
delimiter listing reports it, and local disk is made to answer the same way.

Two tokens describe an object's state, because the stores hand out different ones:

- ``signature`` (listings and reads): changes whenever the object's content does, and is
  as cheap as the listing: the ETag on S3 and GCS, a stat signature on local disk. What
  a cache compares to decide whether to read an object again.
- ``version`` (reads and writes): what a conditional write or delete takes: the ETag on
  S3 (``If-Match``), the generation on GCS (``ifGenerationMatch``), the content's digest
  on local disk (compared under the directory's lock). Listings of GCS do not carry the
  generation, and stat cannot prove content unchanged, hence two tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from convstore.errors import Conflict, UsageError

# Requests in flight for a batch of reads: enough to hide a bucket's round trip (tens of
# milliseconds) behind others, few enough that memory holds only this many objects.
IN_FLIGHT = 32


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """One object as a listing reports it."""

    key: str
    size: int
    modified: datetime | None  # aware, UTC
    signature: str


@dataclass(frozen=True, slots=True)
class Read:
    """An object's content and the tokens of exactly that content."""

    key: str
    data: bytes
    version: str
    signature: str


class Objects(ABC):
    """A local directory, an S3 bucket or a GCS bucket, under one root."""

    # Where this is, fit to print: a URL or a path, never a credential.
    location: str

    # Listing

    @abstractmethod
    def children(self, prefix: str) -> Iterator[str]:
        """The names of the child prefixes of ``prefix`` (``sessions`` -> each conversation
        id), sorted as the keys below them sort. One delimiter listing: no key below a
        child is enumerated, however many there are."""

    @abstractmethod
    def walk(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object below ``prefix``, at any depth, in key order, page by page."""

    # Reading

    @abstractmethod
    def read(self, key: str) -> Read | None:
        """The object's content and tokens; None when there is none."""

    def read_many(self, keys: Iterable[str], in_flight: int = IN_FLIGHT) -> Iterator[Read | None]:
        """``read`` of each key, in the order given, with up to ``in_flight`` requests
        outstanding (and no more objects than that held)."""
        return _ordered_reads(self.read, keys, in_flight)

    @abstractmethod
    def head(self, key: str) -> tuple[str, str] | None:
        """The object's (version, signature) without its content; None when absent."""

    # Writing

    @abstractmethod
    def create_if_absent(self, key: str, data: bytes) -> str:
        """Create the object; Conflict when it exists. Returns its version."""

    @abstractmethod
    def write_if_unchanged(self, key: str, data: bytes, version: str) -> str:
        """Replace the object if it is still at ``version``; Conflict when it changed or
        is gone. Returns the new version."""

    @abstractmethod
    def delete(self, key: str, version: str | None = None) -> None:
        """Remove the object (nothing to do when it is absent). With ``version``: only if
        it is still at that version; Conflict when it changed or is gone."""

    def delete_all(self, keys: Iterable[str]) -> None:
        """Remove every one of ``keys`` that exists, unconditionally."""
        for key in keys:
            self.delete(key)

    @abstractmethod
    def probe(self) -> None:
        """One request that proves the store is there and readable with the credentials
        given; StoreUnavailable in one line when not."""


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


def changed(key: str, location: str) -> Conflict:
    return Conflict(f"{location}: {key} changed since it was read; nothing was written")


def exists(key: str, location: str) -> Conflict:
    return Conflict(f"{location}: {key} already exists; nothing was written")


def _ordered_reads(
    read: Callable[[str], Read | None], keys: Iterable[str], in_flight: int
) -> Iterator[Read | None]:
    """A sliding window of ``in_flight`` reads on as many threads (a read releases the
    GIL while it waits for the store), yielded in the order of ``keys``."""
    if in_flight < 1:
        raise ValueError("in_flight must be at least 1")
    pool = ThreadPoolExecutor(in_flight, thread_name_prefix="convstore-read")
    window: deque[Future[Read | None]] = deque()
    try:
        for key in keys:
            window.append(pool.submit(read, key))
            if len(window) >= in_flight:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
    finally:
        for pending in window:
            pending.cancel()
        pool.shutdown(wait=True)
