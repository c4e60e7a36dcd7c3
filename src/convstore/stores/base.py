"""What every store answers, and the ordering that lets the catalog merge them.

A listing is a keyset walk: every record has a sort key ``(value, id, store)`` under
one total order, a page ends at a key, and the next page starts strictly after it.
Missing values sort last in both directions, so records without a timestamp are
neither lost nor duplicated; titles compare folded (``title_order``), the same way in
every store. Each store yields its records in this order; the catalog merges the
streams, so pages never skip or repeat a conversation.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

from convstore.errors import Conflict, UsageError
from convstore.model import ConversationMetadata, Store, Version
from convstore.objects.base import content_version
from convstore.stores.title_order import fold

SortField = Literal["created", "updated", "title"]
SORT_CHOICES = ("created", "-created", "updated", "-updated", "title", "-title")
# Stores tie-break in this order, after the value and the id.
STORE_ORDER: dict[Store, int] = {"files": 0, "sql": 1}

SortValue = datetime | str | None
# A cursor says its format: 2 holds a title folded; 1 (no format field) as written.
CURSOR_FORMAT = 2


class Listable(Protocol):
    """What sorting and filtering read: a full record, or a store's light summary of one."""

    @property
    def conversation_id(self) -> str: ...
    @property
    def owner(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def selected_repository(self) -> str | None: ...
    @property
    def trigger(self) -> str | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def last_updated_at(self) -> datetime | None: ...
    @property
    def version(self) -> Version: ...
    @property
    def execution_status(self) -> str | None: ...
    @property
    def org_id(self) -> str | None: ...
    @property
    def parent_conversation_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Sort:
    """A sort order: one field, ascending or descending, missing values last."""

    field: SortField = "created"
    descending: bool = True

    @classmethod
    def parse(cls, text: str) -> Sort:
        if text not in SORT_CHOICES:
            raise UsageError(f"unknown sort {text!r}: use one of {', '.join(SORT_CHOICES)}")
        name = text.removeprefix("-")
        return cls(field=name, descending=text.startswith("-"))  # type: ignore[arg-type]

    def __str__(self) -> str:
        return ("-" if self.descending else "") + self.field

    def value_of(self, item: Listable) -> SortValue:
        """What the order compares: a timestamp, or the folded title."""
        if self.field == "created":
            return item.created_at
        if self.field == "updated":
            return item.last_updated_at
        return None if item.title is None else fold(item.title)


class Position(NamedTuple):
    """A point in a listing, as the tuple Python sorts by (see ``position``).

    A plain tuple underneath: sorting 10^5 of them compares in C.
    """

    has_value: bool
    value: Any
    conversation_id: str
    store_rank: int


def position(sort: Sort, value: SortValue, conversation_id: str, store: Store) -> Position:
    """The position of a record; ``Position`` order is ascending order with nulls last.

    For a descending sort the caller compares positions reversed; ``has_value`` is
    flipped so that nulls still come last.
    """
    placeholder: Any = "" if sort.field == "title" else datetime.min
    has_value = value is not None
    if not sort.descending:
        has_value = not has_value  # False (a value) sorts before True (null)
    return Position(
        has_value, placeholder if value is None else value, conversation_id, STORE_ORDER[store]
    )


def record_position(sort: Sort, record: ConversationMetadata) -> Position:
    return position(sort, sort.value_of(record), record.conversation_id, record.store)


def comes_after(sort: Sort, candidate: Position, anchor: Position) -> bool:
    """True when ``candidate`` is listed strictly after ``anchor``."""
    return candidate < anchor if sort.descending else candidate > anchor


@dataclass(frozen=True, slots=True)
class Query:
    """Filters, an order and a starting point: what `list` asks of every store."""

    user: str | None = None
    repo: str | None = None
    trigger: str | None = None
    title: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    updated_since: datetime | None = None
    updated_until: datetime | None = None
    version: Version | None = None
    sub_conversations: bool = False
    status: str | None = None
    org: str | None = None
    parent: str | None = None
    sort: Sort = field(default_factory=Sort)
    after: Position | None = None

    def starting_after(self, anchor: Position | None) -> Query:
        return replace(self, after=anchor)

    def matches(self, record: Listable) -> bool:
        """The filters applied in Python, exactly as the SQL store applies them in SQL."""
        if not owned_by(record, self.user):
            return False
        if self.version is not None and record.version != self.version:
            return False
        if self.trigger is not None and record.trigger != self.trigger:
            return False
        if self.status is not None and record.execution_status != self.status:
            return False
        if self.org is not None and record.org_id != self.org:
            return False
        if self.parent is not None and record.parent_conversation_id != self.parent:
            return False
        if not self.sub_conversations and record.parent_conversation_id is not None:
            return False
        if not _contains(record.title, self.title) or not _contains(
            record.selected_repository, self.repo
        ):
            return False
        return _within(record.created_at, self.created_since, self.created_until) and _within(
            record.last_updated_at, self.updated_since, self.updated_until
        )


def owned_by(record: Listable, user: str | None) -> bool:
    """``--user``: the owner is exactly ``user`` (``owners``); with no user, every record."""
    return user is None or record.owner == user


def _contains(text: str | None, needle: str | None) -> bool:
    if needle is None:
        return True
    return text is not None and needle.lower() in text.lower()


def _within(value: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    if since is None and until is None:
        return True
    if value is None:
        return False
    return (since is None or value >= since) and (until is None or value < until)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing, and the cursor of the next one (None at the end)."""

    items: list[ConversationMetadata]
    next_cursor: str | None


def encode_cursor(sort: Sort, anchor: Position) -> str:
    value = anchor.value
    payload = {
        "format": CURSOR_FORMAT,
        "sort": str(sort),
        "key": [
            anchor.has_value,
            value.isoformat() if isinstance(value, datetime) else value,
            anchor.conversation_id,
            anchor.store_rank,
        ],
    }
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: Sort, token: str) -> Position:
    """The position a cursor token names; refuses a token made for another sort."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        has_value, value, conversation_id, store_rank = payload["key"]
        made_for = payload["sort"]
        made_as = payload.get("format", 1)
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise UsageError(f"invalid cursor {token!r}: it was not made by convstore list") from error
    if made_for != str(sort):
        raise UsageError(f"this cursor belongs to --sort {made_for}, not --sort {sort}")
    if made_as != CURSOR_FORMAT and sort.field == "title":
        raise UsageError(
            "this cursor was made by an older convstore, whose --sort title was "
            "case-sensitive; list again from the first page"
        )
    if sort.field != "title":
        value = datetime.fromisoformat(value)
    return Position(bool(has_value), value, str(conversation_id), int(store_rank))


@dataclass(frozen=True, slots=True)
class Removal:
    """What deleting one conversation removes (or what blocks it), shown before acting."""

    record: ConversationMetadata
    # Directories removed with a row (a V1 row's event directory).
    paths: list[Path] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)
    bytes_on_disk: int = 0
    # The file store's: the prefixes removed, and what that is as a plan shows it
    # ("directory /srv/oh/sessions/<id>" on local disk, each object on a bucket).
    prefixes: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    # A V1 row's event prefix in the events bucket, removed with the row.
    event_prefixes: list[str] = field(default_factory=list)


class ConversationStore(Protocol):
    """A place conversations live: the V0 file store or the conversation_metadata table."""

    name: Store

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        """Matching records in ``query.sort`` order, strictly after ``query.after``."""
        ...

    def get(
        self, conversation_id: str, version: Version | None = None
    ) -> ConversationMetadata | None:
        """The record filed under exactly this id (and version), or None."""
        ...

    def update(self, record: ConversationMetadata, changes: dict[str, Any]) -> ConversationMetadata:
        """Write ``changes`` if the record is still as read; raises Conflict otherwise."""
        ...

    def plan_removal(self, record: ConversationMetadata) -> Removal:
        """Everything deleting this conversation would remove, without removing it."""
        ...

    def remove(self, removal: Removal) -> None:
        """Delete what the plan names, if the record is still as read."""
        ...

    def close(self) -> None: ...


def fingerprint(raw: bytes) -> str:
    """What a record held when read, for a write that must find it unchanged: the same
    digest as the version of an object on local disk (``objects.base.content_version``),
    so a V0 record's token is its file's version."""
    return content_version(raw)


def changed_since_read(record: ConversationMetadata) -> Conflict:
    return Conflict(
        f"conversation {record.conversation_id} changed or disappeared since it was read; "
        "nothing was written (read it again and retry)"
    )
