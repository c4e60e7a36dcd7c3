"""V0 to V1: every V0 conversation (files and SaaS rows) becomes a V1 row, losing nothing.

The job streams the sources in batches. Per batch: convert each conversation (a pure
function), look up which V1 rows already exist (one query), then insert the new rows
in one transaction with one bulk INSERT, read them back, and only then touch the
sources (``--after``). Conversion is deterministic, so a run killed at any moment and
started again finds the committed batches as "already migrated" and ends with exactly
the rows of an uninterrupted run. A lock keeps two migrations off one database.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import pickle
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlalchemy import ColumnElement, MetaData, String, Table, bindparam, func, inspect, select
from sqlalchemy.engine import Connection

from convstore import parallel
from convstore.errors import Conflict, ConvstoreError, StoreUnavailable, UsageError
from convstore.events import ConversionReport, convert_conversation
from convstore.events.locate import EventLocation, UserLayouts, v1_bucket_root
from convstore.jobs.batch_sizes import BatchSizes
from convstore.jobs.lock import migration_lock
from convstore.jobs.v0_to_v1 import (
    ROW_FIELDS,
    Conversion,
    NonUuidPolicy,
    Outcome,
    SourceFate,
    convert,
)
from convstore.model import ConversationMetadata, Packed
from convstore.objects.base import Objects, in_flight
from convstore.stores.activity import Guard
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog
from convstore.stores.files import ARCHIVE, METADATA, FileStore
from convstore.stores.sql import OWNERSHIP_TABLE, SqlStore
from convstore.stores.sql_values import RowForm

After = Literal["keep", "archive", "remove"]
EXAMPLES_PER_OUTCOME = 3
# Conversations per worker call: enough to amortize a round trip between processes,
# few enough that the chunks in flight hold little memory.
PREPARE_CHUNK = 500
# The clock batches are paced by (jobs.batch_sizes; tests set it).
clock = time.monotonic
# Conversations whose events are converted at once from or to a bucket: each keeps up to
# IN_FLIGHT requests of its own outstanding, so this many times that at most.
CONVERSATIONS_IN_FLIGHT = 4
# Conversations with events per worker below which converting them here is as quick.
EVENT_CONVERSATIONS_PER_WORKER = 16
T = TypeVar("T")
# Outcomes of a clean run: everything is (or would be) a V1 row as conversion made it.
SETTLED = frozenset(
    {"migrated", "would migrate", "already migrated", "overwritten", "would overwrite"}
)


@dataclass(frozen=True)
class Options:
    default_user: str = ""
    non_uuid: NonUuidPolicy = "skip"
    batch_size: int | None = None  # None: batches follow the pace (jobs.batch_sizes)
    overwrite: bool = False
    dry_run: bool = False
    after: After = "keep"
    org: str | None = None
    # Where V1 event files go (<persistence_dir>/v1_conversations); None: metadata only.
    events_root: Path | None = None
    # --after archive|remove leaves a source OpenHands seems to be using where it is.
    guard: Guard = field(default_factory=Guard)


@dataclass
class Report:
    """Counts per outcome, a few examples of each, and whether the run is clean."""

    dry_run: bool
    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[Conversion]] = field(default_factory=dict)
    # V0 events by what became of them ("converted", "summarized", "skipped") and kind.
    events: dict[str, Counter[str]] = field(
        default_factory=lambda: {
            "converted": Counter(),
            "summarized": Counter(),
            "skipped": Counter(),
        }
    )
    event_files_written: int = 0
    event_problems: int = 0
    # What --after did to migrated sources (archived, removed, kept: a V0 row under
    # archive, or in use: left for a later run), and where archived ones went.
    after: After = "keep"
    sources: Counter[str] = field(default_factory=Counter)
    archive: str | None = None

    def add(self, conversion: Conversion, outcome: str) -> None:
        self.counts[outcome] += 1
        if conversion.source_fate is not None:
            self.sources[conversion.source_fate.action] += 1
        if conversion.events is not None:
            self.events["converted"].update(conversion.events.converted)
            self.events["summarized"].update(conversion.events.summarized)
            self.events["skipped"].update(conversion.events.skipped)
            self.event_files_written += conversion.events.written
            self.event_problems += len(conversion.events.problems)
        examples = self.examples.setdefault(outcome, [])
        if len(examples) < EXAMPLES_PER_OUTCOME:
            if isinstance(conversion, _Received):
                # An example outlives its batch: it must not keep its chunk's shelf.
                conversion.take_off_shelf()
            examples.append(conversion)

    @property
    def clean(self) -> bool:
        """True when every conversation is migrated or already was (exit status 0)."""
        return set(self.counts) <= SETTLED


OutcomeListener = Callable[[Conversion, str], None]


def sources(catalog: Catalog) -> Iterator[ConversationMetadata]:
    """Every V0 conversation: the file store's, then the V0 rows of the SQL table."""
    if catalog.files is not None:
        yield from catalog.files.records()
    if catalog.sql is not None:
        yield from catalog.sql.search(Query(version="V0", sub_conversations=True))


def _conversions(
    catalog: Catalog, options: Options, form: RowForm, largest_batch: int
) -> Iterator[_Prepared]:
    """``sources``, each converted: the files on as many cores as pay, in order."""
    if catalog.files is not None:
        yield from _file_conversions(catalog.files, options, form, largest_batch)
    if catalog.sql is not None:
        for source in catalog.sql.search(Query(version="V0", sub_conversations=True)):
            yield _convert(source, options, form)


def _file_conversions(
    files: FileStore, options: Options, form: RowForm, largest_batch: int
) -> Iterator[_Prepared]:
    """Reading, validating and converting a file is most of a migration's work, and each
    is independent: worker processes do it for chunks of directories, encode the rows
    for the INSERT too, and send back plain values (``_sent``), which the batches
    consume in order."""
    size = files.count_up_to(2 * parallel.MIN_ITEMS_PER_WORKER)
    workers = files.objects.workers_for(size, files.workers)
    if not workers:
        for source in files.records():
            yield _convert(source, options, form)
        return
    objects = files.objects
    calls = ((objects, chunk, options, form) for chunk in _batched(files.located(), PREPARE_CHUNK))
    # The workers make the next batch while this process writes one: two calls per
    # worker in flight, and a whole batch's chunks (memory holds about two batches).
    in_flight = 2 * workers + -(-largest_batch // PREPARE_CHUNK)
    for summaries, pickled in parallel.ordered_map(_prepare, calls, workers, in_flight=in_flight):
        shelf = _Shelf(pickled)
        for index, summary in enumerate(summaries):
            yield _Received(summary, shelf, index)


def _prepare(
    objects: Objects, located: tuple[tuple[str, bool], ...], options: Options, form: RowForm
) -> tuple[list[_Summary], bytes]:
    """In a worker: the conversions of some conversations, as plain values (``_sent``)."""
    files = FileStore(objects)
    return _sent([_convert(source, options, form) for source in files.records(located)])


# A conversion as a worker sends it, without its source record and row.
_Summary = tuple[Outcome, str | None, list[str], tuple[Any, ...] | None]


def _sent(conversions: list[_Prepared]) -> tuple[list[_Summary], bytes]:
    """The conversions' summaries, and their source records (packed) and rows pickled
    together, for a ``_Shelf``: these are most of a conversion's size, and the writing
    process, which reads few of them, spent a quarter of its time unpickling them."""
    summaries = [(c.outcome, c.new_id, c.warnings, c.parameters) for c in conversions]
    kept = [(c.source.packed(), c.row) for c in conversions]
    return summaries, pickle.dumps(kept, pickle.HIGHEST_PROTOCOL)


class _Shelf:
    """The packed source records and rows of a chunk of conversions, pickled together
    in a worker, and unpickled when one of them is first read. (One pickle per chunk:
    one per conversation repeats the classes and time zones, and was a third slower.)"""

    def __init__(self, pickled: bytes) -> None:
        self._pickled = pickled
        self._items: list[tuple[Packed, dict[str, Any] | None]] | None = None

    def __getitem__(self, index: int) -> tuple[Packed, dict[str, Any] | None]:
        if self._items is None:
            self._items, self._pickled = pickle.loads(self._pickled), b""
        return self._items[index]


@dataclass
class _Prepared(Conversion):
    """A conversion and, for a row to migrate, its values as the INSERT takes them."""

    parameters: tuple[Any, ...] | None = None


class _Received(_Prepared):
    """A conversion a worker made (``_sent``). Its source record and row stay on the
    shelf until first read: a migration inserts the parameters, and reads the record
    only for --report, --after, events and examples, the row only to compare, for
    events, or for an ownership row."""

    def __init__(self, summary: _Summary, shelf: _Shelf, index: int) -> None:
        outcome, new_id, warnings, parameters = summary
        self._shelf: _Shelf | None = None  # until initialized, the setters only store
        self._record: ConversationMetadata | None = None
        self._row: dict[str, Any] | None = None
        super().__init__(None, outcome, new_id, None, warnings, parameters=parameters)  # type: ignore[arg-type]
        self._shelf, self._index = shelf, index

    def take_off_shelf(self) -> None:
        """Unpickle this conversion's record and row (the chunk's, once) and let go of the shelf."""
        if self._shelf is not None:
            packed, self._row = self._shelf[self._index]
            self._record, self._shelf = ConversationMetadata.unpacked(packed), None

    @property
    def source(self) -> ConversationMetadata:
        self.take_off_shelf()
        assert self._record is not None
        return self._record

    @source.setter
    def source(self, record: ConversationMetadata | None) -> None:
        self.take_off_shelf()
        self._record = record

    @property
    def row(self) -> dict[str, Any] | None:
        self.take_off_shelf()
        return self._row

    @row.setter
    def row(self, row: dict[str, Any] | None) -> None:
        self.take_off_shelf()
        self._row = row


def count_sources(catalog: Catalog) -> int:
    """How many conversations ``sources`` yields, counted cheaply (for progress)."""
    total = 0
    if catalog.files is not None:
        total += sum(1 for _ in catalog.files.addresses())
    if catalog.sql is not None:
        total += catalog.sql.count(Query(version="V0", sub_conversations=True))
    return total


def run(catalog: Catalog, options: Options, listener: OutcomeListener | None = None) -> Report:
    """Migrate every V0 conversation of ``catalog`` into V1 rows of its SQL store."""
    target = catalog.sql
    if target is None:
        raise UsageError("migrate-v0-to-v1 needs a database to write V1 rows into: give --db")
    if options.batch_size is not None and options.batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    archive = catalog.files.objects.describe(ARCHIVE) if catalog.files is not None else None
    report = Report(
        options.dry_run,
        after=options.after,
        archive=archive if options.after == "archive" else None,
    )

    def settle(conversion: Conversion, outcome: str) -> None:
        report.add(conversion, outcome)
        if listener is not None:
            listener(conversion, outcome)

    form = target.row_form(ROW_FIELDS)
    sizes = BatchSizes(options.batch_size)
    bucket = catalog.files.objects if catalog.files and not catalog.files.directory else None
    layouts = None if bucket is None else UserLayouts(bucket)
    conversions = _conversions(catalog, options, form, sizes.largest)
    with contextlib.ExitStack() as stack:
        if not options.dry_run:
            stack.enter_context(migration_lock(target))
        stack.enter_context(_collected_between_batches())
        started = clock()
        while batch := tuple(itertools.islice(conversions, sizes.next)):
            _migrate_batch(target, catalog, batch, options, form, settle, layouts)
            finished = clock()
            sizes.took(len(batch), finished - started)
            started = finished
            del batch  # so that the collection below does not walk it
            gc.collect(1)
    return report


@contextlib.contextmanager
def _collected_between_batches() -> Iterator[None]:
    """Automatic garbage collection off while batches run; the caller collects the young
    generations after each batch, once the batch is released.

    A batch keeps thousands of records alive, and the collector, triggered by
    allocations, walks them again and again: measured, a quarter of a migration's time.
    Released, they are freed by reference counting (records and rows form no cycles),
    and the collection between batches finds little left to walk.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _migrate_batch(
    target: SqlStore,
    catalog: Catalog,
    conversions: tuple[_Prepared, ...],
    options: Options,
    form: RowForm,
    settle: OutcomeListener,
    layouts: UserLayouts | None = None,
) -> None:
    ready = [c for c in conversions if c.outcome == "migrate"]
    for conversion in conversions:
        if conversion.outcome != "migrate":
            settle(conversion, conversion.outcome)
    owners = _Owners(target, options.org)
    with target.engine.connect() as connection:
        # Records only for the rows that exist: on a first run, none.
        present = _present(target, connection, [c.new_id for c in ready if c.new_id])
        existing = target.rows_with_ids(connection, sorted(present)) if present else {}
        owners.load(connection, ready)
    inserts: list[_Prepared] = []
    updates: list[_Prepared] = []
    unchanged: list[_Prepared] = []
    for conversion in ready:
        assert conversion.new_id is not None
        problem = owners.problem(conversion)
        if problem is not None:
            conversion.warnings.append(problem)
            settle(conversion, "failed")
            continue
        current = existing.get(conversion.new_id)
        if current is None:  # the row is not read: a worker encoded it already
            inserts.append(conversion)
            continue
        assert conversion.row is not None
        differences = _differences(current, conversion.row)
        if not differences:
            unchanged.append(conversion)
        elif options.overwrite:
            updates.append(conversion)
        else:
            conversion.warnings.append(
                f"a V1 row {conversion.new_id} exists and differs in "
                f"{', '.join(differences)}; left alone (--overwrite replaces it)"
            )
            settle(conversion, "conflict")
    # Every event file is in place before the row that makes OpenHands show it.
    _convert_events(catalog, [*inserts, *updates, *unchanged], options, layouts)
    failed = [c for c in [*inserts, *updates, *unchanged] if c.outcome == "failed"]
    for conversion in failed:
        settle(conversion, "failed")
    inserts = [c for c in inserts if c.outcome != "failed"]
    updates = [c for c in updates if c.outcome != "failed"]
    unchanged = [c for c in unchanged if c.outcome != "failed"]
    if options.dry_run:
        for conversion in unchanged:
            settle(conversion, "already migrated")
        for conversion in inserts:
            settle(conversion, "would migrate")
        for conversion in updates:
            settle(conversion, "would overwrite")
        return
    _commit(target, form, inserts, updates, owners)
    _read_back(target, inserts + updates)
    # --after applies to a conversation migrated before too: a source kept because it
    # was in use goes on a later run.
    for outcome, group in (
        ("already migrated", unchanged),
        ("migrated", inserts),
        ("overwritten", updates),
    ):
        for conversion in group:
            settle(conversion, _after(catalog, conversion, options) or outcome)


def _convert_events(
    catalog: Catalog,
    conversions: list[_Prepared],
    options: Options,
    layouts: UserLayouts | None = None,
) -> None:
    """Write (or, dry, count) the V1 event files of each conversation from its V0 events:
    on as many cores as pay, since a conversation's events are hundreds of small files
    to parse, write and sync (measured on disk: 4.2-4.7k events/s in one process,
    7.8-8.2k/s in two). From or to a bucket, here: requests in flight do the waiting (a
    forked worker could not use the client), a few conversations at a time, each with
    its reads and creates in flight."""
    target = options.events_root or catalog.events_bucket
    if target is None or catalog.files is None:
        return
    results: Iterable[ConversionReport | str | None]
    if isinstance(target, Path) and catalog.files.directory is not None:
        found = []
        for conversion in conversions:
            location = catalog.events(conversion.source)
            if location is not None:
                found.append((conversion, location))
        calls = (
            (location.directory, conversion.new_id, target, options.dry_run, conversion.row)
            for conversion, location in found
        )
        workers = parallel.workers_for(
            len(found), catalog.files.workers, per_worker=EVENT_CONVERSATIONS_PER_WORKER
        )
        results = parallel.ordered_map(_events_of, calls, workers)
        conversions = [conversion for conversion, _ in found]
    else:
        # Finding a conversation's events in a bucket is a listing: in flight too.
        def here(conversion: _Prepared) -> ConversionReport | str | None:
            location = catalog.events(conversion.source, layouts)
            return None if location is None else _events_here(conversion, location, target, options)

        results = in_flight(here, conversions, CONVERSATIONS_IN_FLIGHT)
    where = target.location if isinstance(target, Objects) else target
    for conversion, result in zip(conversions, results, strict=True):
        if result is None:
            continue  # no events
        if isinstance(result, str):
            conversion.outcome = "failed"
            conversion.warnings.append(
                f"its events could not be written to {where}: {result}; the V1 row was not written"
            )
            continue
        conversion.events = result
        conversion.warnings += [f"event file {problem}" for problem in result.problems]


def _events_here(
    conversion: _Prepared, location: EventLocation, target: Path | Objects, options: Options
) -> ConversionReport | str:
    """``_events_of`` in this process, from or to a bucket."""
    assert conversion.new_id is not None and conversion.row is not None
    return _events_of(
        location.directory or location,
        conversion.new_id,
        _v1_root(target, conversion.row),
        options.dry_run,
        conversion.row,
    )


def _v1_root(target: Path | Objects, row: dict[str, Any]) -> Path | tuple[Objects, str]:
    """Where 1.x reads the V1 events of a row's conversation: the events directory, or
    the bucket's ``users/[<user_id>/]v1_conversations``."""
    if isinstance(target, Path):
        return target
    return target, v1_bucket_root(row.get("user_id") or None)


def _events_of(
    events: Path | EventLocation,
    new_id: str,
    events_root: Path | tuple[Objects, str],
    dry_run: bool,
    row: dict[str, Any],
) -> ConversionReport | str:
    """In a worker (or here): one conversation's V1 event files, or why they could not
    be written."""
    try:
        return convert_conversation(
            events, new_id, events_root, dry_run=dry_run, start=row["created_at"]
        )
    except OSError as error:
        return str(error.strerror or error)
    except StoreUnavailable as error:
        return str(error)


def _batched(items: Iterator[T], size: int) -> Iterator[tuple[T, ...]]:
    # itertools.batched arrived in Python 3.12; convstore supports 3.11.
    while batch := tuple(itertools.islice(items, size)):
        yield batch


def _convert(source: ConversationMetadata, options: Options, form: RowForm) -> _Prepared:
    fallback = source.modified if source.created_at is None and source.store == "files" else None
    conversion = convert(
        source,
        default_user=options.default_user,
        non_uuid=options.non_uuid,
        created_fallback=fallback,
    )
    row = conversion.row
    return _Prepared(
        source,
        conversion.outcome,
        conversion.new_id,
        row,
        conversion.warnings,
        parameters=None if row is None else form.parameters(row),
    )


def _commit(
    target: SqlStore,
    form: RowForm,
    inserts: list[_Prepared],
    updates: list[_Prepared],
    owners: _Owners,
) -> None:
    if not inserts and not updates:
        return

    def write(connection: Connection) -> None:
        parameters = [c.parameters for c in inserts if c.parameters is not None]
        target.insert_parameters(connection, form, parameters)
        target.replace_rows(connection, [c.row for c in updates if c.row is not None])
        owners.write(connection, inserts)

    target.write(write)


def _read_back(target: SqlStore, written: Sequence[Conversion]) -> None:
    """Sources are touched only after their V1 rows are read back from the database."""
    if not written:
        return
    ids = [c.new_id for c in written if c.new_id]
    with target.engine.connect() as connection:
        # Counted, and fetched only to name what is missing: fetching a batch's ids
        # back cost as much as checking them (building the records, twice as much).
        if _count_present(target, connection, ids) == len(set(ids)):
            return
        found = _present(target, connection, ids)
    missing = [identifier for identifier in ids if identifier not in found]
    if missing:
        raise ConvstoreError(
            f"{len(missing)} V1 row(s) were committed but cannot be read back "
            f"(first: {missing[0]}); sources left untouched"
        )


def _present(target: SqlStore, connection: Connection, ids: list[str]) -> set[str]:
    """Which of ``ids`` are conversation_ids of the table: one query."""
    if not ids:
        return set()
    column = target.table.c.conversation_id
    among, parameters = _among_ids(target, ids)
    return set(connection.execute(select(column).where(among), parameters).scalars())


def _count_present(target: SqlStore, connection: Connection, ids: list[str]) -> int:
    """How many of ``ids`` are conversation_ids of the table: one query."""
    among, parameters = _among_ids(target, ids)
    statement = select(func.count()).select_from(target.table).where(among)
    return int(connection.execute(statement, parameters).scalar_one())


def _among_ids(target: SqlStore, ids: list[str]) -> tuple[ColumnElement[bool], dict[str, Any]]:
    """``conversation_id IN ids``, and the parameters it takes.

    On SQLite the ids travel as one JSON array: SQLAlchemy compiles an IN list of a
    batch's thousands of parameters one by one, which cost more than the query.
    """
    column = target.table.c.conversation_id
    if target.sqlite:
        listed = func.json_each(bindparam("ids", type_=String)).table_valued("value")
        return column.in_(select(listed.c.value)), {"ids": json.dumps(ids)}
    return column.in_(ids), {}


def _after(catalog: Catalog, conversion: Conversion, options: Options) -> str | None:
    """Archive or remove the source of a migrated conversation, unless OpenHands seems to
    be using it (``activity``): then it stays, with a warning saying how to finish.
    "conflict" (with a warning) when its V0 file or row changed after it was read: it
    stays too, and the V1 row lags behind it."""
    after = options.after
    if after == "keep":
        return None
    source = conversion.source
    signs = catalog.signs_of_use(source, options.guard)
    if signs:
        conversion.source_fate = SourceFate("in use", source.location)
        verb = "archived" if after == "archive" else "removed"
        conversion.warnings.append(
            f"its V0 source was kept, not {verb}: {signs[0]}; run the migration again "
            f"with --after {after} once OpenHands is done with it"
        )
        return None
    if after == "archive" and source.store == "sql":
        # Archiving moves directories: a V0 row stays where it is.
        conversion.source_fate = SourceFate("kept", source.location)
        return None
    try:
        conversion.source_fate = _archive_or_remove(catalog, source, after)
    except Conflict:
        conversion.warnings.append(
            f"not {after}d: its {'row' if source.store == 'sql' else 'metadata.json'} changed "
            "after it was read, so the V1 row holds the version read; run again with "
            "--overwrite to carry the change over"
        )
        conversion.source_fate = SourceFate("kept", source.location)
        return "conflict"
    except _Blocked as blocked:
        conversion.warnings.append(f"not {after}d: {blocked}")
        conversion.source_fate = SourceFate("kept", source.location)
    return None


class _Blocked(Exception):
    """What keeps a source from being removed, as its store's plan says."""


def _archive_or_remove(catalog: Catalog, source: ConversationMetadata, after: After) -> SourceFate:
    """Each a compare-and-swap on the source as read: Conflict if it changed since."""
    if after == "archive":
        files = catalog.files
        assert files is not None
        archived = f"{ARCHIVE}/{source.conversation_id}"
        files.move(source, archived)
        return SourceFate("archived", files.objects.describe(f"{archived}/{METADATA}"))
    store = catalog.sql if source.store == "sql" else catalog.files
    assert store is not None
    removal = store.plan_removal(source)
    if removal.blockers:
        raise _Blocked(removal.blockers[0])
    store.remove(removal)
    return SourceFate("removed", None)


# Comparing an existing V1 row with what conversion produces


def _differences(current: ConversationMetadata, row: dict[str, Any]) -> list[str]:
    columns = current.source_fields
    return [
        name
        for name, value in row.items()
        if name in columns and _normalized(getattr(current, name, None)) != _normalized(value)
    ]


def _normalized(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


class _Owners:
    """Ownership rows for a 1.x enterprise database (``conversation_metadata_saas``).

    The owner is the V0 conversation's user; the org is ``--org`` or the user's
    ``current_org_id`` in table ``user``. A conversation whose user has no row there is
    not migrated: OpenHands 1.x shows a conversation without an owner to no one.
    """

    def __init__(self, target: SqlStore, org: str | None) -> None:
        self.target = target
        self.enabled = target.ownership is not None
        self.org = org
        self.orgs: dict[str, Any] = {}

    def load(self, connection: Connection, conversions: Sequence[Conversion]) -> None:
        if not self.enabled:
            return
        users = {
            parsed
            for c in conversions
            if c.row and (parsed := _uuid(c.row.get("user_id"))) is not None
        }
        if not users or "user" not in inspect(connection).get_table_names():
            return
        table = Table("user", MetaData(), autoload_with=connection)
        for user_id, org_id in connection.execute(
            select(table.c.id, table.c.current_org_id).where(
                table.c.id.in_([self._stored(user) for user in users])
            )
        ):
            self.orgs[str(_uuid(str(user_id)))] = org_id

    def problem(self, conversion: Conversion) -> str | None:
        if not self.enabled:
            return None
        assert conversion.row is not None
        user = _uuid(conversion.row.get("user_id"))
        if user is None:
            return (
                f"user {conversion.row.get('user_id')!r} is not a user id of this 1.x "
                "database; not migrated (OpenHands 1.x needs an owner)"
            )
        if str(user) not in self.orgs:
            return (
                f"user {user} has no row in table user; not migrated (OpenHands 1.x needs an owner)"
            )
        return None

    def write(self, connection: Connection, conversions: Sequence[Conversion]) -> None:
        if not self.enabled or not conversions:
            return
        table = Table(OWNERSHIP_TABLE, MetaData(), autoload_with=connection)
        rows = []
        for conversion in conversions:
            assert conversion.row is not None
            user = _uuid(conversion.row.get("user_id"))
            org = self.org if self.org is not None else self.orgs[str(user)]
            rows.append(
                {
                    "conversation_id": conversion.new_id,
                    "user_id": self._stored(user),
                    "org_id": self._stored(_uuid(str(org))),
                }
            )
        connection.execute(table.insert(), rows)

    def _stored(self, value: uuid.UUID | None) -> Any:
        # SQLite keeps UUID columns as 32 hex digits; PostgreSQL takes UUID objects.
        if value is None:
            return None
        return value.hex if self.target.sqlite else value


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
