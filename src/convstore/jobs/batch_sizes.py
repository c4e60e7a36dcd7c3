"""How many conversations a migration's next transaction takes.

Each commit rewrites the index pages its rows land on, and a migration's ids are random,
so its rows land all over each index: at 100,000 files, batches of 5,000 migrated 1.3 to
1.5 times as many conversations per second as batches of 500. How large a batch pays
depends on the machine and on the work (with events, a conversation costs a hundred
times what its row does), so unless ``--batch-size`` fixes it, the size follows the
pace: the next batch is what the last one's rate does in about ``COMMIT_EVERY``
seconds, never smaller than the first batch and never larger than ``LARGEST``, which
bounds memory (about two batches are held at once), and growing at most ``GROWTH``-fold
at a time, so one fast batch (a rerun's rows that exist already) does not make the next
one huge.
"""

from __future__ import annotations

FIRST = 500  # the first batch, and the smallest: the fixed default before it adapted
LARGEST = 10_000
COMMIT_EVERY = 1.0  # seconds
GROWTH = 4


class BatchSizes:
    """The size of each next batch: ``fixed`` when given, else following the pace."""

    def __init__(self, fixed: int | None = None) -> None:
        self.fixed = fixed
        self.next = fixed or FIRST

    @property
    def largest(self) -> int:
        """The largest batch this run may take (what memory must hold)."""
        return self.fixed or LARGEST

    def took(self, conversations: int, seconds: float) -> None:
        """The last batch held ``conversations`` and took ``seconds``, reading included."""
        if self.fixed is not None or conversations <= 0:
            return
        paced = int(conversations * COMMIT_EVERY / max(seconds, 1e-6))
        self.next = max(FIRST, min(LARGEST, GROWTH * conversations, paced))
