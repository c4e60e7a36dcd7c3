"""v0_checked: a listing chosen from cached keys, confirmed by what is read now.

The reads here are a table of what each conversation holds now (the moto tests in
tests/test_buckets.py read real objects); the window is small so that the cases cross
its edges.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from convstore.stores.base import Query
from convstore.stores.v0_checked import checked
from convstore.stores.v0_order import key_of
from convstore.stores.v0_scan import Entry


def entry(address: str, created: int, owner: str = "alice") -> Entry:
    return Entry(address, b"etag-" + address.encode(), owner, None, None, None, created, None)


CREATED = (100, 90, 80, 70, 60, 50, 40)
CACHED = [entry(name, created) for name, created in zip("abcdefg", CREATED, strict=True)]


def listing(query: Query, now: dict[str, Entry | None]) -> tuple[list[str], list[Any]]:
    """The addresses shown, and the corrections handed over (entries, gone)."""
    reads: list[list[str]] = []
    corrections: list[Any] = []

    def read(addresses: Sequence[str]) -> Iterator[tuple[Entry | None, Any]]:
        reads.append(list(addresses))
        for address in addresses:
            found = now.get(address, next(e for e in CACHED if e.address == address))
            yield found, (None if found is None else f"record {address}")

    # What the cache chose: its entries that match, in its order.
    candidates = [key_of(query.sort, e) for e in CACHED if query.user in (None, e.owner)]
    shown = list(checked(query, candidates, read, lambda *c: corrections.append(c), window=3))
    assert [len(batch) for batch in reads] == [3, 3, 1]  # windows of 3, 3, then up to 6
    return [record.split()[1] for record in shown], corrections


def test_unchanged_records_are_shown_in_the_cached_order() -> None:
    shown, corrections = listing(Query(), {})
    assert shown == list("abcdefg") and corrections == []


def test_gone_moved_and_left_behind_records() -> None:
    now: dict[str, Entry | None] = {
        "b": None,  # deleted
        "c": entry("c", 200),  # now the newest: still ahead of everything shown
        "d": entry("d", 45),  # later, into the next window: shown between f and g
        "f": entry("f", 150),  # earlier than a, already shown: behind, not shown
    }
    shown, corrections = listing(Query(), now)
    assert shown == ["c", "a", "e", "d", "g"]
    ((entries, gone),) = corrections
    assert [e.address for e in entries] == ["c", "d", "f"] and gone == ["b"]


def test_a_record_that_leaves_the_match_is_not_shown() -> None:
    now: dict[str, Entry | None] = {"c": entry("c", 80, owner="carol")}
    shown, corrections = listing(Query(user="alice"), now)
    assert shown == ["a", "b", "d", "e", "f", "g"]
    ((entries, gone),) = corrections
    assert [e.owner for e in entries] == ["carol"] and gone == []
