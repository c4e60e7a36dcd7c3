"""What the V0 file store adds to ``convstore stats``: its conversations, from the V0
index cache where it can be used, else from every metadata.json.

A V0 conversation counts when the listing would show it for the same query: the
listing's rule (``v0_order.can_match``, then ``v0_order.matches`` on its entry, which
the cache applies in SQL as ``v0_cache._filters``). What it contributes is
``figures.contribution`` of its record, kept in the cache as plain values
(``v0_cache.FIGURE_COLUMNS``, encoded by ``figures_of``).

- Through the cache (``FileStore.totals``): the cache is brought up to date as a
  listing does it (a stat scan; reads instead on a bucket or into a cold cache, where a
  changed file's one read gives both its entry and its figures); the entries a listing
  stored carry no figures, and neither does a file changed since the stat scan (its row
  was replaced), so only those files are read again, in worker processes where it pays.
  SQLite then adds up the matching entries by facet and day (GROUP BY, no row fetched
  one by one). What the cache keeps in memory only (racy files, unreadable ones, links,
  a file changed during the run) is counted here, conversation by conversation.
- Without it (``--no-cache``, no usable cache): every file is read and counted here.

Either way the figures are those of reading every file: the cache stores figures only
on the row of the bytes they were read from.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, TypeVar

from convstore.jobs.stats.figures import (
    COUNTED_FIELDS,
    FACETS,
    TIME_DIMENSIONS,
    TOKEN_FIGURES,
    Contribution,
    Figures,
    Problem,
    contribution,
)
from convstore.jobs.stats.tally import Tally
from convstore.objects.base import Objects, Outcome, Unchanged
from convstore.stores import v0_order
from convstore.stores.base import Query
from convstore.stores.files import FileStore, entry_and_record
from convstore.stores.v0_cache import Counted, Grouping, Totals
from convstore.timestamps import from_micros, to_micros

T = TypeVar("T")
# A conversation's problems as a bit mask: one bit per (field, why).
_PROBLEMS: tuple[tuple[str, Problem], ...] = tuple(
    (name, why) for name in COUNTED_FIELDS for why in ("missing", "invalid")
)
_BIT = {problem: 1 << index for index, problem in enumerate(_PROBLEMS)}
_UNREADABLE = (0, 0, *(None,) * (len(FACETS) + 4 + len(TOKEN_FIGURES)))


def add(files: FileStore, query: Query, tally: Tally, twins: set[str]) -> None:
    """Add the V0 conversations that match ``query`` to ``tally``; those in ``twins``
    are only counted as folded."""
    if not v0_order.can_match(query):
        return
    grouping = Grouping(
        facets=tuple(name for name in FACETS if name in tally.by),
        by_day=any(name in TIME_DIMENSIONS for name in tally.by),
        aside=frozenset(twins),
    )
    reduce = functools.partial(counted, files.objects)
    totals = files.totals(query, reduce, grouping)
    items: Iterable[Counted] = files.counted(reduce) if totals is None else totals.extras
    if totals is not None:
        _merge(totals, grouping, tally)
    for item in items:
        if v0_order.matches(query, item.entry):
            if item.entry.address in twins:
                tally.twins += 1
            else:
                tally.add(contribution_of(item.entry.address, item.figures))


def counted(objects: Objects, address: str, outcome: Outcome | None) -> Counted | Unchanged | None:
    """In a worker too: what one read of a metadata.json gives stats (None: absent;
    UNCHANGED passed on, from a conditional read)."""
    if isinstance(outcome, Unchanged):
        return outcome
    found = entry_and_record(objects, address, outcome)
    if found is None:
        return None
    entry, record = found
    return Counted(entry, figures_of(contribution(record)))


def figures_of(item: Contribution) -> tuple[Any, ...]:
    """A contribution as the cache stores it (``v0_cache.FIGURE_COLUMNS``)."""
    if not item.readable:
        return _UNREADABLE
    problems = 0
    for problem in item.problems:
        problems |= _BIT[problem]
    created = item.created
    return (
        1,
        problems,
        *item.facets,
        None if created is None else to_micros(created),
        None if created is None else created.date().toordinal(),
        item.cost,
        *item.tokens,
        item.prs,
    )


def contribution_of(address: str, figures: tuple[Any, ...]) -> Contribution:
    """``figures_of``, undone."""
    readable, problems, *rest = figures
    facets = tuple(rest[: len(FACETS)])
    created_us, _, cost, *rest = rest[len(FACETS) :]
    tokens, prs = tuple(rest[: len(TOKEN_FIGURES)]), rest[len(TOKEN_FIGURES)]
    return Contribution(
        address,
        bool(readable),
        facets,
        None if created_us is None else from_micros(created_us),
        cost,
        tokens,
        prs,
        _problems(problems),
    )


def _problems(mask: int) -> tuple[tuple[str, Problem], ...]:
    return tuple(problem for problem in _PROBLEMS if mask & _BIT[problem])


def _merge(totals: Totals, grouping: Grouping, tally: Tally) -> None:
    """What SQLite added up, into the tally (as ``Tally.add`` of each would have)."""
    for group in totals.groups:
        if group.aside:
            tally.twins += group.conversations
            continue
        if not group.readable:
            tally.unreadable += group.conversations
            continue
        for name, why in _problems(group.problems):
            tally.leave_out(name, why, group.conversations)
        figures = Figures(
            conversations=group.conversations,
            cost=group.cost,
            costed=group.costed,
            tokens=list(group.tokens),
            prs=group.prs,
        )
        for moment in (group.first, group.last):
            figures.seen(None if moment is None else from_micros(moment))
        day = None if group.day is None else date.fromordinal(group.day)
        tally.merge(dict(zip(grouping.facets, group.facets, strict=True)), day, figures)


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    # itertools.batched arrived in Python 3.12; convstore supports 3.11.
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch
