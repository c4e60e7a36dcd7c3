"""``verify``: a catalog of checks run over every store, as one stream of findings.

Each check (``convstore.jobs.checks``) inspects one kind of subject. The runner walks
each store once, in batches: the V0 file store (``sessions/``, then the per-user event
directories), the SQL table in keyset chunks, then the V1 event directories. Per
batch it looks up in SQL, with one query, every id the batch's cross-store checks
need, runs every selected check on every subject, carries out the repairs (``--fix``)
and yields the findings. Memory holds one batch, whatever the size of the stores.

Usage from Python::

    verification = Verification(catalog, Options(user="alice", fix=True))
    tally = Tally()
    for finding in tally.count(verification.run()):
        print(finding.check, finding.problem, finding.outcome)
    failed = tally.failed("error")
"""

from __future__ import annotations

import difflib
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from convstore.errors import UsageError
from convstore.jobs.checks import events, files, leftovers, rows, schema, twins
from convstore.jobs.checks.base import (
    SEVERITIES,
    Check,
    Context,
    Finding,
    Severity,
    at_least,
)
from convstore.jobs.checks.lookup import Known, lookup
from convstore.jobs.checks.repairs import Fixer
from convstore.jobs.checks.schema import Schema, read_schema
from convstore.stores.catalog import Catalog

__all__ = [
    "CATALOG",
    "Check",
    "Finding",
    "Options",
    "Severity",
    "Tally",
    "Verification",
    "select_checks",
]

# The catalog, in the order a report lists it: files, then SQL, then across, then events.
CATALOG: tuple[Check[Any], ...] = (
    *files.CHECKS,
    *leftovers.CHECKS,
    *rows.CHECKS,
    *schema.CHECKS,
    *twins.CHECKS,
    *events.V0_CHECKS,
    *events.V1_CHECKS,
)
GROUPS = tuple(dict.fromkeys(check.group for check in CATALOG))
BATCH = 500

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Options:
    user: str | None = None  # scope: only this user's conversations, read or reported
    include: tuple[str, ...] = ()  # check ids or groups (files, sql, cross, events); () = all
    exclude: tuple[str, ...] = ()
    fix: bool = False
    dry_run: bool = False  # with fix: list the repairs, change nothing
    stale_after: float = leftovers.STALE_AFTER
    batch_size: int = BATCH


def select_checks(include: Iterable[str] = (), exclude: Iterable[str] = ()) -> list[Check[Any]]:
    """The checks ``--check`` and ``--skip`` name (ids or group names), in catalog order."""
    wanted, unwanted = list(include), list(exclude)
    for name in (*wanted, *unwanted):
        if name not in GROUPS and not any(check.id == name for check in CATALOG):
            names = [check.id for check in CATALOG] + list(GROUPS)
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise UsageError(
                f"unknown check {name!r}{hint} (`convstore verify --list-checks` lists them)"
            )

    def named(check: Check[Any], names: list[str]) -> bool:
        return check.id in names or check.group in names

    return [
        check
        for check in CATALOG
        if (not wanted or named(check, wanted)) and not named(check, unwanted)
    ]


class Verification:
    """One run of the selected checks over a catalog's stores."""

    def __init__(self, catalog: Catalog, options: Options | None = None) -> None:
        options = options or Options()
        if options.dry_run and not options.fix:
            raise UsageError("--dry-run goes with --fix: verify itself never changes anything")
        if options.batch_size < 1:
            raise UsageError("the batch size must be at least 1")
        self.catalog = catalog
        self.options = options
        self.context = Context(
            user=options.user,
            now=time.time(),
            stale_after=options.stale_after,
            files=catalog.files,
            sql=catalog.sql,
            schema=read_schema(catalog.sql) if catalog.sql is not None else None,
            events_root=catalog.events_root,
            events_bucket=catalog.events_bucket,
        )
        self.active: list[Check[Any]] = []
        self.skipped: list[tuple[Check[Any], str]] = []
        for check in select_checks(options.include, options.exclude):
            reason = check.applies(self.context)
            if reason is None:
                self.active.append(check)
            else:
                self.skipped.append((check, reason))
        self.examined: Counter[str] = Counter()
        self._by_subject: dict[type, list[Check[Any]]] = {}
        self._unscreened: dict[type, list[Check[Any]]] = {}
        for check in self.active:
            self._by_subject.setdefault(check.subject, []).append(check)
            if not check.screened:
                self._unscreened.setdefault(check.subject, []).append(check)
        self._lookup_subjects = {check.subject for check in self.active if check.lookup}

    @property
    def schema(self) -> Schema | None:
        return self.context.schema

    def run(self, progress: Progress | None = None) -> Iterator[Finding]:
        """Every finding, a batch at a time; with ``fix``, each after its repair."""
        fixer = (
            Fixer(
                self.catalog.sql,
                stale_after=self.options.stale_after,
                dry_run=self.options.dry_run,
                files=self.catalog.files,
            )
            if self.options.fix
            else None
        )
        for stage, counted, subjects in self._sources():
            iterator = iter(subjects)
            while batch := list(itertools.islice(iterator, self.options.batch_size)):
                yield from self._inspect(batch, fixer)
                done = sum(1 for subject in batch if isinstance(subject, counted))
                if done:
                    self.examined[stage] += done
                if progress is not None and done:
                    progress(stage, done)

    def _sources(self) -> Iterator[tuple[str, type | tuple[type, ...], Iterable[Any]]]:
        context, wants = self.context, self._wants
        if context.schema is not None and wants(Schema):
            yield "SQL schema", (), [context.schema]  # counted as no conversation
        store = self.catalog.files
        if store is not None:
            if wants(files.FileItem, leftovers.Leftover, twins.V0View, events.V0EventsDir):
                views = self._wants(twins.V0View)
                scanned = files.scan(store, context, views=views)
                yield "V0 files", (files.FileItem, events.V0EventsDir), scanned
            if wants(events.V0EventsDir, leftovers.Leftover):
                scan = (
                    events.scan_v0_users(store.directory, context)
                    if store.directory is not None
                    else events.scan_v0_user_objects(store.objects, context)
                )
                yield "V0 user directories", events.V0EventsDir, scan
        if context.sql is not None and wants(rows.Row, twins.V0View):
            yield "SQL rows", rows.Row, rows.scan(context.sql, context)
        if wants(events.V1EventsDir, leftovers.Leftover):
            yield "V1 event directories", events.V1EventsDir, events.scan_v1(context)

    def _wants(self, *subjects: type) -> bool:
        return any(subject in self._by_subject for subject in subjects)

    def _inspect(self, batch: list[Any], fixer: Fixer | None) -> list[Finding]:
        context = self.context
        if context.sql is not None and self._lookup_subjects:
            ids = [
                identifier
                for subject in batch
                if type(subject) in self._lookup_subjects
                for identifier in subject.lookup_ids()
            ]
            context.known = lookup(context.sql, ids) if ids else Known({})
        found: list[Finding] = []
        for subject in batch:
            kind = type(subject)
            screened = getattr(subject, "healthy", False)
            for check in (self._unscreened if screened else self._by_subject).get(kind, ()):
                for issue in check.inspect(subject, context):
                    found.append(
                        Finding(
                            check=check.id,
                            severity=issue.severity or check.severity,
                            conversation_id=issue.conversation_id
                            or getattr(subject, "conversation_id", None),
                            location=issue.location or subject.location,
                            problem=issue.problem,
                            remedy=issue.remedy,
                            repair=issue.repair,
                        )
                    )
        return fixer.apply(found) if fixer is not None and found else found


@dataclass
class Tally:
    """Counts of a run's findings, by check and severity, and the first few of each check.

    What a report needs at the end of a stream, in memory bounded by the catalog.
    """

    examples_per_check: int = 5
    counts: Counter[str] = field(default_factory=Counter)
    severity: dict[str, Severity] = field(default_factory=dict)  # the gravest seen, by check
    examples: dict[str, list[Finding]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    open: Counter[str] = field(default_factory=Counter)  # not repaired, by severity

    def add(self, finding: Finding) -> None:
        check = finding.check
        self.counts[check] += 1
        seen = self.severity.get(check)
        if seen is None or at_least(finding.severity, seen):
            self.severity[check] = finding.severity
        examples = self.examples.setdefault(check, [])
        if len(examples) < self.examples_per_check:
            examples.append(finding)
        if finding.outcome is not None:
            self.outcomes[finding.outcome] += 1
        if not finding.settled:
            self.open[finding.severity] += 1

    def count(self, findings: Iterable[Finding]) -> Iterator[Finding]:
        """Pass ``findings`` through, counting each."""
        for finding in findings:
            self.add(finding)
            yield finding

    def failed(self, threshold: Severity) -> bool:
        """True when a finding at or above ``threshold`` was not repaired (exit status 1)."""
        return any(self.open[name] for name in SEVERITIES if at_least(name, threshold))

    def by_severity(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for check, count in self.counts.items():
            totals[self.severity[check]] += count
        return {name: totals[name] for name in reversed(SEVERITIES)}

    def summary(self, verification: Verification) -> dict[str, Any]:
        """The end of a report, as data: what was examined, counted, repaired and skipped."""
        return {
            "schema": None if verification.schema is None else verification.schema.as_dict(),
            "examined": dict(verification.examined),
            "findings": self.by_severity(),
            "checks": {
                check: {"severity": self.severity[check], "count": count}
                for check, count in self.counts.items()
            },
            "repairs": dict(self.outcomes),
            "not_applicable": [
                {"check": check.id, "reason": reason} for check, reason in verification.skipped
            ],
        }
