"""Helpers for the fault tests: digests of a store, the CLI in and out of process, and
ways to see that a real process is blocked on a lock (no hooks in production code)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from typer.testing import CliRunner, Result

from convstore.cli.app import app

CLI = [sys.executable, "-m", "convstore.cli"]
_runner = CliRunner()


def cli(*args: Any) -> Result:
    """The CLI in process, as CliRunner runs it (stdout and stderr apart)."""
    return _runner.invoke(app, [str(arg) for arg in args])


def spawn(*args: Any, **options: Any) -> subprocess.Popen[str]:
    """The CLI as a real process, ``python -m convstore.cli``."""
    return subprocess.Popen(
        [*CLI, *(str(arg) for arg in args)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def one_line_error(stderr: str, *, after_preview: bool = False) -> str:
    """The single error line of a failed command; fails on a traceback or several lines.

    ``after_preview``: `delete` first shows what it would remove, so the error is the
    last line rather than the only one.
    """
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip("\n").split("\n")
    if after_preview:
        lines = lines[-1:]
        assert sum(line.startswith("convstore: ") for line in stderr.splitlines()) == 1
    assert len(lines) == 1 and lines[0].startswith("convstore: "), stderr
    return lines[0]


def tree_digest(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every entry below ``root`` (links not followed): kind, mode, owner and content."""
    found: dict[str, tuple[Any, ...]] = {}
    for directory, names, filenames in os.walk(root):
        for name in sorted(names + filenames):
            path = Path(directory, name)
            info = path.lstat()
            relative = str(path.relative_to(root))
            owner = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                try:
                    digest = hashlib.blake2b(path.read_bytes()).hexdigest()
                except PermissionError:  # not root: mode and size still say a lot
                    digest = "unreadable"
                found[relative] = ("file", *owner, info.st_size, digest)
            else:
                found[relative] = (stat.S_IFMT(info.st_mode), *owner)
    return found


def table_digest(url: str) -> list[tuple[Any, ...]]:
    """Every row of conversation_metadata, in id order."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT * FROM conversation_metadata ORDER BY conversation_id")
            ).all()
    finally:
        engine.dispose()
    return [tuple(row) for row in rows]


def listing(*store: Any, **filters: str) -> list[dict[str, Any]]:
    """`list --all --format json` through the CLI, parsed (the output must be valid JSON)."""
    options = [item for name, value in filters.items() for item in (f"--{name}", value)]
    result = cli("list", *store, "--all", "--format", "json", "--sub-conversations", *options)
    assert result.exit_code == 0, result.output
    items: list[dict[str, Any]] = json.loads(result.stdout, parse_constant=_refuse_constant)
    return items


def _refuse_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON")


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def flock_waiters(path: Path) -> set[int]:
    """Pids blocked in ``flock`` on the inode of ``path`` (the ``->`` lines of /proc/locks)."""
    inode = f":{path.stat().st_ino} "
    waiting = set()
    with open("/proc/locks") as locks:
        for line in locks:
            if " -> FLOCK " in line and inode in line:
                waiting.add(int(line.split()[5]))
    return waiting


def sleeping(pid: int) -> bool:
    """True while the process sleeps in nanosleep: where SQLite's busy handler waits."""
    try:
        with open(f"/proc/{pid}/wchan") as channel:
            return channel.read().strip() in ("hrtimer_nanosleep", "do_nanosleep")
    except FileNotFoundError:
        return False


def still_running(processes: Sequence[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"exited early with {process.returncode}: {out}{err}")
