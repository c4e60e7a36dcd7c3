"""`convstore stats` over V0 files through the V0 index cache: the report is the one of
reading every file, whatever happened to the files, the cache or the listings since;
a warm run reads no file and a cold one reads each once.

Files a test writes are younger than the racy window, so they are never stored; tests
that need stored entries move the clock forward (``aged``, as in tests/test_v0_cache.py)
and let the file system's clock tick between a run and the next write (``_tick``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.jobs import stats
from convstore.jobs.stats import v0_files
from convstore.objects import local as local_objects
from convstore.objects.local import RACY_WINDOW_NS
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from convstore.stores.v0_cache import FIGURE_COLUMNS, FORMAT, V0Cache
from tests.conftest import Database
from tests.test_stats_figures import GROUPINGS, v0_document
from tests.test_v0_cache import _tick, aged, record_calls, rewrite_in_place, stat_scans, write
from tests.unprivileged import make_traversable, run_unprivileged

__all__ = ["aged", "stat_scans"]  # fixtures, used by name

JANUARY = "2026-01-05T10:00:00Z"


def report(
    root: Path,
    cache: V0Cache | None,
    by: tuple[str, ...] = ("month",),
    query: Query | None = None,
    database: str | None = None,
) -> stats.Report:
    """The library's report on the file store at ``root`` (and the database)."""
    sql = None
    if database is not None:
        from sqlalchemy import create_engine

        sql = SqlStore(create_engine(database))
    with Catalog(files=FileStore(root, cache=cache, workers=1), sql=sql) as catalog:
        return stats.run(catalog, stats.Request(query=query or Query(), by=by))


def assert_exact(root: Path, cache: V0Cache, **options: Any) -> stats.Report:
    """The report through the cache is the report of reading every file."""
    cached = report(root, cache, **options)
    assert cached == report(root, None, **options)
    return cached


def simple(conversation_id: str, **values: Any) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "user_id": "alice",
        "created_at": JANUARY,
        "accumulated_cost": 1.0,
        "prompt_tokens": 10,
        "pr_number": [],
        **values,
    }


def rows(cache: V0Cache) -> dict[str, tuple[Any, ...]]:
    """Each stored entry's figures (None: not filled in yet)."""
    with sqlite3.connect(cache.path) as connection:
        found = connection.execute(f"SELECT address, {', '.join(FIGURE_COLUMNS)} FROM entries")
        return {row[0]: None if row[1] is None else row[1:] for row in found}


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The addresses stats reads a file of, in this process (``workers=1``)."""
    return record_calls(monkeypatch, v0_files, "counted")


# Whatever happens to the files between runs


def mutate(root: Path, draw: Any, operation: str) -> None:
    sessions = root / "sessions"
    existing = sorted(path.name for path in sessions.iterdir())
    if operation == "add" or not existing:
        conversation_id = uuid.UUID(int=draw(st.integers(0, 2**128 - 1))).hex
        write(root, conversation_id, draw(v0_document(conversation_id)))
        return
    victim = draw(st.sampled_from(existing))
    path = sessions / victim / "metadata.json"
    if operation == "delete":
        shutil.rmtree(sessions / victim)
    elif operation == "edit":
        document = draw(v0_document(victim))
        raw = document if isinstance(document, bytes) else json.dumps(document).encode()
        if path.is_file():
            rewrite_in_place(path, raw, keep_mtime=draw(st.booleans()))
        else:
            write(root, victim, raw)
    elif operation == "same size":
        # The hardest edit: same inode, same size, mtime put back; the cost changes.
        if path.is_file():
            old = path.read_bytes()
            new = old.replace(b'"accumulated_cost": ', b'"accumulated_cost":9', 1)
            if new != old and old.count(b'"accumulated_cost": ') == 1:
                rewrite_in_place(path, new, keep_mtime=True)
    elif operation == "break":
        if path.is_file():
            rewrite_in_place(path, b'{"conversation_id": ', keep_mtime=False)
    elif operation == "remove metadata":
        path.unlink(missing_ok=True)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_stats_through_the_cache_is_stats_of_every_file(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, aged: None
) -> None:
    """Runs of stats (sometimes after a listing, which stores entries without figures)
    while files are added, edited (in place too, keeping size, inode and mtime),
    broken, deleted: every report equals the one of reading every file."""
    scratch = tmp_path_factory.mktemp("store")
    root = scratch / "store"
    (root / "sessions").mkdir(parents=True)
    cache = V0Cache.for_store(root, scratch / "cache")
    for _ in range(data.draw(st.integers(0, 8))):
        mutate(root, data.draw, "add")
    for _ in range(data.draw(st.integers(1, 4))):
        if data.draw(st.booleans()):
            list(FileStore(root, cache=cache).search(Query()))
        by = tuple(data.draw(st.lists(st.sampled_from(GROUPINGS), min_size=1, max_size=2)))
        query = Query(
            user=data.draw(st.sampled_from([None, None, "alice", "1181979"])),
            repo=data.draw(st.sampled_from([None, None, "WEB"])),
            created_since=data.draw(st.sampled_from([None, datetime(2025, 9, 1, tzinfo=UTC)])),
        )
        assert_exact(root, cache, by=by, query=query)
        _tick()
        operations = ("add", "edit", "same size", "delete", "break", "remove metadata")
        for _ in range(data.draw(st.integers(1, 4))):
            mutate(root, data.draw, data.draw(st.sampled_from(operations)))
    assert_exact(root, cache, by=("user", "month"))


# Reading no more than needed


def test_a_cold_run_reads_each_file_once_and_a_warm_run_none(
    tmp_path: Path, aged: None, reads: list[str], stat_scans: list[int]
) -> None:
    root = tmp_path / "store"
    names = [f"{index:032x}" for index in range(6)]
    for name in names:
        write(root, name, simple(name))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    cold = report(root, cache)
    assert sorted(reads) == names  # entry and figures from one read each
    assert stat_scans == []  # a cold cache has no signature to compare a stat with
    assert all(figures is not None for figures in rows(cache).values())
    reads.clear()
    assert report(root, cache) == cold
    assert reads == [] and stat_scans == [6]
    assert cold.totals.conversations == 6 and cold.totals.cost == 6 * 10**9


def test_after_a_listing_stats_reads_the_files_once_to_fill_in_their_figures(
    tmp_path: Path, aged: None, reads: list[str]
) -> None:
    root = tmp_path / "store"
    names = [f"{index:032x}" for index in range(4)]
    for name in names:
        write(root, name, simple(name, accumulated_cost=0.25))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert len(list(FileStore(root, cache=cache).search(Query()))) == 4
    assert rows(cache) == dict.fromkeys(names)  # a listing stores no figures
    first = report(root, cache)
    assert sorted(reads) == names
    assert all(figures is not None for figures in rows(cache).values())
    reads.clear()
    assert report(root, cache) == first and reads == []
    assert first == report(root, None)
    assert first.totals.cost == 10**9


def test_a_file_rewritten_after_a_run_counts_as_it_is_now(
    tmp_path: Path, aged: None, reads: list[str]
) -> None:
    """Same inode, same size, mtime put back: the figures stored for the old bytes are
    not used for the new ones (the row is replaced, and read again)."""
    root = tmp_path / "store"
    path = write(root, "a" * 32, simple("a" * 32, accumulated_cost=1.5))
    write(root, "b" * 32, simple("b" * 32, accumulated_cost=2.0))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert report(root, cache).totals.cost == 3_500_000_000
    _tick()
    rewrite_in_place(path, path.read_bytes().replace(b"1.5", b"7.5"), keep_mtime=True)
    reads.clear()
    assert assert_exact(root, cache).totals.cost == 9_500_000_000
    assert reads[0] == "a" * 32 and reads.count("b" * 32) == 1  # that one: by --no-cache


def test_files_that_appear_and_vanish_between_runs(tmp_path: Path, aged: None) -> None:
    root = tmp_path / "store"
    for index in range(5):
        write(root, f"{index:032x}", simple(f"{index:032x}", user_id=f"user{index % 2}"))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert assert_exact(root, cache, by=("user",)).totals.conversations == 5
    _tick()
    shutil.rmtree(root / "sessions" / f"{0:032x}")
    (root / "sessions" / f"{1:032x}" / "metadata.json").unlink()
    write(root, "f" * 32, simple("f" * 32, user_id="user9", accumulated_cost=4.0))
    again = assert_exact(root, cache, by=("user",))
    assert again.totals.conversations == 4
    assert {row.key for row in again.rows} == {("user0",), ("user1",), ("user9",)}
    assert set(rows(cache)) == {f"{2:032x}", f"{3:032x}", f"{4:032x}", "f" * 32}


def test_a_file_changed_between_the_scan_and_its_reading_counts_as_read(
    tmp_path: Path, aged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing stored the entry; stats scans, then the file changes before stats reads
    it for its figures: it counts as read (the bytes of now), and those figures are not
    stored against the entry of the old bytes."""
    root = tmp_path / "store"
    path = write(root, "c" * 32, simple("c" * 32, accumulated_cost=1.0))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    list(FileStore(root, cache=cache).search(Query()))
    [before] = _signatures(cache)
    _tick()
    real = FileStore._count

    def changing_first(self: FileStore, names: Any, reduce: Any) -> Any:
        if path.read_bytes().count(b"1.0"):
            path.write_bytes(path.read_bytes().replace(b"1.0", b"3.0"))
        return real(self, names, reduce)

    monkeypatch.setattr(FileStore, "_count", changing_first)
    cached = report(root, cache)
    assert cached.totals.cost == 3 * 10**9 and cached.unreadable == 0
    assert cached == report(root, None)  # the file holds 3.0 now: it changes no more
    assert _signatures(cache) == [before] and rows(cache) == {"c" * 32: None}
    monkeypatch.setattr(FileStore, "_count", real)
    _tick()
    assert assert_exact(root, cache).totals.cost == 3 * 10**9
    assert rows(cache)["c" * 32] is not None


def test_a_file_gone_between_the_scan_and_its_reading_is_not_counted(
    tmp_path: Path, aged: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    write(root, "d" * 32, simple("d" * 32, accumulated_cost=1.0))
    write(root, "e" * 32, simple("e" * 32, accumulated_cost=2.0))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    list(FileStore(root, cache=cache).search(Query()))
    real = FileStore._count

    def deleting_first(self: FileStore, names: Any, reduce: Any) -> Any:
        shutil.rmtree(root / "sessions" / ("d" * 32), ignore_errors=True)
        return real(self, names, reduce)

    monkeypatch.setattr(FileStore, "_count", deleting_first)
    cached = report(root, cache)
    assert (cached.totals.conversations, cached.unreadable) == (1, 0)
    assert cached == report(root, None)


def _signatures(cache: V0Cache) -> list[tuple[str, bytes]]:
    with sqlite3.connect(cache.path) as connection:
        return list(connection.execute("SELECT address, signature FROM entries"))


# What the cache keeps in memory only


def test_racy_files_are_counted_and_never_stored(tmp_path: Path) -> None:
    """Files written just now (no ``aged``): counted from memory every time."""
    root = tmp_path / "store"
    for index in range(3):
        write(root, f"{index:032x}", simple(f"{index:032x}"))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert assert_exact(root, cache).totals.conversations == 3
    assert rows(cache) == {}


def test_unreadable_files_count_as_unreadable(tmp_path: Path, aged: None) -> None:
    """Bytes that are not metadata are stored (as unreadable); a file this user may not
    read is not (permission may come back), and is counted from memory."""
    root = tmp_path / "store"
    write(root, "1" * 32, simple("1" * 32))
    write(root, "2" * 32, b"{not json")
    locked = write(root, "3" * 32, simple("3" * 32))
    locked.chmod(0)
    for path in [root / "sessions", *(root / "sessions").iterdir()]:
        path.chmod(0o755)
    make_traversable(root)
    cache_directory = tmp_path / "cache"
    cache_directory.mkdir(mode=0o777)
    cache_directory.chmod(0o777)
    cache = V0Cache.for_store(root, cache_directory)

    def both() -> tuple[stats.Report, stats.Report]:
        return report(root, cache), report(root, None)

    for _ in range(2):  # cold, then warm
        cached, read = run_unprivileged(both)
        assert cached == read
        assert cached.unreadable == 2 and cached.totals.conversations == 1
    stored = rows(cache)
    assert set(stored) == {"1" * 32, "2" * 32}
    assert stored["2" * 32] is not None and stored["2" * 32][0] == 0  # readable: no


def test_links_are_counted_and_never_stored(tmp_path: Path, aged: None) -> None:
    root = tmp_path / "store"
    write(root, "4" * 32, simple("4" * 32))
    write(root, "5" * 32, simple("5" * 32, accumulated_cost=2.0))
    (root / "sessions" / ("6" * 32)).symlink_to(root / "sessions" / ("5" * 32))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    for _ in range(2):
        assert assert_exact(root, cache).totals.cost == 5 * 10**9
    assert set(rows(cache)) == {"4" * 32, "5" * 32}


# Twins, with a database


def test_twins_are_folded_alike_through_the_cache(
    tmp_path: Path, aged: None, make_database: Any
) -> None:
    database: Database = make_database()
    root = tmp_path / "store"
    migrated = [uuid.uuid4().hex for _ in range(3)]
    for name in [*migrated, uuid.uuid4().hex]:
        write(root, name, simple(name))
    for name in migrated[:2]:
        database.insert(conversation_id=str(uuid.UUID(name)), accumulated_cost=5.0)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    for _ in range(2):
        found = assert_exact(root, cache, by=("version",), database=database.url)
        assert found.twins == 2
        versions = {row.key[0]: row.figures for row in found.rows}
        assert versions["V0"].conversations == 2 and versions["V1"].conversations == 2
    assert all(figures is not None for figures in rows(cache).values())


# Runs side by side


def _run_repeatedly(root: str, cache_dir: str, rounds: int, results: Any) -> None:
    local_objects.now_ns = lambda: time.time_ns() + 2 * RACY_WINDOW_NS
    cache = V0Cache.for_store(Path(root), Path(cache_dir))
    for number in range(rounds):
        if number % 2:
            list(FileStore(Path(root), cache=cache).search(Query()))
        results.put(report(Path(root), cache, by=("user",)).totals.conversations)


def test_stats_and_listings_side_by_side_leave_an_intact_cache_with_exact_figures(
    tmp_path: Path,
) -> None:
    """Processes run stats and list (both write the cache) while files come, change and
    go; afterwards the file is intact and stats through it is stats of every file."""
    import random

    rng = random.Random(11)
    root = tmp_path / "store"
    (root / "sessions").mkdir(parents=True)
    for index in range(60):
        write(root, f"{index:032x}", simple(f"{index:032x}", user_id=rng.choice("abc")))
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_run_repeatedly, args=(str(root), str(tmp_path / "c"), 6, results))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for step in range(40):
        name = f"{rng.randrange(80):032x}"
        if step % 3 == 0:
            shutil.rmtree(root / "sessions" / name, ignore_errors=True)
        else:
            # Each write a size of its own: the children's clock says every file is old
            # enough to cache, so no two versions of a file may share a signature.
            document = simple(name, accumulated_cost=rng.randrange(9), title="x" * (step + 1))
            write(root, name, document)
        time.sleep(0.005)  # pacing only: any interleaving is a valid one
    counts = [results.get(timeout=120) for _ in range(3 * 6)]
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert all(count > 0 for count in counts)
    _tick()
    local_objects.now_ns = lambda: time.time_ns() + 2 * RACY_WINDOW_NS
    try:
        cache = V0Cache.for_store(root, tmp_path / "c")
        with sqlite3.connect(cache.path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert_exact(root, cache, by=("user", "month"))
    finally:
        local_objects.now_ns = time.time_ns


# The cache file


def test_a_cache_of_an_older_format_is_rebuilt(tmp_path: Path, aged: None) -> None:
    """A file of FORMAT 3 (entries without figures) is dropped and built again."""
    root = tmp_path / "store"
    write(root, "7" * 32, simple("7" * 32, accumulated_cost=3.0))
    cache = V0Cache.for_store(root, tmp_path / "cache")
    cache.path.parent.mkdir(parents=True)
    with sqlite3.connect(cache.path) as connection:
        connection.executescript(
            """CREATE TABLE entries (address TEXT PRIMARY KEY NOT NULL, signature BLOB NOT
            NULL, owner TEXT, title TEXT, repository TEXT, trigger_name TEXT, created
            INTEGER, updated INTEGER) WITHOUT ROWID;
            CREATE TABLE meta (name TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
            PRAGMA user_version = 3;"""
        )
        connection.execute("INSERT INTO meta VALUES ('store', ?)", (cache.store,))
        connection.execute(
            "INSERT INTO entries VALUES (?, x'00', 'bob', 't', NULL, NULL, 1, 1)", ("7" * 32,)
        )
    assert FORMAT > 3
    assert assert_exact(root, cache).totals.cost == 3 * 10**9
    with sqlite3.connect(cache.path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == FORMAT
    assert rows(cache)["7" * 32] is not None


def test_a_damaged_cache_still_gives_exact_figures(tmp_path: Path, aged: None) -> None:
    root = tmp_path / "store"
    for index in range(3):
        write(root, f"{index:032x}", simple(f"{index:032x}", accumulated_cost=index))
    arguments = ["stats", "--config", os.devnull, "--file-store", str(root), "--format", "json"]
    runner = CliRunner()
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    cache = V0Cache.for_store(root)
    assert rows(cache) and all(figures is not None for figures in rows(cache).values())
    cache.path.write_bytes(b"this is not a database" * 1000)
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "damaged" in second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    assert json.loads(first.stdout)["totals"]["cost"] == 3.0
    no_cache = runner.invoke(app, [*arguments, "--no-cache"])
    assert json.loads(no_cache.stdout) == json.loads(first.stdout)


def test_damaged_figures_fall_back_to_the_files(tmp_path: Path, aged: None) -> None:
    """A cache file that cannot be used at all (here: not writable) means reading every
    file, with the same figures."""
    root = tmp_path / "store"
    write(root, "8" * 32, simple("8" * 32, accumulated_cost=2.0))
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    warnings: list[str] = []
    cache = V0Cache.for_store(root, blocked / "cache", warn=warnings.append)
    assert report(root, cache) == report(root, None)
    assert report(root, cache).totals.cost == 2 * 10**9
    assert warnings and "reading every file" in warnings[0]


def test_no_cache_reads_the_files_and_leaves_the_cache_alone(tmp_path: Path) -> None:
    root = tmp_path / "store"
    write(root, "9" * 32, simple("9" * 32))
    result = CliRunner().invoke(
        app, ["stats", "--file-store", str(root), "--no-cache", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["totals"]["conversations"] == 1
    assert not V0Cache.for_store(root).path.exists()


def test_stats_counts_what_list_lists_not_names_openhands_refuses(
    tmp_path: Path, aged: None
) -> None:
    root = tmp_path / "store"
    write(root, "a" * 32, simple("a" * 32))
    write(root, "f" * 101, simple("f" * 101))  # no id OpenHands' API takes
    listed = CliRunner().invoke(
        app, ["list", "--file-store", str(root), "--all", "--format", "json"]
    )
    assert [item["conversation_id"] for item in json.loads(listed.stdout)] == ["a" * 32]
    cache = V0Cache.for_store(root, tmp_path / "cache")
    for _ in range(2):  # cold, then warm
        assert assert_exact(root, cache).totals.conversations == 1
