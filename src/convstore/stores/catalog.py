"""Every store as one catalog: routing by id the way OpenHands does, and merged listings.

Each store yields its matches in one total order (see ``base``); the catalog merges
the streams lazily, so a page costs what its records cost, and a cursor taken from
the last record of a page resumes every store exactly after it.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from convstore.config import Settings, database_url
from convstore.errors import NotFound, StoreUnavailable, UsageError
from convstore.fsutil import remove_directory, tree_size
from convstore.ids import (
    MIN_PREFIX_DIGITS,
    abbreviates,
    conversation_key,
    id_prefix,
    short_prefix,
    v0_form,
    v1_form,
    validate_id,
)
from convstore.model import UNDATED, ConversationMetadata, Version
from convstore.stores import filters
from convstore.stores.activity import Guard, signs_of_use
from convstore.stores.base import (
    ConversationStore,
    Page,
    Query,
    Removal,
    encode_cursor,
    owned_by,
    record_position,
)
from convstore.stores.locations import EventsUse, Location, survey
from convstore.stores.sql import SqlStore
from convstore.stores.sql_connection import engine

if TYPE_CHECKING:
    # Imported where used: a listing of the database alone needs none of them (a
    # command's start-up is part of what a page costs; benchmarks/startup.py).
    from convstore.events.locate import EventLocation, UserLayouts
    from convstore.objects.base import Objects
    from convstore.stores.deletion import Outcome, Plan
    from convstore.stores.files import FileStore
    from convstore.stores.users import Directory, Resolved

# An abbreviated id that fits more conversations names this many of them; the database
# is asked for a few more than that, not for every match.
AMBIGUITY_SHOWN = 5
AMBIGUITY_LIMIT = 20


@dataclass
class Catalog:
    """The file store and the SQL store, either of which may be absent."""

    files: FileStore | None = None
    sql: SqlStore | None = None
    # Where V1 event files live (<persistence_dir>/v1_conversations): a V1 conversation's
    # history, shown by `show` and removed by `delete` with its row.
    events_root: Path | None = None
    # Every store location looked at, used or not: what a batch job's summary names.
    locations: list[Location] = field(default_factory=list)
    # Where V1 event files live when that is a bucket (``events_root`` is None then).
    events_bucket: Objects | None = None

    def event_roots(self) -> tuple[Path | Objects | None, Path | Objects | None]:
        """Where V0 events (the file store) and V1 events are: a directory, a bucket, or
        nowhere; what ``events.locate`` takes."""
        file_store: Path | Objects | None = None
        if self.files is not None:
            file_store = self.files.directory or self.files.objects
        return file_store, self.events_root or self.events_bucket

    @property
    def stores(self) -> list[ConversationStore]:
        return [store for store in (self.files, self.sql) if store is not None]

    def close(self) -> None:
        for store in self.stores:
            store.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def optional_fields(self) -> list[str]:
        """Fields only some databases have that a listing should show when they do:
        execution_status (1.x) and the owner's org (1.x enterprise)."""
        if self.sql is None:
            return []
        found = ["execution_status"] if "execution_status" in self.sql.columns else []
        return [*found, "org_id"] if self.sql.ownership is not None else found

    # Users, as operators name them (1.x enterprise: ``users``)

    @functools.cached_property
    def directory(self) -> Directory | None:
        """The database's ``user`` table, where it has one with emails or git user names."""
        from convstore.stores.users import Directory

        return None if self.sql is None else Directory.of(self.sql)

    def resolve_user(self, text: str) -> Resolved:
        """``--user TEXT`` as the owner id every store matches exactly: a user's id, email
        or git user name where the database has users (``users.Directory.resolve``)."""
        from convstore.stores.users import Resolved

        return Resolved(text) if self.directory is None else self.directory.resolve(text)

    def user_emails(self, owners: Iterable[str]) -> dict[str, str]:
        """The email of each owner id that has one, for tables to show beside the id."""
        return {} if self.directory is None else self.directory.emails(owners)

    # Listing

    def search(self, query: Query) -> Iterator[ConversationMetadata]:
        """Every matching conversation of every store, in ``query.sort`` order; a
        filter that can never match is a usage error (``filters.check``)."""
        filters.check(query, self.sql)
        sort = query.sort
        streams = [store.search(query) for store in self.stores]
        merged = heapq.merge(
            *streams, key=lambda record: record_position(sort, record), reverse=sort.descending
        )
        return (self._as_shown(record, query.user) for record in merged)

    def page(self, query: Query, limit: int) -> Page:
        """At most ``limit`` records, and a cursor when more remain."""
        if limit < 1:
            raise UsageError("--limit must be at least 1")
        items = list(itertools.islice(self.search(query), limit + 1))
        if len(items) <= limit:
            return Page(items, None)
        last = items[limit - 1]
        return Page(items[:limit], encode_cursor(query.sort, record_position(query.sort, last)))

    # One conversation

    def get(self, conversation_id: str, user: str | None = None) -> ConversationMetadata:
        """The conversation OpenHands would open for this id (V1 first, then V0), in any
        spelling of it; else the one conversation whose id starts with it (8 or more hex
        digits, as git abbreviates). With a user, only theirs."""
        validate_id(conversation_id)
        for record in self._route(conversation_id):
            if record is not None and owned_by(record, user):
                return self._as_shown(record, user)
        digits = id_prefix(conversation_id)
        if digits is not None:
            return self._abbreviated(conversation_id, digits, user)
        owner = f" for user {user!r}" if user is not None else ""
        hint = ""
        if short_prefix(conversation_id):
            hint = f" (give an id, or {MIN_PREFIX_DIGITS} or more of its first hex digits)"
        raise NotFound(f"no conversation {conversation_id}{owner}{hint}")

    def _route(
        self, conversation_id: str, version: Version | None = None
    ) -> Iterator[ConversationMetadata | None]:
        """Every record filed under a spelling of this id, in the order OpenHands looks:
        the V1 row (dashed form), then V0 as given; then V0 under the hex form, which
        OpenHands does not try (it finds a V0 conversation by the spelling it was filed
        under, which is the hex form), so that every spelling finds it. With a
        ``version``, only the records of that version are looked up."""
        dashed = v1_form(conversation_id)
        if dashed is not None and self.sql is not None and version != "V0":
            yield self.sql.get(dashed, "V1")
        if version == "V1":
            return
        spellings = dict.fromkeys([conversation_id, v0_form(conversation_id) or conversation_id])
        for spelling in spellings:
            if self.files is not None:
                yield self.files.get(spelling)
            if self.sql is not None:
                yield self.sql.get(spelling, "V0")

    def _abbreviated(self, text: str, digits: str, user: str | None) -> ConversationMetadata:
        """The conversation whose id ``digits`` abbreviates; exit 2 naming the candidates
        when there are several (a V0 conversation and its V1 twin are one)."""
        found: list[ConversationMetadata] = []
        if self.files is not None:
            for address in self.files.addresses():
                if abbreviates(digits, address) and (record := self.files.get(address)):
                    found.append(record)
        if self.sql is not None:
            found += self.sql.abbreviated_by(digits, limit=AMBIGUITY_LIMIT)
        conversations: dict[str, ConversationMetadata] = {}
        for record in found:
            if owned_by(record, user):
                conversations.setdefault(conversation_key(record.conversation_id), record)
        if not conversations:
            owner = f" for user {user!r}" if user is not None else ""
            raise NotFound(f"no conversation {text}{owner}")
        if len(conversations) > 1:
            names = [record.conversation_id for record in conversations.values()]
            shown = ", ".join(names[:AMBIGUITY_SHOWN])
            if len(names) > AMBIGUITY_SHOWN:
                shown += ", ..."
            raise UsageError(
                f"conversation id {text} is ambiguous: it could be {shown}; give more digits"
            )
        record = next(iter(conversations.values()))
        return self.get(record.conversation_id, user)  # the full id routes V1 first

    def forms(
        self, record: ConversationMetadata, user: str | None = None
    ) -> list[ConversationMetadata]:
        """Every form of the conversation ``record`` is one of, ``record`` first: its V1 row,
        its V0 directory, its V0 row (one UUID, any spelling). With a user, only theirs:
        another user's record under the same UUID is not their conversation."""
        found = {_form_key(record): record}
        for candidate in self._route(record.conversation_id):
            if candidate is not None and owned_by(candidate, user):
                found.setdefault(_form_key(candidate), candidate)
        return list(found.values())

    def twin(
        self, record: ConversationMetadata, user: str | None = None
    ) -> ConversationMetadata | None:
        """The same conversation in the other version (V0 hex <-> V1 dashed), if it exists;
        with a user, only if it is theirs (another user's is not shown, even as a twin)."""
        # Only the other version is looked up: a listing asks this of every undated V0
        # record, and reading its own file again would double the cost of those.
        other: Version = "V1" if record.version == "V0" else "V0"
        found = self._route(record.conversation_id, other)
        return next((form for form in found if form is not None and owned_by(form, user)), None)

    def _as_shown(self, record: ConversationMetadata, user: str | None) -> ConversationMetadata:
        """The record with the problems it has as OpenHands shows it: a V0 conversation
        without created_at hides nothing once its V1 twin exists (model.UNDATED). One
        lookup, and only for such a record."""
        undated = record.version == "V0" and not UNDATED.isdisjoint(record.problems)
        if undated and self.twin(record, user) is not None:
            record.drop_problems(UNDATED)
        return record

    def store_of(self, record: ConversationMetadata) -> ConversationStore:
        store = self.files if record.store == "files" else self.sql
        assert store is not None, "a record always comes from a configured store"
        return store

    def disk_usage(self, record: ConversationMetadata) -> int | None:
        """Bytes of a V0 conversation's files (events included), on disk or in a bucket."""
        if record.store == "files" and self.files is not None:
            return self.files.disk_usage(record)
        return None

    def rename(
        self, conversation_id: str, title: str, user: str | None = None
    ) -> ConversationMetadata:
        """Give a conversation a new title; refuses if it changed since it was read."""
        title = title.strip()
        if not title:
            raise UsageError("the new title is empty")
        if any(ord(character) < 32 for character in title):
            # PostgreSQL refuses NUL outright; the rest would reach terminals and the UI.
            raise UsageError("the new title contains a NUL or control character")
        if not title.isascii() and not _encodes(title):
            raise UsageError("the new title is not valid UTF-8 (check the terminal's encoding)")
        record = self.get(conversation_id, user)
        changes = {"title": title, "last_updated_at": datetime.now(UTC)}
        return self.store_of(record).update(record, changes)

    # Deleting (``deletion`` says how)

    def plan_deletion(
        self,
        conversation_ids: list[str],
        user: str | None = None,
        with_sub: bool = False,
        guard: Guard = Guard(),
    ) -> Plan:
        """What deleting these conversations removes (every form of each), children
        before their parent, and what cannot be deleted now."""
        from convstore.stores.deletion import plan_conversations

        records = [self._to_delete(name, user) for name in conversation_ids]
        return plan_conversations(self, records, user=user, with_sub=with_sub, guard=guard)

    def _to_delete(self, conversation_id: str, user: str | None) -> ConversationMetadata:
        """The conversation ``get`` finds, else (without --user: remains have no owner)
        what a deletion cut short left of it in the file store (``FileStore.remains``)."""
        try:
            return self.get(conversation_id, user)
        except NotFound:
            remains = None
            if self.files is not None and user is None:
                remains = self.files.remains(conversation_id)
            if remains is None:
                raise
            return remains

    def plan_retention(
        self,
        cutoff: datetime,
        *,
        user: str | None = None,
        version: Version | None = None,
        with_sub: bool = False,
        guard: Guard = Guard(),
    ) -> Plan:
        """What deleting every conversation last updated before ``cutoff`` removes."""
        from convstore.stores import deletion

        return deletion.plan_retention(
            self, cutoff, user=user, version=version, with_sub=with_sub, guard=guard
        )

    def delete(self, plan: Plan, guard: Guard = Guard(), outcome: Outcome | None = None) -> Outcome:
        """Carry out a plan: what is blocked or in use stays, the rest is deleted.
        ``outcome`` (filled as it goes) tells a caller what was done even if an error
        ends the run."""
        from convstore.stores.deletion import Outcome, carry_out

        outcome = outcome if outcome is not None else Outcome()
        carry_out(self, plan, guard, outcome)
        return outcome

    def plan_removal(self, record: ConversationMetadata) -> Removal:
        """The store's plan for one form, plus a V1 row's event directory or prefix
        (OpenHands 1.x leaves it behind when it deletes a row; convstore does not)."""
        plan = self.store_of(record).plan_removal(record)
        if record.store == "sql" and record.version == "V1":
            found = self.events(record)
            if found is not None and found.objects is not None:
                places, size = found.objects.plan_trees([found.prefix])
                return replace(
                    plan,
                    places=[*plan.places, *places],
                    event_prefixes=[*plan.event_prefixes, found.prefix],
                    bytes_on_disk=plan.bytes_on_disk + size,
                )
            if found is not None and found.directory is not None:
                return replace(
                    plan,
                    paths=[*plan.paths, found.directory],
                    bytes_on_disk=plan.bytes_on_disk + tree_size(found.directory),
                )
        return plan

    def remove(self, plan: Removal) -> None:
        """Remove one form as planned, if it is still as read (Conflict otherwise)."""
        self.store_of(plan.record).remove(plan)
        if plan.record.store == "sql":
            # After the row: a directory without a row is an orphan verify reports;
            # a row without its directory would be a conversation with no history.
            for path in plan.paths:
                remove_directory(path)
            if plan.event_prefixes and self.events_bucket is not None:
                self.events_bucket.delete_trees(plan.event_prefixes)

    def events(
        self, record: ConversationMetadata, layouts: UserLayouts | None = None
    ) -> EventLocation | None:
        """Where this conversation's event files are (V0 or V1 layout; a directory or a
        bucket's prefix), if anywhere. ``layouts``: a batch job's memory of which
        conversations have a user prefix in the file store's bucket."""
        from convstore.events.locate import locate_events

        return locate_events(
            record.conversation_id, record.version, record.user_id, *self.event_roots(), layouts
        )

    def signs_of_use(self, record: ConversationMetadata, guard: Guard) -> list[str]:
        """Why OpenHands may be using this form of a conversation now (``activity``)."""
        try:
            found = self.events(record)
        except PermissionError:
            found = None  # a directory this user cannot search: removing it will say so
        modified = None
        if record.store == "files" and self.files is not None:
            modified = self.files.modified(record)
        return signs_of_use(record, found, guard, modified)

    def children(
        self, record: ConversationMetadata, user: str | None = None
    ) -> list[ConversationMetadata]:
        """Its sub-conversations; with a user, only theirs: another user's are neither
        named nor deleted."""
        if self.sql is None or record.store != "sql":
            return []
        query = Query(parent=record.conversation_id, user=user, sort=Query().sort)
        return list(self.sql.search(query))


def _form_key(record: ConversationMetadata) -> tuple[str, str, str]:
    return (record.store, record.version, record.conversation_id)


def _encodes(text: str) -> bool:
    """False for text with lone surrogates: bytes of an argument that were not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def open_catalog(settings: Settings, *, cache: bool = True, events: EventsUse = "read") -> Catalog:
    """The stores the settings name, each looked at first (``locations.survey``): one
    named explicitly must be there and readable; the built-in default may be absent and
    is then left out. ``cache``: file listings use the V0 index cache. ``events``: what
    the command does with V1 event files (``locations.EventsUse``)."""
    locations = survey(settings, events)
    for location in locations:
        if location.problem is not None:
            raise location.problem
    used = {location.kind: location for location in locations if location.used}
    files = sql = None
    if "file store" in used:
        from convstore.objects.local import LocalObjects
        from convstore.stores.files import FileStore
        from convstore.stores.v0_cache import V0Cache

        found = used["file store"]
        objects = found.objects or LocalObjects(Path(found.setting.value).expanduser())
        files = FileStore(objects, cache=V0Cache.for_identity(objects.identity) if cache else None)
    if "database" in used:
        url = database_url(used["database"].setting.value)
        sql = SqlStore(engine(url, settings.connect_seconds))
    if files is None and sql is None:
        raise StoreUnavailable(_no_store(locations))
    events_root = None if events == "none" else settings.events_root
    bucket = used["V1 events"].objects if "V1 events" in used else None
    return Catalog(
        files=files, sql=sql, events_root=events_root, locations=locations, events_bucket=bucket
    )


def _no_store(locations: list[Location]) -> str:
    """Which default stores were not found, and the options that name others."""
    missing = [found for found in locations if found.kind != "V1 events"]
    option = {"file store": "--file-store", "database": "--db"}
    options = " or ".join(option[found.kind] for found in missing)
    named = " and ".join(f"{found.where} ({found.setting.source})" for found in missing)
    return f"no store found: {named} not found; give {options} (see `convstore config`)"
