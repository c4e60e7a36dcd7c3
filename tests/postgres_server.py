"""A throwaway PostgreSQL server for the test suite.

The tests need a real PostgreSQL (DESIGN.md: no mocks of a store), and they start it
themselves so that a developer's machine and CI need nothing but the server binaries
(Debian: ``apt-get install postgresql``; the cluster that package creates is not used).

How the server runs:

- binaries: ``$CONVSTORE_TEST_PG_BINDIR`` if set, else the highest version under
  ``/usr/lib/postgresql/<version>/bin``, else the directory of ``initdb`` on ``PATH``;
- user: ``initdb`` and ``postgres`` refuse to run as root, so under root both run as
  the unprivileged system user ``convstore-pg`` (created on first use with
  ``useradd --system``); otherwise they run as the current user;
- files: a fresh directory ``convstore-pg-XXXXXXXX`` (mode 0700, owned by that user)
  in ``/dev/shm`` when it has 1 GiB free (memory: a database is created in about
  10 ms there, 40 to 150 ms on this machine's disk), else in ``$TMPDIR``. It holds
  the cluster (``data/``), the server log (``postgres.log``), the Unix socket and
  ``owner.pid`` (the test process; a later run removes directories whose owner is
  gone, e.g. after ``kill -9``). The cluster is made with ``initdb -A trust -E UTF8
  --no-locale --no-sync -U postgres``: superuser ``postgres``, no password;
- network: none. The server listens only on the Unix socket in that directory
  (``listen_addresses=''``), so parallel runs on one machine never fight over a port
  and nothing is reachable from outside the machine. A URL looks like
  ``postgresql+psycopg://postgres@/postgres?host=/dev/shm/convstore-pg-XXXXXXXX&port=5432``;
- durability is off (``fsync``, ``synchronous_commit``, ``full_page_writes``): the
  data lives for one test session; ``TimeZone`` is UTC so results do not depend on
  the machine's zone;
- shutdown: ``stop()`` sends SIGINT (PostgreSQL's "fast" shutdown: roll back open
  transactions, disconnect clients), waits, then removes the directory. The
  postmaster also gets SIGINT if the process that started it dies
  (``PR_SET_PDEATHSIG``), so a killed pytest does not leave a server behind.

Run this file to try it: ``python tests/postgres_server.py`` starts a server, prints
its URL and timing, and stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SYSTEM_USER = "convstore-pg"
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP port is opened
BINDIR_ENV = "CONVSTORE_TEST_PG_BINDIR"
# Where the server directories go instead of /dev/shm or $TMPDIR: a test of the cleanup
# uses one of its own, which no other test run on the machine looks into.
PARENT_ENV = "CONVSTORE_TEST_PG_PARENT"
DIR_PREFIX = "convstore-pg-"
OWNER_FILE = "owner.pid"  # pid of the process that made the directory
SHM_MIN_FREE = 1 << 30  # bytes of /dev/shm that must be free to put the cluster there
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0

# postgres -c settings: private socket only, no durability (the data lives for one
# session), a fixed zone, and room for many short-lived connections.
SETTINGS: dict[str, str] = {
    "listen_addresses": "",
    "unix_socket_permissions": "0700",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "TimeZone": "UTC",
    "max_connections": "200",
}

INSTALL_HINT = (
    "install the PostgreSQL server binaries (Debian/Ubuntu: `apt-get install postgresql`), "
    f"or set {BINDIR_ENV} to a directory holding initdb and postgres, "
    "or set CONVSTORE_TEST_PG_URL to an existing server "
    "(e.g. postgresql+psycopg://postgres:postgres@localhost:5432/postgres; "
    "its user needs CREATEDB)"
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started; the message says why and what to do."""


def find_bindir() -> Path:
    """The directory holding ``initdb`` and ``postgres``, newest version first."""
    override = os.environ.get(BINDIR_ENV)
    if override:
        candidate = Path(override)
        if _has_server_binaries(candidate):
            return candidate
        raise PostgresUnavailable(
            f"{BINDIR_ENV}={override} holds no initdb and postgres; {INSTALL_HINT}"
        )
    versions: list[tuple[tuple[int, ...], Path]] = []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        for entry in root.iterdir():
            if re.fullmatch(r"\d+(\.\d+)*", entry.name) and _has_server_binaries(entry / "bin"):
                versions.append((tuple(int(p) for p in entry.name.split(".")), entry / "bin"))
    if versions:
        return max(versions)[1]
    initdb = shutil.which("initdb")
    if initdb and _has_server_binaries(Path(initdb).parent):
        return Path(initdb).parent
    raise PostgresUnavailable(f"no PostgreSQL server binaries found; {INSTALL_HINT}")


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in ("initdb", "postgres"))


@dataclass(frozen=True)
class RunAs:
    """Who the server processes run as."""

    name: str
    uid: int
    gid: int

    @property
    def is_current(self) -> bool:
        return self.uid == os.geteuid()


def server_user() -> RunAs:
    """The current user, or under root the unprivileged ``convstore-pg`` (made if missing)."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
        return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)
    entry = _ensure_system_user(SYSTEM_USER)
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    # Parallel test runs may race to create the user: useradd then fails ("exists", or
    # "cannot lock /etc/passwd"), and the next look-up finds the user the other run made.
    last_error = ""
    for attempt in range(20):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [
                useradd,
                "--system",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--user-group",
                name,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode == 0:
            continue
        last_error = (result.stderr or result.stdout).strip()
        time.sleep(0.05 * (attempt + 1))
    raise PostgresUnavailable(
        f"running as root, and could not create the system user {name!r} "
        f"that PostgreSQL needs (initdb refuses root): {last_error}"
    )


def _parent_death_signal(signum: int) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send ``signum`` to the child when its parent dies."""
    if not sys.platform.startswith("linux"):
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    pr_set_pdeathsig = 1

    def set_signal() -> None:
        # Runs in the child after it took the server user's uid (subprocess changes
        # credentials before preexec_fn), so the setting survives into postgres.
        libc.prctl(pr_set_pdeathsig, signum, 0, 0, 0)

    return set_signal


@dataclass
class PostgresServer:
    """One running server; ``url()`` gives SQLAlchemy URLs, ``stop()`` ends it for good."""

    bindir: Path
    base_dir: Path
    run_as: RunAs
    process: subprocess.Popen[bytes]
    init_seconds: float
    start_seconds: float
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` on this server, as the superuser."""
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={host}&port={PORT}"

    def stop(self) -> None:
        """Fast shutdown, then remove the directory. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        try:
            _terminate(self.process)
        finally:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_file, lines)


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    for signum, timeout in (
        (signal.SIGINT, STOP_TIMEOUT),  # fast shutdown
        (signal.SIGQUIT, 5.0),  # immediate shutdown
        (signal.SIGKILL, 5.0),
    ):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)
        try:
            process.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start_server(
    *, settings: Mapping[str, str] | None = None, ready_timeout: float = READY_TIMEOUT
) -> PostgresServer:
    """initdb into a fresh directory, start postgres on a private socket, wait until ready.

    ``settings`` adds to or overrides ``SETTINGS`` (postgres ``-c name=value``).

    Raises PostgresUnavailable with a message that says what failed and how to get a
    server; the directory is removed on failure.
    """
    bindir = find_bindir()
    run_as = server_user()
    _remove_stale_dirs()
    base_dir = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=_parent_dir()))
    process: subprocess.Popen[bytes] | None = None
    try:
        (base_dir / OWNER_FILE).write_text(str(os.getpid()))
        if not run_as.is_current:
            os.chown(base_dir, run_as.uid, run_as.gid)
        base_dir.chmod(0o700)
        as_user: dict[str, object] = (
            {}
            if run_as.is_current
            else {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
        )
        env = _server_env(run_as)

        began = time.monotonic()
        initdb = subprocess.run(
            [
                str(bindir / "initdb"),
                "--pgdata",
                str(base_dir / "data"),
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
                "--no-instructions",
                f"--username={SUPERUSER}",
            ],
            cwd=base_dir,
            env=env,
            capture_output=True,
            check=False,
            **as_user,  # type: ignore[call-overload]
        )
        if initdb.returncode != 0:
            output = (initdb.stderr or initdb.stdout).decode(errors="replace").strip()
            raise PostgresUnavailable(
                f"initdb ({bindir}) failed as user {run_as.name!r}: {output}; {INSTALL_HINT}"
            )
        init_seconds = time.monotonic() - began

        began = time.monotonic()
        with (base_dir / "postgres.log").open("wb") as log:
            if not run_as.is_current:
                os.chown(base_dir / "postgres.log", run_as.uid, run_as.gid)
            process = subprocess.Popen(
                [
                    str(bindir / "postgres"),
                    "-D",
                    str(base_dir / "data"),
                    "-k",
                    str(base_dir),
                    "-p",
                    str(PORT),
                    *(
                        f"-c{name}={value}"
                        for name, value in {**SETTINGS, **(settings or {})}.items()
                    ),
                ],
                cwd=base_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_parent_death_signal(signal.SIGINT),
                **as_user,  # type: ignore[call-overload]
            )
        server = PostgresServer(bindir, base_dir, run_as, process, init_seconds, 0.0)
        _wait_until_ready(server, ready_timeout)
        server.start_seconds = time.monotonic() - began
        return server
    except BaseException:
        if process is not None:
            _terminate(process)
        shutil.rmtree(base_dir, ignore_errors=True)
        raise


def _parent_dir() -> Path:
    """Where the server's directory goes: memory (/dev/shm) when there is room, else TMPDIR.

    On a disk, creating a database costs 40 to 150 ms; in memory about 10 ms.
    """
    chosen = os.environ.get(PARENT_ENV)
    if chosen:
        return Path(chosen)
    shm = Path("/dev/shm")
    try:
        usage = shutil.disk_usage(shm)
    except OSError:
        return Path(tempfile.gettempdir())
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) and usage.free > SHM_MIN_FREE:
        return shm
    return Path(tempfile.gettempdir())


def _remove_stale_dirs() -> None:
    """Remove directories left by test runs that were killed before they could clean up.

    A directory is stale when the process named in its owner file is gone; a directory
    without that file, or whose owner still runs (a parallel test run), is left alone.
    """
    parents = {Path("/dev/shm"), Path(tempfile.gettempdir()), _parent_dir()}
    for directory in (d for parent in parents for d in parent.glob(f"{DIR_PREFIX}*")):
        try:
            owner = int((directory / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner != os.getpid() and not _process_exists(owner):
            shutil.rmtree(directory, ignore_errors=True)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _server_env(run_as: RunAs) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    if not run_as.is_current:
        env["HOME"] = "/nonexistent"
        env["USER"] = env["LOGNAME"] = run_as.name
    return env


def _wait_until_ready(server: PostgresServer, timeout: float) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        if server.process.poll() is not None:
            raise PostgresUnavailable(
                f"postgres exited with status {server.process.returncode} while starting; "
                f"log:\n{server.log_tail()}\n{INSTALL_HINT}"
            )
        try:
            with psycopg.connect(
                host=str(server.socket_dir),
                port=PORT,
                user=SUPERUSER,
                dbname="postgres",
                connect_timeout=2,
            ) as connection:
                connection.execute("SELECT 1")
            return
        except psycopg.OperationalError as error:
            last_error = str(error).strip()
        if time.monotonic() > deadline:
            raise PostgresUnavailable(
                f"postgres did not accept connections within {timeout:.0f} s "
                f"({last_error}); log:\n{server.log_tail()}"
            )
        time.sleep(0.02)


@contextlib.contextmanager
def running_server() -> Iterator[PostgresServer]:
    """A server for the duration of the block; stopped and removed however the block ends."""
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


if __name__ == "__main__":
    with running_server() as demo:
        print(demo.url())
        print(
            f"user {demo.run_as.name}, initdb {demo.init_seconds:.2f} s, "
            f"start {demo.start_seconds:.2f} s, dir {demo.base_dir}"
        )
