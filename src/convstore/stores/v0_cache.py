"""The V0 index cache: each metadata.json's listing fields, kept in SQLite between runs.

OpenHands reads every metadata.json for every page. convstore keeps what a listing
needs of each file (``v0_scan.Entry``) in one SQLite file per store, in the user cache
directory, and on the next run reads again only the files whose signature changed
(``objects.base``: (mtime_ns, ctime_ns, size, inode) on local disk, the ETag on a
bucket). The files stay the truth; the cache only ever saves work.

What tells a changed file costs what the store makes it cost, so there are two ways in,
to one and the same table and the same steps below:

- local disk (``listing``): a ``stat`` per conversation, no read: the caller hands over
  the *scan* (every address with its signature) before anything is read.
- a bucket (``revalidated``): a stat is a HEAD, a request like a GET, and a listing of
  ``sessions/`` with signatures would enumerate every event key too (hundreds per
  conversation). So each metadata.json is read *conditionally* against the ETag the
  table holds (``If-None-Match``, many in flight): 304 and no body for the unchanged,
  the new bytes for the changed, which are parsed and stored as they come. The scan is
  what these answers make of it; ETags depend on the content, so every one is stable.
  Measured against a local S3 server (README): no fewer requests than without the
  cache, but none of the unchanged bodies and none of their parsing.
- a bucket, for a sort and filters on fields set at creation only (``members``, see
  ``creation_fields``): the scan is the delimiter listing's names with the signatures
  the table holds; only names it does not hold are read. Nothing is revalidated here:
  the caller reads every record it shows and corrects what moved (``v0_checked``,
  ``correct``). The digest stays what it is everywhere: of what the table holds.

How a listing uses the scan, and why it never shows a stale or deleted entry:

1. A digest of the scan's addresses and signatures is compared with the one stored with
   the table. Equal means the table holds exactly the scan (every address, with the
   same signature, and nothing else), and the listing is a query on the table,
   filtered and sorted in SQL, in the same read transaction.
2. Otherwise the table is walked in address order beside the scan (a merge join: no
   record is loaded whole, memory holds the scan), which gives the addresses to read
   again. They are parsed (in parallel where it pays) and written, a chunk per
   transaction. A last write transaction walks the table again against what it must
   now hold, repairs what a concurrent run changed meanwhile, deletes every address
   the scan did not see, and stores the digest and a fresh generation token. A scan
   made by reading (a bucket's, a cold cache's) skips both walks when no other
   connection has written since it read the table (``_Sync._close``).
3. A read transaction that finds this run's token queries the table as in 1. If
   another run wrote in between, step 2 repeats; after a few rounds the caller lists
   without the cache.

Entries whose file changed in the two seconds before the scan began (racy, see
``v0_scan``), links and unreadable files are never stored: the caller merges them
into the listing from memory. Concurrent convstore runs share the file safely: SQLite
in WAL mode serializes the writers, readers see one snapshot each, and every stored
entry is consistent with its own signature whoever wrote it. A damaged file is
replaced, with a warning on stderr; a cache that cannot be used at all (a read-only
home, a full disk, a writer holding the lock for too long) means a listing without it.

``stats`` (``totals``) uses the same table. Each row also has room for the
conversation's figures (``FIGURE_COLUMNS``: what it adds to its group, from the full
record): NULL where a listing stored the row, which must stay cheap (a listing never
builds records), and NULL again whenever the file changes, since that replaces the
row. A stats run syncs the table to the scan as above, except that it reads each file
for its entry and figures at once (a cold cache costs one read per file); then it reads
again only the rows still without figures, stores their figures with a compare-and-swap
on the signature (figures only ever sit on the row of the bytes they came from), and
adds up in SQL, in one read transaction in which the table holds the scan and every row
its figures, the rows that match (``_filters``, as a listing filters), grouped by facet
and creation day. What is not stored (racy, unreadable, links) or changed since the
scan is handed back, read, for the caller to count in memory.

A whole-store listing (``list --all``) keeps the records it read in the table ``shown``
(``Kept``), each with the signature of the bytes it was made from; the next one takes
the record of every file whose signature in its own scan is that one, and reads only
the others. A page keeps none. A record outlives changes to its row of ``entries`` (it
is keyed by its own signature) and goes with a conversation that is gone.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import os
import secrets
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from convstore.fields import STATS_FACETS, STATS_TOKEN_FIGURES
from convstore.objects.base import Unchanged
from convstore.stores import title_order
from convstore.stores.base import Query
from convstore.stores.v0_order import FILES_RANK, Key, anchor, placeholder
from convstore.stores.v0_scan import UNTRUSTED, Entry
from convstore.timestamps import as_utc, to_micros

# PRAGMA user_version: a file of another format is rebuilt (earlier formats lack the
# owner column, order titles unfolded, lack the figures of ``stats`` or the records of
# ``Kept``).
FORMAT = 5
# Kept records are about 2 KB each: a 4 KB page (SQLite's default) holds one of them and
# wastes nearly half, a 16 KB page holds seven (measured, the whole file: 4.3 KB a
# conversation with 4 KB pages, 2.9 KB with 16 KB pages).
PAGE_SIZE = 16384
BUSY_SECONDS = 10.0  # how long a run waits for another run's write transaction
ROUNDS = 3  # attempts to agree with concurrent writers before listing without the cache
FIRST_ROWS = 64  # fetched before the listing starts, so a damaged file shows up early
_DAMAGED = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})
# Not worth a warning on every listing: another run holding the file for long, or a
# cache directory this user may not write (a service account without a home). The
# listing reads the files, as --no-cache does.
_QUIET = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
    }
)
_QUIET_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})
# The columns of an entry (``v0_scan.Entry``, in its order), then those of its figures
# (``Counted.figures``, in this order): NULL in every row a listing wrote, filled by
# ``stats``. readable: 0 when nothing of the file could be read, else 1; problems: the
# values left out, a bit each (``stats.figures``); by_<facet>: the conversation's value
# of each ``--by`` facet; created_us and created_day: its creation time in
# microseconds and its UTC day (``date.toordinal``); cost in nanodollars; then the
# token counts and the number of PRs. NULL: the value did not count.
ENTRY_COLUMNS = (
    "address",
    "signature",
    "owner",
    "title",
    "repository",
    "trigger_name",
    "created",
    "updated",
)
FIGURE_COLUMNS = (
    "readable",
    "problems",
    *(f"by_{name}" for name in STATS_FACETS),
    "created_us",
    "created_day",
    "cost",
    *STATS_TOKEN_FIGURES,
    "prs",
)
_FIGURE_DEFINITIONS = ", ".join(
    f"{name} {'TEXT' if name.startswith('by_') else 'INTEGER'}" for name in FIGURE_COLUMNS
)
_SCHEMA = (
    f"""CREATE TABLE entries (
        address TEXT PRIMARY KEY NOT NULL,
        signature BLOB NOT NULL,
        owner TEXT,
        title TEXT,
        repository TEXT,
        trigger_name TEXT,
        created INTEGER,
        updated INTEGER,
        {_FIGURE_DEFINITIONS}
    ) WITHOUT ROWID""",
    "CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID",
    # ``Kept``: a rowid table, since records are a kilobyte or two each (a WITHOUT ROWID
    # table would spill them to overflow pages), and an index of what ``usable`` reads.
    """CREATE TABLE shown (
        address TEXT PRIMARY KEY NOT NULL,
        signature BLOB NOT NULL,
        record BLOB NOT NULL
    )""",
    "CREATE INDEX shown_signatures ON shown (address, signature)",
)
# What each sort orders by: titles folded (title_order), in the SQL the index is on.
_COLUMNS = {
    "created": "created",
    "updated": "updated",
    "title": title_order.fold_sql("title", sqlite=True),
}
# One per sort field: a page is read in index order, at any depth, without a sort.
_INDEXES = {
    f"entries_{name}": f"CREATE INDEX IF NOT EXISTS entries_{name} ON entries ({key}, address)"
    for name, key in _COLUMNS.items()
}
# Writing this many entries or more, the indexes are dropped first and built again at
# the end: one sort each instead of 10^5 random insertions (measured: 3.6 s of inserts
# for a cold 100k-file store become under a second).
BULK_LOAD = 5000
# A cache file no listing has used for this long belongs to a store that moved, was
# deleted or is no longer listed from here: the next listing of any store removes it.
PRUNE_AFTER_SECONDS = 30 * 24 * 3600
CACHE_SUFFIX = ".sqlite3"

_INSERT_ENTRIES = (
    f"INSERT OR REPLACE INTO entries ({', '.join(ENTRY_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"
)
_INSERT_COUNTED = (
    f"INSERT OR REPLACE INTO entries ({', '.join((*ENTRY_COLUMNS, *FIGURE_COLUMNS))}) "
    f"VALUES ({', '.join('?' * (len(ENTRY_COLUMNS) + len(FIGURE_COLUMNS)))})"
)
# Figures are stored only on the row of the bytes they were read from (a compare-and-
# swap on the signature): a file rewritten since has a row of its own, or will have.
_UPDATE_FIGURES = (
    f"UPDATE entries SET ({', '.join(FIGURE_COLUMNS)}) = "
    f"({', '.join('?' * len(FIGURE_COLUMNS))}) WHERE address = ? AND signature = ?"
)
# Cost is summed as whole dollars and the nanodollars left over, each of which fits
# SQLite's 64-bit sum (which fails on overflow) however many conversations there are.
BILLION = 10**9

T = TypeVar("T")
Parser = Callable[[Sequence[str]], Iterator[list[Entry]]]
# For each address, UNCHANGED while its object has the signature given (None: unknown),
# else its entry read now, or None when it is gone (``revalidated``).
Revalidator = Callable[[Sequence[str], Sequence[bytes | None]], Iterator[Entry | Unchanged | None]]
Warn = Callable[[str], None]
# Entries stored per transaction while a revalidation reads them.
REVALIDATED_CHUNK = 1000
# How long ``Kept.keep`` waits for another run's write transaction before it gives up.
KEEP_BUSY_MILLISECONDS = 100


class Counted(NamedTuple):
    """One file read for ``stats``: its entry (what the filters look at) and its figures
    (the values of ``FIGURE_COLUMNS``; plain values, sent back by worker processes)."""

    entry: Entry
    figures: tuple[Any, ...]


# The files of ``addresses`` read for stats, in order, a chunk at a time (gone: absent).
Count = Callable[[Sequence[str]], Iterator[list[Counted]]]
# ``Revalidator`` for stats: what changed comes back counted, entry and figures together.
CountRevalidator = Callable[
    [Sequence[str], Sequence[bytes | None]], Iterator[Counted | Unchanged | None]
]
Insert = Callable[[sqlite3.Connection, list[Entry]], None]


@dataclass(frozen=True)
class Grouping:
    """How ``totals`` adds up: by these facets (of ``STATS_FACETS``) and, if ``by_day``,
    by creation day; the conversations of ``aside`` are only counted (stats' twins)."""

    facets: tuple[str, ...]
    by_day: bool
    aside: frozenset[str] = frozenset()


@dataclass
class Group:
    """The figures of one group of stored conversations, as SQLite added them up: those
    of one key that are alike in being readable, their problems, and being set aside."""

    facets: tuple[str | None, ...]  # in ``Grouping.facets`` order
    day: int | None  # ``date.toordinal`` (None: not by day, or no valid creation time)
    readable: bool
    problems: int
    aside: bool
    conversations: int
    cost: int  # nanodollars
    costed: int
    tokens: tuple[int | None, ...]
    prs: int | None
    first: int | None  # microseconds
    last: int | None


@dataclass
class Totals:
    """What ``totals`` found: the groups of the stored conversations that match, and the
    conversations it read but could not count in SQL (never stored: racy, unreadable,
    links; changed during the run), which the caller matches and adds itself."""

    groups: list[Group]
    extras: list[Counted]


class CacheUnavailable(Exception):
    """This listing cannot use the cache; it lists from the files instead."""


def warn_on_stderr(message: str) -> None:
    sys.stderr.write(f"convstore: warning: {message}\n")


def default_directory() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("convstore", appauthor=False) / "v0-index"


@dataclass
class Manifest:
    """A scan: the addresses with a metadata.json, sorted, and their signatures: either
    one buffer of ``size``-byte records (local disk: a third of the memory of as many
    bytes objects) or a list (a bucket's ETags, of any length)."""

    addresses: list[str]
    signatures: bytearray | list[bytes]
    size: int = 0  # bytes per record of a buffer

    def signature(self, index: int) -> bytes:
        if isinstance(self.signatures, list):
            return self.signatures[index]
        start = index * self.size
        return bytes(self.signatures[start : start + self.size])

    def signature_of(self, address: str) -> bytes | None:
        """The signature of ``address`` in the scan (None: not in it)."""
        index = bisect.bisect_left(self.addresses, address)
        if index < len(self.addresses) and self.addresses[index] == address:
            return self.signature(index)
        return None

    def append(self, address: str, signature: bytes) -> None:
        assert isinstance(self.signatures, list)
        self.addresses.append(address)
        self.signatures.append(signature)

    def digest(self) -> bytes:
        """The same for the same scan in either form. Unambiguous: names hold no NUL, and
        signatures of one length are hashed as one buffer, of several with each length.
        Hashed a slice at a time, so no copy of the whole scan is ever made."""
        hashing = hashlib.blake2b(digest_size=20)
        hashing.update(len(self.addresses).to_bytes(8, "little"))
        for start in range(0, len(self.addresses), 4096):
            hashing.update("\0".join(self.addresses[start : start + 4096]).encode("utf-8"))
            hashing.update(b"\0")
        signatures = self.signatures
        if isinstance(signatures, list):
            sizes = {len(signature) for signature in signatures}
            if len(sizes) > 1:
                hashing.update(b"varied")
                for signature in signatures:
                    hashing.update(len(signature).to_bytes(4, "little") + signature)
                return hashing.digest()
            size = sizes.pop() if sizes else 0
            hashing.update(b"fixed" + size.to_bytes(4, "little"))
            for start in range(0, len(signatures), 4096):
                hashing.update(b"".join(signatures[start : start + 4096]))
            return hashing.digest()
        hashing.update(b"fixed" + (self.size if signatures else 0).to_bytes(4, "little"))
        hashing.update(signatures)
        return hashing.digest()


@dataclass
class Listing:
    """The keys of the cached entries in listing order, the entries kept in memory, and
    the scan the table held when the keys were read."""

    keys: Iterator[Key]
    extras: list[Entry]
    scan: Manifest


class V0Cache:
    """The index cache of one file store (see the module's docstring)."""

    def __init__(self, path: Path, store: str | Path, *, warn: Warn = warn_on_stderr) -> None:
        self.path = path
        self.store = str(store)
        self.warn = warn

    @classmethod
    def for_store(
        cls, root: Path, directory: Path | None = None, *, warn: Warn = warn_on_stderr
    ) -> V0Cache:
        """The cache of the directory store at ``root``."""
        return cls.for_identity(str(root.resolve()), directory, warn=warn)

    @classmethod
    def for_identity(
        cls, identity: str, directory: Path | None = None, *, warn: Warn = warn_on_stderr
    ) -> V0Cache:
        """The cache of the store ``Objects.identity`` names: one file per store (a
        resolved path; a bucket's URL and endpoint)."""
        name = hashlib.sha256(os.fsencode(identity)).hexdigest()[:32]
        return cls(
            (directory or default_directory()) / f"{name}{CACHE_SUFFIX}", identity, warn=warn
        )

    def listing(self, manifest: Manifest, query: Query, parse: Parser) -> Listing:
        """The scan's entries that match ``query``, ordered, after bringing the cache up
        to date. Raises CacheUnavailable, before anything is listed, when it cannot."""
        return self._guarded(query, lambda sync: sync.use(manifest), parse)

    def is_cold(self) -> bool:
        """True when the cache holds no entry for the store (no file yet, or an empty or
        outdated one): a listing then has no signature to compare a stat with, and
        reads every file (``revalidated``) instead of a stat of each and then a read."""
        try:
            if not self.path.exists():
                return True
        except OSError:  # a cache directory this user may not search
            return False  # the listing finds out why, and says so if it is worth saying
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError):
            return False  # the listing finds out why, and says so if it is worth saying
        try:
            return connection.execute("SELECT 1 FROM entries LIMIT 1").fetchone() is None
        except sqlite3.Error:
            return False
        finally:
            connection.close()

    def revalidated(
        self, addresses: list[str], query: Query, revalidate: Revalidator, parse: Parser
    ) -> Listing:
        """``listing`` on a store without cheap signatures, or with a cold cache: the scan
        is made by reading each of ``addresses`` (sorted) conditionally against the
        signature the table holds for it (``revalidate``), storing what changed as it
        comes."""
        return self._guarded(query, lambda sync: sync.revalidate(addresses, revalidate), parse)

    def members(self, addresses: list[str], query: Query, parse: Parser) -> Listing:
        """``listing`` of a store without cheap signatures (a bucket) for a query on
        fields set at creation only: the table is brought to exactly ``addresses``
        (sorted; new ones read and stored, gone ones deleted) and its other entries are
        taken as they are. The caller reads again every record it shows (``v0_checked``)."""
        return self._guarded(query, lambda sync: sync.members(addresses), parse)

    def correct(self, entries: Sequence[Entry], gone: Sequence[str]) -> None:
        """Store ``entries`` as read now and forget ``gone`` (what a listing found moved
        or deleted, what convstore itself rewrote). Only saves work later: a cache that
        cannot be written now is left as it is, and what it holds is checked again."""
        stored, forget = [], list(gone)
        for entry in entries:
            if entry.signature is None or entry.signature == UNTRUSTED:
                forget.append(entry.address)  # read again next time, as a new one
            else:
                stored.append(entry)
        if not self.path.exists():
            return  # nothing cached: nothing to correct
        with contextlib.suppress(sqlite3.Error, OSError):
            connection = self._connect()
            try:
                sync = _Sync(connection, lambda _: iter(()))
                sync._transaction(forget=forget, rows=stored)
            finally:
                connection.close()

    def totals(self, manifest: Manifest, query: Query, count: Count, grouping: Grouping) -> Totals:
        """What ``stats`` adds up of the scan's conversations that match ``query`` (which
        ``v0_order.can_match``), after bringing the cache up to date and filling in the
        figures of every entry that lacks them (``count`` reads files for both). Raises
        CacheUnavailable, before anything is counted, when it cannot."""
        return self._attempts(
            lambda: self._totals(lambda sync, _: sync.use(manifest), query, count, grouping)
        )

    def revalidated_totals(
        self,
        addresses: list[str],
        query: Query,
        revalidate: CountRevalidator,
        count: Count,
        grouping: Grouping,
    ) -> Totals:
        """``totals`` on a store without cheap signatures, or with a cold cache
        (``revalidated``): a file that changed is read once, for its entry and its
        figures together."""
        return self._attempts(
            lambda: self._totals(
                lambda sync, counting: sync.revalidate(addresses, counting.entries(revalidate)),
                query,
                count,
                grouping,
            )
        )

    def _totals(
        self,
        scan: Callable[[_Sync, _Counting], None],
        query: Query,
        count: Count,
        grouping: Grouping,
    ) -> Totals:
        connection = self._connect()
        try:
            counting = _Counting(connection, count)
            sync = _Sync(connection, counting.parse, counting.insert)
            scan(sync, counting)
            return counting.totals(sync, query, grouping)
        finally:
            _rollback(connection)
            connection.close()

    def _guarded(self, query: Query, scan: Callable[[_Sync], None], parse: Parser) -> Listing:
        if query.sort.field == "title" and not title_order.sqlite_lower_is_ascii():
            raise CacheUnavailable("this SQLite library cannot fold titles as title_order does")
        return self._attempts(lambda: self._listing(scan, query, parse))

    def _attempts(self, work: Callable[[], T]) -> T:
        """``work`` on the file, once again on a new file if it was damaged; what keeps
        it from being used at all, as CacheUnavailable."""
        for attempt in range(2):
            try:
                return work()
            except sqlite3.DatabaseError as error:
                code = getattr(error, "sqlite_errorcode", None)
                if code in _DAMAGED and attempt == 0:
                    self.warn(f"the V0 index cache {self.path} is damaged ({error}); rebuilding it")
                    self._remove()
                    continue
                if code not in _QUIET:
                    self._unusable(str(error))
                raise CacheUnavailable(str(error)) from error
            except OSError as error:
                if error.errno not in _QUIET_ERRNOS:
                    self._unusable(error.strerror or str(error))
                raise CacheUnavailable(str(error)) from error
        raise AssertionError("unreachable: the second attempt returns or raises")

    def _unusable(self, reason: str) -> None:
        self.warn(f"cannot use the V0 index cache {self.path} ({reason}); reading every file")

    def _listing(self, scan: Callable[[_Sync], None], query: Query, parse: Parser) -> Listing:
        connection = self._connect()
        try:
            sync = _Sync(connection, parse)
            scan(sync)
            extras = sync.run()
            rows = _Rows(connection, query)
        except BaseException:
            connection.close()
            raise
        return Listing(iter(rows), extras, sync.manifest)

    def kept(self, scan: Manifest, shape: str) -> Kept:
        """The records kept for the files of ``scan`` (see ``Kept``); ``shape`` names the
        form of the records the caller keeps: those of another form are dropped."""
        try:
            connection = self._connect()
        except (sqlite3.Error, OSError):
            return Kept(None, scan)  # the listing just used the file; nothing to say here
        try:
            if _meta(connection, "shape") != shape:
                with _writing(connection):
                    connection.execute("DELETE FROM shown")
                    connection.execute("INSERT OR REPLACE INTO meta VALUES ('shape', ?)", (shape,))
        except sqlite3.Error:
            connection.close()
            return Kept(None, scan)
        # Keeping records only saves work later: a run that would wait for another's
        # write transaction keeps nothing rather than hold up its own output.
        connection.execute(f"PRAGMA busy_timeout = {KEEP_BUSY_MILLISECONDS}")
        return Kept(connection, scan)

    # The file

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._own_file()
        # Used now: pruning goes by the mtime, which a listing that only reads keeps.
        with contextlib.suppress(OSError):
            os.utime(self.path)
        prune(self.path.parent, keep=self.path)
        connection = self._open()
        try:
            if not _schema_ready(connection, self.store) and _page_size(connection) != PAGE_SIZE:
                # A file an older convstore made: only a new file takes the page size.
                connection.close()
                self._remove()
                self._own_file()
                connection = self._open()
            self._ensure_schema(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _own_file(self) -> None:
        """Create the file if it is missing, private from the start (titles and user ids
        are the operator's data; SQLite gives its -wal and -shm files the same mode),
        and refuse one another user owns: kept records are unpickled (``Kept``), and a
        file another user could write (a cache in someone else's home, under sudo) is
        never read."""
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            owner = os.fstat(descriptor).st_uid
        finally:
            os.close(descriptor)
        if hasattr(os, "getuid") and owner != os.getuid():
            raise PermissionError(errno.EPERM, f"{self.path} belongs to another user")

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file's only
            connection.execute("PRAGMA journal_mode=WAL")
            # A cache needs no fsync per commit: WAL keeps the file consistent through a
            # crash, and a lost last transaction is only work to redo.
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.create_function("convstore_lower", 1, _lower, deterministic=True)
        except BaseException:
            connection.close()
            raise
        return connection

    def _ensure_schema(self, connection: sqlite3.Connection) -> None:
        if _schema_ready(connection, self.store):
            return
        with _writing(connection):
            if not _schema_ready(connection, self.store):
                for table in ("entries", "meta", "shown"):
                    connection.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in (*_SCHEMA, *_INDEXES.values()):
                    connection.execute(statement)
                connection.execute("INSERT INTO meta VALUES ('store', ?)", (self.store,))
                connection.execute(f"PRAGMA user_version = {FORMAT}")

    def _remove(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")


def prune(directory: Path, keep: Path, now: float | None = None) -> list[Path]:
    """Remove the cache files (and their -wal, -shm) of ``directory`` that no listing
    has used for ``PRUNE_AFTER_SECONDS``, except ``keep``; returns those removed.

    A run that starts using a file as it is pruned keeps working on the unlinked file
    (its work is only lost to the next run, which rebuilds it), and a file is touched
    on every use, so one in use is never this old.
    """
    cutoff = (time.time() if now is None else now) - PRUNE_AFTER_SECONDS
    removed = []
    with contextlib.suppress(OSError), os.scandir(directory) as entries:
        for entry in entries:
            if not entry.name.endswith(CACHE_SUFFIX) or entry.path == str(keep):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    for suffix in ("-wal", "-shm", ""):
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path + suffix)
                    removed.append(Path(entry.path))
    return removed


def _schema_ready(connection: sqlite3.Connection, store: str) -> bool:
    (version,) = connection.execute("PRAGMA user_version").fetchone()
    return bool(version == FORMAT and _meta(connection, "store") == store)


def _page_size(connection: sqlite3.Connection) -> int:
    (size,) = connection.execute("PRAGMA page_size").fetchone()
    return int(size)


def _meta(connection: sqlite3.Connection, name: str) -> Any:
    row = connection.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
    return None if row is None else row[0]


class _Sync:
    """Brings the table to exactly one scan, leaving a read transaction open in which
    that holds (steps 1 to 3 of the module's docstring)."""

    def __init__(
        self, connection: sqlite3.Connection, parse: Parser, insert: Insert | None = None
    ) -> None:
        self.db = connection
        self.manifest = Manifest([], [])
        self.parse = parse
        self.insert = insert or _insert_entries  # stats stores the figures it read too
        self.extras: dict[str, Entry] = {}  # read, not stored: racy or unreadable
        self.leftover: list[str] = []  # rows of addresses not in the scan (``_close``)
        self.version: int | None = None  # the data_version ``_known`` read at

    def use(self, manifest: Manifest) -> None:
        self.manifest = manifest

    def revalidate(self, addresses: list[str], revalidate: Revalidator) -> None:
        """Make the scan by conditional reads against the signatures the table holds,
        storing each changed entry as it comes (a chunk per transaction): memory holds
        the scan, as a stat scan's does, not the entries."""
        known = self._known(addresses)
        if len(addresses) >= BULK_LOAD and not any(known):
            # Filling an empty table: the indexes are built once at the end.
            self._transaction(*(f"DROP INDEX IF EXISTS {name}" for name in _INDEXES))
        scanned: list[str] = []
        signatures: list[bytes] = []
        rows: list[Entry] = []
        for address, signature, found in zip(
            addresses, known, revalidate(addresses, known), strict=True
        ):
            if found is None:  # gone: not in the scan
                if signature is not None:
                    self.leftover.append(address)
            elif isinstance(found, Unchanged):
                assert signature is not None
                scanned.append(address)
                signatures.append(signature)
            elif found.signature is None or found.signature == UNTRUSTED:
                self.extras[address] = found
                if signature is not None:
                    self.leftover.append(address)
            else:
                scanned.append(address)
                signatures.append(found.signature)
                rows.append(found)
                if len(rows) >= REVALIDATED_CHUNK:
                    self._write(rows)
                    rows = []
        self._write(rows)
        self.manifest = Manifest(scanned, signatures)
        self._close()

    def members(self, addresses: list[str]) -> None:
        """Make the scan from the table: every one of ``addresses`` (sorted) it holds, with
        the signature it holds, and the others read now and stored (a chunk per
        transaction). Addresses it holds that are not listed leave it (``_close``)."""
        known = self._known(addresses)
        manifest = Manifest([], [])
        new = [a for a, signature in zip(addresses, known, strict=True) if signature is None]
        read: dict[str, bytes] = {}
        for chunk in self.parse(new):
            rows = []
            for entry in chunk:
                if entry.signature is None or entry.signature == UNTRUSTED:
                    self.extras[entry.address] = entry
                else:
                    read[entry.address] = entry.signature
                    rows.append(entry)
            self._write(rows)
        for address, signature in zip(addresses, known, strict=True):
            signature = signature if signature is not None else read.get(address)
            if signature is not None:
                manifest.append(address, signature)
        self.manifest = manifest
        self._close()

    def _known(self, addresses: list[str]) -> list[bytes | None]:
        """The signature the table holds for each of ``addresses`` (sorted), None where it
        holds none: a merge join, in one read transaction. What else it holds goes to
        ``leftover``, and the snapshot's ``data_version`` is noted, for ``_close``."""
        known: list[bytes | None] = [None] * len(addresses)
        index, count = 0, len(addresses)
        self.db.execute("BEGIN")
        try:
            self.version = self.db.execute("PRAGMA data_version").fetchone()[0]
            for address, signature in self.db.execute(
                "SELECT address, signature FROM entries ORDER BY address"
            ):
                while index < count and addresses[index] < address:
                    index += 1
                if index < count and addresses[index] == address:
                    known[index] = signature
                    index += 1
                else:
                    self.leftover.append(address)
        finally:
            self.db.execute("COMMIT")
        return known

    def _close(self) -> None:
        """After the writes of a scan made on ``_known``'s snapshot: if no other connection
        has committed since that snapshot, the table stamped as holding the scan, which it
        then does once ``leftover`` is deleted. SQLite changes a connection's ``PRAGMA
        data_version`` on every other connection's commit and on none of its own: equal,
        the table is that snapshot plus this run's writes, and ``run`` finds its digest
        without the two walks of the table it otherwise makes to find and repair what
        another run changed."""
        with _writing(self.db):
            if self.db.execute("PRAGMA data_version").fetchone()[0] == self.version:
                _forget(self.db, self.leftover)
                self._stamp(self.manifest)

    def _stamp(self, held: Manifest) -> bytes:
        """Inside a write transaction, once the table holds exactly ``held``: its indexes
        built (a bulk load drops them) and its digest stored with a new generation token,
        which is returned."""
        for statement in _INDEXES.values():
            self.db.execute(statement)
        token = secrets.token_bytes(16)
        self.db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('digest', ?), ('generation', ?)",
            (held.digest(), token),
        )
        return token

    def run(self) -> list[Entry]:
        digest = self.manifest.digest()
        token: bytes | None = None
        for _ in range(ROUNDS):
            self.db.execute("BEGIN")
            stored = dict(self.db.execute("SELECT name, value FROM meta"))
            if stored.get("digest") == digest or (token and stored.get("generation") == token):
                return list(self.extras.values())
            stale = self._stale()
            self.db.execute("COMMIT")
            token = self._refresh(stale)
        _rollback(self.db)
        raise CacheUnavailable("other convstore runs kept changing the cache")

    def _stale(self) -> list[str]:
        """Addresses of the scan whose entry is missing, different, or not to be trusted."""
        addresses, manifest = self.manifest.addresses, self.manifest
        stale = []
        index, count = 0, len(addresses)
        for address, signature in self.db.execute(
            "SELECT address, signature FROM entries ORDER BY address"
        ):
            while index < count and addresses[index] < address:
                stale.append(addresses[index])
                index += 1
            if index < count and addresses[index] == address:
                if manifest.signature(index) != signature:
                    stale.append(addresses[index])
                index += 1
        stale.extend(addresses[index:])
        return stale

    def _refresh(self, stale: list[str]) -> bytes:
        """Read ``stale`` again and store what may be stored; then make the table hold
        exactly the scan, stamped with a new generation token, which is returned."""
        read: dict[str, bytes | None] = dict.fromkeys(stale)  # None: gone or kept in memory
        if len(stale) >= BULK_LOAD:
            self._transaction(*(f"DROP INDEX IF EXISTS {name}" for name in _INDEXES))
        for chunk in self.parse(stale):
            rows = []
            for entry in chunk:
                if entry.signature is None or entry.signature == UNTRUSTED:
                    self.extras[entry.address] = entry
                else:
                    self.extras.pop(entry.address, None)
                    read[entry.address] = entry.signature
                    rows.append(entry)
            self._write(rows)
        expected = [
            (address, read.get(address, self.manifest.signature(index)))
            for index, address in enumerate(self.manifest.addresses)
        ]
        with _writing(self.db):
            return self._stamp(self._settle([(a, s) for a, s in expected if s is not None]))

    def _write(self, rows: list[Entry]) -> None:
        if rows:
            self._transaction(rows=rows)

    def _transaction(
        self, *statements: str, rows: list[Entry] | None = None, forget: Sequence[str] = ()
    ) -> None:
        """One write transaction: ``statements``, the entries of ``forget`` deleted, then
        ``rows`` stored."""
        with _writing(self.db):
            # Until the last transaction stamps it, the table matches no scan's digest.
            self.db.execute("DELETE FROM meta WHERE name = 'digest'")
            for statement in statements:
                self.db.execute(statement)
            if forget:
                _forget(self.db, forget)
            if rows:
                self.insert(self.db, rows)

    def _settle(self, expected: list[tuple[str, bytes]]) -> Manifest:
        """Inside the last write transaction: delete what the scan did not see, and read
        again what a concurrent run changed since (rare). Returns what the table holds."""
        unknown: list[str] = []
        changed: set[str] = set()
        index, count = 0, len(expected)
        for address, signature in self.db.execute(
            "SELECT address, signature FROM entries ORDER BY address"
        ):
            while index < count and expected[index][0] < address:
                changed.add(expected[index][0])  # its row disappeared
                index += 1
            if index < count and expected[index][0] == address:
                if expected[index][1] != signature:
                    changed.add(address)
                index += 1
            else:
                unknown.append(address)
        changed.update(address for address, _ in expected[index:])
        _forget(self.db, unknown)
        reread = self._reread(sorted(changed)) if changed else {}
        held = Manifest([], [])
        for address, signature in expected:
            if address in changed:
                if address not in reread:
                    continue
                signature = reread[address]
            held.append(address, signature)
        return held

    def _reread(self, addresses: list[str]) -> dict[str, bytes]:
        """Entries read again and stored (or kept in memory when they may not be):
        the signature of each stored one."""
        self.db.executemany("DELETE FROM entries WHERE address = ?", [(a,) for a in addresses])
        stored: dict[str, bytes] = {}
        for chunk in self.parse(addresses):
            for entry in chunk:
                if entry.signature is None or entry.signature == UNTRUSTED:
                    self.extras[entry.address] = entry
                    continue
                self.extras.pop(entry.address, None)
                self.insert(self.db, [entry])
                stored[entry.address] = entry.signature
        return stored


class _Counting:
    """What ``totals`` adds to the sync: the figures of every entry, stored beside it,
    and then the groups added up in SQL, in a read transaction in which the table holds
    exactly the scan and every entry of it has its figures."""

    def __init__(self, connection: sqlite3.Connection, count: Count) -> None:
        self.db = connection
        self.count = count
        # Read by this run and not stored with their entry (yet): racy, unreadable, or
        # changed since the scan. What is counted in memory comes from here.
        self.held: dict[str, Counted] = {}
        self.gone: set[str] = set()  # in the scan, no longer there when read for figures

    def parse(self, names: Sequence[str]) -> Iterator[list[Entry]]:
        """The sync's reads, done for stats: a file's figures come with its entry, so a
        cold cache costs one read of each file."""
        for chunk in self.count(names):
            for item in chunk:
                self.held[item.entry.address] = item
            yield [item.entry for item in chunk]

    def entries(self, revalidate: CountRevalidator) -> Revalidator:
        """The sync's conditional reads, done for stats as ``parse`` does its reads: a
        changed file's figures are held for ``insert`` to store beside its entry."""

        def revalidated(
            addresses: Sequence[str], known: Sequence[bytes | None]
        ) -> Iterator[Entry | Unchanged | None]:
            for found in revalidate(addresses, known):
                if isinstance(found, Counted):
                    self.held[found.entry.address] = found
                    yield found.entry
                else:
                    yield found

        return revalidated

    def insert(self, connection: sqlite3.Connection, rows: list[Entry]) -> None:
        """The sync's writes: each entry with the figures read with it, where it was."""
        counted: list[tuple[Any, ...]] = []
        plain: list[Entry] = []
        for entry in rows:
            item = self.held.get(entry.address)
            if item is not None and item.entry is entry:
                del self.held[entry.address]
                counted.append((*entry, *item.figures))
            else:
                plain.append(entry)
        if counted:
            connection.executemany(_INSERT_COUNTED, counted)
        if plain:
            _insert_entries(connection, plain)

    def totals(self, sync: _Sync, query: Query, grouping: Grouping) -> Totals:
        self.db.execute("CREATE TEMP TABLE aside (address TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.executemany("INSERT INTO aside VALUES (?)", ((a,) for a in grouping.aside))
        for _ in range(ROUNDS):
            extras = sync.run()  # the table holds the scan, in this read transaction
            missing = dict(
                self.db.execute("SELECT address, signature FROM entries WHERE readable IS NULL")
            )
            # In memory: what is not stored, and what lacks figures (the file changed
            # since its entry was stored: its figures are of what it holds now).
            memory = [entry.address for entry in extras] + list(missing)
            unread = [a for a in memory if a not in self.held and a not in self.gone]
            if not unread:
                totals = self._aggregate(query, grouping)
                totals.extras = [self.held[a] for a in memory if a in self.held]
                return totals
            _rollback(self.db)
            self._fill(unread, missing)
        raise CacheUnavailable("other convstore runs kept changing the cache")

    def _fill(self, addresses: list[str], expected: dict[str, bytes]) -> None:
        """Read ``addresses`` for their figures; store those of the bytes the entry was
        read from (a compare-and-swap on the signature), hold the others."""
        self.gone.update(addresses)
        for chunk in self.count(addresses):
            updates = []
            for item in chunk:
                address, signature = item.entry.address, item.entry.signature
                self.gone.discard(address)
                if signature is not None and signature == expected.get(address):
                    updates.append((*item.figures, address, signature))
                else:
                    self.held[address] = item
            if updates:
                with _writing(self.db):
                    self.db.executemany(_UPDATE_FIGURES, updates)

    def _aggregate(self, query: Query, grouping: Grouping) -> Totals:
        """One GROUP BY (each costs a sort of the table's rows). Rows still without
        figures are those of files counted in memory (changed since the scan, or gone)."""
        conditions, parameters = _filters(query)
        where = " AND ".join(conditions) if conditions else "1"
        keys = [f"by_{name}" for name in grouping.facets]
        keys += ["created_day"] if grouping.by_day else []
        kinds = ["readable", "problems", "address IN aside"]
        sums = [
            "count(*)",
            f"sum(cost / {BILLION})",
            f"sum(cost % {BILLION})",
            "count(cost)",
            *(f"sum({name})" for name in STATS_TOKEN_FIGURES),
            "sum(prs)",
            "min(created_us)",
            "max(created_us)",
        ]
        statement = (
            f"SELECT {', '.join([*keys, *kinds, *sums])} FROM entries "
            f"WHERE {where} AND readable IS NOT NULL GROUP BY {', '.join([*keys, *kinds])}"
        )
        facets, after = len(grouping.facets), len(keys) + len(kinds)
        groups = []
        for row in self.db.execute(statement, parameters):
            readable, problems, aside = row[len(keys) : after]
            conversations, whole, rest, costed, *tokens, prs, first, last = row[after:]
            groups.append(
                Group(
                    row[:facets],
                    row[facets] if grouping.by_day else None,
                    bool(readable),
                    problems,
                    bool(aside),
                    conversations,
                    (whole or 0) * BILLION + (rest or 0),
                    costed,
                    tuple(tokens),
                    prs,
                    first,
                    last,
                )
            )
        return Totals(groups, [])


def _insert_entries(connection: sqlite3.Connection, rows: list[Entry]) -> None:
    connection.executemany(_INSERT_ENTRIES, rows)


def _forget(connection: sqlite3.Connection, addresses: Sequence[str]) -> None:
    """Delete the entries of ``addresses``, and the records kept of them."""
    for table in ("entries", "shown"):
        connection.executemany(
            f"DELETE FROM {table} WHERE address = ?", [(address,) for address in addresses]
        )


def _parts(query: Query) -> list[tuple[str, dict[str, Any], bool]]:
    """The listing as at most two queries, each served by an index in order: entries
    with a sort value, then entries without one (``base``: missing values last). Each
    part's keyset bound is a row value the index answers directly."""
    sort = query.sort
    column = _COLUMNS[sort.field]
    conditions, parameters = _filters(query)
    start = None if query.after is None else anchor(sort, query.after)
    # Ties on (value, address) with a record of another store: this store's record
    # comes after the anchor only if this store's rank sorts after the anchor's.
    descending = sort.descending
    relation = "<" if descending else ">"
    if start is not None:
        rank = start[3]
        if rank > FILES_RANK if descending else rank < FILES_RANK:
            relation += "="
    direction = " DESC" if descending else ""
    in_values = start is None or bool(start[0]) == descending  # the anchor has a value
    parts = []
    if in_values:
        values = [*conditions, f"{column} IS NOT NULL"]
        bound = dict(parameters)
        if start is not None:
            # The bound on the value alone is implied by the row value; it is there for
            # SQLite, which seeks an index on an expression (the folded title) only
            # with it and would otherwise read the index from its first entry.
            values.append(f"{column} {relation[0]}= :a_value")
            values.append(f"({column}, address) {relation} (:a_value, :a_id)")
            bound.update(a_value=start[1], a_id=start[2])
        parts.append(
            (
                f"SELECT {column}, address FROM entries WHERE {' AND '.join(values)} "
                f"ORDER BY {column}{direction}, address{direction}",
                bound,
                True,
            )
        )
    nulls = [*conditions, f"{column} IS NULL"]
    bound = dict(parameters)
    if start is not None and not in_values:
        nulls.append(f"address {relation} :a_id")
        bound.update(a_id=start[2])
    parts.append(
        (
            f"SELECT address FROM entries WHERE {' AND '.join(nulls)} ORDER BY address{direction}",
            bound,
            False,
        )
    )
    return parts


def _filters(query: Query) -> tuple[list[str], dict[str, Any]]:
    """``Query.matches`` for V0 entries, in SQL (``v0_order.can_match`` holds)."""
    conditions: list[str] = []
    parameters: dict[str, Any] = {}
    for name, column, wanted in (
        ("user", "owner", query.user),
        ("trigger", "trigger_name", query.trigger),
    ):
        if wanted is not None:
            conditions.append(f"{column} = :{name}")
            parameters[name] = wanted
    for name, column, needle in (
        ("title", "title", query.title),
        ("repo", "repository", query.repo),
    ):
        if needle is not None:  # base._contains: case-insensitive, as Python lowers
            conditions.append(f"instr(convstore_lower({column}), :{name}) > 0")
            parameters[name] = needle.lower()
    for name, column, since, until in (
        ("created", "created", query.created_since, query.created_until),
        ("updated", "updated", query.updated_since, query.updated_until),
    ):
        if since is not None:
            conditions.append(f"{column} >= :{name}_since")
            parameters[f"{name}_since"] = to_micros(as_utc(since))
        if until is not None:
            conditions.append(f"{column} < :{name}_until")
            parameters[f"{name}_until"] = to_micros(as_utc(until))
    return conditions, parameters


class Kept:
    """Records a whole-store listing made of files, each kept (table ``shown``) with the
    signature of the bytes it was made from, so that the next one shows a file the scan
    finds unchanged without reading it again. A record is used only when its signature
    is the one this run's scan found (``scan``): never one of other bytes, whoever kept
    it and whenever. To the cache a record is opaque bytes (the caller's ``shape``).

    Only saves work: a cache it cannot read gives no records, one it cannot write (a
    busy or read-only file) keeps none, and the files are read as without it."""

    def __init__(self, connection: sqlite3.Connection | None, scan: Manifest) -> None:
        self.db = connection
        self.scan = scan
        self.keeping = connection is not None

    def usable(self) -> set[str]:
        """The addresses whose kept record is of the scan's signature (a merge join of
        the two sorted lists, over the index: no record is read)."""
        if self.db is None:
            return set()
        found: set[str] = set()
        addresses, count, index = self.scan.addresses, len(self.scan.addresses), 0
        try:
            for address, signature in self.db.execute(
                "SELECT address, signature FROM shown INDEXED BY shown_signatures ORDER BY address"
            ):
                while index < count and addresses[index] < address:
                    index += 1
                if index < count and addresses[index] == address:
                    if self.scan.signature(index) == signature:
                        found.add(addresses[index])  # the scan's string: no copy kept
                    index += 1
        except sqlite3.Error:
            return set()
        return found

    def fetch(self, addresses: Sequence[str]) -> dict[str, bytes]:
        """The kept records of ``addresses`` still of the scan's signature (another run
        may have replaced one since ``usable``). One statement: ``addresses`` are a chunk
        of a listing (``files.STREAM_CHUNK``), far below SQLite's 32,766 parameters."""
        if self.db is None or not addresses:
            return {}
        marks = ", ".join("?" * len(addresses))
        try:
            rows = self.db.execute(
                f"SELECT address, signature, record FROM shown WHERE address IN ({marks})",
                list(addresses),
            ).fetchall()
        except sqlite3.Error:
            return {}
        return {
            address: record
            for address, signature, record in rows
            if self.scan.signature_of(address) == signature
        }

    def keep(self, rows: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Keep records as (address, signature of the bytes read, record), in one
        transaction; after a failure, keep nothing more in this run."""
        if self.db is None or not self.keeping or not rows:
            return
        try:
            with _writing(self.db):
                self.db.executemany("INSERT OR REPLACE INTO shown VALUES (?, ?, ?)", rows)
        except sqlite3.Error:
            self.keeping = False

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None


class _Rows:
    """The parts' rows as keys, fetched in the read transaction that ``_Sync`` left open,
    which ends with the iteration (or when the listing is dropped)."""

    def __init__(self, connection: sqlite3.Connection, query: Query) -> None:
        self.connection = connection
        self.sort = query.sort
        self.parts = _parts(query)
        statement, parameters, self.values = self.parts.pop(0)
        self.cursor = connection.execute(statement, parameters)
        self.first = self.cursor.fetchmany(FIRST_ROWS)

    def __iter__(self) -> Iterator[Key]:
        try:
            yield from self._keys(self.first, self.values)
            self.first = []
            yield from self._keys(self.cursor, self.values)
            for statement, parameters, values in self.parts:
                yield from self._keys(self.connection.execute(statement, parameters), values)
        finally:
            _rollback(self.connection)
            self.connection.close()

    def _keys(self, rows: Iterable[Any], values: bool) -> Iterator[Key]:
        descending = self.sort.descending
        if values:  # v0_order.key_of: a value puts the flag at ``descending``
            for value, address in rows:
                yield (descending, value, address)
        else:
            missing = placeholder(self.sort)
            for (address,) in rows:
                yield (not descending, missing, address)


@contextlib.contextmanager
def _writing(connection: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed at the end, rolled back if anything raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
        connection.execute("COMMIT")
    except BaseException:
        _rollback(connection)
        raise


def _rollback(connection: sqlite3.Connection) -> None:
    if connection.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            connection.execute("ROLLBACK")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value
