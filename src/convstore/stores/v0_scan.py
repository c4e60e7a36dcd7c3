"""Reading V0 metadata.json files for listings: one bounded read each, a compact summary.

A listing needs, of every conversation, only its filter fields and sort values. This
module reads a file the one way every reader shares (``read_metadata``: refusing what
cannot be metadata before reading it) and reduces it to an ``Entry``: a flat tuple
that pickles cheaply between processes and is exactly a row of the V0 index cache
(``v0_cache``). Timestamps are integer microseconds, ordered as the datetimes are.

It imports neither pydantic nor SQLAlchemy, so worker processes that scan a share of
a large store start in milliseconds (``convstore.parallel``).

An entry's ``signature`` is the file's (mtime_ns, ctime_ns, size, inode) at the moment
it was read, taken from the open descriptor before the read: a write after that point
changes the signature, so a later scan that sees the same signature may reuse the
entry. Two writes within one tick of a coarse file-system clock can leave mtime, size
and inode unchanged, so a file changed less than ``RACY_WINDOW_NS`` before the scan
began gets ``UNTRUSTED`` instead (git's "racy git" rule): the next scan reads it again.
ctime is part of the signature because no program can set it: a restore that puts back
an old mtime still moves ctime.

OpenHands rewrites a metadata.json in place (open with truncation, then write), so a
read can catch it empty or cut short. Every reader reads through ``settled``: a file
that does not parse and was modified less than ``SETTLING_NS`` ago is read again, a
few times within about 100 ms, before it is taken as broken; one broken for longer is
reported at once.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from convstore import parallel
from convstore.owners import owner_of
from convstore.stores import metadata_json
from convstore.timestamps import parse_timestamp, to_micros

METADATA = "metadata.json"
# Coarse file-system clocks tick in at most a few milliseconds on Linux; FAT's is 2 s.
RACY_WINDOW_NS = 2_000_000_000
UNTRUSTED = b""  # the signature of an entry no later scan may reuse
_SIGNATURE = struct.Struct("<4q")
SIGNATURE_SIZE = _SIGNATURE.size
# Below this many stats per worker, a worker costs more than it saves.
STAT_ITEMS_PER_WORKER = 10_000
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
# A rewrite in place takes microseconds; a file modified this recently that does not
# parse may be one caught midway (mtime, not ctime: it is what a writer's truncation
# and write set, and a file broken for long can be shown to be by its mtime).
SETTLING_NS = 2_000_000_000
REREADS = 5  # read again at most this many times, this far apart: about 100 ms in all
REREAD_PAUSE = 0.02
Found = tuple[os.stat_result, bytes]  # a file's status (taken before the read), its bytes


class Refused(Exception):
    """metadata.json is not something convstore reads as metadata; the message says why."""


class Entry(NamedTuple):
    """One conversation as a listing sees it; also a row of the V0 index cache.

    ``signature`` is None when the entry must not be cached at all (a read error that
    may be passing, a link, a special file).
    """

    address: str
    signature: bytes | None
    owner: str | None = None  # ``owners.owner_of``: what --user matches
    title: str | None = None
    selected_repository: str | None = None
    trigger: str | None = None
    created: int | None = None  # created_at, microseconds since 1970 (UTC)
    updated: int | None = None  # last_updated_at, likewise


@dataclass(slots=True)
class Summary:
    """What a listing needs of one file: its filter fields and sort values (``Listable``)."""

    conversation_id: str
    owner: str | None = None
    title: str | None = None
    selected_repository: str | None = None
    trigger: str | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    version: str = "V0"
    execution_status: str | None = None
    org_id: str | None = None
    parent_conversation_id: str | None = None


def summarize(address: str, data: dict[str, Any] | None) -> Summary:
    """The listing fields of a decoded file, read exactly as the full model reads them."""
    if data is None:
        return Summary(address)
    return Summary(
        address,
        owner=owner_of(data.get("user_id"), data.get("github_user_id")),
        title=_text(data.get("title")),
        selected_repository=_text(data.get("selected_repository")),
        trigger=_text(data.get("trigger")),
        created_at=parse_timestamp(data.get("created_at")),
        last_updated_at=parse_timestamp(data.get("last_updated_at")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def entry_of(summary: Summary, signature: bytes | None) -> Entry:
    created, updated = summary.created_at, summary.last_updated_at
    return Entry(
        summary.conversation_id,
        signature,
        summary.owner,
        summary.title,
        summary.selected_repository,
        summary.trigger,
        None if created is None else to_micros(created),
        None if updated is None else to_micros(updated),
    )


def signature_of(status: os.stat_result) -> bytes:
    return _SIGNATURE.pack(status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)


def settled(read_once: Callable[[], Found | None]) -> Found | None:
    """What ``read_once`` gives, read again while it looks like a rewrite in place caught
    midway (``caught_mid_write``), at most REREADS times."""
    found = read_once()
    for _ in range(REREADS):
        if found is None or not caught_mid_write(*found):
            break
        time.sleep(REREAD_PAUSE)
        found = read_once()
    return found


def caught_mid_write(status: os.stat_result, raw: bytes) -> bool:
    """True when ``raw`` may be a rewrite caught midway: it is no JSON object (empty, or
    cut short) and the file was modified less than SETTLING_NS ago."""
    if status.st_mtime_ns < time.time_ns() - SETTLING_NS:
        return False
    return metadata_json.decode(raw).data is None


def read_metadata(path: str, directory: int | None = None) -> Found | None:
    """The file's status (taken before the read) and its bytes; None when it does not
    exist. Read again while it looks caught mid-rewrite (``settled``).

    Refuses what cannot be metadata before reading it: a file larger than
    MAX_METADATA_BYTES, or something that is not a regular file (a FIFO or a link to
    /dev/zero would never end). ``path`` is relative to the directory descriptor
    ``directory`` when one is given. The read is one system call sized by the file.
    """
    return settled(lambda: _read_once(path, directory))


def _read_once(path: str, directory: int | None) -> Found | None:
    limit = metadata_json.MAX_METADATA_BYTES
    try:
        # O_NONBLOCK: opening a FIFO would otherwise wait for a writer, forever.
        descriptor = os.open(path, _OPEN_FLAGS, dir_fd=directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise Refused("metadata.json is a symbolic link; convstore does not follow it") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise Refused("metadata.json is not a regular file; it is not metadata")
        size = status.st_size
        if size > limit:
            raise Refused(
                f"metadata.json is {size:,} bytes, more than the {limit:,} "
                "convstore reads; it is not metadata"
            )
        raw = os.read(descriptor, size + 1)
        if len(raw) > size:  # it grew since fstat: read on to the end, within the bound
            parts = [raw]
            total = len(raw)
            while total <= limit and (more := os.read(descriptor, limit + 1 - total)):
                parts.append(more)
                total += len(more)
            raw = b"".join(parts)
            if total > limit:
                raise Refused(f"metadata.json grew past the {limit:,} bytes convstore reads")
    finally:
        os.close(descriptor)
    return status, raw


def read_entry(
    address: str, path: str, directory: int | None, trust_before_ns: int
) -> Entry | None:
    """The entry of one conversation directory; None when it holds no metadata.json.

    A file that cannot be read is still listed (its record says why), as OpenHands'
    operators need to see it; only a refusal that follows from the signature (a size
    over the bound, bytes that are not a JSON object) is cacheable.
    """
    try:
        found = read_metadata(path, directory)
    except (OSError, Refused):
        return Entry(address, None)
    if found is None:
        return None
    status, raw = found
    if max(status.st_mtime_ns, status.st_ctime_ns) < trust_before_ns:
        signature = signature_of(status)
    else:
        signature = UNTRUSTED
    return entry_of(summarize(address, metadata_json.decode(raw).data), signature)


def stat_chunk(sessions: str, addresses: Sequence[str]) -> Stats:
    """The signature of each directory's metadata.json, without reading it.

    Directories without one are left out, as listings leave them out; those whose
    file cannot be examined or is not a regular file are set aside for a reader that
    says why (``read_entry``).
    """
    found = Stats([], bytearray(), [])
    try:
        directory = os.open(sessions, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return found  # sessions/ went away since it was listed: no conversation is left
    status_of, regular, pack = os.stat, stat.S_ISREG, _SIGNATURE.pack
    try:
        for address in addresses:
            try:
                status = status_of(
                    address + "/" + METADATA, dir_fd=directory, follow_symlinks=False
                )
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                found.odd.append(address)
                continue
            if not regular(status.st_mode):
                found.odd.append(address)
                continue
            found.addresses.append(address)
            found.signatures.extend(
                pack(status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)
            )
    finally:
        os.close(directory)
    return found


def stat_all(sessions: str, addresses: Sequence[str], limit: int | None) -> Stats:
    """``stat_chunk`` of every address, on as many cores as pay (at most ``limit``).

    A stat is mostly the kernel's path lookup, which two processes do side by side
    (measured at 100k files: 0.29-0.40 s in one process, 0.21-0.22 s in two; equal at
    10k files, hence ``STAT_ITEMS_PER_WORKER``).
    """
    workers = parallel.workers_for(len(addresses), limit, per_worker=STAT_ITEMS_PER_WORKER)
    if workers == 0:
        return stat_chunk(sessions, addresses)
    found = Stats([], bytearray(), [])
    chunks = parallel.chunked(addresses, workers)
    calls = ((sessions, chunk) for chunk in chunks)
    for chunk, (mask, signatures, odd) in zip(
        chunks, parallel.ordered_map(_stat_mask, calls, workers), strict=True
    ):
        found.addresses.extend(itertools.compress(chunk, mask))
        found.signatures.extend(signatures)
        found.odd.extend(odd)
    return found


def _stat_mask(sessions: str, addresses: Sequence[str]) -> tuple[bytes, bytearray, list[str]]:
    """``stat_chunk`` in a worker, with the addresses found sent back as a mask over
    those given: the parent keeps its own strings instead of 10^5 unpickled copies."""
    found = stat_chunk(sessions, addresses)
    kept = set(found.addresses)
    return bytes(address in kept for address in addresses), found.signatures, found.odd


class Stats(NamedTuple):
    """What ``stat_chunk`` found: addresses with their signatures, in the order given.

    The signatures are one buffer of ``SIGNATURE_SIZE``-byte records: for 10^5 files,
    a third of the memory of as many bytes objects.
    """

    addresses: list[str]
    signatures: bytearray
    odd: list[str]


def signature_at(signatures: bytes | bytearray, index: int) -> bytes:
    start = index * SIGNATURE_SIZE
    return bytes(signatures[start : start + SIGNATURE_SIZE])


def scan_chunk(sessions: str, addresses: Sequence[str], trust_before_ns: int) -> list[Entry]:
    """The entries of some directories of ``sessions``: one worker's share of a scan."""
    return [entry for _, entry in entries_of(sessions, addresses, trust_before_ns)]


def entries_of(
    sessions: str, addresses: Sequence[str], trust_before_ns: int
) -> Iterator[tuple[int, Entry]]:
    """Each directory's entry with its position in ``addresses`` (those that hold a
    metadata.json). Paths are resolved from a descriptor of ``sessions``, so the kernel
    walks two path components per file instead of the whole absolute path."""
    try:
        directory = os.open(sessions, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return  # sessions/ went away since it was listed: no conversation is left
    try:
        for index, address in enumerate(addresses):
            entry = read_entry(address, address + "/" + METADATA, directory, trust_before_ns)
            if entry is not None:
                yield index, entry
    finally:
        os.close(directory)
