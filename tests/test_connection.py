"""Reaching a database: one line naming host, port and reason; never the password."""

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from convstore.errors import StoreUnavailable
from convstore.stores import sql_connection

URL = "postgresql://admin:s3cr3t-pw@127.0.0.1:1/openhands"


@pytest.mark.parametrize("debug", [[], ["--debug"]])
def test_refused_connection_is_exit_3_naming_host_and_port_without_password(debug):
    started = time.monotonic()
    process = subprocess.run(
        [sys.executable, "-m", "convstore.cli", *debug, "list", "--db", URL],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    elapsed = time.monotonic() - started
    assert process.returncode == 3
    assert "s3cr3t-pw" not in process.stdout + process.stderr
    last = process.stderr.strip().splitlines()[-1]
    assert "127.0.0.1" in last and "port 1" in last and "Connection refused" in last
    if not debug:
        assert process.stderr.count("\n") == 1
    assert elapsed < 30  # a bounded retry, then give up


def test_transient_failures_are_retried_then_reported(monkeypatch):
    monkeypatch.setattr(sql_connection, "RETRY_PAUSES", (0.01, 0.01))
    attempts = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise DBAPIError("UPDATE ...", {}, Deadlock("deadlock detected"))
        return "done"

    assert sql_connection.retrying("db", flaky) == "done" and len(attempts) == 3

    def always_broken():
        raise DBAPIError("SELECT 1", {}, Exception("syntax error"))

    with pytest.raises(StoreUnavailable, match="cannot use db: syntax error"):
        sql_connection.retrying("db", always_broken)


def test_openhands_db_variables_reach_a_real_server(postgres_database_url, monkeypatch):
    from sqlalchemy.engine import make_url

    from convstore.config import Settings
    from convstore.stores.base import Query
    from convstore.stores.catalog import open_catalog
    from tests.conftest import Database

    Database(postgres_database_url).dispose()
    url = make_url(postgres_database_url)
    host = url.query.get("host") or url.host
    environ = {
        "DB_HOST": str(host),
        "DB_NAME": str(url.database),
        "DB_USER": str(url.username),
        "DB_PASS": "",
        "DB_PORT": str(url.port or 5432),
    }
    settings = Settings.resolve(environ=environ)
    assert settings.db is not None and settings.db.source == "env DB_HOST, DB_*"
    catalog = open_catalog(settings)
    assert catalog.sql is not None and list(catalog.search(Query())) == []
    catalog.close()
    engine = create_engine(postgres_database_url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


@pytest.mark.parametrize(
    ("flags", "environment"),
    [
        # The flag wins over the environment, and the environment over config.toml;
        # the setting that loses would wait a minute.
        (["--connect-timeout", "2"], {"CONVSTORE_CONNECT_TIMEOUT": "60"}),
        (["--config", "{config}"], {"CONVSTORE_CONNECT_TIMEOUT": "2"}),
    ],
    ids=["flag", "environment"],
)
def test_connect_timeout_bounds_a_server_that_never_answers(flags, environment, tmp_path):
    import socket

    config = tmp_path / "config.toml"
    config.write_text("connect_timeout = 60\n")
    flags = [flag.format(config=config) for flag in flags]

    with socket.socket() as silent:  # accepts connections on loopback, never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        process = subprocess.run(
            [
                sys.executable,
                "-m",
                "convstore.cli",
                "list",
                "--db",
                f"postgresql://ops@127.0.0.1:{port}/openhands",
                *flags,
            ],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            env={**os.environ, **environment},
        )
        elapsed = time.monotonic() - started
    assert process.returncode == 3
    assert f"127.0.0.1:{port}" in process.stderr and "timeout" in process.stderr.lower()
    # Well inside the minute the losing setting would wait, however busy the machine.
    assert 1.5 < elapsed < 40


def test_sqlalchemy_s_own_error_log_never_reaches_stderr():
    """An interrupt landing in a connection's reset makes SQLAlchemy log the error with a
    traceback (then re-raise it): with no handler, logging would print it on stderr,
    beside convstore's one line. In a fresh interpreter, as the command runs (pytest
    installs log handlers of its own)."""
    script = (
        "import logging, sys\n"
        "if sys.argv[1] == 'convstore':\n"
        "    import convstore.stores.sql_connection\n"
        "try:\n"
        "    raise KeyboardInterrupt\n"
        "except KeyboardInterrupt:\n"
        "    logging.getLogger('sqlalchemy.pool.impl.QueuePool').error(\n"
        "        'Exception during reset or similar', exc_info=True)\n"
    )

    def logged(importing: str) -> str:
        run = [sys.executable, "-c", script, importing]
        return subprocess.run(run, capture_output=True, text=True, check=True).stderr

    assert "Traceback" in logged("nothing")  # what an operator would otherwise see
    assert logged("convstore") == ""
