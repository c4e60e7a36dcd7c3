"""The SQL listing measured: OpenHands 1.x databases with its enterprise indexes.

The databases: a 1.x table (app-server revision 014, convstore.schema) of M V1 rows
with every index OpenHands' migrations put on ``conversation_metadata`` in an
enterprise deployment: the single-machine ones (conversation_version, sandbox_id,
parent_conversation_id, public, execution_status) and the enterprise chain's
``ix_conversation_metadata_user_id`` and ``ix_conversation_metadata_created_at``
(enterprise/migrations/versions/003). No convstore index: what a deployment has before
anyone runs ``convstore db add-indexes``. Copies beside it: the single-machine indexes
only; the enterprise ones and ``db add-indexes``' (which adds the two sorts no index
serves); and the floor's exact index. SQLite files are built once under
benchmarks/.cache; PostgreSQL databases on the server benchmarks/run.py starts.

The rows: 50 users, one of them (``RARE_USER``) owning a handful of conversations;
created over 300 days; one in a hundred a sub-conversation; titles in mixed case;
execution statuses as a busy deployment has them (mostly finished, a few running).

The measurements (functions of the context benchmarks/run.py passes) time a page of
``PAGE`` rows of ``convstore list --version V1`` the second time it is read (the first
brings the connection and the table's pages into memory), beside OpenHands 1.11's own
listing (``search_app_conversation_info``: OFFSET paging, reproduced as the SQL it
sends), and the whole ``convstore list`` process beside ``convstore --help``.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from installed import compile_convstore  # beside this file

PAGE = 50  # as the issue's `convstore list --limit 50`
USERS = [f"user-{n:02}" for n in range(50)]
COMMON_USER = USERS[0]  # about 1 row in 50
RARE_USER = "user-rare"  # 7 rows, wherever they fall
RARE_ROWS = 7
STATUSES = ["finished"] * 90 + ["idle"] * 6 + ["error"] * 3 + ["running"]
REPOSITORIES = [f"acme/service-{n}" for n in range(40)]
# The enterprise chain's indexes on conversation_metadata (003), by OpenHands' names.
ENTERPRISE_INDEXES = {
    "ix_conversation_metadata_user_id": "user_id",
    "ix_conversation_metadata_created_at": "created_at",
}
COLUMNS = (
    "conversation_id",
    "user_id",
    "selected_repository",
    "title",
    "created_at",
    "last_updated_at",
    "pr_number",
    "accumulated_cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "conversation_version",
    "sandbox_id",
    "parent_conversation_id",
    "execution_status",
)


def rows(count: int) -> Iterator[dict[str, Any]]:
    """``count`` V1 rows as OpenHands 1.x writes them (timestamps aware UTC)."""
    rng = random.Random(count)
    start = datetime(2025, 11, 1, tzinfo=UTC)
    rare = set(rng.sample(range(count), min(RARE_ROWS, count)))
    parents: list[str] = []
    for index in range(count):
        identifier = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        created = start + timedelta(microseconds=rng.randrange(0, 300 * 86400 * 10**6))
        parent = rng.choice(parents) if parents and rng.random() < 0.01 else None
        if len(parents) < 1000:
            parents.append(identifier)
        word = rng.choice(("fix", "Fix", "add", "Add", "update", "Refactor", "debug"))
        yield {
            "conversation_id": identifier,
            "user_id": RARE_USER if index in rare else rng.choice(USERS),
            "selected_repository": rng.choice(REPOSITORIES),
            "title": f"{word} the {rng.choice(('login', 'Build', 'tests', 'API'))} {index}",
            "created_at": created,
            "last_updated_at": created + timedelta(seconds=rng.randrange(0, 86400)),
            "pr_number": "[]",
            "accumulated_cost": 0.25,
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "total_tokens": 110,
            "conversation_version": "V1",
            "sandbox_id": "sandbox-" + identifier[:13],
            "parent_conversation_id": parent,
            "execution_status": rng.choice(STATUSES),
        }


def build_sqlite(path: Path, count: int) -> None:
    """The SQLite database, once (a file that exists is taken as built)."""
    from sqlalchemy import create_engine

    from convstore.schema import create_schema

    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    with engine.begin() as connection:
        create_schema(connection)
    engine.dispose()
    with sqlite3.connect(partial) as connection:
        for name, column in ENTERPRISE_INDEXES.items():
            connection.execute(f"CREATE INDEX {name} ON conversation_metadata ({column})")
        statement = (
            f"INSERT INTO conversation_metadata ({', '.join(COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in COLUMNS)})"
        )
        connection.executemany(statement, (_sqlite_values(row) for row in rows(count)))
    partial.rename(path)


def _sqlite_values(row: dict[str, Any]) -> tuple[Any, ...]:
    values = dict(row)
    for name in ("created_at", "last_updated_at"):
        values[name] = values[name].isoformat(" ", "microseconds")[:26]  # SQLAlchemy's text
    return tuple(values[name] for name in COLUMNS)


def build_postgres(url: str, count: int) -> None:
    """The same rows in the (empty) PostgreSQL database at ``url``, statistics gathered
    as autovacuum would have."""
    from sqlalchemy import create_engine, text

    from convstore.schema import create_schema

    engine = create_engine(url)
    with engine.begin() as connection:
        create_schema(connection)
        for name, column in ENTERPRISE_INDEXES.items():
            connection.execute(text(f"CREATE INDEX {name} ON conversation_metadata ({column})"))
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor:
            statement = f"COPY conversation_metadata ({', '.join(COLUMNS)}) FROM STDIN"
            with cursor.copy(statement) as copy:
                for row in rows(count):
                    copy.write_row([row[name] for name in COLUMNS])
    with engine.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.execute(text("VACUUM ANALYZE conversation_metadata"))
    engine.dispose()


# The databases beside the enterprise one


def sqlite_databases(cache: Path, count: int) -> dict[str, str]:
    """Paths of the SQLite databases (built once, cached): the enterprise one, and the
    copies the measurements compare it with."""
    enterprise = cache / f"enterprise-{count}.db"
    build_sqlite(enterprise, count)
    return {
        "sqlite": str(enterprise),
        "sqlite_single": str(_copy(enterprise, "single-machine", _drop_enterprise_indexes)),
        "sqlite_indexed": str(_copy(enterprise, "add-indexes", _convstore_indexes)),
        "sqlite_floor": str(_copy(enterprise, "floor", _floor_index)),
    }


def _copy(database: Path, suffix: str, change: Callable[[str], None]) -> Path:
    copy = database.with_name(f"{database.stem}-{suffix}.db")
    if not copy.exists():
        partial = copy.with_suffix(".partial")
        shutil.copy(database, partial)
        change(f"sqlite:///{partial}")
        partial.rename(copy)
    return copy


def _drop_enterprise_indexes(url: str) -> None:
    _execute(url, [f"DROP INDEX {name}" for name in ENTERPRISE_INDEXES])


def _floor_index(url: str) -> None:
    # Exactly the listing's filter and order: what a page costs at the least.
    collate = "" if url.startswith("sqlite") else ' COLLATE "C"'
    _execute(
        url,
        [
            "CREATE INDEX bench_floor ON conversation_metadata "
            f"(conversation_version, created_at, conversation_id{collate})"
        ],
    )


def _convstore_indexes(url: str) -> None:
    from sqlalchemy import create_engine

    from convstore.stores.database_info import add_listing_indexes
    from convstore.stores.sql import SqlStore

    store = SqlStore(create_engine(url))
    add_listing_indexes(store)
    store.close()


def _execute(url: str, statements: list[str]) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(text(statement))
        if not url.startswith("sqlite"):
            connection.execute(text("ANALYZE conversation_metadata"))
    engine.dispose()


def postgres_databases(admin: str, count: int) -> dict[str, str]:
    """URLs of the same databases on the PostgreSQL server ``admin`` names (built anew:
    the server lives as long as the run)."""
    from sqlalchemy import create_engine, make_url, text

    print(f"building {count:,} PostgreSQL rows ...", file=sys.stderr)
    names = {
        "pg": "bench_enterprise",
        "pg_single": "bench_single",
        "pg_indexed": "bench_indexed",
        "pg_floor": "bench_floor",
    }
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names.values():
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {names['pg']}"))
    urls = {
        key: make_url(admin).set(database=name).render_as_string(hide_password=False)
        for key, name in names.items()
    }
    build_postgres(urls["pg"], count)
    with engine.connect() as connection:
        for key in ("pg_single", "pg_indexed", "pg_floor"):
            connection.execute(text(f"CREATE DATABASE {names[key]} TEMPLATE {names['pg']}"))
    engine.dispose()
    _drop_enterprise_indexes(urls["pg_single"])
    _convstore_indexes(urls["pg_indexed"])
    _floor_index(urls["pg_floor"])
    return urls


def prepare(context: dict[str, Any]) -> None:
    """What the measurements start from: the position halfway down the listing, as a
    cursor, and an id to show."""
    from sqlalchemy import create_engine

    from convstore.stores.base import Query, encode_cursor, record_position
    from convstore.stores.sql import SqlStore

    with sqlite3.connect(context["sqlite"]) as connection:
        (identifier,) = connection.execute(
            "SELECT conversation_id FROM conversation_metadata "
            "WHERE conversation_version = 'V1' AND parent_conversation_id IS NULL "
            "ORDER BY created_at DESC, conversation_id DESC LIMIT 1 OFFSET ?",
            (context["rows"] // 2,),
        ).fetchone()
    store = SqlStore(create_engine(f"sqlite:///{context['sqlite']}"))
    row = store.get(identifier)
    store.close()
    assert row is not None
    sort = Query().sort
    context["row_id"] = identifier
    context["sql_cursor"] = encode_cursor(sort, record_position(sort, row))


# Measurements: each returns what it found and the seconds it took


def _url(context: dict[str, Any], key: str) -> str:
    value = str(context[key])
    return value if "://" in value else f"sqlite:///{value}"


def _page(url: str, cursor: str | None = None, **query: Any) -> tuple[str, float]:
    """A page of ``convstore list --version V1`` with ``query``, read twice, timed the
    second time."""
    from sqlalchemy import create_engine

    from convstore.stores.base import Query, Sort, decode_cursor
    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    if isinstance(query.get("sort"), str):
        query["sort"] = Sort.parse(query["sort"])
    wanted = Query(version="V1", **query)
    if cursor is not None:
        wanted = wanted.starting_after(decode_cursor(wanted.sort, cursor))
    catalog = Catalog(sql=SqlStore(create_engine(url)))
    catalog.page(wanted, PAGE)
    started = time.perf_counter()
    page = catalog.page(wanted, PAGE)
    elapsed = time.perf_counter() - started
    catalog.close()
    return f"{len(page.items)} rows", elapsed


def page_statements(url: str, cursor: str | None = None) -> tuple[str, float]:
    """The SQL alone of the page ``_page`` reads (its statements as convstore sends
    them, the plan's counts included), run again on the bare driver connection: beside
    OpenHands' SQL, without either program's work on the rows."""
    from sqlalchemy import create_engine, event

    from convstore.stores.base import Query, decode_cursor
    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    wanted = Query(version="V1")
    if cursor is not None:
        wanted = wanted.starting_after(decode_cursor(wanted.sort, cursor))
    engine = create_engine(url)
    catalog = Catalog(sql=SqlStore(engine))  # the store reads the table and its indexes
    sent: list[tuple[str, Any]] = []

    def record(_c: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):  # not BEGIN (SQLite's own)
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    catalog.page(wanted, PAGE)
    raw = engine.raw_connection()
    try:
        for _ in range(2):
            started = time.perf_counter()
            rows = 0
            for statement, parameters in sent:
                cursor_ = raw.cursor()
                cursor_.execute(statement, parameters)
                rows += len(cursor_.fetchall())
                cursor_.close()
            elapsed = time.perf_counter() - started
    finally:
        raw.close()
        catalog.close()
    return f"{len(sent)} statements, {rows} rows", elapsed


# OpenHands 1.11's StoredConversationMetadata: the columns its listing selects.
OPENHANDS_COLUMNS = (
    "conversation_id, selected_repository, selected_branch, git_provider, title, "
    "last_updated_at, created_at, trigger, pr_number, accumulated_cost, prompt_tokens, "
    "completion_tokens, total_tokens, max_budget_per_task, cache_read_tokens, "
    "cache_write_tokens, reasoning_tokens, context_window, per_turn_token, llm_model, "
    "conversation_version, sandbox_id, parent_conversation_id, public, tags"
)


def openhands_page(url: str, offset: int) -> tuple[str, float]:
    """OpenHands 1.11's ``SQLAppConversationInfoService.search_app_conversation_info``
    as the SQL it sends (default sort, sub-conversations left out, ``limit + 1`` rows
    at an OFFSET), timed the second time, without building its objects from the rows."""
    from sqlalchemy import create_engine, text

    statement = text(
        f"SELECT {OPENHANDS_COLUMNS} FROM conversation_metadata "
        "WHERE conversation_version = 'V1' AND parent_conversation_id IS NULL "
        "ORDER BY created_at DESC LIMIT :limit OFFSET :offset"
    )
    engine = create_engine(url)
    with engine.connect() as connection:
        connection.execute(statement, {"limit": PAGE + 1, "offset": offset}).fetchall()
        started = time.perf_counter()
        rows = connection.execute(statement, {"limit": PAGE + 1, "offset": offset}).fetchall()
        elapsed = time.perf_counter() - started
    engine.dispose()
    return f"{len(rows)} rows", elapsed


def floor_page(url: str) -> tuple[str, float]:
    """The page read through an index that serves it exactly, with the bare driver."""
    if url.startswith("sqlite"):
        connection: Any = sqlite3.connect(url.removeprefix("sqlite:///"))
        collate = ""
    else:
        import psycopg

        connection = psycopg.connect(_libpq(url))
        collate = ' COLLATE "C"'
    query = (
        "SELECT * FROM conversation_metadata WHERE conversation_version = 'V1' "
        f"ORDER BY created_at DESC, conversation_id{collate} DESC LIMIT {PAGE + 1}"
    )
    connection.execute(query).fetchall()
    started = time.perf_counter()
    rows = connection.execute(query).fetchall()
    elapsed = time.perf_counter() - started
    connection.close()
    return f"{len(rows)} rows", elapsed


def _libpq(url: str) -> str:
    from sqlalchemy import make_url

    parsed = make_url(url)
    parts = {
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port or parsed.query.get("port", "5432"),
        "user": parsed.username,
        "dbname": parsed.database,
    }
    return " ".join(f"{key}={value}" for key, value in parts.items() if value)


def show_row(url: str, identifier: str) -> tuple[str, float]:
    from sqlalchemy import create_engine

    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    catalog = Catalog(sql=SqlStore(create_engine(url)))
    catalog.get(identifier)
    started = time.perf_counter()
    record = catalog.get(identifier)
    elapsed = time.perf_counter() - started
    catalog.close()
    return f"{len(record.problems)} problems", elapsed


CONVSTORE = str(Path(sys.executable).with_name("convstore"))


def process(arguments: list[str]) -> tuple[str, float]:
    """The whole ``convstore`` process, as an operator runs it: the second of two runs
    (the first brings the program's files and the table's pages into memory), its
    modules compiled as an installation has them."""
    compile_convstore()
    command = [CONVSTORE, *arguments]
    environment = {**os.environ, "COLUMNS": "120"}
    for _ in range(2):
        started = time.perf_counter()
        finished = subprocess.run(command, capture_output=True, env=environment, check=False)
        elapsed = time.perf_counter() - started
    if finished.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {finished.stderr.decode()}")
    lines = finished.stdout.decode().count("\n")
    return f"{lines} lines out", elapsed


def list_process(context: dict[str, Any], key: str, cursor: bool) -> tuple[str, float]:
    arguments = ["list", "--db", str(context[key]), "--version", "V1", "--limit", str(PAGE)]
    if cursor:
        arguments += ["--cursor", context["sql_cursor"]]
    return process(arguments)
