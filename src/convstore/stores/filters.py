"""Filters that can never match are usage errors, not empty answers.

An operator who types ``--status Paused`` or ``--since`` after ``--until`` gets nothing
back and may conclude there is nothing; a retention job would silently delete nothing.
Every listing goes through ``Catalog.search``, which checks its query here first, so
``list``, ``export --all``, ``delete --older-than`` and whatever else filters all
refuse the same queries with the same words (exit 2).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from convstore.errors import UsageError
from convstore.model import EXECUTION_STATUSES
from convstore.stores.base import Query

if TYPE_CHECKING:
    from convstore.stores.sql import SqlStore


def check(query: Query, sql: SqlStore | None) -> None:
    """Raise UsageError for a filter no conversation of these stores can match."""
    if query.status is not None:
        if query.status not in EXECUTION_STATUSES:
            raise UsageError(
                f"--status {query.status!r} is not an execution status; use one of "
                f"{', '.join(sorted(EXECUTION_STATUSES))}"
            )
        if sql is None or "execution_status" not in sql.columns:
            where = "no database" if sql is None else f"{sql.display} has no execution_status"
            raise UsageError(
                f"--status can never match: {where} (only OpenHands 1.x databases record "
                "whether a conversation is running)"
            )
    if query.org is not None and (sql is None or sql.ownership is None):
        where = "no database" if sql is None else f"{sql.display} has no organisations"
        raise UsageError(
            f"--org can never match: {where} (only OpenHands 1.x enterprise databases, with "
            "a conversation_metadata_saas table, have them)"
        )
    _ordered("--since", query.created_since, "--until", query.created_until)
    _ordered("--updated-since", query.updated_since, "--updated-until", query.updated_until)


def _ordered(
    since_name: str, since: datetime | None, until_name: str, until: datetime | None
) -> None:
    if since is not None and until is not None and since >= until:
        raise UsageError(
            f"{since_name} {_iso(since)} is not before {until_name} {_iso(until)}: no "
            "conversation can match (times are UTC; an age such as 7d counts back from now)"
        )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
