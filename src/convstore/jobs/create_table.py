"""``migrate-v0-to-v1 --create-table``: an OpenHands-shaped table where there is none.

A single-machine user with only V0 files has no database yet. convstore creates the
table exactly as OpenHands' latest app-server revision does, and only where it does
not exist: it never alters a table OpenHands made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, inspect

from convstore.config import database_url, masked, sqlite_path
from convstore.errors import UsageError
from convstore.schema import TABLE, VERSION_TABLE, build_metadata, create_schema
from convstore.stores.sql_connection import engine as make_engine
from convstore.stores.sql_connection import retrying

T = TypeVar("T")


def has_conversation_table(db: str, connect_timeout: float) -> bool:
    """True when ``db`` exists and holds ``conversation_metadata`` (creates nothing)."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return False

    def look(connection: Connection) -> bool:
        return TABLE in inspect(connection).get_table_names()

    return _with_connection(make_engine(url, connect_timeout), look, begin=False)


def create_conversation_table(db: str, connect_timeout: float) -> str | None:
    """Create ``conversation_metadata`` in ``db`` if it has none; returns where (password
    masked), or None when it was there already."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.is_dir():
            raise UsageError(f"cannot create {path}: {path.parent} is not a directory")
        url = f"sqlite:///{path}"  # mode=rw would refuse to create the file

    def create(connection: Connection) -> bool:
        existing = set(inspect(connection).get_table_names())
        if TABLE in existing:
            return False
        if not existing & {TABLE, VERSION_TABLE}:
            create_schema(connection)
        else:
            build_metadata().tables[TABLE].create(connection)
        return True

    created = _with_connection(make_engine(url, connect_timeout), create, begin=True)
    return (str(path) if path is not None else masked(db)) if created else None


def _with_connection(engine: Engine, work: Callable[[Connection], T], *, begin: bool) -> T:
    """``work`` on one connection (in a transaction when ``begin``); a database that
    cannot be reached is exit 3 in one line, as for every other command."""
    display = engine.url.render_as_string(hide_password=True)

    def run() -> T:
        with engine.begin() if begin else engine.connect() as connection:
            return work(connection)

    try:
        return retrying(display, run)
    finally:
        engine.dispose()
