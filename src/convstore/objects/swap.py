"""Changing a file on local disk that OpenHands may be changing too: a compare-and-swap.

convstore's writers take the file's directory's ``flock``, which keeps them off each
other. OpenHands takes no lock: it rewrites metadata.json in place (open with
truncation, then write) whenever a conversation's cost, tokens or title change. So every
conditional write or delete of a local object (``objects.local``: rename, delete,
`verify --fix`, `migrate-v0-to-v1 --after`) goes through here, in three steps:

1. under the lock, the file still holds the bytes the caller read (its version), else
   ``Changed``;
2. the new state is prepared completely: a new file written and synced beside the old;
3. the swap is one step that leaves what it displaced in hand, and that is compared
   with what was read, byte for byte. If it differs, the swap is undone: ``Changed``,
   and nothing changed.

For a file, step 3 is Linux's ``renameat2(RENAME_EXCHANGE)``: the new file and the old
trade names atomically, so a change made behind convstore until that instant is found
in the displaced file, never overwritten. Where the exchange is not available (another
system, a file system without it) the file is compared again right before the rename:
a change in between those two system calls is lost. A directory (delete, archive) is
renamed first; the file inside it, now where OpenHands does not write, is compared after.

A writer that truncated the file before the swap and writes after it is seen (the
truncation is a difference), and after the undo its write lands in the file back in
place. What no comparison can see: a writer that opened the file without truncating,
or holds the directory open, and writes after the comparison, into what convstore then
removes (README, "Beside a running OpenHands").
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path

from convstore.fsutil import fsync_directory, prepared_file

RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
# What renameat2 answers where the kernel or the file system has no exchange.
_NO_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


class Changed(Exception):
    """The file is not what was read, or is gone; nothing was changed (but for
    ``kept_at``: where a directory read stays when it could not be moved back)."""

    def __init__(self, reason: str, kept_at: Path | None = None) -> None:
        super().__init__(reason)
        self.kept_at = kept_at


def replace(path: Path, expected: bytes, data: bytes) -> None:
    """Put ``data`` in place of the file ``path`` if it still holds ``expected``;
    ``Changed``, with nothing changed, if it does not.

    The file keeps its mode and, where permitted, its owner.
    """
    try:
        like = os.stat(path)
    except FileNotFoundError as error:
        raise Changed(f"{path} is gone") from error
    temporary = prepared_file(path, data, like)
    try:
        swapped = exchange(temporary, path)
        if not swapped:
            if not holds(path, expected):
                raise Changed(f"{path} changed since it was read")
            os.replace(temporary, path)
    except FileNotFoundError as error:
        _discard(temporary)
        raise Changed(f"{path} is gone") from error
    except BaseException:
        _discard(temporary)
        raise
    if swapped and not holds(temporary, expected):
        _swap_back(temporary, path, data)
        raise Changed(f"{path} changed since it was read")
    _discard(temporary)  # what the exchange displaced: the bytes that were read
    fsync_directory(path.parent)


def _swap_back(temporary: Path, path: Path, ours: bytes) -> None:
    """Undo an exchange that displaced someone else's file.

    While ours was in place someone may have written into it (their newest): then
    theirs, not the older file the exchange displaced, goes back.
    """
    exchange(temporary, path)
    if holds(temporary, ours):
        _discard(temporary)
    else:
        os.replace(temporary, path)
    fsync_directory(path.parent)


def move(directory: Path, destination: Path, inside: str, expected: bytes) -> None:
    """Rename a directory, if the file ``inside`` it (a relative path) holds
    ``expected``: renamed first, then compared where OpenHands no longer writes; moved
    back and ``Changed`` if it differs."""
    os.rename(directory, destination)
    if holds(destination / inside, expected):
        fsync_directory(destination.parent)
        return
    try:
        os.rename(destination, directory)
    except OSError as error:  # OpenHands made a new directory in its place meanwhile
        raise Changed(
            f"{directory / inside} changed since it was read, and {directory} was made "
            f"anew meanwhile; the directory read is kept at {destination}",
            kept_at=destination,
        ) from error
    raise Changed(f"{directory / inside} changed since it was read")


def holds(path: Path, expected: bytes) -> bool:
    """True when ``path`` is a regular file holding exactly ``expected`` (read
    non-blocking and bounded: it may be anything by now)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        parts, total = [], 0
        while total <= len(expected) and (part := os.read(descriptor, len(expected) + 1 - total)):
            parts.append(part)
            total += len(part)
    finally:
        os.close(descriptor)
    return b"".join(parts) == expected


def exchange(first: Path, second: Path) -> bool:
    """Swap two names in one step (``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot, OSError for anything else."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE):
        import ctypes

        code = ctypes.get_errno()
        if code in _NO_EXCHANGE:
            return False
        raise OSError(code, os.strerror(code), str(first), None, str(second))
    return True


@functools.cache
def _renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """glibc's renameat2 (2.28 and later), or None: not Linux, or an older C library."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    path, directory = ctypes.c_char_p, ctypes.c_int
    function.argtypes = [directory, path, directory, path, ctypes.c_uint]
    function.restype = ctypes.c_int
    renameat2: Callable[[int, bytes, int, bytes, int], int] = function
    return renameat2


def _discard(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
