"""File-system primitives whose guarantees the stores rely on.

A metadata file is replaced, never rewritten in place: the new content is written and
synced beside it first (``prepared_file``), so a crash leaves the old or the new
content, never a torn file (``objects.swap`` makes the replacement). A conversation
directory is locked with ``flock`` on the directory itself, so two writers serialize
without leaving lock files behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from convstore.errors import CannotWrite, UsageError

# Temporary files start with "." so OpenHands (and `list`) never take them for data,
# and end with a suffix `verify` can recognise when a crash leaves one behind.
TEMPORARY_SUFFIX = ".convstore-tmp"


def temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{secrets.token_hex(4)}{TEMPORARY_SUFFIX}")


def prepared_file(target: Path, data: bytes, like: os.stat_result | None = None) -> Path:
    """A temporary file beside ``target`` holding ``data``, written and synced: ready to
    take ``target``'s place in one rename.

    ``like`` is the stat of the file it will replace: the new file keeps its mode and,
    where permitted, its owner, so OpenHands can still rewrite a file root touched.
    """
    temporary = temporary_name(target)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(data)
            stream.flush()
            if like is not None:
                os.fchmod(stream.fileno(), stat.S_IMODE(like.st_mode))
                with contextlib.suppress(PermissionError):
                    os.fchown(stream.fileno(), like.st_uid, like.st_gid)
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    return temporary


def atomic_write(target: Path, data: bytes, like: os.stat_result | None = None) -> None:
    """Replace ``target`` with ``data``: ``prepared_file``, rename, sync the directory.

    No comparison: for files only convstore writes. A file OpenHands may be writing
    too (a V0 metadata.json) is replaced as a compare-and-swap (``objects.swap``).
    """
    temporary = prepared_file(target, data, like)
    try:
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    fsync_directory(target.parent)


@contextlib.contextmanager
def atomic_text(target: Path) -> Iterator[TextIO]:
    """Write a text file in place of ``target`` atomically, streaming (exports, reports).

    A file that cannot be created, synced or put in place is CannotWrite (exit 3) naming
    ``target``; what the block itself raises passes unchanged.
    """
    temporary = temporary_name(target)
    try:
        stream = temporary.open("w", encoding="utf-8")
    except OSError as error:
        raise cannot_write(target, error) from error
    try:
        with stream:
            yield stream
            _finish(stream, temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _finish(stream: TextIO, temporary: Path, target: Path) -> None:
    try:
        stream.flush()
        os.fsync(stream.fileno())
        temporary.replace(target)
    except OSError as error:
        raise cannot_write(target, error) from error


def cannot_write(path: Path, error: OSError) -> CannotWrite:
    """``cannot write PATH: permission denied``: one line, exit 3."""
    return CannotWrite(f"cannot write {path}: {(error.strerror or str(error)).lower()}")


def check_output(path: Path, *, directory: bool) -> None:
    """Refuse an output before any work: a directory given for a file or a file for a
    directory (a usage error, exit 2), a file whose directory does not exist or a path
    this user may not look at (exit 3)."""
    try:
        is_dir, exists = path.is_dir(), path.exists()
        parent = path.absolute().parent
        parent_is_dir, parent_exists = parent.is_dir(), parent.exists()
    except OSError as error:  # a directory on the way that this user may not search
        raise cannot_write(path, error) from error
    if directory:
        if exists and not is_dir:
            raise UsageError(f"{path} is a file; give a directory (new or existing)")
        return
    if is_dir:
        raise UsageError(f"{path} is a directory; give a file name")
    if not parent_is_dir:
        why = "is not a directory" if parent_exists else "does not exist"
        raise CannotWrite(f"cannot write {path}: {parent} {why}")


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def locked_directory(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on a directory for the duration of the block."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def tree_size(root: Path) -> int:
    """Bytes in the regular files below ``root``, never following a symbolic link."""
    total = 0
    stack = [root]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    total += entry.stat(follow_symlinks=False).st_size
    return total


def remove_directory(path: Path) -> None:
    """Remove a directory tree: first renamed to a hidden name (one atomic step, so it
    vanishes whole), then deleted; a crash in between leaves a hidden leftover that
    `verify --fix` removes."""
    hidden = path.with_name(f".deleting-{path.name}-{secrets.token_hex(4)}")
    try:
        path.rename(hidden)
    except FileNotFoundError:
        return
    shutil.rmtree(hidden, ignore_errors=True)
