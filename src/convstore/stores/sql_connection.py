"""Connections to the database: SQLite's per-connection setup, and the bounded retry
of transient failures that ends in one line naming the database and the reason."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from convstore.config import masked
from convstore.errors import StoreUnavailable, UsageError
from convstore.stores.sql_values import lenient_text

# Serialization failure and deadlock: the transaction is rolled back and may be retried.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0)
T = TypeVar("T")

# SQLAlchemy logs what it swallows or re-raises (a connection whose reset an interrupt cut
# short, Ctrl-C in the middle of a migration) at ERROR, with a traceback, and with no
# handler configured logging prints that on stderr. convstore reports every error itself,
# in one line: the library's own log goes nowhere.
logging.getLogger("sqlalchemy").addHandler(logging.NullHandler())


def engine(url: str, connect_timeout: float) -> Engine:
    """An engine for a SQLAlchemy URL (no connection yet); a URL SQLAlchemy cannot use
    (a bad port, an unknown driver) is a usage error naming it, password masked."""
    try:
        if url.startswith("postgresql"):
            return create_engine(
                url, connect_args={"connect_timeout": max(1, round(connect_timeout))}
            )
        return create_engine(url)
    except (ArgumentError, ImportError, ValueError) as error:
        raise UsageError(f"cannot use database URL {masked(url)}: {error}") from error


def serialize_sqlite_writes(engine: Engine) -> None:
    """Let write transactions say BEGIN IMMEDIATE, so read-check-write is atomic.

    pysqlite would otherwise begin a transaction only at the first write, after the
    check has read, and two renames could both pass the check.
    """

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        # SQLite stores whatever bytes it is given as TEXT; one row that is not UTF-8
        # must be a problem entry, not a listing that fails (see sql_values.undecodable).
        dbapi_connection.text_factory = lenient_text
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.create_function("convstore_lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("convstore_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def retrying(display: str, operation: Callable[[], T]) -> T:
    """Run ``operation``, again after a pause when it fails transiently, then give up
    with StoreUnavailable naming the database and the reason."""
    for pause in (*RETRY_PAUSES, None):
        try:
            return operation()
        except DBAPIError as error:
            if pause is None or not _transient(error):
                raise unavailable(display, error) from error
            time.sleep(pause)
    raise AssertionError("unreachable: the last pause is None")


def _transient(error: DBAPIError) -> bool:
    """A failure that a moment later may not happen: a deadlock, a serialization
    failure, or a server that refused the connection (it may be starting)."""
    if getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "connection refused" in str(error.orig).lower()


def unavailable(display: str, error: SQLAlchemyError) -> StoreUnavailable:
    """One line naming the database and the reason, never the password."""
    reason = str(getattr(error, "orig", error)).strip().splitlines()
    message = f"cannot use {display}: {reason[0] if reason else type(error).__name__}"
    denied = _sqlite_permission(display)
    return StoreUnavailable(message if denied is None else f"{message} ({denied})")


def _sqlite_permission(display: str) -> str | None:
    """What SQLite's "unable to open database file" or "readonly database" means when
    this user may not read or write the file or its directory (SQLite writes a journal
    beside the file); None for a server, or when permissions are not the reason."""
    if "://" in display:
        return None
    path = Path(display)
    try:
        if not path.is_file():
            return None
    except OSError:
        return None
    if not os.access(path, os.R_OK):
        return f"permission denied: this user may not read {path}"
    if not os.access(path, os.W_OK):
        return f"permission denied: this user may not write {path}"
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"permission denied: this user may not write {path.parent}, where SQLite "
            "keeps its journal"
        )
    return None
