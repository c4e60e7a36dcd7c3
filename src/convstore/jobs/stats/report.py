"""A ``stats`` run's answer: its groups in order, the totals, and what was not counted."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from convstore.errors import UsageError
from convstore.fields import STATS_SORTS
from convstore.jobs.stats.figures import (
    COUNTED_FIELDS,
    DIMENSIONS,
    TIME_DIMENSIONS,
    TOKEN_FIGURES,
    Figures,
    Key,
)
from convstore.jobs.stats.tally import Tally
from convstore.stores.base import Query

CostBy = Literal["created", "incurred"]
COST_BY = ("created", "incurred")
SORT_NAMES = STATS_SORTS


@dataclass(frozen=True)
class Request:
    """What ``convstore stats`` is asked: filters, groupings, order, how many groups."""

    query: Query = field(default_factory=Query)
    by: tuple[str, ...] = ("month",)
    sort: str | None = None  # None: by group for a time grouping first, else -cost
    top: int | None = None
    cost_by: CostBy = "created"

    def checked(self) -> Request:
        """The request with its defaults filled in; UsageError naming what is wrong."""
        by = tuple(dict.fromkeys(self.by)) or ("month",)
        unknown = [name for name in by if name not in DIMENSIONS]
        if unknown:
            raise UsageError(
                f"--by {unknown[0]!r} is not a grouping; use one or more of {', '.join(DIMENSIONS)}"
            )
        sort = self.sort or ("group" if by[0] in TIME_DIMENSIONS else "-cost")
        if sort.removeprefix("-") not in SORT_NAMES:
            raise UsageError(
                f"--sort {sort!r} is not a figure; use one of {', '.join(SORT_NAMES)} "
                "(a leading - sorts descending)"
            )
        if self.top is not None and self.top < 1:
            raise UsageError("--top must be at least 1")
        if self.cost_by not in COST_BY:
            raise UsageError(f"--cost-by {self.cost_by!r}: use created or incurred")
        return replace(self, by=by, sort=sort)


@dataclass(frozen=True)
class Row:
    """One group: its key (a value per --by dimension), figures, share of the total."""

    key: Key
    figures: Figures
    share: Decimal | None
    email: str | None = None  # the user's, when grouped by user (1.x enterprise)


@dataclass(frozen=True)
class Report:
    by: tuple[str, ...]
    sort: str
    cost_by: CostBy  # the one used (incurred falls back to created without cost events)
    rows: list[Row]  # in --sort order, at most --top of them
    every: list[Row]  # every group, in --sort order
    totals: Figures
    twins: int  # V0 forms folded into their V1 row
    shadowed: int  # V0 rows folded into the V0 file of the same id
    unreadable: int  # conversations of which nothing could be read
    left_out: dict[str, dict[str, int]]  # field -> {"missing"|"invalid": count}
    notes: list[str]
    emails: bool  # whether rows carry the users' emails

    def timeline(self) -> list[tuple[str | None, Decimal]]:
        """Cost per period of the first time grouping, summed over the others, in time
        order (every group, --top or not): what the chart draws."""
        position = next(i for i, name in enumerate(self.by) if name in TIME_DIMENSIONS)
        costs: dict[str | None, int] = {}
        for row in self.every:
            period = row.key[position]
            costs[period] = costs.get(period, 0) + row.figures.cost
        ordered = sorted(costs.items(), key=lambda item: (item[0] is None, item[0] or ""))
        return [(period, Decimal(cost).scaleb(-9)) for period, cost in ordered]

    @property
    def dated(self) -> bool:
        return any(name in TIME_DIMENSIONS for name in self.by)


def build(
    tally: Tally,
    request: Request,
    cost_by: CostBy,
    notes: list[str],
    emails: Callable[[Iterable[str]], dict[str, str]] | None,
) -> Report:
    """The report of a finished tally: groups sorted, cut to --top, with shares."""
    assert request.sort is not None, "a checked request has a sort"
    totals = tally.totals()
    every = [Row(key, figures, _share(figures, totals)) for key, figures in tally.groups.items()]
    every = ordered(every, request.sort)
    shown = every if request.top is None else every[: request.top]
    known = False
    if emails is not None and "user" in request.by:
        position = request.by.index("user")
        found = emails(str(row.key[position]) for row in shown if row.key[position] is not None)
        shown = [replace(row, email=found.get(str(row.key[position]))) for row in shown]
        known = True
    left_out: dict[str, dict[str, int]] = {}
    for name in COUNTED_FIELDS:
        counts = {why: tally.left_out[(name, why)] for why in ("missing", "invalid")}
        if any(counts.values()):
            left_out[name] = {why: count for why, count in counts.items() if count}
    return Report(
        by=request.by,
        sort=request.sort,
        cost_by=cost_by,
        rows=shown,
        every=every,
        totals=totals,
        twins=tally.twins,
        shadowed=tally.shadowed,
        unreadable=tally.unreadable,
        left_out=left_out,
        notes=notes,
        emails=known,
    )


def _share(figures: Figures, totals: Figures) -> Decimal | None:
    """The group's part of the total cost; of the conversations where nothing cost."""
    if totals.cost > 0:
        return Decimal(figures.cost) / Decimal(totals.cost)
    if totals.conversations > 0:
        return Decimal(figures.conversations) / Decimal(totals.conversations)
    return None


def figure(figures: Figures, name: str) -> Any:
    """A figure by its --sort name (money exact; None where unknown)."""
    if name == "conversations":
        return figures.conversations
    if name == "cost":
        return figures.known_dollars
    if name == "mean_cost":
        return figures.mean_dollars
    if name in TOKEN_FIGURES:
        return figures.tokens[TOKEN_FIGURES.index(name)]
    if name == "prs":
        return figures.prs
    moment: datetime | None = figures.first if name == "first" else figures.last
    return moment


def ordered(rows: list[Row], sort: str) -> list[Row]:
    """Rows in ``sort`` order; ties, and the group order itself, by key ascending; a
    null key or figure last either way."""
    by_key = sorted(rows, key=lambda row: _key_order(row.key))
    name = sort.removeprefix("-")
    descending = sort.startswith("-")
    if name == "group":
        return by_key[::-1] if descending else by_key
    valued = [row for row in by_key if figure(row.figures, name) is not None]
    unvalued = [row for row in by_key if figure(row.figures, name) is None]
    valued.sort(key=lambda row: figure(row.figures, name), reverse=descending)  # stable
    return valued + unvalued


def _key_order(key: Key) -> tuple[tuple[bool, str], ...]:
    return tuple((value is None, value or "") for value in key)
