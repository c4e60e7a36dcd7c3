"""The vocabulary of ``verify``: checks, what they find, and the context they run in.

A check inspects one kind of *subject* (a V0 conversation directory, a SQL row, an
event directory, ...) and yields ``Issue``s: what is wrong and how to fix it, with an
optional ``Repair`` that ``--fix`` may carry out. The runner turns each issue into a
``Finding`` stamped with the check's id and severity and the subject's conversation
and location, so a check function only states facts about its subject.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from pathlib import Path

    from convstore.jobs.checks.lookup import Known
    from convstore.jobs.checks.repairs import Repair
    from convstore.jobs.checks.schema import Schema
    from convstore.objects.base import Objects
    from convstore.stores.files import FileStore
    from convstore.stores.sql import SqlStore

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")  # ascending
Outcome = Literal["repaired", "would repair", "not repaired"]


def at_least(severity: Severity, threshold: Severity) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


@dataclass(frozen=True, slots=True)
class Issue:
    """What a check found on its subject. ``None`` fields default to the subject's own."""

    problem: str
    remedy: str
    repair: Repair | None = None
    severity: Severity | None = None  # a check may grade lower where a schema tolerates it
    conversation_id: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong: which check, the conversation, where it lives, what, and how to fix it."""

    check: str
    severity: Severity
    conversation_id: str | None
    location: str
    problem: str
    remedy: str
    repair: Repair | None = None
    outcome: Outcome | None = None  # set by --fix (or --fix --dry-run)
    note: str = ""  # why a repair was not made

    @property
    def fixable(self) -> bool:
        return self.repair is not None

    @property
    def settled(self) -> bool:
        """True once --fix has repaired it: it no longer counts against --fail-on."""
        return self.outcome == "repaired"

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "conversation_id": self.conversation_id,
            "location": self.location,
            "problem": self.problem,
            "remedy": self.remedy,
            "fixable": self.fixable,
            "repair": None if self.repair is None else self.repair.description,
            "outcome": self.outcome,
            "note": self.note or None,
        }


@dataclass
class Context:
    """What every check may consult: the scope, the stores, the schema, this batch's rows."""

    user: str | None
    now: float  # time.time() when the run started
    stale_after: float  # seconds after which a temporary file or .deleting-* is a leftover
    files: FileStore | None
    sql: SqlStore | None
    schema: Schema | None
    known: Known = field(default_factory=lambda: _empty_known())
    # The resolved V1 events directory (--events-dir, CONVSTORE_EVENTS_DIR, ...): checked
    # with those found beside the stores, so verify reads what migrate wrote.
    events_root: Path | None = None
    # The V1 events location when it is a bucket (events_root is None then).
    events_bucket: Objects | None = None

    def owned(self, owner: str | None) -> bool:
        """Whether a conversation of ``owner`` is in scope (every one when no --user)."""
        return self.user is None or (owner is not None and owner in self.user_forms)

    @functools.cached_property
    def user_forms(self) -> frozenset[str]:
        from convstore.jobs.checks.lookup import uuid_forms

        return frozenset(uuid_forms(self.user)) if self.user is not None else frozenset()


def _empty_known() -> Known:
    from convstore.jobs.checks.lookup import Known

    return Known({})


S = TypeVar("S")
Inspector = Callable[[S, Context], Iterable[Issue]]


def always(_context: Context) -> str | None:
    return None


@dataclass(frozen=True)
class Check(Generic[S]):
    """One entry of the catalog. ``applies`` says why it cannot run here (None: it can)."""

    id: str
    severity: Severity
    description: str
    subject: type[S]
    inspect: Inspector[S]
    fixable: bool = False
    lookup: bool = False  # needs the batch's rows looked up in SQL (ctx.known)
    applies: Callable[[Context], str | None] = always
    # Skipped on a subject whose ``healthy`` screen passed: the screen guarantees this
    # check would find nothing there (tests hold the two together).
    screened: bool = False

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


# Reasons a check does not apply, shared by the modules that declare checks.


def needs_sql(context: Context) -> str | None:
    return None if context.sql is not None else "needs a database (--db)"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
