"""What the V0 file store adds to ``convstore stats``: one ``Contribution`` per conversation.

``contributions`` is the one seam between stats and the file store. For now it reads
every metadata.json (``FileStore.records``), in worker processes where the store is on
local disk and large enough to pay for them, and applies ``figures.contribution`` to
each record that matches the query. A source that can answer without reading the files (the V0 index
cache, once its entries carry the figures) replaces the body of ``contributions`` and
nothing else: whatever yields the same contributions gives the same report.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

from convstore import parallel
from convstore.jobs.stats.figures import Contribution, contribution
from convstore.model import ConversationMetadata
from convstore.objects.base import Objects
from convstore.stores.base import Query
from convstore.stores.files import FileStore

# Directories per call to a worker: large enough that a round trip is cheap beside the
# reading, small enough that the results in flight stay a few megabytes.
CHUNK = 1000
T = TypeVar("T")


def contributions(files: FileStore, query: Query) -> Iterator[Contribution]:
    """What each V0 conversation matching ``query`` contributes, in directory order."""
    size = files.count_up_to(2 * parallel.MIN_ITEMS_PER_WORKER)
    workers = files.objects.workers_for(size, files.workers)  # none on a bucket
    if not workers:
        yield from _matching(files.records(), query)
        return
    calls = ((files.objects, chunk, query) for chunk in batched(files.located(), CHUNK))
    for found in parallel.ordered_map(_chunk, calls, workers):
        yield from found


def _chunk(
    objects: Objects, located: tuple[tuple[str, bool], ...], query: Query
) -> list[Contribution]:
    """In a worker: the contributions of some conversations."""
    return list(_matching(FileStore(objects).records(located), query))


def _matching(records: Iterable[ConversationMetadata], query: Query) -> Iterator[Contribution]:
    for record in records:
        if query.matches(record):
            yield contribution(record)


def batched(items: Iterable[T], size: int) -> Iterator[tuple[T, ...]]:
    # itertools.batched arrived in Python 3.12; convstore supports 3.11.
    iterator = iter(items)
    while batch := tuple(itertools.islice(iterator, size)):
        yield batch
