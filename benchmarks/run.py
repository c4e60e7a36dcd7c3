"""Measure convstore against the machine's floor and against OpenHands' own approach.

    python benchmarks/run.py [--files N] [--rows M] [--repeat R] [--compare-files K]

Builds (once, cached under benchmarks/.cache) a file store of N V0 metadata.json files
of mixed generations and a SQLite database of M V1 rows with OpenHands 1.x's schema and
the indexes its enterprise migrations create, plus copies with other indexes
(benchmarks/sql_listing.py); with a PostgreSQL server (``$CONVSTORE_TEST_PG_URL``, else
one started the way the tests start theirs, tests/postgres_server.py) the same rows
there too. Then runs every measurement in a fresh subprocess, in R rounds of all of
them, and prints one table: each figure (the best round), its ratio to the floor it is
compared with, the peak RSS of the process and of its worker processes (the worst
round), the store sizes and the machine. A second, smaller store (K files, default
N/10) gives the growth of peak RSS.

Absolute times on a shared machine are noise; the ratios measured side by side in one
run are the figures to read, and the load average printed before and after says how
noisy the run was. Times are of the work inside the process, except the rows named
"process", which time a whole ``convstore`` command as an operator runs it (start-up
and imports included: benchmarks/startup.py says where that goes).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
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
from pathlib import Path
from typing import Any

import sql_listing  # beside this file
import stats_sql  # beside this file

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


@contextmanager
def postgres(rows: int) -> Iterator[dict[str, str] | None]:
    """URLs of the SQL listing's databases on a PostgreSQL server (sql_listing); None
    when no server can be had."""
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
        yield sql_listing.postgres_databases(admin, rows)
    finally:
        if server is not None:
            server.stop()


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


def _all(context: dict[str, Any], cache: str | None, fmt: str) -> str:
    """`list --all --format FMT`: every record written, to /dev/null."""
    from convstore.cli import render
    from convstore.stores.base import Query

    catalog = _file_catalog(context, cache)
    with open(os.devnull, "w") as sink:
        saved, sys.stdout = sys.stdout, sink
        try:
            count = render.records(catalog.search(Query()), fmt)
        finally:
            sys.stdout = saved
    return f"{count:,} records"


def list_all_warm(context: dict[str, Any]) -> str:
    return _all(context, context["warm_cache"], "jsonl")


def list_all_warm_csv(context: dict[str, Any]) -> str:
    return _all(context, context["warm_cache"], "csv")


def list_all_cold(context: dict[str, Any]) -> str:
    return _all(context, tempfile.mkdtemp(dir=context["scratch"]), "jsonl")


def list_all_no_cache(context: dict[str, Any]) -> str:
    return _all(context, None, "jsonl")


def _stats_files(context: dict[str, Any], cache: str | None) -> str:
    """`stats --by month` over the V0 files: counted and written as JSON, as the command
    does after its imports."""
    from convstore.cli import render
    from convstore.jobs import stats

    started = time.perf_counter()
    catalog = _file_catalog(context, cache)
    report = stats.run(catalog, stats.Request(by=("month",)))
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        render.stats(report, "json")
    inner(time.perf_counter() - started)
    return f"{len(report.rows)} groups, {report.totals.conversations:,} conversations"


def stats_no_cache(context: dict[str, Any]) -> str:
    return _stats_files(context, None)


def stats_cold(context: dict[str, Any]) -> str:
    return _stats_files(context, tempfile.mkdtemp(dir=context["scratch"]))


def stats_after_listing(context: dict[str, Any]) -> str:
    """A cache a listing filled (entries without figures): stats reads every file once
    more, for its figures. The copy of the cache is not timed."""
    copy = tempfile.mkdtemp(dir=context["scratch"])
    shutil.copytree(context["warm_cache"], copy, dirs_exist_ok=True)
    return _stats_files(context, copy)


def stats_warm(context: dict[str, Any]) -> str:
    return _stats_files(context, context["stats_cache"])


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


def _migrate(context: dict[str, Any], dry_run: bool, batch_size: int | None = None) -> str:
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


def migrate_fresh_fixed_batches(context: dict[str, Any]) -> str:
    return _migrate(context, dry_run=False, batch_size=500)


def _reported(measured: tuple[str, float]) -> str:
    what, seconds = measured
    inner(seconds)
    return what


def _sql(key: str, cursor: bool = False, **query: Any) -> Callable[[dict[str, Any]], str]:
    """A page of ``convstore list --version V1`` from the database ``key`` names."""

    def run(context: dict[str, Any]) -> str:
        at = context["sql_cursor"] if cursor else None
        return _reported(sql_listing._page(sql_listing._url(context, key), at, **query))

    return run


def _statements(key: str, cursor: bool = False) -> Callable[[dict[str, Any]], str]:
    """The SQL alone of a page of ``convstore list --version V1``."""

    def run(context: dict[str, Any]) -> str:
        at = context["sql_cursor"] if cursor else None
        return _reported(sql_listing.page_statements(sql_listing._url(context, key), at))

    return run


def _openhands(key: str, halfway: bool) -> Callable[[dict[str, Any]], str]:
    def run(context: dict[str, Any]) -> str:
        offset = context["rows"] // 2 if halfway else 0
        return _reported(sql_listing.openhands_page(sql_listing._url(context, key), offset))

    return run


def _floor(key: str) -> Callable[[dict[str, Any]], str]:
    return lambda context: _reported(sql_listing.floor_page(sql_listing._url(context, key)))


def _show(key: str) -> Callable[[dict[str, Any]], str]:
    def run(context: dict[str, Any]) -> str:
        url = sql_listing._url(context, key)
        return _reported(sql_listing.show_row(url, context["row_id"]))

    return run


def _process(key: str | None, cursor: bool = False) -> Callable[[dict[str, Any]], str]:
    """The whole process: `convstore --help`, or `convstore list --db` of ``key``."""

    def run(context: dict[str, Any]) -> str:
        if key is None:
            return _reported(sql_listing.process(["--help"]))
        return _reported(sql_listing.list_process(context, key, cursor))

    return run


def _sql_measures(prefix: str, needs: str, key: str) -> tuple[Measure, ...]:
    """The SQL listing's rows for one database server: SQLite (key "sqlite") or
    PostgreSQL ("pg"), each a ratio of the page read through its exact index."""
    floor = f"{prefix} floor: a page through its exact index, bare driver"
    first = f"{prefix} openhands 1.11: first page (OFFSET 0)"
    deep = f"{prefix} openhands 1.11: page at 50% (OFFSET M/2)"
    indexed, single = f"{key}_indexed", f"{key}_single"

    def row(name: str, run: Callable[[dict[str, Any]], str], versus: str | None = None) -> Measure:
        return Measure(f"{prefix} {name}", floor, run, needs, versus)

    return (
        Measure(floor, None, _floor(f"{key}_floor"), needs),
        Measure(first, floor, _openhands(key, halfway=False), needs),
        Measure(deep, floor, _openhands(key, halfway=True), needs),
        row("first page, its SQL alone", _statements(key), first),
        row("page at 50% via cursor, its SQL alone", _statements(key, True), deep),
        row("first page, enterprise indexes", _sql(key)),
        row("page at 50% via cursor, enterprise", _sql(key, True)),
        row("--user (7 rows), enterprise", _sql(key, user=sql_listing.RARE_USER)),
        row("--user (2% of rows), enterprise", _sql(key, user=sql_listing.COMMON_USER)),
        row("--status running, enterprise", _sql(key, status="running")),
        row("--sort -updated, no index serves it", _sql(key, sort="-updated")),
        row("--sort -updated, db add-indexes", _sql(indexed, sort="-updated")),
        row("--sort title, no index serves it", _sql(key, sort="title")),
        row("--sort title, db add-indexes", _sql(indexed, sort="title")),
        row("first page, single-machine indexes", _sql(single)),
        row("show ID", _show(key)),
        Measure(f"{prefix} process: first page", HELP, _process(key), needs),
        Measure(f"{prefix} process: --cursor at 50%", HELP, _process(key, True), needs),
    )


def _stats_measures(prefix: str, needs: str, key: str) -> tuple[Measure, ...]:
    """`stats --by month` and `--by user` against the bare GROUP BY (stats_sql)."""
    found: list[Measure] = []
    client = "sqlite3" if key == "sqlite" else "psql"
    for by in ("month", "user"):
        floor = f"{prefix} floor: bare GROUP BY {by}, {client}"

        def run(work: Any, by: str = by) -> Callable[[dict[str, Any]], str]:
            return lambda context: _reported(work(context, key, by))

        found += [
            Measure(floor, None, run(stats_sql.floor), needs),
            Measure(f"{prefix} stats --by {by}", floor, run(stats_sql.in_process), needs),
            Measure(
                f"{prefix} process: stats --by {by}", floor, run(stats_sql.whole_command), needs
            ),
        ]
    return tuple(found)


READ = "floor: scandir + read + json.loads, every file"
STAT = "floor: scandir + stat, every file"
ONE = "floor: read + json.loads, one file"
OPENHANDS_FLOOR = "openhands floor: json.loads + sort all, one page"
OPENHANDS = "openhands: V0 search as its code does it (files)"
HELP = "process: convstore --help"
LIST_WARM = "list first page, cache warm"
MEASURES = (
    Measure(READ, None, floor_read_parse),
    Measure(STAT, None, floor_stat),
    Measure(ONE, None, floor_read_one),
    Measure(OPENHANDS_FLOOR, READ, openhands_files_page),
    Measure(OPENHANDS, READ, openhands_files_search),
    Measure("list first page, no cache", READ, list_no_cache, versus=OPENHANDS),
    Measure("list first page, no cache, one process", READ, list_no_cache_one_process),
    Measure("list first page, cache cold (fills it)", READ, list_cold),
    Measure(LIST_WARM, STAT, list_warm, versus=OPENHANDS),
    Measure("list page at 50% depth via cursor, warm", STAT, list_deep),
    Measure(f"list --user {USER}, cache warm", STAT, list_user_warm, versus=OPENHANDS),
    Measure(f"list --user {USER}, no cache", READ, list_user_no_cache),
    Measure("list --all --format jsonl, cache warm", READ, list_all_warm),
    Measure("list --all --format csv, cache warm", READ, list_all_warm_csv),
    Measure("list --all --format jsonl, cache cold (fills it)", READ, list_all_cold),
    Measure("list --all --format jsonl, no cache", READ, list_all_no_cache),
    Measure("V0 stats --by month, no cache", READ, stats_no_cache),
    Measure("V0 stats --by month, cache cold (fills it)", READ, stats_cold),
    Measure("V0 stats --by month, after a listing filled it", READ, stats_after_listing),
    Measure("V0 stats --by month, cache warm (x: warm list)", LIST_WARM, stats_warm),
    Measure("show ID (file)", ONE, show_file),
    Measure("verify (files)", READ, verify_files),
    Measure("verify (files), one process", READ, verify_files_one_process),
    Measure("migrate-v0-to-v1 --dry-run", READ, migrate_dry_run),
    Measure("migrate-v0-to-v1 into a fresh SQLite", READ, migrate_fresh),
    Measure("migrate into a fresh SQLite, --batch-size 500", READ, migrate_fresh_fixed_batches),
    Measure(HELP, None, _process(None), "sqlite"),
    *_sql_measures("SQLite list:", "sqlite", "sqlite"),
    *_sql_measures("PG list:", "postgresql", "pg"),
    *_stats_measures("SQLite stats:", "sqlite", "sqlite"),
    *_stats_measures("PG stats:", "postgresql", "pg"),
)
# Measured again on the smaller store, for the growth of peak RSS.
RSS_MEASURES = (
    "list first page, no cache",
    "list first page, cache warm",
    "list --all --format jsonl, cache warm",
    "verify (files)",
    "verify (files), one process",
)
BY_NAME = {measure.name: measure for measure in MEASURES}


# Running


def measure_once(name: str, context: dict[str, Any]) -> None:
    # Imports are start-up cost, measured apart: here only the work counts.
    import convstore.cli.render
    import convstore.jobs.migrate
    import convstore.jobs.stats
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
    """What the measurements start from: a cache a listing filled and a whole listing
    (``list --all``) kept its records in, one stats filled (figures too), cursors at
    50% depth."""
    from convstore.jobs import stats
    from convstore.stores.base import Query, encode_cursor, record_position

    stats.run(_file_catalog(context, context["stats_cache"]), stats.Request())
    catalog = _file_catalog(context, context["warm_cache"])
    catalog.page(Query(), PAGE)  # fills the cache
    collections.deque(catalog.search(Query()), maxlen=0)  # keeps every record in it
    files = catalog.files
    addresses = files._ordered(Query(), *files._conversations()).addresses  # none read
    halfway = next(itertools.islice(addresses, context["file_count"] // 2, None))
    middle = files.get(halfway)
    context["files_cursor"] = encode_cursor(Query().sort, record_position(Query().sort, middle))
    context["file_id"] = middle.conversation_id


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
    chosen = [m for m in MEASURES if arguments.only is None or arguments.only in m.name]
    floors = {m.floor for m in chosen} | {m.versus for m in chosen}
    wanted = [m for m in MEASURES if m in chosen or m.name in floors]
    with_files = any(m.needs == "files" for m in wanted)
    print(
        f"building (cached) {arguments.files:,} files and {arguments.rows:,} rows ...",
        file=sys.stderr,
    )
    files = CACHE / f"files-{arguments.files}"
    if with_files:
        build_files(files, arguments.files)
    databases = sql_listing.sqlite_databases(CACHE, arguments.rows)
    smaller = arguments.files // 10 if arguments.compare_files is None else arguments.compare_files
    smaller = smaller if with_files else 0
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="convstore-bench-") as scratch:
        context: dict[str, Any] = {
            "files": str(files),
            "file_count": arguments.files,
            "rows": arguments.rows,
            "scratch": scratch,
            "warm_cache": str(Path(scratch, "warm-cache")),
            "stats_cache": str(Path(scratch, "stats-cache")),
            **databases,
        }
        if with_files:
            prepare(context)
        sql_listing.prepare(context)
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
                "stats_cache": str(Path(scratch, "stats-cache-small")),
            }
            prepare(small)
            names = [name for name in RSS_MEASURES if name in figures]
            growth = run_rounds(names, small, arguments.repeat)
    _print(arguments, figures, growth, smaller, files, Path(databases["sqlite"]), load_before)


def _measure_all(
    wanted: list[Measure], context: dict[str, Any], repeat: int, postgresql: Any
) -> dict[str, dict[str, Any]]:
    local = [m.name for m in wanted if m.needs != "postgresql"]
    figures = run_rounds(local, context, repeat)
    if postgresql is not None:
        with postgresql as urls:
            if urls is not None:
                context = {**context, **urls}
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
    size = _store_bytes(files, arguments.files) if (files / "sessions").is_dir() else 0.0
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
        f"{arguments.rows:,} V1 rows, OpenHands 1.x schema and enterprise indexes "
        f"(SQLite: {database.stat().st_size / 1e6:.0f} MB)"
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
    if HELP in figures:
        help_seconds = figures[HELP]["seconds"]
        target = 2 * (help_seconds + 0.05)
        print(f"\nthe whole process, against 2 x (convstore --help + 50 ms) = {_duration(target)}:")
        for name, figure in figures.items():
            if "process: " in name and name != HELP:
                verdict = "within" if figure["seconds"] <= target else "over"
                print(f"  {name:50} {_duration(figure['seconds']):>10}  {verdict}")
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
