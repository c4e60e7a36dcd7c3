"""Work spread over processes gives exactly what one process gives, in the same order.

Real stores reach the size where convstore starts workers (``parallel``) only in the
benchmarks; here the threshold is lowered so that a store of a few dozen conversations
is read by two worker processes, and every result is compared with a run in one process.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, text

from convstore import parallel
from convstore.jobs import migrate, stats
from convstore.jobs import verify as job
from convstore.objects import local as local_objects
from convstore.objects.local import LocalObjects
from convstore.sample import GENERATIONS, encode, v0_document, v0_events
from convstore.schema import create_schema
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from convstore.stores.v0_cache import V0Cache

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path):
    """Conversations of every generation, some broken, with leftovers and events."""
    rng = random.Random(3)
    root = tmp_path / "store"
    for index in range(90):
        conversation_id = uuid.UUID(int=rng.getrandbits(128)).hex
        directory = root / "sessions" / conversation_id
        directory.mkdir(parents=True)
        document = v0_document(GENERATIONS[index % len(GENERATIONS)], rng, conversation_id)
        raw = encode(document)
        if index % 11 == 0:
            raw = raw[: len(raw) // 2]  # torn
        if index % 13 == 0:
            leftover = directory / ".metadata.json.0badc0de.convstore-tmp"
            leftover.write_bytes(b"{}")
            _age(leftover)
        (directory / "metadata.json").write_bytes(raw)
    (root / "sessions" / "no-metadata" / "events").mkdir(parents=True)
    (root / "sessions" / ".deleting-gone-0badc0de").mkdir()
    _age(root / "sessions" / ".deleting-gone-0badc0de")
    return root


def _age(path):
    """Three and a half days old: a finding says "3 days old" in every run of a test
    (made just now, it said "0 seconds" in one run and "1 second" in the next)."""
    then = time.time() - 3.5 * 86400
    os.utime(path, (then, then))


@pytest.fixture
def spread(monkeypatch):
    """Two workers for anything over a handful of items; the pools actually started."""
    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_WORKER", 4)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    monkeypatch.setattr(job.files, "CHUNK", 7)  # many chunks, so order is at stake
    monkeypatch.setattr(migrate, "PREPARE_CHUNK", 7)
    monkeypatch.setattr(migrate, "EVENT_CONVERSATIONS_PER_WORKER", 2)
    started: list[int] = []
    real = parallel.ordered_map

    def counting(function, arguments, workers, **options):
        started.append(workers)
        return real(function, arguments, workers, **options)

    monkeypatch.setattr(parallel, "ordered_map", counting)
    return started


def test_stat_in_workers_finds_the_same_in_the_same_order(store, spread, monkeypatch):
    monkeypatch.setattr(local_objects, "STAT_ITEMS_PER_WORKER", 4)
    sessions = store / "sessions"
    (sessions / "odd" / "metadata.json").mkdir(parents=True)  # not a regular file
    names = sorted(path.name for path in sessions.iterdir())
    one = local_objects.stat_chunk(str(sessions), names, "metadata.json")
    assert one.odd == ["odd"] and "no-metadata" not in one.names
    objects = LocalObjects(store)
    assert objects.stat_many("sessions", names, "metadata.json") == one
    assert objects.stat_many("sessions", names, "metadata.json", workers=1) == one
    assert spread == [2]


def migration_catalog(store, database, workers):
    """The file store, and a fresh SQLite database with OpenHands' schema to migrate into."""
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        create_schema(connection)
    engine.dispose()
    return Catalog(
        files=FileStore(store, workers=workers),
        sql=SqlStore(create_engine(f"sqlite:///{database}")),
    )


def findings(root, workers):
    catalog = Catalog(files=FileStore(root, workers=workers))
    options = job.Options(stale_after=0)
    return [json.dumps(f.as_dict()) for f in job.Verification(catalog, options).run()]


def test_verify_finds_the_same_in_the_same_order(store, spread):
    one = findings(store, 1)
    assert one  # the store is broken on purpose
    assert findings(store, None) == one
    assert spread == [2]  # the run in one process streams without a pool


def test_stats_counts_the_same_in_workers(store, spread, tmp_path):
    """In one process, in workers, and in workers through the V0 index cache (whose
    fill reads the files in workers too)."""
    reports = []
    cache = V0Cache.for_store(store, tmp_path / "cache")
    for workers, cached in ((1, None), (None, None), (None, cache)):
        catalog = Catalog(files=FileStore(store, workers=workers, cache=cached))
        report = stats.run(catalog, stats.Request(by=("user", "month")))
        shown = [(row.key, row.figures) for row in report.rows]
        reports.append((shown, report.totals, report.unreadable, report.left_out))
    assert reports[0][0] and reports[1] == reports[0] and reports[2] == reports[0]
    assert spread == [2, 2]


def test_migrate_writes_the_same_rows_and_reports_the_same(store, spread, tmp_path):
    results = []
    for workers in (1, None):
        database = tmp_path / f"openhands-{workers}.db"
        catalog = migration_catalog(store, database, workers)
        seen: list[tuple[str, str, list[str]]] = []

        def listen(conversion, outcome, seen=seen):
            seen.append((conversion.source.conversation_id, outcome, conversion.warnings))

        report = migrate.run(catalog, migrate.Options(batch_size=10), listen)
        catalog.close()
        engine = create_engine(f"sqlite:///{database}")
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT * FROM conversation_metadata ORDER BY conversation_id")
            ).all()
        engine.dispose()
        results.append((dict(report.counts), seen, [tuple(row) for row in rows]))
    assert results[0][0]["migrated"] > 50
    assert spread == [2]  # the run in one process reads through records(), not a pool
    assert results[1] == results[0]


def test_a_rerun_in_workers_compares_every_row_it_finds(store, spread, tmp_path):
    """Workers send each conversion's source record and row apart from its summary, to
    be unpickled when first read: a rerun reads every row (to compare it with the V1 row
    it finds), and the report's examples still have their records after the run."""
    catalog = migration_catalog(store, tmp_path / "openhands.db", None)
    first = migrate.run(catalog, migrate.Options(batch_size=10))
    second = migrate.run(catalog, migrate.Options(batch_size=10))
    catalog.close()
    assert spread == [2, 2]
    assert first.counts["migrated"] > 50
    unmigrated = {outcome: n for outcome, n in first.counts.items() if outcome != "migrated"}
    assert second.counts == {**unmigrated, "already migrated": first.counts["migrated"]}
    for examples in second.examples.values():
        assert all(example.source.location.startswith(str(store)) for example in examples)


def test_events_converted_in_workers_are_the_files_one_process_writes(store, spread, tmp_path):
    rng = random.Random(5)
    sessions = (store / "sessions").iterdir()
    with_events = sorted(path for path in sessions if (path / "metadata.json").exists())
    for directory in with_events[::2]:
        (directory / "events").mkdir()
        for event in v0_events("fix the tests", T0, rng):
            (directory / "events" / f"{event['id']}.json").write_text(json.dumps(event))
    (with_events[1] / "events").mkdir()
    (with_events[1] / "events" / "0.json").write_text("{not json")  # a problem, reported
    trees, reports = [], []
    for workers in (1, None):
        database = tmp_path / f"openhands-{workers}.db"
        events_root = tmp_path / f"v1-{workers}"
        catalog = migration_catalog(store, database, workers)
        report = migrate.run(catalog, migrate.Options(batch_size=40, events_root=events_root))
        catalog.close()
        trees.append(
            {
                str(path.relative_to(events_root)): path.read_bytes()
                for path in sorted(events_root.rglob("*"))
                if path.is_file()
            }
        )
        reports.append((dict(report.counts), report.events, report.event_problems))
    assert len(trees[0]) > 100 and reports[0][2] >= 1
    assert trees[1] == trees[0] and reports[1] == reports[0]
    assert spread.count(2) >= 2  # events converted by a pool too, not only the files read


def test_a_whole_listing_read_in_workers_is_what_reading_one_by_one_gives(
    store, spread, monkeypatch, tmp_path
):
    from convstore.stores import files as files_module
    from convstore.stores.base import Query, Sort

    sessions = store / "sessions"
    dated = (path for path in sorted(sessions.iterdir()) if _created_at(path) is not None)
    first = next(dated)
    (sessions / "a-link-inside").symlink_to(first)  # followed, and read alone
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metadata.json").write_text('{"title": "private"}')
    (sessions / "a-link-out").symlink_to(outside)  # refused, and read alone
    too_long = sessions / ("f" * 101)  # no id OpenHands takes: never listed
    too_long.mkdir()
    (too_long / "metadata.json").write_bytes((first / "metadata.json").read_bytes())

    def listed(read_here: int, sort: str) -> list[tuple[dict, str]]:
        monkeypatch.setattr(files_module, "READ_HERE", read_here)
        records = FileStore(store).search(Query(sort=Sort.parse(sort)))
        return [(record.output_fields(), record.token) for record in records]

    monkeypatch.setattr(files_module, "STREAM_CHUNK", 7)  # many chunks: order is at stake
    for sort in ("-created", "title"):
        one_by_one = listed(10_000, sort)
        assert spread == [2]  # the sort keys, read by a pool
        batched = listed(5, sort)
        assert spread == [2, 2, 2]  # the keys, then the rest of the records, by pools
        spread.clear()
        assert len(one_by_one) == 92 and batched == one_by_one  # 90, and the two links
        found = {fields["conversation_id"]: fields for fields, _ in batched}
        assert "symbolic link out of the file store" in found["a-link-out"]["problems"][0]
        inside, target = found["a-link-inside"], found[first.name]
        assert inside["created_at"] == target["created_at"] is not None


def _created_at(directory):
    try:
        return json.loads((directory / "metadata.json").read_bytes()).get("created_at")
    except (OSError, ValueError):
        return None
