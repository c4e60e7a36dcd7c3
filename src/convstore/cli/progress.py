"""Progress of a batch job: a Rich bar with rate and time left on a terminal, and plain
lines on stderr otherwise (cron mails them), at most one every few seconds."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Progress(Protocol):
    def advance(self, count: int = 1) -> None: ...


class _PlainProgress:
    def __init__(self, label: str, total: int | None, every: float) -> None:
        self.label, self.total, self.every = label, total, every
        self.done = 0
        self.started = self.last = time.monotonic()

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.line(now)

    def line(self, now: float) -> None:
        rate = self.done / max(now - self.started, 1e-9)
        total = f"/{self.total}" if self.total is not None else ""
        print(f"{self.label}: {self.done}{total} ({rate:,.0f}/s)", file=sys.stderr, flush=True)


class _RichProgress:
    def __init__(self, bar: object, task: object) -> None:
        self.bar, self.task = bar, task

    def advance(self, count: int = 1) -> None:
        self.bar.advance(self.task, count)  # type: ignore[attr-defined]


@contextmanager
def progress(label: str, total: int | None, *, every: float = 5.0) -> Iterator[Progress]:
    """Report progress on stderr: a bar on a terminal, otherwise a line every ``every`` s."""
    if not sys.stderr.isatty():
        plain = _PlainProgress(label, total, every)
        yield plain
        plain.line(time.monotonic())
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        Task,
        TaskProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    from convstore.cli.render import err

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            return Text(f"{task.speed or 0:>7,.0f}/s")

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(),
        TimeRemainingColumn(),
    )
    with RichProgress(*columns, console=err, transient=True) as bar:
        yield _RichProgress(bar, bar.add_task(label, total=total))
