"""Forcing interleavings with a real process: stop it at the k-th file it opens.

fanotify permission events (``FAN_OPEN_PERM``) hold a process inside open(2) until the
listener answers. A test can so stop a real `convstore` process at its k-th open of a
file in a conversation directory, change files behind it at exactly that moment, and
let it go; stepping k through every open the command makes covers every interleaving
of the change with the command's reads and writes, and nothing depends on timing.
Permission events need CAP_SYS_ADMIN: root, as CI and the sessions run the suite.

inotify, open to any user, only reports an open after the fact: ``Opens`` counts them.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import select
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import pytest

from tests.faults import finish, spawn

_FAN_CLOEXEC = 0x01
_FAN_CLASS_CONTENT = 0x04
_FAN_OPEN_PERM = 0x00010000
_FAN_EVENT_ON_CHILD = 0x08000000
_FAN_MARK_ADD = 0x01
_FAN_MARK_REMOVE = 0x02
_FAN_ALLOW = 0x01
_FAN_NOFD = -1
_EVENT = struct.Struct("=IBBHQii")  # struct fanotify_event_metadata
_RESPONSE = struct.Struct("=iI")  # struct fanotify_response
_IN_OPEN = 0x20
_IN_CLOSE = 0x08 | 0x10  # IN_CLOSE_WRITE | IN_CLOSE_NOWRITE
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_INOTIFY_EVENT = struct.Struct("=iIII")  # struct inotify_event, without its name
_MASK = _FAN_OPEN_PERM | _FAN_EVENT_ON_CHILD
# A command that makes no open for this long is stuck: the test fails instead of hanging.
STUCK_SECONDS = 60.0

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fanotify_init.argtypes = [ctypes.c_uint, ctypes.c_uint]
_libc.fanotify_mark.argtypes = [
    ctypes.c_int,
    ctypes.c_uint,
    ctypes.c_uint64,
    ctypes.c_int,
    ctypes.c_char_p,
]
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]


def _checked(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def gate_unavailable() -> str | None:
    """Why fanotify permission events cannot be used here, or None when they can."""
    try:
        descriptor = _checked(
            _libc.fanotify_init(_FAN_CLASS_CONTENT | _FAN_CLOEXEC, os.O_RDONLY), "fanotify_init"
        )
    except OSError as error:
        return str(error)
    os.close(descriptor)
    return None


def require_gate() -> None:
    """Skip, saying why, where the gate cannot work (not root); fail where it should."""
    reason = gate_unavailable()
    if reason is None:
        return
    if os.geteuid() == 0:
        pytest.fail(f"fanotify permission events fail even as root: {reason}")
    pytest.skip(
        f"needs fanotify permission events (CAP_SYS_ADMIN; CI runs as root): {reason}. "
        "Without them the interleaving cannot be forced, only hoped for."
    )


class Held(NamedTuple):
    """An open(2) the gate holds: the opener waits inside it until ``OpenGate.allow``."""

    descriptor: int  # the file, opened for the listener
    pid: int
    path: Path


class OpenGate:
    """Holds every open of a file directly inside the given directories. The marks are
    on the directories themselves, so they follow a directory that is renamed."""

    def __init__(self, *directories: Path) -> None:
        self.fd = _checked(
            _libc.fanotify_init(_FAN_CLASS_CONTENT | _FAN_CLOEXEC, os.O_RDONLY), "fanotify_init"
        )
        self._directories = [
            os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            for directory in directories
        ]
        self._pending: collections.deque[Held] = collections.deque()
        self._mark(_FAN_MARK_ADD)

    def _mark(self, action: int) -> None:
        for directory in self._directories:
            _checked(_libc.fanotify_mark(self.fd, action, _MASK, directory, None), "fanotify_mark")

    def next_open(self, finished: Callable[[], bool]) -> Held | None:
        """The next open, held; None once ``finished()`` says the opener is done."""
        deadline = time.monotonic() + STUCK_SECONDS
        while not self._pending:
            if select.select([self.fd], [], [], 0)[0]:
                self._read()
            elif finished():
                return None
            elif time.monotonic() > deadline:
                raise AssertionError(f"the command made no open for {STUCK_SECONDS} s")
            else:
                select.select([self.fd], [], [], 0.05)
        return self._pending.popleft()

    def _read(self) -> None:
        buffer = os.read(self.fd, 8192)
        offset = 0
        while offset < len(buffer):
            length, _version, _, _, _mask, descriptor, pid = _EVENT.unpack_from(buffer, offset)
            offset += length
            if descriptor == _FAN_NOFD:
                raise AssertionError("fanotify's queue overflowed")
            path = Path(os.readlink(f"/proc/self/fd/{descriptor}"))
            self._pending.append(Held(descriptor, pid, path))

    def allow(self, held: Held) -> None:
        os.write(self.fd, _RESPONSE.pack(held.descriptor, _FAN_ALLOW))
        os.close(held.descriptor)

    @contextlib.contextmanager
    def unwatched(self) -> Iterator[None]:
        """The test's own opens, while a command waits: not held (they would wait on the
        test itself). A held open stays held meanwhile."""
        self._mark(_FAN_MARK_REMOVE)
        try:
            yield
        finally:
            self._mark(_FAN_MARK_ADD)

    def close(self) -> None:
        """Let every held open go and watch no more (the kernel allows what is pending)."""
        if self.fd < 0:
            return
        for held in self._pending:
            os.close(held.descriptor)
        self._pending.clear()
        for directory in self._directories:
            os.close(directory)
        self._directories = []
        os.close(self.fd)
        self.fd = -1


Change = Callable[[Path], None]  # given the path the command is opening
# Given an open's number (from 1) and path: the change to make then, if any.
Plan = Callable[[int, Path], Change | None]


def at(changes: dict[int, Change]) -> Plan:
    """A plan that makes ``changes[k]`` at the k-th open."""
    return lambda number, _path: changes.get(number)


@dataclass
class Run:
    """What one stopped run of a command did."""

    status: int = 0
    stdout: str = ""
    stderr: str = ""
    opened: list[Path] = field(default_factory=list)  # in order, up to the last change
    changed: list[int] = field(default_factory=list)  # the opens at which a change was made


def _step(gate: OpenGate, finished: Callable[[], bool], plan: Plan, changes: int, run: Run) -> None:
    """Hold each open in turn, make what ``plan`` says while it waits, and let it go,
    until ``changes`` changes are made or the opener is done."""
    while len(run.changed) < changes:
        held = gate.next_open(finished)
        if held is None:
            return
        run.opened.append(held.path)
        change = plan(len(run.opened), held.path)
        if change is not None:
            with gate.unwatched():
                change(held.path)
            run.changed.append(len(run.opened))
        gate.allow(held)


def stopped_at(
    args: list[str], directories: list[Path], plan: Plan | dict[int, Change], changes: int = 0
) -> Run:
    """Run `convstore *args` and make the changes of ``plan`` at its opens of files in
    ``directories``; once ``changes`` changes are made (for a dict plan: all of them) it
    runs on unwatched. ``Run.changed`` says which changes it reached."""
    if isinstance(plan, dict):
        plan, changes = at(plan), len(plan)
    gate = OpenGate(*directories)
    run = Run()
    process = spawn(*args)
    try:
        _step(gate, lambda: process.poll() is not None, plan, changes, run)
    except BaseException:
        process.kill()
        raise
    finally:
        gate.close()
    run.status, run.stdout, run.stderr = finish(process)
    return run


def killed_at(args: list[str], directories: list[Path], k: int) -> list[Path]:
    """Run `convstore *args` and ``kill -9`` it while its k-th open of a file in
    ``directories`` is held: a crash at exactly that point. Returns the files it opened,
    in order (fewer than k when it finished first)."""
    gate = OpenGate(*directories)
    process = spawn(*args)
    opened: list[Path] = []
    try:
        while (held := gate.next_open(lambda: process.poll() is not None)) is not None:
            opened.append(held.path)
            if len(opened) == k:
                process.kill()  # held in open(2): the kernel ends it there
                process.wait()
                break
            gate.allow(held)
    except BaseException:
        process.kill()
        raise
    finally:
        gate.close()
    finish(process)
    return opened


def stopped_in_thread(
    work: Callable[[], object], directories: list[Path], plan: Plan | dict[int, Change]
) -> tuple[Run, BaseException | None]:
    """``stopped_at`` for a function of this process, run in a thread (for a fake that
    only an in-process call can have); gives what it raised, if anything."""
    changes = 0
    if isinstance(plan, dict):
        plan, changes = at(plan), len(plan)
    raised: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as error:  # handed to the test
            raised.append(error)

    gate = OpenGate(*directories)
    run = Run()
    thread = threading.Thread(target=target)
    thread.start()
    try:
        _step(gate, lambda: not thread.is_alive(), plan, changes, run)
    finally:
        gate.close()
        thread.join()
    return run, raised[0] if raised else None


def every_open(
    setup: Callable[[], tuple[list[str], list[Path]]],
    change: Callable[[int], dict[int, Change]],
    check: Callable[[int, Run], None],
    *,
    limit: int = 40,
) -> list[Run]:
    """``stopped_at`` for k = 1, 2, ...: each round ``setup`` builds the store afresh and
    gives the command and the directories to watch; ``change(k)`` says what to change at
    which opens (from the k-th on), and ``check`` judges the run (it finishes what a
    later open never came to make). The sweep ends with the first round in which the
    command makes no k-th open: every open it makes has been a point of change."""
    runs = []
    for k in range(1, limit + 1):
        args, directories = setup()
        changes = change(k)
        run = stopped_at(args, directories, changes)
        if k not in run.changed:
            assert k > 1, f"the command opened nothing watched: {run.stderr}"
            return runs
        check(k, run)
        runs.append(run)
    raise AssertionError(f"the command still opened files after {limit} rounds")


class TornWrite:
    """A rewrite in place, as OpenHands writes (open with truncation, then write), torn
    across two moments: ``start`` truncates metadata.json and writes ``part`` of the new
    bytes, keeping the file open; ``finish`` writes the rest into the same open file
    (wherever it is by then) and closes it."""

    def __init__(self, new: Callable[[bytes], bytes], part: Callable[[bytes], bytes]) -> None:
        self.new = new
        self.part = part
        self.written: bytes | None = None  # the new bytes, once started
        self._stream: BinaryIO | None = None
        self._rest = b""

    def start(self, opened: Path) -> None:
        path = opened.parent / "metadata.json"
        raw = self.new(path.read_bytes())
        part = self.part(raw)
        self._stream = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by finish
        self._stream.write(part)
        # Modified "just now" however long the reader then takes to get to it: a busy
        # machine must not turn a torn file into an old broken one.
        ahead = time.time() + 3600
        os.utime(self._stream.fileno(), (ahead, ahead))
        self._rest = raw[len(part) :]
        self.written = raw

    def finish(self, _opened: Path | None = None) -> None:
        if self._stream is not None:
            self._stream.write(self._rest)
            self._stream.close()
            self._stream = None


class Opens:
    """Counts the opens of files in a directory as they happen (inotify ``IN_OPEN``).
    Any user may watch, and the count is exact: closes are watched too, since inotify
    merges an event into an identical one still unread (two opens in a row would count
    once), and no event is lost below the queue's 16384."""

    def __init__(self, directory: Path) -> None:
        self.fd = _checked(_libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC), "inotify_init1")
        _checked(
            _libc.inotify_add_watch(self.fd, os.fsencode(directory), _IN_OPEN | _IN_CLOSE),
            "inotify_add_watch",
        )
        self.counts: collections.Counter[str] = collections.Counter()

    def of(self, name: str) -> int:
        """How many times ``name`` was opened so far."""
        while True:
            try:
                buffer = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(buffer):
                _, mask, _, size = _INOTIFY_EVENT.unpack_from(buffer, offset)
                offset += _INOTIFY_EVENT.size
                entry = buffer[offset : offset + size].rstrip(b"\0").decode()
                offset += size
                if entry and mask & _IN_OPEN:
                    self.counts[entry] += 1
        return self.counts[name]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
