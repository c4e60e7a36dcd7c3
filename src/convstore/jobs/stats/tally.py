"""The groups of a ``stats`` run as every store adds to them, and what was left out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from convstore.jobs.stats.figures import (
    FACETS,
    Contribution,
    Figures,
    Key,
    Problem,
    key_of,
)

# A missing value is worth reporting for these only: a V0 file lacks every SQL-only
# token column, and an early one every token count, which says nothing about either.
REPORTED_MISSING = ("accumulated_cost", "created_at")


class Tally:
    """Figures by group key (``figures.key_of``), and the counts the report adds."""

    def __init__(self, by: Sequence[str]) -> None:
        self.by = tuple(by)
        self.groups: dict[Key, Figures] = {}
        self.left_out: Counter[tuple[str, Problem]] = Counter()
        self.unreadable = 0  # conversations of which nothing could be read
        self.twins = 0  # V0 forms not counted: their V1 row is (what OpenHands shows)
        self.shadowed = 0  # V0 rows not counted: a V0 file of the same id is

    def group(self, facets: Mapping[str, str | None], day: date | None) -> Figures:
        key = key_of(self.by, facets, day)
        found = self.groups.get(key)
        if found is None:
            found = self.groups[key] = Figures()
        return found

    def add(self, item: Contribution) -> None:
        """One conversation read in Python."""
        if not item.readable:
            self.unreadable += 1
            return
        facets = dict(zip(FACETS, item.facets, strict=True))
        day = None if item.created is None else item.created.date()
        self.group(facets, day).add_contribution(item)
        for name, why in item.problems:
            self.leave_out(name, why)

    def merge(self, facets: Mapping[str, str | None], day: date | None, figures: Figures) -> None:
        """Figures a store added up itself."""
        self.group(facets, day).add(figures)

    def undated(self, figures: Figures) -> Figures:
        """``figures`` of conversations whose creation time turned out invalid: they
        count, in no period, with no first or last."""
        self.leave_out("created_at", "invalid", figures.conversations)
        return replace(figures, first=None, last=None)

    def shift_cost(self, facets: Mapping[str, str | None], day: date | None, cost: int) -> None:
        """Move cost (nanodollars, signed) into or out of a period (``--cost-by incurred``):
        a period cost was incurred in is a group, even when its events add up to nothing."""
        self.group(facets, day).cost += cost

    def leave_out(self, name: str, why: Problem, count: int = 1) -> None:
        if count and (why == "invalid" or name in REPORTED_MISSING):
            self.left_out[(name, why)] += count

    def totals(self) -> Figures:
        total = Figures()
        for figures in self.groups.values():
            total.add(figures)
        return total
