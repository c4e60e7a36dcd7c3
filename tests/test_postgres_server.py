"""The PostgreSQL server and database fixtures that the rest of the suite relies on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.faults import wait_until
from tests.pg_plugin import PG_URL_ENV, PostgresDatabases
from tests.postgres_server import PARENT_ENV, SYSTEM_USER, start_server


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for process {pid}")


def _postmaster_pid(data_directory: Path) -> int:
    return int((data_directory / "postmaster.pid").read_text().split()[0])


def test_a_fresh_database_is_empty_and_usable(postgres_database_url: str) -> None:
    engine = sa.create_engine(postgres_database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (id serial PRIMARY KEY, note text)"))
            connection.execute(sa.text("INSERT INTO t (note) VALUES ('hello')"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT note FROM t")).scalar_one() == "hello"
            encoding = connection.execute(sa.text("SHOW server_encoding")).scalar_one()
            assert encoding == "UTF8"
    finally:
        engine.dispose()


def test_each_test_gets_its_own_database(postgres_database_url: str, postgres_url: str) -> None:
    assert sa.make_url(postgres_database_url).database != sa.make_url(postgres_url).database
    assert sa.make_url(postgres_database_url).database.startswith("convstore_test_")  # type: ignore[union-attr]


def test_a_database_is_dropped_even_with_connections_open(
    _postgres_admin: PostgresDatabases,
) -> None:
    admin = _postgres_admin
    url = admin.create()
    name = sa.make_url(url).database
    engine = sa.create_engine(url)
    held = engine.connect()  # an open connection must not stop the drop
    try:
        admin.drop(url)
    finally:
        held.invalidate()
        engine.dispose()
    maintenance = sa.create_engine(url.replace(f"/{name}?", "/postgres?"))
    try:
        with maintenance.connect() as connection:
            found = connection.execute(
                sa.text("SELECT count(*) FROM pg_database WHERE datname = :name"), {"name": name}
            ).scalar_one()
        assert found == 0
    finally:
        maintenance.dispose()


def test_database_url_is_a_fresh_database_on_either_backend(database_url: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        assert sa.inspect(engine).get_table_names() == []
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (id integer PRIMARY KEY)"))
        assert sa.inspect(engine).get_table_names() == ["t"]
    finally:
        engine.dispose()


def builtin_server_only() -> None:
    # With an external server the built-in one is not in use, and may not be startable
    # (no binaries): its own tests then say so instead of failing.
    if os.environ.get(PG_URL_ENV):
        pytest.skip(f"{PG_URL_ENV} is set: these tests are about the built-in server")


def test_the_session_server_runs_as_an_unprivileged_user(postgres_url: str) -> None:
    builtin_server_only()
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            data_directory = Path(
                connection.execute(sa.text("SELECT current_setting('data_directory')")).scalar_one()
            )
            backend_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            listen = connection.execute(sa.text("SHOW listen_addresses")).scalar_one()
            # Read while the connection is open: its backend exits when it closes.
            backend_uid = _uid_of(backend_pid)
    finally:
        engine.dispose()
    expected_uid = os.geteuid()
    if expected_uid == 0:
        import pwd

        expected_uid = pwd.getpwnam(SYSTEM_USER).pw_uid
        assert expected_uid != 0
    assert data_directory.stat().st_uid == expected_uid
    assert _uid_of(_postmaster_pid(data_directory)) == expected_uid
    assert backend_uid == expected_uid
    assert listen == ""  # Unix socket only: no TCP port


def test_start_and_stop_leave_nothing_behind() -> None:
    builtin_server_only()
    server = start_server()
    try:
        if os.geteuid() == 0:
            assert server.run_as.name == SYSTEM_USER
            assert _uid_of(server.process.pid) != 0
        engine = sa.create_engine(server.url())
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
        engine.dispose()
    finally:
        server.stop()
    assert server.process.poll() is not None
    assert not server.base_dir.exists()
    server.stop()  # a second stop is harmless


@pytest.mark.slow
def test_a_killed_test_run_leaves_no_server_running(monkeypatch: pytest.MonkeyPatch) -> None:
    # A child process starts a server and dies by SIGKILL: the postmaster must go
    # (parent-death signal), and the next start must remove the orphaned directory. Both
    # servers live in a directory of this test's own: another test run on the machine
    # would remove the orphan too (its owner is gone), before this test can see it.
    builtin_server_only()
    parent = Path(tempfile.mkdtemp(prefix="cpg-"))  # short: a socket path is short
    parent.chmod(0o711)  # the server's user must reach its directory inside
    monkeypatch.setenv(PARENT_ENV, str(parent))
    script = textwrap.dedent(
        """
        import os, signal, sys
        sys.path.insert(0, sys.argv[1])
        from tests.postgres_server import start_server
        server = start_server()
        print(server.process.pid, server.base_dir, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", script, str(root)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == -9, result.stderr
    pid_text, base_dir_text = result.stdout.split()
    postmaster, base_dir = int(pid_text), Path(base_dir_text)
    try:
        wait_until(lambda: not Path(f"/proc/{postmaster}").exists(), "the postmaster ends", 60)
        assert base_dir.exists()
        server = start_server()
        server.stop()
        assert not base_dir.exists()
    finally:
        shutil.rmtree(parent, ignore_errors=True)
