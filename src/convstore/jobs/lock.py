"""One migration at a time per target database, and a clear word on who holds the lock.

SQLite: an ``flock`` on a file beside the database, holding the holder's pid, host and
start time (the file stays: unlinking a lock file lets a third process lock a fresh
inode while the second still holds the old one). PostgreSQL: a session advisory lock
on a dedicated connection, so the lock lives exactly as long as the job, even when the
job is killed; the holder is found in ``pg_locks``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from convstore.errors import Conflict
from convstore.fsutil import cannot_write
from convstore.stores.sql import SqlStore

# A fixed advisory-lock key: the first 8 bytes of "convstore-migrate" as a bigint.
ADVISORY_KEY = int.from_bytes(b"convstor", "big") >> 1
LOCK_SUFFIX = ".convstore-migrate.lock"


@contextlib.contextmanager
def migration_lock(store: SqlStore) -> Iterator[None]:
    """Hold the migration lock of ``store``'s database, or raise Conflict naming the holder."""
    if store.sqlite_file is not None:
        with _file_lock(store.sqlite_file.with_name(store.sqlite_file.name + LOCK_SUFFIX)):
            yield
    else:
        with _advisory_lock(store):
            yield


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        # Beside the database: a directory this user may not write, so neither may SQLite.
        raise cannot_write(path, error) from error
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 4096).decode("utf-8", "replace").strip()
            raise Conflict(
                f"another migration holds the lock {path}: {_describe(holder)}"
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, _holder().encode())
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def _advisory_lock(store: SqlStore) -> Iterator[None]:
    with store.engine.connect() as connection:
        connection.execute(text("SET application_name = 'convstore migrate-v0-to-v1'"))
        locked = connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}
        ).scalar_one()
        connection.commit()
        if not locked:
            raise Conflict(
                f"another migration holds the lock on {store.display}: {_advisory_holder(store)}"
            )
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_KEY})
            connection.commit()


def _advisory_holder(store: SqlStore) -> str:
    query = text(
        "SELECT a.pid, a.usename, a.client_addr, a.application_name, a.backend_start "
        "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = :key"
    )
    with store.engine.connect() as connection:
        row = connection.execute(query, {"key": ADVISORY_KEY}).first()
    if row is None:
        return "a session that has just ended; try again"
    pid, user, address, application, started = row
    where = address or "a local socket"
    return (
        f"server process {pid} ({application or 'unnamed'}) of user {user} from {where}, "
        f"connected since {started:%Y-%m-%d %H:%M:%S %Z}"
    )


def _holder() -> str:
    return json.dumps(
        {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def _describe(holder: str) -> str:
    try:
        data = json.loads(holder)
        return f"process {data['pid']} on {data['host']}, running since {data['since']}"
    except (ValueError, KeyError, TypeError):
        return "a process that left no details"
