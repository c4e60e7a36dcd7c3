"""Run a function as an unprivileged user, so permission tests mean something under root."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
NOBODY = 65534


def run_unprivileged(function: Callable[[], T]) -> T:
    """Call ``function`` in a forked child that has dropped to uid/gid 65534 when root."""
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)

    def child() -> None:
        try:
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            writer.send((True, function()))
        except BaseException as error:  # sent to the parent, which re-raises it
            writer.send((False, error))

    process = context.Process(target=child)
    process.start()
    ok, value = reader.recv()
    process.join()
    if not ok:
        raise value
    return value


def make_traversable(path: Path) -> None:
    """Let another user reach ``path``: pytest's temporary directories are 0700."""
    for parent in [path, *path.parents]:
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
