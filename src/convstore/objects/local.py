"""A directory on local disk, answering as a bucket does, at the speed of local disk.

Keys are paths below the root. A child is a subdirectory; an object is a regular file.
Nothing here follows a symbolic link out of the root: listings set links apart
(``Children.linked``), a key whose real path leaves the root is refused (``OutOfStore``),
and a file that is itself a link is never opened (``O_NOFOLLOW``). Listings come in the
order a bucket lists keys (by the full key, so ``a-b`` sorts before ``a/``), one
directory at a time.

What only local disk needs, and is kept behind the interface:

- Reads are one bounded ``read`` sized by ``fstat``, of a file opened non-blocking (a
  FIFO would wait for a writer, ``/dev/zero`` never end). OpenHands rewrites a file in
  place (open with truncation, then write), so a read can catch it empty or cut short:
  given a ``whole`` test, a file that fails it and was modified less than
  ``SETTLING_NS`` ago is read again, a few times within about 100 ms (a bucket's PUT
  replaces an object whole, so there is nothing to wait for there).
- A signature is the file's (mtime_ns, ctime_ns, size, inode), taken from the open
  descriptor before the read: a write after that point changes it. Two writes within one
  tick of a coarse file-system clock can leave it unchanged, so a file changed less than
  ``RACY_WINDOW_NS`` before it was read has an unstable signature (git's "racy git"
  rule): a cache reads it again next time. ctime is in it because no program can set it
  back: a restore that puts back an old mtime still moves ctime.
- Batches: ``stat_many`` stats and ``map_reads`` reads and reduces on as many cores as
  pay (``convstore.parallel``), resolving each path from a descriptor of the directory
  listed, so the kernel walks two components per file instead of the whole path.
  Reading and parsing 10^5 small JSON files is work for the interpreter, which threads
  do not share.
- Writes are a compare-and-swap under the directory's ``flock`` with an atomic exchange
  (``swap``); a create links a complete temporary file into place, which fails if a file
  is already there, so no reader sees half an object. A tree is deleted by renaming each
  directory to a hidden name first (one step each, undone together if one fails) and
  removing it after: a crash leaves a ``.deleting-*`` directory that `verify --fix`
  removes. A delete removes the directories it leaves empty, up to the root: object
  stores have no empty directories, and a listing of children must not show a
  conversation that no longer has an object.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import secrets
import shutil
import stat
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from convstore import parallel
from convstore.errors import ConvstoreError, StoreUnavailable
from convstore.fsutil import (
    TEMPORARY_SUFFIX,
    atomic_write,
    fsync_directory,
    locked_directory,
    temporary_name,
    tree_size,
)
from convstore.objects import swap
from convstore.objects.base import (
    UNCHANGED,
    Children,
    Forbidden,
    Linked,
    NotRegular,
    ObjectInfo,
    Objects,
    Outcome,
    OutOfStore,
    Read,
    Reduce,
    Refused,
    Signatures,
    TooLarge,
    Unchanged,
    View,
    Whole,
    changed,
    check_key,
    check_prefix,
    content_version,
    exists,
    name_of,
)

T = TypeVar("T")
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# Coarse file-system clocks tick in at most a few milliseconds on Linux; FAT's is 2 s.
RACY_WINDOW_NS = 2_000_000_000
# A rewrite in place takes microseconds; a file modified this recently that is not whole
# may be one caught midway (mtime, not ctime: it is what a writer's truncation and write
# set, and a file broken for long can be shown to be by its mtime).
SETTLING_NS = 2_000_000_000
REREADS = 5  # read again at most this many times, this far apart: about 100 ms in all
REREAD_PAUSE = 0.02
_SIGNATURE = struct.Struct("<4q")
SIGNATURE_SIZE = _SIGNATURE.size
# Below this many stats per worker, a worker costs more than it saves (measured at 100k
# files: 0.29-0.40 s in one process, 0.21-0.22 s in two; equal at 10k files).
STAT_ITEMS_PER_WORKER = 10_000
# A deleted tree is first renamed to this hidden prefix, then removed, so a crash never
# leaves half a conversation visible; `verify` reports leftovers.
DELETING_PREFIX = ".deleting-"
# The clock the racy window is measured by (tests move it).
now_ns = time.time_ns
Found = tuple[os.stat_result, bytes]  # a file's status (taken before the read), its bytes


def signature_of(status: os.stat_result) -> bytes:
    return _SIGNATURE.pack(status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)


class LocalObjects(Objects):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)
        self.directory = root

    @property
    def identity(self) -> str:
        return str(self.root.resolve())

    def describe(self, key: str) -> str:
        return os.path.join(self.root, *check_key(key).split("/"))

    # Listing

    def children_of(self, prefix: str) -> Children:
        found = Children()
        for entry in self._scan(self._directory(check_prefix(prefix))):
            if entry.is_symlink():
                if _is_directory(entry):
                    found.linked.append(entry.name)
            elif entry.is_dir(follow_symlinks=False):
                found.names.append(entry.name)
        _key_order(found.names)
        _key_order(found.linked)
        return found

    def walk(self, prefix: str) -> Iterator[ObjectInfo]:
        start = check_prefix(prefix)
        return self._walk(self._directory(start), f"{start}/" if start else "")

    def _walk(self, directory: str, prefix: str) -> Iterator[ObjectInfo]:
        entries = sorted(
            (entry.name + ("/" if entry.is_dir(follow_symlinks=False) else ""), entry)
            for entry in self._scan(directory)
            if not entry.name.endswith(TEMPORARY_SUFFIX)
        )
        for name, entry in entries:
            if name.endswith("/"):
                yield from self._walk(entry.path, prefix + name)
                continue
            try:
                status = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted since the directory was read
            if stat.S_ISREG(status.st_mode):
                yield _info(prefix + name, status)

    def _scan(self, directory: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise StoreUnavailable(f"cannot list {directory}: {error.strerror}") from error

    # Reading

    def read(
        self, key: str, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | None:
        return _read_file(self._file(key), None, key, limit, whole)

    def read_if_changed(
        self, key: str, signature: bytes, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | Unchanged | None:
        path = self._file(key)
        try:
            status = os.stat(path, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            status = None  # the read says why
        regular = status is not None and stat.S_ISREG(status.st_mode)
        if regular and signature_of(status) == signature:  # type: ignore[arg-type]
            return UNCHANGED
        return _read_file(path, None, key, limit, whole)

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
        directory = self._directory(check_prefix(prefix))
        count = parallel.workers_for(len(names), workers)
        chunks = parallel.chunked(names, count, chunk)
        signatures: list[Sequence[bytes | None] | None] = [None] * len(chunks)
        if known is not None:
            size = len(chunks[0]) if chunks else 1
            signatures = [known[start : start + size] for start in range(0, len(names), size)]
        calls = (
            (directory, prefix, chunk, leaf, reduce, limit, whole, chunk_known)
            for chunk, chunk_known in zip(chunks, signatures, strict=True)
        )
        if not count:  # here, with no pool, one at a time
            for call in calls:
                yield from _reduced(*call)
            return
        for results in parallel.ordered_map(_reduce_chunk, calls, count):
            yield from results

    def map_prefixes(
        self,
        prefix: str,
        names: Sequence[str],
        reduce: Callable[[View], T],
        *,
        workers: int | None = None,
        chunk: int | None = None,
    ) -> Iterator[T]:
        directory = self._directory(check_prefix(prefix))
        count = parallel.workers_for(len(names), workers)
        if not count:  # one at a time, here: memory holds what the caller holds
            for name in names:
                yield from _view_chunk(directory, prefix, [name], reduce)
            return
        chunks = parallel.chunked(names, count, chunk)
        calls = ((directory, prefix, part, reduce) for part in chunks)
        for results in parallel.ordered_map(_view_chunk, calls, count):
            yield from results

    def entries(self, prefix: str) -> list[str]:
        directory = self._directory(check_prefix(prefix))
        try:
            return os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise Refused(f"the directory cannot be listed: {error.strerror}") from error

    def leftovers(self, prefix: str) -> list[str]:
        try:
            return _temporaries(self.entries(prefix))
        except Refused:
            return []

    def stat_many(
        self, prefix: str, names: Sequence[str], leaf: str, *, workers: int | None = None
    ) -> Signatures:
        """A stat each, on as many cores as pay: a stat is mostly the kernel's path
        lookup, which two processes do side by side."""
        directory = self._directory(check_prefix(prefix))
        count = parallel.workers_for(len(names), workers, per_worker=STAT_ITEMS_PER_WORKER)
        if count == 0:
            return stat_chunk(directory, names, leaf)
        found = Signatures([], bytearray(), SIGNATURE_SIZE, [])
        chunks = parallel.chunked(names, count)
        calls = ((directory, chunk, leaf) for chunk in chunks)
        for chunk, (mask, signatures, odd) in zip(
            chunks, parallel.ordered_map(_stat_mask, calls, count), strict=True
        ):
            found.names.extend(itertools.compress(chunk, mask))
            found.packed.extend(signatures)
            found.odd.extend(odd)
        return found

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            status = os.stat(self._file(key), follow_symlinks=False)
        except OSError:
            return None
        return _info(key, status) if stat.S_ISREG(status.st_mode) else None

    def head(self, key: str) -> tuple[str, bytes] | None:
        found = self.read(key)  # a digest needs the content
        return None if found is None else (found.version, found.signature)

    def workers_for(self, items: int, limit: int | None = None) -> int:
        return parallel.workers_for(items, limit)

    # Writing

    def create_if_absent(self, key: str, data: bytes) -> str:
        path = Path(self._file(key))
        self._make_parents(path)
        temporary = temporary_name(path)
        try:
            with self._writing(path), open(temporary, "xb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            try:
                os.link(temporary, path)  # fails if the object exists, whole or not at all
            except FileExistsError as error:
                raise exists(key, self.location) from error
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        fsync_directory(path.parent)
        return content_version(data)

    def write_if_unchanged(self, key: str, data: bytes, version: str) -> str:
        path = Path(self._file(key))
        with self._locked(path.parent, key):
            current = self._current(path, key, version)
            try:
                with self._writing(path):
                    swap.replace(path, current, data)
            except swap.Changed as error:
                raise changed(key, self.location) from error
        return content_version(data)

    def copy(self, key: str, destination: str) -> None:
        found = self.read(key)
        if found is None:
            raise StoreUnavailable(f"cannot copy {self.describe(key)}: it is gone")
        target = Path(self._file(destination))
        self._make_parents(target)
        with self._writing(target):
            atomic_write(target, found.data)

    def delete(self, key: str, version: str | None = None) -> None:
        path = Path(self._file(key))
        try:
            with self._locked(path.parent, key):
                if version is not None:
                    self._current(path, key, version)
                with self._writing(path):
                    path.unlink()
        except ConvstoreError:
            if version is not None:
                raise
            return  # its directory is gone, and the object with it
        except FileNotFoundError:
            if version is not None:
                raise changed(key, self.location) from None
            return
        self._prune(path.parent)

    def delete_trees(self, prefixes: Sequence[str], guard: tuple[str, str] | None = None) -> None:
        """Every directory hidden first (one rename each), then deleted at leisure. With a
        guard, the first prefix's directory goes first, as a compare-and-swap: once
        hidden, it is out of OpenHands' reach, and the guard must still be as read. All
        or nothing: a tree half hidden would vanish from listings while the command
        reports a failure."""
        directories = [Path(self._directory(check_prefix(prefix))) for prefix in prefixes]
        hidden: list[tuple[Path, Path]] = []
        with contextlib.ExitStack() as stack:
            expected: bytes | None = None
            inside = ""
            if guard is not None:
                key, version = guard
                path = Path(self._file(key))
                stack.enter_context(self._locked(directories[0], key))
                expected = self._current(path, key, version)
                inside = os.path.relpath(path, directories[0])
            path = directories[0]
            try:
                for path in directories:
                    if expected is None and not path.is_dir():
                        continue  # nothing there: nothing to delete
                    hiding = _hiding_name(path)
                    if expected is not None:
                        swap.move(path, hiding, inside, expected)
                        expected = None
                    else:
                        path.rename(hiding)
                    hidden.append((path, hiding))
            except swap.Changed as error:
                assert guard is not None
                note = None if error.kept_at is None else str(error)
                raise changed(guard[0], self.location, note) from error
            except OSError as error:
                for original, hiding in reversed(hidden):
                    hiding.rename(original)
                raise StoreUnavailable(
                    f"cannot delete {path}: {error.strerror}; nothing was deleted"
                ) from error
        for _, hiding in hidden:
            shutil.rmtree(hiding, ignore_errors=True)

    def move_tree(self, prefix: str, destination: str, guard: tuple[str, str]) -> None:
        directory = Path(self._directory(check_prefix(prefix)))
        target = Path(self._file(destination))
        key, version = guard
        path = Path(self._file(key))
        self._make_parents(target)
        with self._locked(directory, key):
            expected = self._current(path, key, version)
            try:
                swap.move(directory, target, os.path.relpath(path, directory), expected)
            except swap.Changed as error:
                note = None if error.kept_at is None else str(error)
                raise changed(key, self.location, note) from error
            except OSError as error:
                raise StoreUnavailable(
                    f"cannot move {directory} to {target}: {error.strerror}"
                ) from error

    def plan_trees(self, prefixes: Sequence[str]) -> tuple[list[str], int]:
        """Each directory (its files are many, and go with it), and the bytes in them."""
        listed, total = [], 0
        for prefix in prefixes:
            directory = Path(self._directory(check_prefix(prefix)))
            try:
                is_tree = directory.is_dir() and not directory.is_symlink()
            except PermissionError as error:
                raise StoreUnavailable(
                    f"cannot read {directory.parent}: permission denied"
                ) from error
            if is_tree:
                listed.append(f"directory {directory}")
                total += tree_size(directory)
        return listed, total

    def probe(self) -> None:
        try:
            status = os.stat(self.root)
        except FileNotFoundError:
            return  # an empty store: nothing written yet
        except OSError as error:
            raise StoreUnavailable(f"cannot read {self.root}: {error.strerror}") from error
        if not stat.S_ISDIR(status.st_mode):
            raise StoreUnavailable(f"{self.root} is not a directory")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise StoreUnavailable(f"cannot read {self.root}: permission denied")

    # Helpers

    def _directory(self, prefix: str) -> str:
        return str(self.root) if not prefix else self._file(prefix, whole=True)

    def _file(self, key: str, *, whole: bool = False) -> str:
        """The path of ``key``; ``OutOfStore`` when it leads out of the root through a
        symbolic link (one inside the root is followed, as OpenHands follows it). Of a
        file, the directories on the way are looked at (the file is opened without
        following a link); of a directory (``whole``), every component."""
        segments = check_key(key).split("/")
        path = os.path.join(self.root, *segments)
        if not self._passes_link(segments if whole else segments[:-1]):
            return path  # the common case: a few lstat calls, no realpath
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path if whole else os.path.dirname(path))
        if real != real_root and not real.startswith(real_root + os.sep):
            link = self._link_out(key)
            raise OutOfStore(
                f"{link} is a symbolic link out of the file store; not followed",
                link,
                os.path.realpath(link),
            )
        return path

    def _passes_link(self, segments: list[str]) -> bool:
        """Whether the path below the root through ``segments`` goes through a symbolic
        link. Without one it cannot leave the root, so ``_file`` needs no realpath (which
        looks at every component from ``/``, twice: most of a read's cost)."""
        path = str(self.root)
        for segment in segments:
            path = os.path.join(path, segment)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                return False  # nothing further exists to lead anywhere; the caller says why
            if stat.S_ISLNK(mode):
                return True
            if not stat.S_ISDIR(mode):
                return False
        return False

    def _link_out(self, key: str) -> str:
        """The first component of ``key``'s path that is a link leading out of the root."""
        real_root = os.path.realpath(self.root)
        path = str(self.root)
        for segment in key.split("/"):
            path = os.path.join(path, segment)
            if os.path.islink(path):
                real = os.path.realpath(path)
                if real != real_root and not real.startswith(real_root + os.sep):
                    return path
        return path

    def _current(self, path: Path, key: str, version: str) -> bytes:
        """Under the lock: the file's bytes if they are still at ``version``; read again
        while they differ and the file was just modified (a rewrite in place may be
        putting back the same bytes); a Conflict otherwise."""
        found = _settled(
            lambda: _read_once(str(path), None, name_of(key), None),
            lambda raw: content_version(raw) == version,
        )
        if found is None or content_version(found[1]) != version:
            raise changed(key, self.location)
        return found[1]

    def _make_parents(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create {path.parent}: {error.strerror}") from error

    @contextlib.contextmanager
    def _locked(self, directory: Path, key: str) -> Iterator[None]:
        try:
            with locked_directory(directory):
                yield
        except (FileNotFoundError, NotADirectoryError) as error:
            raise changed(key, self.location) from error
        except PermissionError as error:
            raise StoreUnavailable(f"cannot write {directory}: permission denied") from error

    @contextlib.contextmanager
    def _writing(self, path: Path) -> Iterator[None]:
        try:
            yield
        except PermissionError as error:
            raise StoreUnavailable(f"cannot write {path}: permission denied") from error

    def _prune(self, directory: Path) -> None:
        """Remove ``directory`` and its parents while empty, up to the root."""
        root = Path(self.root)
        while directory != root and root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return  # not empty (or not ours to remove): the rest stays too
            directory = directory.parent


# Reading one file


def _read_file(
    path: str,
    directory: int | None,
    key: str,
    limit: int | None,
    whole: Whole | None,
    base: str = "",
) -> Read | None:
    """The file's content as a Read; None when it does not exist; Refused for what is
    no plain object. Read again while it looks caught mid-rewrite (module docstring).
    ``base``: the path of the directory descriptor ``directory``, for messages."""
    started = now_ns()
    name = name_of(key)
    found = _settled(lambda: _read_once(path, directory, name, limit, base), whole)
    if found is None:
        return None
    status, raw = found
    return Read(
        key,
        raw,
        content_version(raw),
        signature_of(status),
        datetime.fromtimestamp(status.st_mtime_ns / 1e9, UTC),
        max(status.st_mtime_ns, status.st_ctime_ns) < started - RACY_WINDOW_NS,
    )


def _settled(read_once: Callable[[], Found | None], whole: Whole | None) -> Found | None:
    """What ``read_once`` gives, read again while it is not ``whole`` and the file was
    modified less than SETTLING_NS ago, at most REREADS times."""
    found = read_once()
    if whole is None:
        return found
    for _ in range(REREADS):
        if found is None or found[0].st_mtime_ns < time.time_ns() - SETTLING_NS:
            break
        if whole(found[1]):
            break
        time.sleep(REREAD_PAUSE)
        found = read_once()
    return found


def _read_once(
    path: str, directory: int | None, name: str, limit: int | None, base: str = ""
) -> Found | None:
    """One bounded read: refuses what is no plain object (a link, a FIFO, a device) or is
    larger than ``limit`` before reading it. ``path`` is relative to the directory
    descriptor ``directory`` (whose path is ``base``) when one is given.

    A file this user may not read, or whose own directory (one conversation's) it may
    not search, is ``Forbidden``: the record says so. A directory further up that it may
    not search (``sessions/``) makes the whole store unreadable here: exit 3."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS, dir_fd=directory)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except PermissionError:
        _searchable(os.path.join(base, path) if directory is not None else path)
        detail = _owner(path, directory)
        raise Forbidden(f"{name} is not readable (permission denied)", detail) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise Linked(f"{name} is a symbolic link; convstore does not follow it") from None
        raise Refused(f"{name} cannot be read: {error.strerror}") from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise NotRegular(f"{name} is not a regular file")
        size = status.st_size
        if limit is not None and size > limit:
            raise TooLarge(f"{name} is {size:,} bytes, more than the {limit:,} convstore reads")
        raw = os.read(descriptor, size + 1)
        if len(raw) > size:  # it grew since fstat: read on to the end, within the bound
            parts, total = [raw], len(raw)
            bound = limit if limit is not None else 1 << 62
            while total <= bound and (more := os.read(descriptor, bound + 1 - total)):
                parts.append(more)
                total += len(more)
            raw = b"".join(parts)
            if total > bound:
                raise TooLarge(f"{name} grew past the {bound:,} bytes convstore reads")
    except OSError as error:
        raise Refused(f"{name} cannot be read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    return status, raw


# Batches, in a worker process or here


def _reduce_chunk(
    directory: str,
    prefix: str,
    names: Sequence[str],
    leaf: str,
    reduce: Reduce[T],
    limit: int | None,
    whole: Whole | None,
    known: Sequence[bytes | None] | None = None,
) -> list[T]:
    """``_reduced`` of a chunk, in a worker."""
    return list(_reduced(directory, prefix, names, leaf, reduce, limit, whole, known))


def _reduced(
    directory: str,
    prefix: str,
    names: Sequence[str],
    leaf: str,
    reduce: Reduce[T],
    limit: int | None,
    whole: Whole | None,
    known: Sequence[bytes | None] | None = None,
) -> Iterator[T]:
    """``reduce`` of ``<directory>/<name>/<leaf>`` of each name, read through a descriptor
    of ``directory``, one at a time; with ``known``, UNCHANGED for a file that still has
    its signature."""
    try:
        descriptor: int | None = os.open(directory, _DIRECTORY_FLAGS)
    except FileNotFoundError:
        descriptor = None  # gone since it was listed: every object with it
    try:
        for index, name in enumerate(names):
            key = f"{prefix}/{name}/{leaf}"
            path = f"{name}/{leaf}"
            outcome: Outcome = None
            if descriptor is not None:
                try:
                    if known is not None and _has(path, descriptor, known[index]):
                        outcome = UNCHANGED
                    else:
                        outcome = _read_file(path, descriptor, key, limit, whole, directory)
                except Refused as refused:
                    outcome = refused
            yield reduce(name, outcome)
    finally:
        if descriptor is not None:
            os.close(descriptor)


class _LocalView(View):
    """A conversation directory in a worker: read through the descriptor of the directory
    listed, listed once (``entries`` and ``leftovers`` share it)."""

    def __init__(self, descriptor: int | None, directory: str, prefix: str, name: str) -> None:
        self.descriptor = descriptor
        self.directory = directory
        self.prefix = prefix
        self.name = name
        self._entries: list[str] | None = None

    def read(self, leaf: str, *, limit: int | None = None, whole: Whole | None = None) -> Outcome:
        if self.descriptor is None:
            return None
        key = f"{self.prefix}/{self.name}/{leaf}"
        try:
            return _read_file(
                f"{self.name}/{leaf}", self.descriptor, key, limit, whole, self.directory
            )
        except Refused as refused:
            return refused

    def entries(self) -> list[str]:
        if self._entries is None:
            try:
                self._entries = os.listdir(os.path.join(self.directory, self.name))
            except (FileNotFoundError, NotADirectoryError):
                self._entries = []
            except OSError as error:
                raise Refused(f"the directory cannot be listed: {error.strerror}") from error
        return self._entries

    def leftovers(self) -> list[str]:
        try:
            return _temporaries(self.entries())
        except Refused:
            return []

    def describe(self, leaf: str = "") -> str:
        path = os.path.join(self.directory, self.name)
        return f"{path}/{leaf}" if leaf else path


def _view_chunk(
    directory: str, prefix: str, names: Sequence[str], reduce: Callable[[View], T]
) -> list[T]:
    """``reduce`` of the view of each name, through a descriptor of ``directory``."""
    try:
        descriptor: int | None = os.open(directory, _DIRECTORY_FLAGS)
    except FileNotFoundError:
        descriptor = None
    try:
        return [reduce(_LocalView(descriptor, directory, prefix, name)) for name in names]
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _temporaries(names: list[str]) -> list[str]:
    return [name for name in names if name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)]


def stat_chunk(directory: str, names: Sequence[str], leaf: str) -> Signatures:
    """The signature of ``<name>/<leaf>`` of each name, without reading it.

    Names without one are left out; those whose file cannot be examined or is not a
    regular file are set aside (``Signatures.odd``) for a reader that says why.
    """
    found = Signatures([], bytearray(), SIGNATURE_SIZE, [])
    try:
        descriptor = os.open(directory, _DIRECTORY_FLAGS)
    except FileNotFoundError:
        return found  # gone since it was listed: no object is left
    status_of, regular, pack = os.stat, stat.S_ISREG, _SIGNATURE.pack
    suffix = "/" + leaf
    try:
        for name in names:
            try:
                status = status_of(name + suffix, dir_fd=descriptor, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                found.odd.append(name)
                continue
            if not regular(status.st_mode):
                found.odd.append(name)
                continue
            found.names.append(name)
            found.packed.extend(
                pack(status.st_mtime_ns, status.st_ctime_ns, status.st_size, status.st_ino)
            )
    finally:
        os.close(descriptor)
    return found


def _stat_mask(
    directory: str, names: Sequence[str], leaf: str
) -> tuple[bytes, bytearray, list[str]]:
    """``stat_chunk`` in a worker, with the names found sent back as a mask over those
    given: the parent keeps its own strings instead of 10^5 unpickled copies."""
    found = stat_chunk(directory, names, leaf)
    kept = set(found.names)
    return bytes(name in kept for name in names), found.packed, found.odd


# Helpers


def _searchable(path: str) -> None:
    """StoreUnavailable naming the first directory above the directory of ``path`` this
    user may not search (nothing below it can be read); nothing when there is none."""
    parts = os.path.dirname(os.path.dirname(os.path.abspath(path))).split(os.sep)
    for end in range(2, len(parts) + 1):
        above = os.sep.join(parts[:end])
        if not os.access(above, os.X_OK, effective_ids=os.access in os.supports_effective_ids):
            raise StoreUnavailable(f"cannot read {above}: permission denied")


def _owner(path: str, directory: int | None) -> str:
    """Who owns a file this user may not read, and its mode, for a person to act on."""
    try:
        status = os.stat(path, dir_fd=directory, follow_symlinks=False)
    except OSError:
        return ""
    return f"owner uid {status.st_uid}, mode {status.st_mode & 0o777:o}"


def _has(path: str, directory: int, signature: bytes | None) -> bool:
    """True when the regular file ``path`` has ``signature``."""
    if signature is None:
        return False
    try:
        status = os.stat(path, dir_fd=directory, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(status.st_mode) and signature_of(status) == signature


def _info(key: str, status: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key,
        status.st_size,
        datetime.fromtimestamp(status.st_mtime_ns / 1e9, UTC),
        signature_of(status),
    )


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _key_order(names: list[str]) -> None:
    """Sort names as a bucket lists the keys below them (by ``name + "/"``). Plain order
    differs only where a name is the start of the next one, so that is sorted apart."""
    names.sort()
    if any(following.startswith(name) for name, following in itertools.pairwise(names)):
        names.sort(key=lambda name: name + "/")


def _hiding_name(path: Path) -> Path:
    return path.with_name(f"{DELETING_PREFIX}{path.name}-{secrets.token_hex(4)}")
