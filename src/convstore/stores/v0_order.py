"""Ordering and filtering V0 entries: the listing order of ``base`` on compact keys.

A listing keeps, of each matching conversation, only its key: ``(flag, value,
address)``, where ``value`` is the sort value (timestamps as integer microseconds,
titles folded by ``title_order``) or a placeholder, and ``flag`` puts records without
a value last in both directions. Ordered, these keys give exactly the order of
``base.Position`` for the file store (whose store rank is a constant), at a fraction
of its memory. The V0 index cache (``v0_cache``) sorts the same keys in SQL;
``anchor`` translates a cursor's position into the same terms, so both paths resume at
the same place.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from convstore.model import Version
from convstore.objects.base import Outcome
from convstore.stores.base import Position, Query, Sort
from convstore.stores.title_order import fold
from convstore.stores.v0_scan import Entry, entry_from
from convstore.timestamps import as_utc, from_micros, to_micros

Key = tuple[Any, Any, str]  # (flag, value or placeholder, address)
Anchor = tuple[Any, Any, str, int]  # a Position in key terms, with its store rank
FILES_RANK = 0  # base.STORE_ORDER["files"]
# What a missing value compares as. Only missing values ever meet it (the flag keeps
# them apart from real ones), so any constant of the column's type will do.
TIME_PLACEHOLDER = 0
TITLE_PLACEHOLDER = ""
# Entry fields by sort field.
_FIELD = {"created": 6, "updated": 7, "title": 3}


def can_match(query: Query) -> bool:
    """False when no V0 file can match: files hold no V1, status, org or parent."""
    return (
        query.version != "V1"
        and query.status is None
        and query.org is None
        and query.parent is None
    )


def placeholder(sort: Sort) -> Any:
    return TITLE_PLACEHOLDER if sort.field == "title" else TIME_PLACEHOLDER


def key_of(sort: Sort, entry: Entry) -> Key:
    value = entry[_FIELD[sort.field]]
    if value is None:
        return (not sort.descending, placeholder(sort), entry.address)
    if isinstance(value, str):  # a title
        value = fold(value)
    return (sort.descending, value, entry.address)


def anchor(sort: Sort, position: Position) -> Anchor:
    """A cursor's position in key terms: real values converted, placeholders replaced."""
    real = position.has_value if sort.descending else not position.has_value
    value: Any = placeholder(sort)
    if real:
        value = position.value
        if isinstance(value, datetime):
            value = to_micros(as_utc(value))
    return (position.has_value, value, position.conversation_id, position.store_rank)


def after(sort: Sort, key: Key, start: Anchor | None) -> bool:
    """True when ``key`` is listed strictly after ``start`` (``base.comes_after``)."""
    if start is None:
        return True
    candidate = (*key, FILES_RANK)
    return candidate < start if sort.descending else candidate > start


def matches(query: Query, entry: Entry) -> bool:
    """``Query.matches`` for an entry: the same test, on the summary the entry holds."""
    if query.user is not None and entry.owner != query.user:
        return False  # the common filter, tested before building anything
    if query.trigger is not None and entry.trigger != query.trigger:
        return False
    return query.matches(_Listed(entry))


class _Listed:
    """An entry seen through ``base.Listable``, with datetimes only where a filter asks."""

    __slots__ = ("_entry",)
    version: Version = "V0"
    execution_status = org_id = parent_conversation_id = None

    def __init__(self, entry: Entry) -> None:
        self._entry = entry

    @property
    def conversation_id(self) -> str:
        return self._entry.address

    @property
    def owner(self) -> str | None:
        return self._entry.owner

    @property
    def title(self) -> str | None:
        return self._entry.title

    @property
    def selected_repository(self) -> str | None:
        return self._entry.selected_repository

    @property
    def trigger(self) -> str | None:
        return self._entry.trigger

    @property
    def created_at(self) -> datetime | None:
        return _datetime(self._entry.created)

    @property
    def last_updated_at(self) -> datetime | None:
        return _datetime(self._entry.updated)


def _datetime(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def has_filters(query: Query) -> bool:
    """True when ``matches`` can reject a V0 entry (``can_match`` already holds)."""
    return any(
        value is not None
        for value in (
            query.user,
            query.trigger,
            query.title,
            query.repo,
            query.created_since,
            query.created_until,
            query.updated_since,
            query.updated_until,
        )
    )


def keys(query: Query, chunks: Iterable[Iterable[Entry]]) -> list[Key]:
    """The keys of the matching entries after the query's start, in listing order."""
    sort, start = query.sort, None
    if query.after is not None:
        start = anchor(sort, query.after)
    filtered = has_filters(query)
    found = []
    for chunk in chunks:
        for entry in chunk:
            if filtered and not matches(query, entry):
                continue
            key = key_of(sort, entry)
            if start is None or after(sort, key, start):
                found.append(key)
    found.sort(reverse=sort.descending)
    return found


def key_reducer(query: Query) -> Callable[[str, Outcome], tuple[Any, Any] | None]:
    """``matching_key`` for ``query``, picklable for worker processes."""
    start = None if query.after is None else anchor(query.sort, query.after)
    return functools.partial(matching_key, query, start, has_filters(query))


def matching_key(
    query: Query, start: Anchor | None, filtered: bool, name: str, outcome: Outcome
) -> tuple[Any, Any] | None:
    """In a worker (or here): the (flag, value) of a conversation's key when it matches
    and comes after the query's ``start``; None otherwise. Its name is the caller's
    already: a worker's answer is a few bytes per conversation, and the caller's keys
    share its strings instead of holding copies."""
    entry = entry_from(name, outcome)
    if not isinstance(entry, Entry):
        return None
    if filtered and not matches(query, entry):
        return None
    flag, value, _ = key = key_of(query.sort, entry)
    if start is not None and not after(query.sort, key, start):
        return None
    return flag, value


def merged(sort: Sort, *streams: Iterable[Key]) -> Iterator[Key]:
    """Streams of keys, each in listing order, as one stream in listing order."""
    return heapq.merge(*streams, reverse=sort.descending)
