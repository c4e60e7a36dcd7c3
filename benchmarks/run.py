"""Measure convstore against the machine's floor and against OpenHands' own approach.

    python benchmarks/run.py [--files N] [--rows M] [--repeat R]

Builds (once, cached under benchmarks/.cache) a file store of N V0 metadata.json files
of mixed generations and a SQLite database of M rows with OpenHands' own schema and
indexes, then runs every measurement in a fresh subprocess (so each peak RSS is its
own) and prints one table: each figure, its ratio to the floor it is compared with,
the store sizes and the machine. Absolute times on a shared machine are noise; the
ratios measured side by side in one run are the figures to read.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"
PAGE = 20


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


def build_database(path: Path, count: int) -> None:
    from sqlalchemy import MetaData, Table, create_engine

    from convstore.schema import create_schema

    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    rng = random.Random(count)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    users = [f"user-{n}" for n in range(50)]
    with engine.begin() as connection:
        create_schema(connection, revision="003")
        table = Table("conversation_metadata", MetaData(), autoload_with=connection)
        batch: list[dict[str, Any]] = []
        for index in range(count):
            identifier = uuid.UUID(int=rng.getrandbits(128))
            created = start + timedelta(seconds=rng.randrange(0, 300 * 86400))
            batch.append(
                {
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
            )
            if len(batch) == 10_000:
                connection.execute(table.insert(), batch)
                batch.clear()
        if batch:
            connection.execute(table.insert(), batch)
    engine.dispose()
    partial.rename(path)


# Measurements: each returns a short description of what it produced.


def floor_read_parse(files: Path, _db: Path) -> str:
    count = 0
    with os.scandir(files / "sessions") as entries:
        for entry in entries:
            with open(os.path.join(entry.path, "metadata.json"), "rb") as stream:
                json.loads(stream.read())
            count += 1
    return f"{count} files"


def floor_stat(files: Path, _db: Path) -> str:
    count = 0
    with os.scandir(files / "sessions") as entries:
        for entry in entries:
            os.stat(os.path.join(entry.path, "metadata.json"))
            count += 1
    return f"{count} files"


def openhands_files_page(files: Path, _db: Path) -> str:
    """OpenHands' V0 listing: read and parse every file, sort all, slice a page."""
    items = []
    with os.scandir(files / "sessions") as entries:
        for entry in entries:
            with open(os.path.join(entry.path, "metadata.json"), "rb") as stream:
                data = json.loads(stream.read())
            if "created_at" in data:
                items.append(data)
    items.sort(key=lambda item: item["created_at"], reverse=True)
    return f"{len(items[:PAGE])} items"


def convstore_files_page(files: Path, _db: Path) -> str:
    from convstore.stores.base import Query
    from convstore.stores.catalog import Catalog
    from convstore.stores.files import FileStore

    page = Catalog(files=FileStore(files)).page(Query(), PAGE)
    return f"{len(page.items)} items"


def convstore_files_user(files: Path, _db: Path) -> str:
    from convstore.stores.base import Query
    from convstore.stores.catalog import Catalog
    from convstore.stores.files import FileStore

    page = Catalog(files=FileStore(files)).page(Query(user="alice"), PAGE)
    return f"{len(page.items)} items"


def convstore_verify_files(files: Path, _db: Path) -> str:
    """verify over every file: every check, leftovers and event directories (no database)."""
    from convstore.jobs.verify import Tally, Verification
    from convstore.stores.catalog import Catalog
    from convstore.stores.files import FileStore

    started = time.perf_counter()
    tally = Tally()
    for _ in tally.count(Verification(Catalog(files=FileStore(files))).run()):
        pass
    _report_inner(time.perf_counter() - started)
    return f"{sum(tally.counts.values())} findings"


def _sql_catalog(db: Path) -> Any:
    from sqlalchemy import create_engine

    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    return Catalog(sql=SqlStore(create_engine(f"sqlite:///{db}")))


def floor_sqlite_keyset(_files: Path, db: Path) -> str:
    """The same page through an index on created_at, in a copy that has one."""
    import sqlite3

    indexed = db.with_name(db.stem + "-indexed.db")
    if not indexed.exists():
        shutil.copy(db, indexed)
        with sqlite3.connect(indexed) as connection:
            connection.execute(
                "CREATE INDEX bench_created ON conversation_metadata "
                "(conversation_version, created_at, conversation_id)"
            )
    with sqlite3.connect(indexed) as connection:
        started = time.perf_counter()
        rows = connection.execute(
            "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
            "ORDER BY created_at DESC, conversation_id DESC LIMIT 20"
        ).fetchall()
        _report_inner(time.perf_counter() - started)
    return f"{len(rows)} rows (extra index)"


def convstore_sql_page(_files: Path, db: Path) -> str:
    from convstore.stores.base import Query

    catalog = _sql_catalog(db)
    catalog.page(Query(version="V1"), PAGE)  # warm the connection and reflection
    started = time.perf_counter()
    page = catalog.page(Query(version="V1"), PAGE)
    _report_inner(time.perf_counter() - started)
    return f"{len(page.items)} items"


def convstore_sql_deep_page(_files: Path, db: Path) -> str:
    """A page at 50% depth, reached through a cursor (the cursor built from a row there)."""
    import sqlite3

    from convstore.stores.base import Query, Sort, record_position

    with sqlite3.connect(db) as connection:
        (total,) = connection.execute("SELECT count(*) FROM conversation_metadata").fetchone()
        (identifier,) = connection.execute(
            "SELECT conversation_id FROM conversation_metadata ORDER BY created_at DESC "
            "LIMIT 1 OFFSET ?",
            (total // 2,),
        ).fetchone()
    catalog = _sql_catalog(db)
    anchor = record_position(Sort(), catalog.sql.get(identifier))
    started = time.perf_counter()
    page = catalog.page(Query(version="V1", after=anchor), PAGE)
    _report_inner(time.perf_counter() - started)
    return f"{len(page.items)} items"


def openhands_sql_offset(_files: Path, db: Path) -> str:
    """OpenHands' paging: OFFSET to the same depth."""
    import sqlite3

    with sqlite3.connect(db) as connection:
        (total,) = connection.execute("SELECT count(*) FROM conversation_metadata").fetchone()
        started = time.perf_counter()
        rows = connection.execute(
            "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
            "ORDER BY created_at DESC LIMIT 20 OFFSET ?",
            (total // 2,),
        ).fetchall()
        _report_inner(time.perf_counter() - started)
    return f"{len(rows)} rows"


MEASURES: dict[str, tuple[str, Callable[[Path, Path], str]]] = {
    "floor: scandir + read + json.loads": ("", floor_read_parse),
    "floor: stat every file": ("", floor_stat),
    "openhands: parse + sort all, one page": (
        "floor: scandir + read + json.loads",
        openhands_files_page,
    ),
    "convstore: list first page (files)": (
        "floor: scandir + read + json.loads",
        convstore_files_page,
    ),
    "convstore: list --user (files)": ("floor: scandir + read + json.loads", convstore_files_user),
    "convstore: verify (files)": ("floor: scandir + read + json.loads", convstore_verify_files),
    "floor: SQLite keyset page, indexed": ("", floor_sqlite_keyset),
    "convstore: list first page (SQL, OpenHands indexes)": (
        "floor: SQLite keyset page, indexed",
        convstore_sql_page,
    ),
    "convstore: page at 50% depth via cursor (SQL)": (
        "floor: SQLite keyset page, indexed",
        convstore_sql_deep_page,
    ),
    "openhands: OFFSET page at 50% depth (SQL)": (
        "floor: SQLite keyset page, indexed",
        openhands_sql_offset,
    ),
}

_inner: list[float] = []


def _report_inner(seconds: float) -> None:
    """Time measured inside the process, for figures where process start-up would dominate."""
    _inner.append(seconds)


def measure_once(name: str, files: Path, db: Path) -> None:
    # Imports are start-up cost, measured apart (CLI start-up); here only the work counts.
    import convstore.stores.catalog  # noqa: F401

    started = time.perf_counter()
    what = MEASURES[name][1](files, db)
    elapsed = _inner[-1] if _inner else time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rss_mb": peak, "what": what}))


def run_measure(name: str, files: Path, db: Path, repeat: int) -> dict[str, Any]:
    results = []
    for _ in range(repeat):
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--measure",
                name,
                "--files-dir",
                str(files),
                "--db",
                str(db),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    best = min(results, key=lambda result: result["seconds"])
    return {**best, "rss_mb": max(result["rss_mb"] for result in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--files-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        measure_once(arguments.measure, arguments.files_dir, arguments.db)
        return
    files = CACHE / f"files-{arguments.files}"
    db = CACHE / f"rows-{arguments.rows}.db"
    print(
        f"building (cached) {arguments.files:,} files and {arguments.rows:,} rows ...",
        file=sys.stderr,
    )
    build_files(files, arguments.files)
    build_database(db, arguments.rows)
    figures: dict[str, dict[str, Any]] = {}
    for name in MEASURES:
        figures[name] = run_measure(name, files, db, arguments.repeat)
        print(f"  measured {name}", file=sys.stderr)
    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(
        f"store: {arguments.files:,} V0 files (mixed generations), {arguments.rows:,} SQLite rows"
    )
    print(f"best of {arguments.repeat} runs, each in a fresh process\n")
    print(f"{'measurement':58} {'time':>10} {'x floor':>8} {'peak RSS':>9}  result")
    for name, figure in figures.items():
        floor = MEASURES[name][0]
        ratio = f"{figure['seconds'] / figures[floor]['seconds']:.2f}" if floor else "-"
        print(
            f"{name:58} {_duration(figure['seconds']):>10} {ratio:>8} "
            f"{figure['rss_mb']:>6.0f} MB  {figure['what']}"
        )


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


if __name__ == "__main__":
    main()
