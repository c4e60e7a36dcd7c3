"""Measure convstore against the machine's floor and against OpenHands' own approach.

    python benchmarks/run.py [--files N] [--rows M] [--repeat R] [--compare-files K]

Builds (once, cached under benchmarks/.cache) a file store of N V0 metadata.json files
of mixed generations and a SQLite database of M rows with OpenHands' own schema and
indexes, plus a copy with the indexes ``convstore db add-indexes`` adds; with a
PostgreSQL server (``$CONVSTORE_TEST_PG_URL``, else one started the way the tests
start theirs, tests/postgres_server.py) the same rows there too. Then runs every
measurement in a fresh subprocess, in R rounds of all of them, and prints one table:
each figure (the best round), its ratio to the floor it is compared with, the peak RSS
of the process and of its worker processes (the worst round), the store sizes and the
machine. A second, smaller store (K files, default N/10) gives the growth of peak RSS.

Absolute times on a shared machine are noise; the ratios measured side by side in one
run are the figures to read, and the load average printed before and after says how
noisy the run was. Times are of the work inside the process: interpreter start-up and
imports are measured apart (benchmarks/startup.py).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
PAGE = 20
USER = "alice"  # one of the sample's users: about one file in seven

# Building the stores


def build_files(root: Path, count: int) -> None:
    from convstore.sample import GENERATIONS, encode, v0_document

    if (root / "complete").exists():
        return
    shutil.rmtree(root, ignore_errors=True)
    sessions = root / "sessions"
    sessions.mkdir(parents=True)
    rng = random.Random(count)
    for index in range(count):
        conversation_id = uuid.UUID(int=rng.getrandbits(128)).hex
        document = v0_document(GENERATIONS[index % len(GENERATIONS)], rng, conversation_id)
        directory = sessions / conversation_id
        directory.mkdir()
        (directory / "metadata.json").write_bytes(encode(document))
    (root / "complete").touch()


def v1_rows(count: int) -> Iterator[dict[str, Any]]:
    """M V1 rows as OpenHands writes them: 50 users, created over 300 days."""
    rng = random.Random(count)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    users = [f"user-{n}" for n in range(50)]
    for index in range(count):
        identifier = uuid.UUID(int=rng.getrandbits(128))
        created = start + timedelta(seconds=rng.randrange(0, 300 * 86400))
        yield {
            "conversation_id": str(identifier),
            "user_id": rng.choice(users),
            "selected_repository": "acme/webshop",
            "title": f"Conversation {index}",
            "created_at": created,
            "last_updated_at": created + timedelta(minutes=5),
            "pr_number": [],
            "accumulated_cost": 0.25,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "total_tokens": 110,
            "conversation_version": "V1",
            "sandbox_id": "bench-" + identifier.hex[:12],
        }


def build_database(path: Path, count: int) -> None:
    from sqlalchemy import MetaData, Table, create_engine

    from convstore.schema import create_schema

    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    with engine.begin() as connection:
        create_schema(connection, revision="003")
        table = Table("conversation_metadata", MetaData(), autoload_with=connection)
        batch: list[dict[str, Any]] = []
        for row in v1_rows(count):
            batch.append(row)
            if len(batch) == 10_000:
                connection.execute(table.insert(), batch)
                batch.clear()
        if batch:
            connection.execute(table.insert(), batch)
    engine.dispose()
    partial.rename(path)


def with_indexes(database: Path, suffix: str, add: Callable[[Path], None]) -> Path:
    """A copy of ``database`` with more indexes (cached beside it)."""
    copy = database.with_name(f"{database.stem}-{suffix}.db")
    if not copy.exists():
        partial = copy.with_suffix(".partial")
        shutil.copy(database, partial)
        add(partial)
        partial.rename(copy)
    return copy


def floor_index(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE INDEX bench_created ON conversation_metadata "
            "(conversation_version, created_at, conversation_id)"
        )


def convstore_indexes(path: Path) -> None:
    from sqlalchemy import create_engine

    from convstore.stores.database_info import add_listing_indexes
    from convstore.stores.sql import SqlStore

    store = SqlStore(create_engine(f"sqlite:///{path}"))
    add_listing_indexes(store)
    store.close()


@contextmanager
def postgres(rows: int) -> Iterator[tuple[str, str] | None]:
    """URLs of a database of ``rows`` rows with OpenHands' indexes, and of a copy with
    ``db add-indexes`` done; None when no server can be had."""
    sys.path.insert(0, str(HERE.parent))
    from tests.postgres_server import PostgresUnavailable, start_server

    server = None
    admin = os.environ.get("CONVSTORE_TEST_PG_URL")
    if admin is None:
        try:
            server = start_server()
        except PostgresUnavailable as error:
            print(f"no PostgreSQL ({error}); its rows are left out", file=sys.stderr)
            yield None
            return
        admin = server.url()
    try:
        yield _build_postgres(admin, rows)
    finally:
        if server is not None:
            server.stop()


def _build_postgres(admin: str, rows: int) -> tuple[str, str]:
    from sqlalchemy import create_engine, make_url, text

    from convstore.schema import create_schema
    from convstore.stores.database_info import add_listing_indexes
    from convstore.stores.sql import SqlStore

    print(f"building {rows:,} PostgreSQL rows ...", file=sys.stderr)
    base = make_url(admin)
    names = ("convstore_bench", "convstore_bench_indexed")
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {names[0]}"))
    plain = base.set(database=names[0]).render_as_string(hide_password=False)
    target = create_engine(plain)
    with target.begin() as connection:
        create_schema(connection, revision="003")
        columns = list(next(v1_rows(1)))
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            statement = f"COPY conversation_metadata ({', '.join(columns)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in v1_rows(rows):
                    row["pr_number"] = "[]"
                    copy.write_row([row[name] for name in columns])
        connection.execute(text("ANALYZE conversation_metadata"))
    target.dispose()
    with engine.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {names[1]} TEMPLATE {names[0]}"))
    engine.dispose()
    indexed = base.set(database=names[1]).render_as_string(hide_password=False)
    store = SqlStore(create_engine(indexed))
    add_listing_indexes(store)
    store.close()
    return plain, indexed


# Measurements. Each takes the context (paths and URLs) and returns a short description
# of its result; those that time part of their work report it with ``inner``.


@dataclass(frozen=True)
class Measure:
    name: str
    floor: str | None  # the measurement it is a ratio of
    run: Callable[[dict[str, Any]], str]
    needs: str = "files"  # "files", "sqlite" or "postgresql"
    versus: str | None = None  # also say how many times faster than this one


_inner: list[float] = []


def inner(seconds: float) -> None:
    """Time measured inside the process, for figures where set-up would dominate."""
    _inner.append(seconds)


def _timed(work: Callable[[], Any], times: int = 1) -> Any:
    """``work()``, timed: the mean of ``times`` calls, for figures too short to time once."""
    started = time.perf_counter()
    for _ in range(times):
        result = work()
    inner((time.perf_counter() - started) / times)
    return result


def floor_read_parse(context: dict[str, Any]) -> str:
    count = 0
    with os.scandir(Path(context["files"]) / "sessions") as entries:
        for entry in entries:
            with open(os.path.join(entry.path, "metadata.json"), "rb") as stream:
                json.loads(stream.read())
            count += 1
    return f"{count:,} files"


def floor_stat(context: dict[str, Any]) -> str:
    count = 0
    with os.scandir(Path(context["files"]) / "sessions") as entries:
        for entry in entries:
            os.stat(os.path.join(entry.path, "metadata.json"))
            count += 1
    return f"{count:,} files"


def floor_read_one(context: dict[str, Any]) -> str:
    path = os.path.join(context["files"], "sessions", context["file_id"], "metadata.json")

    def read() -> Any:
        with open(path, "rb") as stream:
            return json.loads(stream.read())

    read()
    _timed(read, 200)
    return "1 file"


def openhands_files_page(context: dict[str, Any]) -> str:
    """The least OpenHands' V0 listing could cost: read and parse every file (no
    validation, no thread hop per file), sort all, slice a page."""
    items = []
    with os.scandir(Path(context["files"]) / "sessions") as entries:
        for entry in entries:
            with open(os.path.join(entry.path, "metadata.json"), "rb") as stream:
                data = json.loads(stream.read())
            if "created_at" in data:
                items.append(data)
    items.sort(key=lambda item: item["created_at"], reverse=True)
    return f"{len(items[:PAGE])} items"


def openhands_files_search(context: dict[str, Any]) -> str:
    """OpenHands' V0 listing as its code runs it (benchmarks/openhands_v0.py)."""
    import openhands_v0

    return f"{len(openhands_v0.search(context['files'], 0, PAGE))} items"


def _file_catalog(context: dict[str, Any], cache: str | None, workers: int | None = None) -> Any:
    from convstore.stores.catalog import Catalog
    from convstore.stores.files import FileStore
    from convstore.stores.v0_cache import V0Cache

    root = Path(context["files"])
    store = FileStore(
        root,
        cache=None if cache is None else V0Cache.for_store(root, Path(cache)),
        workers=workers,
    )
    return Catalog(files=store)


def _page(catalog: Any, **query: Any) -> str:
    from convstore.stores.base import Query

    page = catalog.page(Query(**query), PAGE)
    return f"{len(page.items)} items"


def list_no_cache(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, None))


def list_no_cache_one_process(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, None, workers=1))


def list_cold(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, tempfile.mkdtemp(dir=context["scratch"])))


def list_warm(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, context["warm_cache"]))


def list_deep(context: dict[str, Any]) -> str:
    """The page after the one that ends halfway through the listing, through a cursor."""
    from convstore.stores.base import Query, decode_cursor

    catalog = _file_catalog(context, context["warm_cache"])
    cursor = context["files_cursor"]
    return _timed(lambda: _page(catalog, after=decode_cursor(Query().sort, cursor)))


def list_user_warm(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, context["warm_cache"]), user=USER)


def list_user_no_cache(context: dict[str, Any]) -> str:
    return _page(_file_catalog(context, None), user=USER)


def show_file(context: dict[str, Any]) -> str:
    catalog = _file_catalog(context, None)
    catalog.get(context["file_id"])
    record = _timed(lambda: catalog.get(context["file_id"]), 200)
    return f"{len(record.problems)} problems"


def _verify(context: dict[str, Any], workers: int | None) -> str:
    from convstore.jobs.verify import Tally, Verification

    tally = Tally()
    for _ in tally.count(Verification(_file_catalog(context, None, workers)).run()):
        pass
    return f"{sum(tally.counts.values()):,} findings"


def verify_files(context: dict[str, Any]) -> str:
    return _verify(context, None)


def verify_files_one_process(context: dict[str, Any]) -> str:
    return _verify(context, 1)


def _migrate(context: dict[str, Any], dry_run: bool, batch_size: int = 500) -> str:
    from sqlalchemy import create_engine

    from convstore.jobs import migrate
    from convstore.schema import create_schema
    from convstore.stores.catalog import Catalog
    from convstore.stores.files import FileStore
    from convstore.stores.sql import SqlStore

    database = Path(tempfile.mkdtemp(dir=context["scratch"])) / "openhands.db"
    engine = create_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        create_schema(connection)
    engine.dispose()
    catalog = Catalog(
        files=FileStore(Path(context["files"])),
        sql=SqlStore(create_engine(f"sqlite:///{database}")),
    )
    started = time.perf_counter()
    options = migrate.Options(dry_run=dry_run, events_root=None, batch_size=batch_size)
    report = migrate.run(catalog, options)
    elapsed = time.perf_counter() - started
    inner(elapsed)
    done = sum(report.counts.values())
    return f"{done / elapsed:,.0f} conversations/s"


def migrate_dry_run(context: dict[str, Any]) -> str:
    return _migrate(context, dry_run=True)


def migrate_fresh(context: dict[str, Any]) -> str:
    return _migrate(context, dry_run=False)


def migrate_fresh_large_batches(context: dict[str, Any]) -> str:
    return _migrate(context, dry_run=False, batch_size=5000)


def floor_sqlite_keyset(context: dict[str, Any]) -> str:
    """The page read through an index that serves it exactly, with the bare driver."""
    with sqlite3.connect(context["sqlite_floor"]) as connection:
        rows = _timed(
            lambda: connection.execute(
                "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
                "ORDER BY created_at DESC, conversation_id DESC LIMIT 20"
            ).fetchall()
        )
    return f"{len(rows)} rows"


def _sql_catalog(url: str) -> Any:
    from sqlalchemy import create_engine

    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    return Catalog(sql=SqlStore(create_engine(url)))


def _sql_page(url: str, cursor: str | None) -> str:
    from convstore.stores.base import Query, decode_cursor

    catalog = _sql_catalog(url)
    query = Query(version="V1")
    if cursor is not None:
        query = query.starting_after(decode_cursor(query.sort, cursor))
    # Once first: the connection, the statement cache, and the pages of the table the
    # query reads, which a page shown twice finds in memory (a cold read is the disk's).
    _page(catalog, version="V1", after=query.after)
    return _timed(lambda: _page(catalog, version="V1", after=query.after))


def _sql_show(url: str, identifier: str) -> str:
    catalog = _sql_catalog(url)
    catalog.get(identifier)
    record = _timed(lambda: catalog.get(identifier), 50)
    return f"{len(record.problems)} problems"


def _offset_page(url: str, rows: int) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.connect() as connection:
        statement = text(
            "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
            "ORDER BY created_at DESC LIMIT 20 OFFSET :skip"
        )
        found = _timed(lambda: connection.execute(statement, {"skip": rows // 2}).fetchall())
    return f"{len(found)} rows"


def _sqlite_url(path: str) -> str:
    return f"sqlite:///{path}"


def sql_page(context: dict[str, Any]) -> str:
    return _sql_page(_sqlite_url(context["sqlite"]), None)


def sql_page_indexed(context: dict[str, Any]) -> str:
    return _sql_page(_sqlite_url(context["sqlite_indexed"]), None)


def sql_deep(context: dict[str, Any]) -> str:
    return _sql_page(_sqlite_url(context["sqlite"]), context["sql_cursor"])


def sql_deep_indexed(context: dict[str, Any]) -> str:
    return _sql_page(_sqlite_url(context["sqlite_indexed"]), context["sql_cursor"])


def sql_offset(context: dict[str, Any]) -> str:
    return _offset_page(_sqlite_url(context["sqlite"]), context["rows"])


def sql_show(context: dict[str, Any]) -> str:
    return _sql_show(_sqlite_url(context["sqlite"]), context["row_id"])


def pg_floor(context: dict[str, Any]) -> str:
    import psycopg
    from sqlalchemy import make_url

    url = make_url(context["pg_indexed"])
    with psycopg.connect(
        host=url.query.get("host") or url.host,
        port=url.port or int(url.query.get("port", 5432)),
        user=url.username,
        password=url.password,
        dbname=url.database,
    ) as connection:
        query = (
            "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
            'ORDER BY created_at DESC, conversation_id COLLATE "C" DESC LIMIT 20'
        )
        connection.execute(query).fetchall()
        rows = _timed(lambda: connection.execute(query).fetchall())
    return f"{len(rows)} rows"


def pg_page(context: dict[str, Any]) -> str:
    return _sql_page(context["pg"], None)


def pg_page_indexed(context: dict[str, Any]) -> str:
    return _sql_page(context["pg_indexed"], None)


def pg_deep(context: dict[str, Any]) -> str:
    return _sql_page(context["pg"], context["sql_cursor"])


def pg_deep_indexed(context: dict[str, Any]) -> str:
    return _sql_page(context["pg_indexed"], context["sql_cursor"])


def pg_offset(context: dict[str, Any]) -> str:
    return _offset_page(context["pg"], context["rows"])


READ = "floor: scandir + read + json.loads, every file"
STAT = "floor: scandir + stat, every file"
ONE = "floor: read + json.loads, one file"
OPENHANDS_FLOOR = "openhands floor: json.loads + sort all, one page"
OPENHANDS = "openhands: V0 search as its code does it (files)"
KEYSET = "floor: SQLite keyset page, exact index, bare driver"
PG_KEYSET = "floor: PG keyset page, indexed, bare driver"
MEASURES = (
    Measure(READ, None, floor_read_parse),
    Measure(STAT, None, floor_stat),
    Measure(ONE, None, floor_read_one),
    Measure(OPENHANDS_FLOOR, READ, openhands_files_page),
    Measure(OPENHANDS, READ, openhands_files_search),
    Measure("list first page, no cache", READ, list_no_cache, versus=OPENHANDS),
    Measure("list first page, no cache, one process", READ, list_no_cache_one_process),
    Measure("list first page, cache cold (fills it)", READ, list_cold),
    Measure("list first page, cache warm", STAT, list_warm, versus=OPENHANDS),
    Measure("list page at 50% depth via cursor, warm", STAT, list_deep),
    Measure(f"list --user {USER}, cache warm", STAT, list_user_warm, versus=OPENHANDS),
    Measure(f"list --user {USER}, no cache", READ, list_user_no_cache),
    Measure("show ID (file)", ONE, show_file),
    Measure("verify (files)", READ, verify_files),
    Measure("verify (files), one process", READ, verify_files_one_process),
    Measure("migrate-v0-to-v1 --dry-run", READ, migrate_dry_run),
    Measure("migrate-v0-to-v1 into a fresh SQLite", READ, migrate_fresh),
    Measure("migrate into a fresh SQLite, --batch-size 5000", READ, migrate_fresh_large_batches),
    Measure(KEYSET, None, floor_sqlite_keyset, "sqlite"),
    Measure("SQL first page, OpenHands' indexes", KEYSET, sql_page, "sqlite"),
    Measure("SQL first page, db add-indexes", KEYSET, sql_page_indexed, "sqlite"),
    Measure("SQL page at 50% via cursor, OpenHands' idx", KEYSET, sql_deep, "sqlite"),
    Measure("SQL page at 50% via cursor, add-indexes", KEYSET, sql_deep_indexed, "sqlite"),
    Measure("openhands: OFFSET page at 50% (SQLite)", KEYSET, sql_offset, "sqlite"),
    Measure("show ID (SQL row)", KEYSET, sql_show, "sqlite"),
    Measure(PG_KEYSET, None, pg_floor, "postgresql"),
    Measure("PG first page, OpenHands' indexes", PG_KEYSET, pg_page, "postgresql"),
    Measure("PG first page, db add-indexes", PG_KEYSET, pg_page_indexed, "postgresql"),
    Measure("PG page at 50% via cursor, OpenHands' idx", PG_KEYSET, pg_deep, "postgresql"),
    Measure("PG page at 50% via cursor, add-indexes", PG_KEYSET, pg_deep_indexed, "postgresql"),
    Measure("openhands: OFFSET page at 50% (PG)", PG_KEYSET, pg_offset, "postgresql"),
)
# Measured again on the smaller store, for the growth of peak RSS.
RSS_MEASURES = (
    "list first page, no cache",
    "list first page, cache warm",
    "verify (files)",
    "verify (files), one process",
)
BY_NAME = {measure.name: measure for measure in MEASURES}


# Running


def measure_once(name: str, context: dict[str, Any]) -> None:
    # Imports are start-up cost, measured apart: here only the work counts.
    import convstore.jobs.migrate
    import convstore.jobs.verify
    import convstore.stores.catalog  # noqa: F401

    started = time.perf_counter()
    what = BY_NAME[name].run(context)
    elapsed = _inner[-1] if _inner else time.perf_counter() - started
    own = _peak_rss_mb()
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rss_mb": own, "workers_mb": workers, "what": what}))


def _peak_rss_mb() -> float:
    """This process's peak RSS. Linux's ru_maxrss would include the RSS of the parent
    this process was forked from before it exec'd; the high-water mark of its own
    memory map (VmHWM) does not."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_once(name: str, context: dict[str, Any]) -> dict[str, Any]:
    finished = subprocess.run(
        [sys.executable, __file__, "--measure", name, "--context", json.dumps(context)],
        capture_output=True,
        text=True,
        check=False,
    )
    if finished.returncode != 0:
        raise SystemExit(f"{name} failed:\n{finished.stderr}")
    result: dict[str, Any] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result


def run_rounds(names: list[str], context: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Each measurement ``repeat`` times, in rounds (every measurement once per round),
    so that a burst of other work on the machine slows a figure and its floor alike
    rather than only one of them. Per figure: the best time, the worst RSS."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for round_number in range(1, repeat + 1):
        for name in names:
            results[name].append(run_once(name, context))
        print(f"  round {round_number}/{repeat}: {len(names)} figures", file=sys.stderr)
    figures = {}
    for name, runs in results.items():
        best = min(runs, key=lambda result: result["seconds"])
        figures[name] = {
            **best,
            "rss_mb": max(result["rss_mb"] for result in runs),
            "workers_mb": max(result["workers_mb"] for result in runs),
        }
    return figures


def prepare(context: dict[str, Any]) -> None:
    """What the measurements start from: a filled cache, cursors at 50% depth."""
    from convstore.stores.base import Query, encode_cursor, record_position

    catalog = _file_catalog(context, context["warm_cache"])
    catalog.page(Query(), PAGE)  # fills the cache
    addresses = catalog.files._ordered(Query())  # keys only: no record is read
    halfway = next(itertools.islice(addresses, context["file_count"] // 2, None))
    middle = catalog.files.get(halfway)
    context["files_cursor"] = encode_cursor(Query().sort, record_position(Query().sort, middle))
    context["file_id"] = middle.conversation_id
    if "sqlite" in context:
        with sqlite3.connect(context["sqlite"]) as connection:
            (identifier,) = connection.execute(
                "SELECT conversation_id FROM conversation_metadata "
                "ORDER BY created_at DESC, conversation_id DESC LIMIT 1 OFFSET ?",
                (context["rows"] // 2,),
            ).fetchone()
        sql = _sql_catalog(_sqlite_url(context["sqlite"]))
        row = sql.get(identifier)
        context["row_id"] = identifier
        context["sql_cursor"] = encode_cursor(Query().sort, record_position(Query().sort, row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument(
        "--compare-files", type=int, help="a smaller store for RSS growth (default: N/10; 0: none)"
    )
    parser.add_argument("--no-postgres", action="store_true", help="leave PostgreSQL out")
    parser.add_argument("--only", help="run only measurements whose name contains this")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--context", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        measure_once(arguments.measure, json.loads(arguments.context))
        return
    CACHE.mkdir(exist_ok=True)
    print(
        f"building (cached) {arguments.files:,} files and {arguments.rows:,} rows ...",
        file=sys.stderr,
    )
    files = CACHE / f"files-{arguments.files}"
    build_files(files, arguments.files)
    database = CACHE / f"rows-{arguments.rows}.db"
    build_database(database, arguments.rows)
    smaller = arguments.files // 10 if arguments.compare_files is None else arguments.compare_files
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="convstore-bench-") as scratch:
        context: dict[str, Any] = {
            "files": str(files),
            "file_count": arguments.files,
            "rows": arguments.rows,
            "scratch": scratch,
            "warm_cache": str(Path(scratch, "warm-cache")),
            "sqlite": str(database),
            "sqlite_floor": str(with_indexes(database, "indexed", floor_index)),
            "sqlite_indexed": str(with_indexes(database, "convstore-indexes", convstore_indexes)),
        }
        prepare(context)
        chosen = [m for m in MEASURES if arguments.only is None or arguments.only in m.name]
        floors = {m.floor for m in chosen} | {m.versus for m in chosen}
        wanted = [m for m in MEASURES if m in chosen or m.name in floors]
        postgresql = None
        if not arguments.no_postgres and any(m.needs == "postgresql" for m in wanted):
            postgresql = postgres(arguments.rows)
        figures = _measure_all(wanted, context, arguments.repeat, postgresql)
        growth = {}
        if smaller:
            build_files(CACHE / f"files-{smaller}", smaller)
            small = {
                **context,
                "files": str(CACHE / f"files-{smaller}"),
                "file_count": smaller,
                "warm_cache": str(Path(scratch, "warm-cache-small")),
            }
            prepare(small)
            names = [name for name in RSS_MEASURES if name in figures]
            growth = run_rounds(names, small, arguments.repeat)
    _print(arguments, figures, growth, smaller, files, database, load_before)


def _measure_all(
    wanted: list[Measure], context: dict[str, Any], repeat: int, postgresql: Any
) -> dict[str, dict[str, Any]]:
    local = [m.name for m in wanted if m.needs != "postgresql"]
    figures = run_rounds(local, context, repeat)
    if postgresql is not None:
        with postgresql as urls:
            if urls is not None:
                context = {**context, "pg": urls[0], "pg_indexed": urls[1]}
                remote = [m.name for m in wanted if m.needs == "postgresql"]
                figures.update(run_rounds(remote, context, repeat))
    return figures


def _print(
    arguments: argparse.Namespace,
    figures: dict[str, dict[str, Any]],
    growth: dict[str, dict[str, Any]],
    smaller: int,
    files: Path,
    database: Path,
    load_before: tuple[float, float, float],
) -> None:
    size = _store_bytes(files, arguments.files)
    print(
        f"\nmachine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.platform()}"
    )
    print(
        f"load average (1 min) {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after: "
        "other work on the machine slows every figure alike"
    )
    print(
        f"stores: {arguments.files:,} V0 files of mixed generations (about {size / 1e6:.0f} MB); "
        f"{arguments.rows:,} SQLite rows ({database.stat().st_size / 1e6:.0f} MB)"
    )
    print(
        f"best of {arguments.repeat} rounds, each figure in a fresh process; RSS: the worst run "
        "(workers: the largest worker process; forked, it counts the pages it shares "
        "with its parent)\n"
    )
    header = f"{'measurement':52} {'time':>10} {'x floor':>8} {'RSS':>7} {'workers':>8}  result"
    print(header)
    print("-" * len(header))
    for name, figure in figures.items():
        measure = BY_NAME[name]
        floor = figures.get(measure.floor) if measure.floor else None
        ratio = f"{figure['seconds'] / floor['seconds']:.2f}" if floor else "-"
        what = figure["what"]
        if measure.versus and measure.versus in figures:
            faster = figures[measure.versus]["seconds"] / figure["seconds"]
            what += f"; openhands takes {faster:.1f}x as long"
        workers = f"{figure['workers_mb']:.0f} MB" if figure["workers_mb"] else "-"
        print(
            f"{name:52} {_duration(figure['seconds']):>10} {ratio:>8} "
            f"{figure['rss_mb']:>4.0f} MB {workers:>8}  {what}"
        )
    if growth:
        print(f"\npeak RSS, {smaller:,} files -> {arguments.files:,} files")
        for name, small in growth.items():
            large = figures[name]
            print(
                f"  {name:50} {small['rss_mb']:>5.0f} MB -> {large['rss_mb']:>5.0f} MB "
                f"({large['rss_mb'] - small['rss_mb']:+.0f} MB); workers "
                f"{small['workers_mb']:.0f} MB -> {large['workers_mb']:.0f} MB"
            )
        keys = (arguments.files - smaller) * _key_bytes()
        print(f"  (the sort keys of {arguments.files - smaller:,} more files: {keys / 1e6:.0f} MB)")


def _key_bytes() -> int:
    """What one conversation's sort key costs in a listing: the tuple and its parts."""
    from convstore.stores.base import Sort
    from convstore.stores.v0_order import key_of
    from convstore.stores.v0_scan import Entry

    key = key_of(Sort(), Entry(uuid.uuid4().hex, None, created=1_700_000_000_000_000))
    return sys.getsizeof(key) + sum(sys.getsizeof(part) for part in key) + 8  # + list slot


def _store_bytes(files: Path, count: int) -> float:
    """The metadata.json bytes of the store, from a sample of 1,000 files."""
    sizes = []
    with os.scandir(files / "sessions") as entries:
        for entry in itertools.islice(entries, 1000):
            sizes.append(os.stat(os.path.join(entry.path, "metadata.json")).st_size)
    return sum(sizes) / max(1, len(sizes)) * count


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
