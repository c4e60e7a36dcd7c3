"""A directory on local disk, answering as a bucket does.

Keys are paths below the root. A child is a subdirectory; an object is a regular file.
Nothing here follows a symbolic link: listings skip links, and a key whose real path
leaves the root is refused. Listings come in the order a bucket lists keys (by the full
key, so ``a-b`` sorts before ``a/``), one directory at a time.

Writes are the file store's: a temporary file, fsync and rename (``fsutil``). A conditional
write or delete compares the content's digest under an ``flock`` of the object's
directory; a create links a complete temporary file into place, which fails if a file is
already there, so no reader sees half an object. A delete removes the directories it
leaves empty, up to the root: object stores have no empty directories, and a listing of
children here must not show a conversation that no longer has an object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from convstore.errors import Conflict, ConvstoreError, StoreUnavailable
from convstore.fsutil import (
    TEMPORARY_SUFFIX,
    atomic_write,
    fsync_directory,
    locked_directory,
    temporary_name,
)
from convstore.objects.base import (
    ObjectInfo,
    Objects,
    Read,
    changed,
    check_key,
    check_prefix,
    exists,
)
from convstore.stores.v0_scan import signature_of

_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def content_version(data: bytes) -> str:
    """The version of a local object: a digest of its content."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


class LocalObjects(Objects):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.location = str(root)

    # Listing

    def children(self, prefix: str) -> Iterator[str]:
        directory = self._directory(check_prefix(prefix))
        names = [
            entry.name for entry in self._scan(directory) if entry.is_dir(follow_symlinks=False)
        ]
        names.sort(key=lambda name: name + "/")
        return iter(names)

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
                yield ObjectInfo(
                    prefix + name,
                    status.st_size,
                    datetime.fromtimestamp(status.st_mtime_ns / 1e9, UTC),
                    signature_of(status).hex(),
                )

    def _scan(self, directory: str) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(directory) as entries:
                return list(entries)
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as error:
            raise StoreUnavailable(f"cannot list {directory}: {error.strerror}") from error

    # Reading

    def read(self, key: str) -> Read | None:
        path = self._file(key)
        try:
            descriptor = os.open(path, _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as error:
            raise StoreUnavailable(f"cannot read {path}: {error.strerror}") from error
        with os.fdopen(descriptor, "rb") as stream:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                return None  # a directory, a FIFO: not an object
            data = stream.read()
        return Read(key, data, content_version(data), signature_of(status).hex())

    def head(self, key: str) -> tuple[str, str] | None:
        found = self.read(key)  # a digest needs the content
        return None if found is None else (found.version, found.signature)

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
        with self._locked(path, key):
            current = self.read(key)
            if current is None or current.version != version:
                raise changed(key, self.location)
            with self._writing(path):
                atomic_write(path, data, path.stat())
        return content_version(data)

    def delete(self, key: str, version: str | None = None) -> None:
        path = Path(self._file(key))
        try:
            with self._locked(path, key):
                if version is not None:
                    current = self.read(key)
                    if current is None or current.version != version:
                        raise changed(key, self.location)
                with self._writing(path):
                    path.unlink()
        except Conflict:
            if version is not None:
                raise
            return  # its directory is gone, and the object with it
        except FileNotFoundError:
            if version is not None:
                raise changed(key, self.location) from None
            return
        self._prune(path.parent)

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
        return str(self.root) if not prefix else self._file(prefix)

    def _file(self, key: str) -> str:
        """The path of ``key``; refused when it resolves outside the root (a link)."""
        path = os.path.join(self.root, *check_key(key).split("/"))
        real_root = os.path.realpath(self.root)
        real = os.path.realpath(path)
        if real != real_root and not real.startswith(real_root + os.sep):
            raise ConvstoreError(
                f"{path} leads out of {self.root} through a symbolic link; not followed"
            )
        return path

    def _make_parents(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreUnavailable(f"cannot create {path.parent}: {error.strerror}") from error

    @contextlib.contextmanager
    def _locked(self, path: Path, key: str) -> Iterator[None]:
        try:
            with locked_directory(path.parent):
                yield
        except (FileNotFoundError, NotADirectoryError) as error:
            raise changed(key, self.location) from error
        except PermissionError as error:
            raise StoreUnavailable(f"cannot write {path.parent}: permission denied") from error

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
