"""What reading and converting a conversation's events tells the caller.

Conversion never stops at a bad file: it skips it and records a ``Problem``, and counts
every V0 event under its kind (``action:run``, ``observation:run``, ...) as converted,
summarized or skipped, so an operator sees exactly what the V1 history holds.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file: unreadable, or a cache page that differs."""

    path: Path | str  # a path, or an object's URL
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class ConversionReport:
    """The outcome of converting (or, in a dry run, of planning) one conversation."""

    conversation_id: uuid.UUID
    dry_run: bool = False
    converted: Counter[str] = field(default_factory=Counter)
    summarized: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    # V1 events produced; files written (in a dry run: that would be written); files
    # already holding identical content, left alone.
    events: int = 0
    written: int = 0
    unchanged: int = 0

    @property
    def v0_events(self) -> int:
        """V0 events read (unreadable files are problems, not events)."""
        return self.converted.total() + self.summarized.total() + self.skipped.total()
