"""Spreading a parse-bound scan over the machine's cores, with results in order.

Reading and parsing 10^5 small JSON files is CPU work in the interpreter, so threads
do not help; processes do. Each worker gets a chunk of names and returns compact
results (tuples, no models), which cost little to send back. Results come back in
the order the chunks were given, so output stays deterministic, and only a few
chunks are in flight at a time, so memory stays bounded by the chunk size.

Workers are forked where the platform can (Linux): a fork costs milliseconds and
needs no imports. The parent may have threads (a progress bar's refresher); a forked
child only runs the pure function it was given and exits, and takes no lock those
threads could hold. Elsewhere they are spawned, importing only the function's module,
which is why the scanning modules import neither pydantic nor SQLAlchemy.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")
# Below this many items per worker, starting the workers costs more than they save
# (measured: a fork and the transfer back are a few milliseconds; 5,000 files parse
# in about 100 ms on one core).
MIN_ITEMS_PER_WORKER = 5000
# Chunks per worker: more than one, so a worker slowed by a noisy neighbour does not
# hold up the others for long; not many more, since each chunk costs a round trip.
CHUNKS_PER_WORKER = 4


def cores() -> int:
    """The cores this process may run on (its affinity, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def workers_for(items: int, limit: int | None = None, *, per_worker: int | None = None) -> int:
    """How many worker processes ``items`` items are worth: 0 means do it in-process.
    ``per_worker``: the fewest items that pay for a worker (default: files to parse)."""
    least = MIN_ITEMS_PER_WORKER if per_worker is None else per_worker
    wanted = min(cores() if limit is None else limit, items // least)
    return wanted if wanted > 1 else 0


def chunked(items: Sequence[str], workers: int, size: int | None = None) -> list[Sequence[str]]:
    """``items`` cut into contiguous chunks of ``size``, or (None) about
    ``CHUNKS_PER_WORKER`` per worker."""
    if size is None:
        size = max(1, -(-len(items) // max(1, workers * CHUNKS_PER_WORKER)))
    return [items[start : start + size] for start in range(0, len(items), size)]


def ordered_map(
    function: Callable[..., R],
    arguments: Iterable[tuple[Any, ...]],
    workers: int,
    *,
    in_flight: int | None = None,
) -> Iterator[R]:
    """``function(*args)`` for each tuple of ``arguments``, in order; in ``workers``
    processes, or in this one when ``workers`` is 0 or 1.

    At most ``in_flight`` calls (default: two per worker) are submitted and not yet
    consumed, so as many results at most wait in memory; closing the iterator early
    cancels those not started.
    """
    if workers <= 1:
        for call in arguments:
            yield function(*call)
        return
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_context(), initializer=_ignore_interrupts
    )
    pending: deque[Future[R]] = deque()
    try:
        for call in arguments:
            pending.append(pool.submit(function, *call))
            if len(pending) >= (in_flight or 2 * workers):
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ignore_interrupts() -> None:
    """Ctrl-C reaches every process of the terminal's group: workers leave it to the
    parent, which stops handing out work and lets the calls in flight finish, so a
    batch job stops between whole units and no worker prints a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
