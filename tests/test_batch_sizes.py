"""A migration's batches follow its pace unless --batch-size fixes them (issue 16)."""

from __future__ import annotations

import itertools

import pytest

from convstore.jobs import migrate
from convstore.jobs.batch_sizes import FIRST, GROWTH, LARGEST, BatchSizes
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database


def test_a_fixed_size_never_changes() -> None:
    sizes = BatchSizes(20)
    for seconds in (0.001, 5.0, 0.5):
        sizes.took(20, seconds)
        assert sizes.next == 20 and sizes.largest == 20


def test_the_next_batch_is_what_the_last_ones_pace_does_in_about_a_second() -> None:
    sizes = BatchSizes()
    assert sizes.next == FIRST and sizes.largest == LARGEST
    sizes.took(1000, 0.5)  # 2,000 a second
    assert sizes.next == 2000
    sizes.took(2000, 4.0)  # slowed down: 500 a second
    assert sizes.next == FIRST  # never smaller than the first batch


def test_one_fast_batch_grows_the_next_at_most_fourfold_and_never_past_the_largest() -> None:
    sizes = BatchSizes()
    sizes.took(FIRST, 0.0)  # a rerun's batch of rows that exist: no time at all
    assert sizes.next == GROWTH * FIRST
    for _ in range(10):
        sizes.took(sizes.next, 0.001)
    assert sizes.next == LARGEST


def test_a_migration_at_default_settings_takes_growing_batches(
    files, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every conversation migrated, in batches sized by the pace: with each batch taking
    a tenth of a second by the migration's clock, 500, then 2,000 (at most four times
    the last), then the rest."""
    for _ in range(2600):
        files.generation("2025-12")
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    seen: list[int] = []
    run_batch = migrate._migrate_batch

    def recorded(target, catalog, conversions, *rest):
        seen.append(len(conversions))
        run_batch(target, catalog, conversions, *rest)

    ticks = itertools.count()
    monkeypatch.setattr(migrate, "_migrate_batch", recorded)
    monkeypatch.setattr(migrate, "clock", lambda: next(ticks) / 10)
    catalog = Catalog(files=FileStore(files.root), sql=SqlStore(database.engine))
    try:
        report = migrate.run(catalog, migrate.Options())
    finally:
        database.dispose()
    assert seen == [FIRST, GROWTH * FIRST, 2600 - FIRST - GROWTH * FIRST]
    assert report.counts["migrated"] == 2600
