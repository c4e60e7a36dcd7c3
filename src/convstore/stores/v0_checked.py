"""A bucket's listing chosen from the V0 index cache, with only the records shown read.

On a bucket, knowing that a cached entry is still right costs a request per
conversation (``v0_cache``). For a sort and filters on fields set at creation
(``creation_fields``) the cache's order is trusted instead, and each record about to be
shown is read (it must be read to be shown anyway): a window of ``IN_FLIGHT`` candidates
at a time, requests in flight, before any of them is yielded. For each:

- gone (no metadata.json): not shown, and its entry forgotten;
- read, and its key and match are what the cache said: shown as read now (its other
  fields may have changed: the record is the object's current content);
- read, and it sorts elsewhere now or no longer matches: its entry is corrected, and
  the choice is redone: it is shown where it belongs now, if that is still ahead (the
  next candidates take its place on the page).

So a page never shows a deleted conversation or an old version of one. A first page
of 10^4 conversations costs the delimiter listing (10 requests) and one window of
reads, where revalidating the cache costs 10^4 conditional reads.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from convstore.model import ConversationMetadata
from convstore.objects.base import IN_FLIGHT
from convstore.stores.base import Query
from convstore.stores.v0_order import (
    FILES_RANK,
    Key,
    after,
    anchor,
    has_filters,
    key_of,
    matches,
)
from convstore.stores.v0_scan import Entry

# The most candidates read before any of them is shown, in a long listing (memory holds
# their records: about a megabyte).
LARGEST_WINDOW = 1024
# What reading a chosen conversation gives: its entry and its record as read now
# (None, None: it is gone), in the order the addresses were given.
Reader = Callable[[Sequence[str]], Iterator[tuple[Entry | None, ConversationMetadata | None]]]
# Where corrections go (``V0Cache.correct``): entries read that moved, addresses gone.
Corrector = Callable[[Sequence[Entry], Sequence[str]], None]


@dataclass
class Checked:
    """Keys chosen from the cache, which the records read must confirm (``checked``),
    and where the corrections go."""

    keys: Iterator[Key]
    correct: Corrector


def checked(
    query: Query,
    candidates: Iterable[Key],
    read: Reader,
    correct: Corrector,
    window: int = IN_FLIGHT,
) -> Iterator[ConversationMetadata]:
    """The records of ``candidates`` (keys in listing order, from the cache), each read
    now, in listing order, as the module's docstring says; the corrections are handed to
    ``correct`` when the listing ends or is dropped. Windows of ``window`` candidates,
    twice; then each twice the last, up to ``LARGEST_WINDOW``."""
    sort, filtered = query.sort, has_filters(query)
    start = None if query.after is None else anchor(sort, query.after)
    # Read and placed anew, not shown yet: in listing order.
    moved: list[tuple[Key, ConversationMetadata]] = []
    corrections: list[Entry] = []
    gone: list[str] = []
    chosen = iter(candidates)
    sizes = _windows(window)
    try:
        while batch := list(itertools.islice(chosen, next(sizes))):
            shown: list[tuple[Key, ConversationMetadata]] = []
            for key, (entry, record) in zip(batch, read([k[2] for k in batch]), strict=True):
                if entry is None or record is None:
                    gone.append(key[2])
                    continue
                now = key_of(sort, entry)
                belongs = not filtered or matches(query, entry)
                if belongs and now == key:
                    shown.append((key, record))
                    continue
                corrections.append(entry)
                if belongs and after(sort, now, start):  # still ahead: placed anew
                    moved.append((now, record))
                    moved.sort(key=lambda item: item[0], reverse=sort.descending)
            for key, record in shown:
                while moved and after(sort, key, (*moved[0][0], FILES_RANK)):
                    yield moved.pop(0)[1]
                yield record
                start = (*key, FILES_RANK)  # what is shown is behind
        for _, record in moved:
            yield record
    finally:
        if corrections or gone:
            correct(corrections, gone)


def _windows(first: int) -> Iterator[int]:
    """How many candidates each window reads: a page's worth, twice (pages of up to 63
    records cost one or two windows), then more at a time for a listing that goes on,
    so the requests in flight wait less often for a window's slowest read."""
    yield first
    size = first
    while True:
        yield size
        size = min(size * 2, max(first, LARGEST_WINDOW))
