"""pytest fixtures for databases: a real PostgreSQL server, fresh databases, both backends.

Loaded from tests/conftest.py with ``pytest_plugins = ["tests.pg_plugin"]``.

- ``postgres_url`` (session): SQLAlchemy URL (``postgresql+psycopg://...``) of a
  maintenance database on a server this session may create databases on. It is
  ``$CONVSTORE_TEST_PG_URL`` when set (an existing server; its user needs CREATEDB),
  else a private server started for the session (tests/postgres_server.py) and
  stopped at its end. When no server can be had, every test that needs one fails
  (never skips) with one message saying how to get one.
- ``postgres_database_url`` (function): URL of a new, empty database made for the test
  (``CREATE DATABASE ... TEMPLATE template0``) and dropped after it, connections
  and all (``WITH (FORCE)``).
- ``database_url`` (function, parametrized ``sqlite`` / ``postgresql``): URL of a new,
  empty database on either backend: a SQLite file (not yet created) in
  ``tmp_path/sqlite-database/``, or a ``postgres_database_url``. A test that takes it
  runs once per backend, with ids ``[sqlite]`` and ``[postgresql]``.

Every test that needs PostgreSQL carries the marker ``postgresql`` (registered here), so
``-m "not postgresql"`` runs the rest without starting a server; a run that selects no
such test starts none either.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres_server import PostgresUnavailable, start_server

PG_URL_ENV = "CONVSTORE_TEST_PG_URL"

_database_counter = itertools.count()
_PG_FIXTURES = ("postgres_url", "postgres_database_url", "_postgres_admin")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: needs a PostgreSQL server (tests/pg_plugin.py)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in _PG_FIXTURES):
            item.add_marker(pytest.mark.postgresql)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a maintenance database on a PostgreSQL server for this test session."""
    external = os.environ.get(PG_URL_ENV)
    if external:
        _check_external(external)
        yield external
        return
    try:
        server = start_server()
    except PostgresUnavailable as error:
        problem = str(error)
    else:
        problem = ""
    if problem:  # failed outside the except block, so pytest shows one message, not a chain
        pytest.fail(f"no PostgreSQL server for the tests: {problem}", pytrace=False)
    try:
        yield server.url()
    finally:
        server.stop()


def _check_external(url: str) -> None:
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, poolclass=sa.NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        problem = f"{type(error).__name__}: {str(error).splitlines()[0]}"
    else:
        return
    pytest.fail(
        f"no PostgreSQL server for the tests: {PG_URL_ENV}={url!r} does not answer "
        f"({problem}). Fix it, or unset it to let the tests start their own server, "
        "which needs the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`)",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def _postgres_admin(postgres_url: str) -> Iterator[PostgresDatabases]:
    admin = PostgresDatabases(postgres_url)
    try:
        yield admin
    finally:
        admin.close()


class PostgresDatabases:
    """One autocommit connection that creates and drops the per-test databases."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self._url = sa.make_url(url)
        self._engine = sa.create_engine(
            self._url, isolation_level="AUTOCOMMIT", poolclass=sa.StaticPool
        )
        self._connection = self._engine.connect()
        version = self._connection.dialect.server_version_info or (0,)
        # FILE_COPY (PostgreSQL 15+) copies template0's few files instead of WAL-logging
        # every block: about 20 ms a database instead of 60 ms.
        self._strategy = " STRATEGY = FILE_COPY" if version >= (15,) else ""
        self._run = uuid.uuid4().hex[:8]

    def create(self) -> str:
        name = f"convstore_test_{self._run}_{next(_database_counter)}"
        self._connection.exec_driver_sql(
            f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'{self._strategy}"
        )
        return self._url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        import sqlalchemy as sa

        name = sa.make_url(url).database
        self._connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()


@pytest.fixture
def postgres_database_url(_postgres_admin: PostgresDatabases) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    url = _postgres_admin.create()
    try:
        yield url
    finally:
        _postgres_admin.drop(url)


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgresql),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a new, empty database: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        # A directory of its own, so the file never shows up in a store under tmp_path.
        directory = tmp_path / "sqlite-database"
        directory.mkdir()
        return f"sqlite:///{directory / 'convstore.db'}"
    url: str = request.getfixturevalue("postgres_database_url")
    return url
