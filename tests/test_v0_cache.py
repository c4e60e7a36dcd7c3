"""The V0 index cache: a listing with it is the listing without it, whatever happened to
the files since the cache was written; a damaged cache is rebuilt; runs share it safely.

A file written less than ``RACY_WINDOW_NS`` before a scan is never cached (see
``v0_scan``), and every file a test writes is that young. Tests that need cached
entries move the listing's clock forward (``objects.local.now_ns``) by the window, and, as the
window guarantees in real life, let the file system's clock tick between a listing and
the next write (``_tick``): otherwise an edit could share the ctime of the read.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convstore import parallel
from convstore.cli.app import app
from convstore.objects import local as local_objects
from convstore.objects.local import RACY_WINDOW_NS
from convstore.stores import files as files_module
from convstore.stores.base import SORT_CHOICES, Query, Sort, record_position
from convstore.stores.files import FileStore
from convstore.stores.v0_cache import V0Cache

USERS = ("alice", "bob", None, 7)
TITLES = ("Fix login", "fix LOGIN again", "FIX LOGIN", "Café ☕", "", None, "ZZ", "Ärger", "a" * 40)


def _tick() -> None:
    """Past the file system's timestamp granularity (a jiffy, at most 10 ms)."""
    time.sleep(0.02)


@pytest.fixture
def aged(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings see every file as older than the racy window, so they cache it."""
    monkeypatch.setattr(local_objects, "now_ns", lambda: time.time_ns() + 2 * RACY_WINDOW_NS)


@pytest.fixture
def stat_scans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many names each stat scan of the file store examined."""
    scans: list[int] = []
    real = local_objects.LocalObjects.stat_many

    def counting(self: Any, prefix: str, names: Any, leaf: str, **options: Any) -> Any:
        scans.append(len(names))
        return real(self, prefix, names, leaf, **options)

    monkeypatch.setattr(local_objects.LocalObjects, "stat_many", counting)
    yield scans


def document(rng: Any, conversation_id: str) -> dict[str, Any]:
    data: dict[str, Any] = {"conversation_id": conversation_id, "selected_repository": None}
    if rng.random() < 0.9:
        stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
        data["created_at"] = stamp.isoformat().replace("+00:00", "Z")
    if rng.random() < 0.7:
        stamp = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10**7))
        data["last_updated_at"] = stamp.isoformat()
    data["user_id"] = rng.choice(USERS)
    data["title"] = rng.choice(TITLES)
    data["trigger"] = rng.choice(("gui", "resolver", None))
    return data


def write(root: Path, conversation_id: str, data: dict[str, Any] | bytes) -> Path:
    directory = root / "sessions" / conversation_id
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "metadata.json"
    path.write_bytes(data if isinstance(data, bytes) else json.dumps(data).encode())
    return path


def rewrite_in_place(path: Path, data: bytes, keep_mtime: bool) -> None:
    """Same inode; with ``keep_mtime`` the old mtime is put back, as `touch -r` would."""
    before = path.stat()
    with path.open("r+b") as stream:
        stream.truncate(0)
        stream.write(data)
    if keep_mtime:
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def random_store(scratch: str, rng: Any, most: int) -> tuple[Path, V0Cache]:
    """A store of up to ``most`` random conversations below ``scratch``, and its cache."""
    root = Path(scratch, "store")
    (root / "sessions").mkdir(parents=True)
    for _ in range(rng.randrange(0, most)):
        mutate(root, rng, "add")
    return root, V0Cache.for_store(root, Path(scratch, "cache"))


def record_calls(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> list[Any]:
    """The second argument of each call of ``owner.name`` from now on: the address of a
    reader's ``(objects, address, outcome)``, what a method was given after ``self``
    (in this process: the stores of such tests read with ``workers=1``)."""
    seen: list[Any] = []
    real = getattr(owner, name)

    def recording(*arguments: Any) -> Any:
        seen.append(arguments[1])
        return real(*arguments)

    monkeypatch.setattr(owner, name, recording)
    return seen


def ids(store: FileStore, query: Query) -> list[str]:
    return [record.conversation_id for record in store.search(query)]


def mutate(root: Path, rng: Any, operation: str) -> None:
    sessions = root / "sessions"
    existing = sorted(path.name for path in sessions.iterdir())
    if operation == "add" or not existing:
        conversation_id = uuid.UUID(int=rng.getrandbits(128)).hex
        write(root, conversation_id, document(rng, conversation_id))
        return
    victim = rng.choice(existing)
    path = sessions / victim / "metadata.json"
    if operation == "delete":
        shutil.rmtree(sessions / victim)
    elif operation == "edit":
        data = document(rng, victim)
        raw = json.dumps(data).encode()
        if path.is_file() and rng.random() < 0.5:
            # The hardest edit: same inode, same size, mtime put back.
            old = path.read_bytes()
            raw = raw[: len(old)].ljust(len(old), b" ")
            try:
                json.loads(raw)
            except ValueError:
                raw = old.replace(b'"', b'"', 1)  # fall back to a no-op of the same size
            rewrite_in_place(path, raw, keep_mtime=True)
        elif path.is_file():
            rewrite_in_place(path, raw, keep_mtime=rng.random() < 0.5)
        else:
            write(root, victim, data)
    elif operation == "break":
        if path.is_file():
            rewrite_in_place(path, b'{"conversation_id": ', keep_mtime=False)
    elif operation == "remove metadata":
        path.unlink(missing_ok=True)


def random_query(rng: Any, listing: list[Any]) -> Query:
    sort = Sort.parse(rng.choice(SORT_CHOICES))
    after = None
    if listing and rng.random() < 0.4:
        after = record_position(sort, rng.choice(listing))
    return Query(
        user=rng.choice((None, None, "alice", "bob", "7")),
        title=rng.choice((None, None, "login", "é", "")),
        trigger=rng.choice((None, None, "gui")),
        created_since=rng.choice((None, datetime(2025, 3, 1, tzinfo=UTC))),
        updated_until=rng.choice((None, datetime(2025, 3, 1, tzinfo=UTC))),
        sort=sort,
        after=after,
    )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 5))
def test_a_listing_with_the_cache_is_the_listing_without_it(seed, rounds, aged):
    import random

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        root, cache = random_store(scratch, rng, 12)
        for _ in range(rounds):
            plain, cached = FileStore(root), FileStore(root, cache=cache)
            everything = list(plain.search(Query()))
            for _ in range(4):
                query = random_query(rng, everything)
                assert ids(cached, query) == ids(plain, query), query
            _tick()
            for _ in range(rng.randrange(1, 5)):
                operation = rng.choice(
                    ("add", "edit", "edit", "delete", "break", "remove metadata")
                )
                mutate(root, rng, operation)
        query = random_query(rng, list(FileStore(root).search(Query())))
        assert ids(FileStore(root, cache=cache), query) == ids(FileStore(root), query)


def test_an_edit_that_keeps_size_inode_and_mtime_is_seen(tmp_path, aged):
    root = tmp_path / "store"
    conversation_id = uuid.uuid4().hex
    path = write(root, conversation_id, {"conversation_id": conversation_id, "title": "aaaa"})
    store = FileStore(root, cache=V0Cache.for_store(root, tmp_path / "cache"))
    assert [r.title for r in store.search(Query(title="aaaa"))] == ["aaaa"]
    _tick()
    rewrite_in_place(path, path.read_bytes().replace(b"aaaa", b"bbbb"), keep_mtime=True)
    assert [r.title for r in store.search(Query(title="aaaa"))] == []
    assert [r.title for r in store.search(Query(title="bbbb"))] == ["bbbb"]


def test_a_file_changed_within_the_racy_window_is_not_cached(tmp_path):
    root = tmp_path / "store"
    conversation_id = uuid.uuid4().hex
    write(root, conversation_id, {"conversation_id": conversation_id, "title": "young"})
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert ids(FileStore(root, cache=cache), Query()) == [conversation_id]
    assert _cached(cache) == []  # written just now: read every time until it is older


def test_entries_are_cached_once_old_enough_and_a_warm_listing_reads_no_file(
    tmp_path, aged, monkeypatch
):
    root = tmp_path / "store"
    for index in range(5):
        write(root, f"{index:032x}", {"conversation_id": f"{index:032x}", "title": str(index)})
    cache = V0Cache.for_store(root, tmp_path / "cache")
    first = ids(FileStore(root, cache=cache), Query())
    assert sorted(_cached(cache)) == sorted(first)
    parsed: list[str] = []
    real = files_module.FileStore._parse

    def counting(self, names):
        parsed.extend(names)
        return real(self, names)

    monkeypatch.setattr(files_module.FileStore, "_parse", counting)
    assert ids(FileStore(root, cache=cache), Query()) == first
    assert parsed == []


def test_a_cold_cache_is_filled_by_one_read_of_each_file_and_no_stat_scan(
    tmp_path, aged, monkeypatch, stat_scans
):
    import random

    from convstore.stores import v0_cache

    rng = random.Random(4)
    root = tmp_path / "store"
    (root / "sessions").mkdir(parents=True)
    for _ in range(30):
        mutate(root, rng, "add")
    monkeypatch.setattr(v0_cache, "BULK_LOAD", 10)  # the indexes dropped, then built once
    cache = V0Cache.for_store(root, tmp_path / "cache")
    for index, sort in enumerate(SORT_CHOICES):
        query = Query(sort=Sort.parse(sort))
        expected = ids(FileStore(root), query)
        assert cache.is_cold() == (index == 0)
        assert ids(FileStore(root, cache=cache), query) == expected
    assert stat_scans == [30] * (len(SORT_CHOICES) - 1)  # the first listing read, not stat'd
    assert sorted(_cached(cache)) == sorted(path.name for path in (root / "sessions").iterdir())
    with sqlite3.connect(cache.path) as connection:
        indexes = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert set(v0_cache._INDEXES) <= indexes


@pytest.mark.parametrize("meddle", [False, True])
def test_a_fill_trusts_its_own_writes_only_while_no_other_run_writes(
    tmp_path, aged, monkeypatch, meddle
):
    """A scan made by reading skips the walks that repair what other runs changed when
    SQLite says no other connection committed since it read the table; when one did
    (here: between two chunks of the fill, a row for no conversation added and a
    stored signature changed), they run, and neither change survives."""
    import random

    from convstore.stores import v0_cache

    rng = random.Random(6)
    root = tmp_path / "store"
    (root / "sessions").mkdir(parents=True)
    for _ in range(30):
        mutate(root, rng, "add")
    names = sorted(path.name for path in (root / "sessions").iterdir())
    monkeypatch.setattr(v0_cache, "REVALIDATED_CHUNK", 10)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = ids(FileStore(root), Query())
    real = FileStore._revalidate

    def meddling(self: Any, *arguments: Any, **options: Any) -> Iterator[Any]:
        for index, found in enumerate(real(self, *arguments, **options)):
            if index == 15 and meddle:  # a chunk of ten is stored, the next is not yet
                with sqlite3.connect(cache.path) as other:
                    other.execute(
                        "INSERT INTO entries (address, signature) VALUES (?, ?)", ("f" * 32, b"x")
                    )
                    other.execute(
                        "UPDATE entries SET signature = ? WHERE address = ?", (b"y", names[0])
                    )
            yield found

    walks = record_calls(monkeypatch, v0_cache._Sync, "_settle")
    monkeypatch.setattr(FileStore, "_revalidate", meddling)
    assert ids(FileStore(root, cache=cache, workers=1), Query()) == expected
    assert len(walks) == (1 if meddle else 0)
    with sqlite3.connect(cache.path) as connection:
        rows = dict(connection.execute("SELECT address, signature FROM entries"))
    assert sorted(rows) == names
    assert rows[names[0]] != b"y"
    monkeypatch.setattr(FileStore, "_revalidate", real)
    assert ids(FileStore(root, cache=cache), Query()) == expected  # warm: the stat scan agrees


def test_a_deleted_conversation_is_never_listed(tmp_path, aged):
    root = tmp_path / "store"
    for name in ("a" * 32, "b" * 32):
        write(root, name, {"conversation_id": name, "created_at": "2025-01-01T00:00:00Z"})
    store = FileStore(root, cache=V0Cache.for_store(root, tmp_path / "cache"))
    assert ids(store, Query()) == ["b" * 32, "a" * 32]
    shutil.rmtree(root / "sessions" / ("a" * 32))
    assert ids(store, Query()) == ["b" * 32]
    (root / "sessions" / ("b" * 32) / "metadata.json").unlink()
    assert ids(store, Query()) == []


def test_a_damaged_cache_is_rebuilt_with_a_warning(tmp_path, aged):
    root = tmp_path / "store"
    write(root, "c" * 32, {"conversation_id": "c" * 32, "title": "x"})
    arguments = ["list", "--file-store", str(root), "--format", "json"]
    runner = CliRunner()
    first = runner.invoke(app, arguments)
    assert first.exit_code == 0, first.output
    cache = V0Cache.for_store(root)
    assert cache.path.is_file()
    cache.path.write_bytes(b"this is not a database" * 1000)
    second = runner.invoke(app, arguments)
    assert second.exit_code == 0, second.output
    assert "the V0 index cache" in second.stderr and "damaged" in second.stderr
    assert json.loads(second.stdout) == json.loads(first.stdout)
    third = runner.invoke(app, arguments)
    assert third.exit_code == 0 and third.stderr == ""
    assert _integrity(cache) == "ok"


def test_a_cache_file_of_an_older_format_is_made_again_with_larger_pages(tmp_path, aged):
    """Only a new file takes SQLite's page size: one an older convstore made (4 KB
    pages, which waste half of each for kept records) is replaced, private as ever."""
    from convstore.stores import v0_cache

    root = tmp_path / "store"
    write(root, "a" * 32, {"conversation_id": "a" * 32, "title": "kept"})
    cache = V0Cache.for_store(root, tmp_path / "cache")
    cache.path.parent.mkdir(parents=True)
    old = sqlite3.connect(cache.path)
    old.execute("PRAGMA page_size = 4096")
    old.execute("PRAGMA journal_mode = WAL")
    old.execute("CREATE TABLE entries (address TEXT PRIMARY KEY)")
    old.execute("PRAGMA user_version = 4")
    old.close()
    os.chmod(cache.path, 0o600)
    assert ids(FileStore(root, cache=cache), Query()) == ["a" * 32]
    assert _cached(cache) == ["a" * 32]
    connection = sqlite3.connect(cache.path)
    try:
        assert connection.execute("PRAGMA page_size").fetchone() == (v0_cache.PAGE_SIZE,)
        assert connection.execute("PRAGMA user_version").fetchone() == (v0_cache.FORMAT,)
    finally:
        connection.close()
    assert cache.path.stat().st_mode & 0o777 == 0o600


def test_no_cache_reads_the_files_and_leaves_the_cache_alone(tmp_path):
    root = tmp_path / "store"
    write(root, "d" * 32, {"conversation_id": "d" * 32})
    result = CliRunner().invoke(app, ["list", "--file-store", str(root), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "d" * 8 in result.stdout
    assert not V0Cache.for_store(root).path.exists()


def test_a_cache_directory_that_cannot_be_written_means_reading_the_files(tmp_path):
    root = tmp_path / "store"
    write(root, "e" * 32, {"conversation_id": "e" * 32})
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    warnings: list[str] = []
    cache = V0Cache.for_store(root, blocked / "cache", warn=warnings.append)
    assert ids(FileStore(root, cache=cache), Query()) == ["e" * 32]
    assert len(warnings) == 1 and "reading every file" in warnings[0]


def test_cache_files_not_used_for_30_days_are_pruned_and_the_one_in_use_is_kept(tmp_path):
    """One cache file per store path would otherwise pile up forever (stores moved,
    deleted, listed once from a scratch directory)."""
    from convstore.stores.v0_cache import PRUNE_AFTER_SECONDS

    root = tmp_path / "store"
    write(root, "f" * 32, {"conversation_id": "f" * 32})
    directory = tmp_path / "cache"
    directory.mkdir()
    cache = V0Cache.for_store(root, directory)
    now = time.time()

    def made(name: str, age: float, suffixes: tuple[str, ...] = ("", "-wal", "-shm")) -> list[Path]:
        paths = [directory / f"{name}{suffix}" for suffix in suffixes]
        for path in paths:
            path.write_bytes(b"")  # an empty file is an empty SQLite database
            os.utime(path, (now - age, now - age))
        return paths

    unused = made("0" * 32 + ".sqlite3", PRUNE_AFTER_SECONDS + 3600)
    recent = made("1" * 32 + ".sqlite3", PRUNE_AFTER_SECONDS - 3600)
    [own] = made(cache.path.name, 2 * PRUNE_AFTER_SECONDS, ("",))  # used by this listing
    [other] = made("notes.txt", 2 * PRUNE_AFTER_SECONDS, ("",))  # not a cache file

    assert ids(FileStore(root, cache=cache), Query()) == ["f" * 32]
    assert not any(path.exists() for path in unused)
    assert all(path.exists() for path in recent) and other.exists()
    assert own.exists() and own.stat().st_mtime >= now - 60  # touched: used just now


def test_an_empty_or_absent_sessions_directory_needs_no_cache_file(tmp_path):
    root = tmp_path / "store"
    root.mkdir()
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert ids(FileStore(root, cache=cache), Query()) == []
    (root / "sessions").mkdir()
    assert ids(FileStore(root, cache=cache), Query()) == []
    assert not cache.path.exists()


def _list_repeatedly(root: str, cache_dir: str, rounds: int, results: Any) -> None:
    local_objects.now_ns = lambda: time.time_ns() + 2 * RACY_WINDOW_NS
    cache = V0Cache.for_store(Path(root), Path(cache_dir))
    for _ in range(rounds):
        results.put(len(ids(FileStore(Path(root), cache=cache), Query())))


def test_concurrent_runs_share_the_cache_without_damage(tmp_path):
    """Several processes list (and so write the cache) while conversations come and go;
    afterwards the file is intact and a listing with it equals one without."""
    import random

    rng = random.Random(5)
    root = tmp_path / "store"
    (root / "sessions").mkdir(parents=True)
    for _ in range(60):
        mutate(root, rng, "add")
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    workers = [
        context.Process(target=_list_repeatedly, args=(str(root), str(tmp_path / "c"), 8, results))
        for _ in range(3)
    ]
    for worker in workers:
        worker.start()
    for _ in range(40):
        mutate(root, rng, rng.choice(("add", "edit", "delete")))
        time.sleep(0.005)
    counts = [results.get(timeout=120) for _ in range(3 * 8)]
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert all(count > 0 for count in counts)
    _tick()
    local_objects.now_ns = lambda: time.time_ns() + 2 * RACY_WINDOW_NS
    try:
        cache = V0Cache.for_store(root, tmp_path / "c")
        assert _integrity(cache) == "ok"
        assert ids(FileStore(root, cache=cache), Query()) == ids(FileStore(root), Query())
    finally:
        local_objects.now_ns = time.time_ns


def test_workers_list_exactly_what_one_process_lists(tmp_path, monkeypatch, aged):
    import random

    rng = random.Random(9)
    root = tmp_path / "store"
    (root / "sessions").mkdir(parents=True)
    for _ in range(120):
        mutate(root, rng, "add")
    serial = FileStore(root, workers=1)
    monkeypatch.setattr(parallel, "MIN_ITEMS_PER_WORKER", 10)
    monkeypatch.setattr(local_objects, "STAT_ITEMS_PER_WORKER", 10)
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    spread = FileStore(root)
    cached = FileStore(root, cache=V0Cache.for_store(root, tmp_path / "cache"))
    for sort in SORT_CHOICES:
        query = Query(sort=Sort.parse(sort))
        assert ids(spread, query) == ids(serial, query) == ids(cached, query)


def _cached(cache: V0Cache) -> list[str]:
    with sqlite3.connect(cache.path) as connection:
        return [row[0] for row in connection.execute("SELECT address FROM entries")]


def _integrity(cache: V0Cache) -> str:
    with sqlite3.connect(cache.path) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
