"""``migrate-v0-to-v1 --create-table``: an OpenHands-shaped table where there is none.

A single-machine user with only V0 files has no database yet. convstore creates the
table exactly as OpenHands' latest app-server revision does, and only where it does
not exist: it never alters a table OpenHands made.
"""

from __future__ import annotations

from sqlalchemy import create_engine, inspect

from convstore.config import database_url
from convstore.errors import UsageError
from convstore.schema import TABLE, VERSION_TABLE, build_metadata, create_schema
from convstore.stores.catalog import sqlite_path


def has_conversation_table(db: str) -> bool:
    """True when ``db`` exists and holds ``conversation_metadata`` (creates nothing)."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return False
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return TABLE in inspect(connection).get_table_names()
    finally:
        engine.dispose()


def create_conversation_table(db: str) -> str | None:
    """Create ``conversation_metadata`` in ``db`` if it has none; returns where, or None."""
    url = database_url(db)
    path = sqlite_path(url)
    if path is not None:
        if not path.parent.is_dir():
            raise UsageError(f"cannot create {path}: {path.parent} is not a directory")
        url = f"sqlite:///{path}"  # mode=rw would refuse to create the file
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            existing = set(inspect(connection).get_table_names())
            if TABLE in existing:
                return None
            if not existing & {TABLE, VERSION_TABLE}:
                create_schema(connection)
            else:
                build_metadata().tables[TABLE].create(connection)
        return str(path) if path is not None else engine.url.render_as_string(hide_password=True)
    finally:
        engine.dispose()
