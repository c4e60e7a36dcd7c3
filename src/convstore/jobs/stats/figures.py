"""What ``convstore stats`` counts, and the one rule that reads each figure from a record.

A conversation lands in one group: its values of the ``--by`` dimensions (the facets
``user``, ``org``, ``model``, ... and the period it was created in). It adds to its
group: one conversation; its cost; its prompt, completion, cache and reasoning tokens;
the PRs it opened (the entries of ``pr_number``); and its creation time to the first
and last. A value counts when it is stored as what it claims to be (list ``--format
json`` shows every value as stored): a cost is a number from 0 to ``MAX_COST``, a token
count a whole number from 0 to ``MAX_TOKENS`` (OpenHands' ``integer`` column), PRs a
JSON list, a creation time one OpenHands reads. A value the store lacks is *missing*;
any other is *invalid*. Either way the conversation still counts, with what its other
fields allow; the report says how many values of each field were left out, and why.

The SQL store applies the same rules in SQL (``stats.sql``); this module applies them
to records read in Python: V0 files, and the odd SQL rows the database cannot judge.

Money is summed exactly: each cost becomes a whole number of nanodollars (10^-9 $,
``nanodollars``, computed by the same float operations in Python, SQLite and
PostgreSQL), and whole numbers add up without drift however many there are. It is
rounded to cents only when printed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from convstore.fields import (
    STATS_FACETS,
    STATS_GROUPINGS,
    STATS_TIME_GROUPINGS,
    STATS_TOKEN_FIGURES,
)
from convstore.model import ConversationMetadata

DIMENSIONS = STATS_GROUPINGS
TIME_DIMENSIONS = STATS_TIME_GROUPINGS
TOKEN_FIGURES = STATS_TOKEN_FIGURES

# Facets: what a conversation is, as opposed to when it was created.
FACETS = STATS_FACETS
# The stored fields figures are read from, in the order the report names them.
COUNTED_FIELDS = ("accumulated_cost", *TOKEN_FIGURES, "pr_number", "created_at")
# The field of the record each facet reads (user: the owner, as --user matches it).
FACET_FIELDS = {
    "org": "org_id",
    "model": "llm_model",
    "repo": "selected_repository",
    "provider": "git_provider",
    "trigger": "trigger",
    "status": "execution_status",
}

NANO = 10**9
# A cost in nanodollars must fit a 64-bit integer, the widest SQLite and PostgreSQL sum.
MAX_COST = 9_000_000_000
MAX_TOKENS = 2**31 - 1

Problem = Literal["missing", "invalid"]
Reading = int | Problem


def nanodollars(value: float) -> int:
    """A cost (or cost delta) in whole nanodollars, half away from zero: ``value * 1e9``
    and ``+ 0.5`` in IEEE doubles, then truncated, as ``stats.sql`` spells it in SQL, so
    every store turns the same stored float into the same integer."""
    if value < 0:
        return -int(-value * 1e9 + 0.5)
    return int(value * 1e9 + 0.5)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def read_cost(stored: Any) -> Reading:
    """accumulated_cost as stored -> nanodollars, or why it does not count."""
    if stored is None:
        return "missing"
    if not is_number(stored) or not 0 <= stored < MAX_COST:  # NaN fails the range too
        return "invalid"
    return nanodollars(float(stored))


def read_delta(stored: Any) -> int | None:
    """A cost event's cost_delta -> nanodollars (a delta may be negative), or None."""
    if not is_number(stored) or not -MAX_COST < stored < MAX_COST:
        return None
    return nanodollars(float(stored))


def read_tokens(stored: Any) -> Reading:
    if stored is None:
        return "missing"
    if isinstance(stored, int) and not isinstance(stored, bool) and 0 <= stored <= MAX_TOKENS:
        return stored
    return "invalid"


def read_prs(stored: Any) -> Reading:
    if stored is None:
        return "missing"
    return len(stored) if isinstance(stored, list) else "invalid"


class Contribution(NamedTuple):
    """What one conversation read in Python adds to its group (plain values, sent back
    by the processes that read V0 files)."""

    conversation_id: str
    readable: bool  # False: nothing of it could be read (only where it is)
    facets: tuple[str | None, ...]  # in FACETS order
    created: datetime | None
    cost: int | None  # nanodollars
    tokens: tuple[int | None, ...]  # in TOKEN_FIGURES order
    prs: int | None
    problems: tuple[tuple[str, Problem], ...]  # (field, why) of each value left out


def contribution(record: ConversationMetadata) -> Contribution:
    """The rules above, applied to one record."""
    if not record.source_fields:
        return Contribution(
            record.conversation_id,
            False,
            (None,) * len(FACETS),
            None,
            None,
            (None,) * len(TOKEN_FIGURES),
            None,
            (),
        )
    problems: list[tuple[str, Problem]] = []

    def value(name: str, reading: Reading) -> int | None:
        if isinstance(reading, str):
            problems.append((name, reading))
            return None
        return reading

    cost = value("accumulated_cost", read_cost(record.stored("accumulated_cost")))
    tokens = tuple(value(name, read_tokens(record.stored(name))) for name in TOKEN_FIGURES)
    prs = value("pr_number", read_prs(record.stored("pr_number")))
    created = record.created_at
    if created is None:
        problems.append(
            ("created_at", "missing" if record.stored("created_at") is None else "invalid")
        )
    facets = tuple(_facet(record, name) for name in FACETS)
    return Contribution(
        record.conversation_id, True, facets, created, cost, tokens, prs, tuple(problems)
    )


def _facet(record: ConversationMetadata, name: str) -> str | None:
    if name == "user":
        return record.owner
    if name == "version":
        return record.version
    found = getattr(record, FACET_FIELDS[name])
    return found if isinstance(found, str) else None


def period(dimension: str, day: date) -> str:
    """The label of the period ``day`` (a UTC date) falls in: 2025-01-16, 2025-W03 (ISO
    week), 2025-01, 2025. Labels sort as their periods do."""
    if dimension == "day":
        return day.isoformat()
    if dimension == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if dimension == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return f"{day.year:04d}"


@dataclass(slots=True)
class Figures:
    """The figures of one group, or of all of them; added up as stores report them."""

    conversations: int = 0
    cost: int = 0  # nanodollars
    costed: int = 0  # conversations whose cost counted (what the mean divides by)
    tokens: list[int | None] = field(default_factory=lambda: [None] * len(TOKEN_FIGURES))
    prs: int | None = None
    first: datetime | None = None
    last: datetime | None = None

    def add(self, other: Figures) -> None:
        self.conversations += other.conversations
        self.cost += other.cost
        self.costed += other.costed
        self.tokens = [_plus(a, b) for a, b in zip(self.tokens, other.tokens, strict=True)]
        self.prs = _plus(self.prs, other.prs)
        self.seen(other.first)
        self.seen(other.last)

    def add_contribution(self, item: Contribution) -> None:
        self.conversations += 1
        if item.cost is not None:
            self.cost += item.cost
            self.costed += 1
        self.tokens = [_plus(a, b) for a, b in zip(self.tokens, item.tokens, strict=True)]
        self.prs = _plus(self.prs, item.prs)
        self.seen(item.created)

    def seen(self, moment: datetime | None) -> None:
        if moment is None:
            return
        if self.first is None or moment < self.first:
            self.first = moment
        if self.last is None or moment > self.last:
            self.last = moment

    @property
    def dollars(self) -> Decimal:
        """The cost, exactly (nanodollars as a decimal number of dollars)."""
        return Decimal(self.cost).scaleb(-9)

    @property
    def known_dollars(self) -> Decimal | None:
        """The cost, or None when no conversation of the group had one that counted (and
        no cost event moved any into it): unknown, which a zero would pass for."""
        if not self.costed and not self.cost:
            return None
        return self.dollars

    @property
    def mean_dollars(self) -> Decimal | None:
        """Cost per conversation whose cost counted, to the nanodollar."""
        if not self.costed:
            return None
        return (Decimal(self.cost) / self.costed).quantize(Decimal(1)).scaleb(-9)


def _plus(total: int | None, value: int | None) -> int | None:
    """A sum that stays None (nothing known) until a value comes."""
    if value is None:
        return total
    return value if total is None else total + value


Key = tuple[str | None, ...]


def key_of(by: Sequence[str], facets: Mapping[str, str | None], day: date | None) -> Key:
    """A group's key: each --by dimension's value, a period from the creation day."""
    return tuple(
        (None if day is None else period(name, day))
        if name in TIME_DIMENSIONS
        else facets.get(name)
        for name in by
    )
