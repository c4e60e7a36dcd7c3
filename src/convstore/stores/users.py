"""The users of an OpenHands 1.x enterprise database, by the names operators know them by.

The enterprise edition keeps its users in the table ``user``: ``id`` (a UUID, the owner
that ``conversation_metadata_saas`` names), ``email`` and ``git_user_name``. An operator
knows a user by their email or git user name, not by a UUID, so every ``--user`` is
first resolved here, by one rule (``Directory.resolve``), into the owner id that the
stores then match exactly (``owners``): a user's id (in any UUID spelling, as owners
are shown: dashed); else the one user whose email is exactly this; else the one whose
git user name is. Never a substring or a
case-folded match: ``delete --user`` must not widen. A name two users share is a usage
error naming both; a name no user has is kept as given (it may be a V0 owner id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import MetaData, String, Table, cast, or_, select

from convstore.errors import UsageError
from convstore.ids import v1_form
from convstore.stores.sql import SqlStore, uuid_forms
from convstore.stores.sql_connection import retrying

USER_TABLE = "user"
# The names, in the order the rule tries them, and how a message calls them.
NAMES = {"email": "email", "git_user_name": "git user name"}
SHOWN_IDS = 5


@dataclass(frozen=True)
class Resolved:
    """What ``--user TEXT`` means: the owner id to match, and how TEXT named it."""

    user: str
    by: str | None = None  # "email" or "git user name"; None: TEXT is the id itself


class Directory:
    """The ``user`` table of one database, where it has one with names in it."""

    def __init__(self, store: SqlStore, table: Table) -> None:
        self.store = store
        self.table = table
        self.names = [name for name in NAMES if name in table.c]

    @classmethod
    def of(cls, store: SqlStore) -> Directory | None:
        """The directory of ``store``'s database; None without a ``user`` table that has
        an email or git user name column (every database but a 1.x enterprise one)."""
        if USER_TABLE not in store.table_names:
            return None

        def reflect() -> Table:
            with store.engine.connect() as connection:
                return Table(USER_TABLE, MetaData(), autoload_with=connection)

        table = retrying(store.display, reflect)
        found = cls(store, table)
        return found if found.names else None

    def resolve(self, text: str) -> Resolved:
        """The rule in the module docstring."""
        id_text = cast(self.table.c.id, String)
        columns = [self.table.c[name] for name in self.names]
        rows = self._fetch(
            select(id_text, *columns).where(
                or_(id_text.in_(uuid_forms(text)), *(column == text for column in columns))
            )
        )
        if any(uuid_text(row[0]) == uuid_text(text) for row in rows):
            # The id itself, in any spelling: as owners are shown (dashed, lower case).
            return Resolved(uuid_text(text))
        for index, name in enumerate(self.names, start=1):
            owners = sorted({uuid_text(row[0]) for row in rows if row[index] == text})
            if len(owners) > 1:
                shown = ", ".join(owners[:SHOWN_IDS]) + (", ..." if len(owners) > SHOWN_IDS else "")
                raise UsageError(
                    f"--user {text!r} is the {NAMES[name]} of {len(owners)} users ({shown}); "
                    "give the user id"
                )
            if owners:
                return Resolved(owners[0], NAMES[name])
        return Resolved(text)

    def emails(self, owners: Iterable[str]) -> dict[str, str]:
        """The email of each of ``owners`` (owner ids) that has one."""
        if "email" not in self.names:
            return {}
        wanted = {form: owner for owner in owners for form in uuid_forms(owner)}
        if not wanted:
            return {}
        id_text = cast(self.table.c.id, String)
        rows = self._fetch(
            select(id_text, self.table.c.email).where(
                id_text.in_(sorted(wanted)), self.table.c.email.is_not(None)
            )
        )
        return {wanted[str(row[0])]: str(row[1]) for row in rows if str(row[0]) in wanted}

    def _fetch(self, statement: Any) -> list[Any]:
        def once() -> list[Any]:
            with self.store.engine.connect() as connection:
                return list(connection.execute(statement))

        return retrying(self.store.display, once)


def uuid_text(value: Any) -> str:
    """An id as owners are shown: a UUID dashed and lower case (SQLite keeps 32 hex
    digits, PostgreSQL a uuid), anything else as it is."""
    return v1_form(str(value)) or str(value)
