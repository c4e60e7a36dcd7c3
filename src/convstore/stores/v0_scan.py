"""V0 metadata.json files for listings: each reduced to a compact summary, its ``Entry``.

A listing needs, of every conversation, only its filter fields and sort values. This
module turns what reading a file gave (``objects.Outcome``: its bytes, nothing, or why
it was refused) into an ``Entry``: a flat tuple that pickles cheaply between processes
and is exactly a row of the V0 index cache (``v0_cache``). Timestamps are integer
microseconds, ordered as the datetimes are. The reading itself is the store's
(``Objects.map_reads``: worker processes on local disk, requests in flight on a bucket).

It imports neither pydantic nor SQLAlchemy, so worker processes that read a share of a
large store start in milliseconds (``convstore.parallel``).

An entry's ``signature`` is the object's, from the read that gave its content (so no
later change can hide behind it); ``UNTRUSTED`` when the store says it is not stable
(``Read.stable``: local disk's racy window), None when the entry must not be cached at
all (a refusal that may pass: permission denied, a link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from convstore.objects.base import Read, Refused, Unchanged
from convstore.owners import owner_of
from convstore.stores import metadata_json
from convstore.timestamps import parse_timestamp, to_micros

METADATA = "metadata.json"
UNTRUSTED = b""  # the signature of an entry no later scan may reuse


class Entry(NamedTuple):
    """One conversation as a listing sees it; also a row of the V0 index cache.

    ``signature`` is None when the entry must not be cached at all (a read error that
    may be passing, a link, a special file).
    """

    address: str
    signature: bytes | None
    owner: str | None = None  # ``owners.owner_of``: what --user matches
    title: str | None = None
    selected_repository: str | None = None
    trigger: str | None = None
    created: int | None = None  # created_at, microseconds since 1970 (UTC)
    updated: int | None = None  # last_updated_at, likewise


@dataclass(slots=True)
class Summary:
    """What a listing needs of one file: its filter fields and sort values (``Listable``)."""

    conversation_id: str
    owner: str | None = None
    title: str | None = None
    selected_repository: str | None = None
    trigger: str | None = None
    created_at: datetime | None = None
    last_updated_at: datetime | None = None
    version: str = "V0"
    execution_status: str | None = None
    org_id: str | None = None
    parent_conversation_id: str | None = None


def summarize(address: str, data: dict[str, Any] | None) -> Summary:
    """The listing fields of a decoded file, read exactly as the full model reads them."""
    if data is None:
        return Summary(address)
    return Summary(
        address,
        owner=owner_of(data.get("user_id"), data.get("github_user_id")),
        title=_text(data.get("title")),
        selected_repository=_text(data.get("selected_repository")),
        trigger=_text(data.get("trigger")),
        created_at=parse_timestamp(data.get("created_at")),
        last_updated_at=parse_timestamp(data.get("last_updated_at")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def entry_of(summary: Summary, signature: bytes | None) -> Entry:
    created, updated = summary.created_at, summary.last_updated_at
    return Entry(
        summary.conversation_id,
        signature,
        summary.owner,
        summary.title,
        summary.selected_repository,
        summary.trigger,
        None if created is None else to_micros(created),
        None if updated is None else to_micros(updated),
    )


def parses(raw: bytes) -> bool:
    """Whether a metadata.json is whole: a JSON object (a rewrite in place caught midway
    is empty or cut short). What a store that sees such rewrites reads again for."""
    return metadata_json.decode(raw).data is not None


def entry_from(name: str, outcome: Read | Refused | Unchanged | None) -> Entry | Unchanged | None:
    """The entry of one conversation from what reading its metadata.json gave: None when
    it has none; UNCHANGED passed on (``Objects.read_if_changed``).

    A file that cannot be read is still listed (its record says why), as OpenHands'
    operators need to see it; only what follows from the content (bytes that are not
    a JSON object) is cacheable.
    """
    if outcome is None or isinstance(outcome, Unchanged):
        return outcome
    if isinstance(outcome, Refused):
        return Entry(name, None)
    return entry_read(name, outcome, metadata_json.decode(outcome.data).data)


def entry_read(name: str, read: Read, data: dict[str, Any] | None) -> Entry:
    """The entry of what ``read`` gave, decoded (``data``: None when not a JSON object)."""
    return entry_of(summarize(name, data), read.signature if read.stable else UNTRUSTED)
