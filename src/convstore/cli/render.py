"""Every table, panel and machine format lives here, once.

stdout carries data only; ``stderr`` (``err``) carries hints, progress and errors.
Rich turns colour off by itself when NO_COLOR is set or the stream is not a terminal;
a table shows times relative on a terminal and ISO 8601 anywhere else.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console

from convstore.record_text import csv_cell, csv_row
from convstore.timestamps import format_timestamp

if TYPE_CHECKING:
    from convstore.events.locate import EventStats
    from convstore.jobs.stats import Report as StatsReport
    from convstore.jobs.stats import Row as StatsRow
    from convstore.model import ConversationMetadata
    from convstore.stores.deletion import Deletion


class _Stdout(Console):
    def on_broken_pipe(self) -> None:
        # Rich would exit 1 here ("problems found"): leave it to the one place that ends
        # every command whose stdout closed (cli.common.translated).
        raise BrokenPipeError


out = _Stdout(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
if not out.is_terminal:
    # A pipe has no width: never wrap a row into several lines for a script to untangle.
    out.width = 10_000

LIST_FORMATS = ("table", "json", "jsonl", "csv")
ONE_FORMATS = ("table", "json")

# C0, DEL and C1 control characters, shown as escapes: a title must not ring, clear or
# retitle a terminal, nor break a table row.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}


def safe(value: object) -> str:
    """Text from a store, fit for a Rich markup string or cell: control characters made
    visible and ``[`` escaped, so a title like ``[/x]`` is printed, not parsed."""
    from rich.markup import escape

    return escape(_visible(value))


def _visible(value: object) -> str:
    """Text from a store with its control characters made visible, for a Text cell."""
    return str(value).translate(_CONTROLS)


Emails = Callable[[Iterable[str]], dict[str, str]]


def records(
    items: Iterable[ConversationMetadata],
    fmt: str,
    optional: Sequence[str] = (),
    emails: Emails | None = None,
) -> int:
    """Write records in ``fmt``, streaming; returns how many were written.

    json, jsonl and csv give every field of ``OUTPUT_FIELDS``, always the same keys and
    columns in the same order, whatever stores are configured. ``optional`` names fields
    only some databases have (execution_status, org_id): the table, made for people,
    gets a column for each. ``emails`` (1.x enterprise) gives the table each owner's
    email, in a column beside the user.
    """
    target = sys.stdout
    if fmt == "json":
        return _json_array(items, target)
    if fmt == "jsonl":
        return _lines(items, target)
    if fmt == "csv":
        return _csv(items, target)
    return _table(items, optional, emails)


def _json_array(items: Iterable[ConversationMetadata], target: TextIO) -> int:
    count = 0
    target.write("[")
    for record in items:
        target.write(",\n" if count else "\n")
        target.write(record.output_text("json"))
        count += 1
    target.write("\n]\n" if count else "]\n")
    return count


def _lines(items: Iterable[ConversationMetadata], target: TextIO) -> int:
    count = 0
    for record in items:
        target.write(record.output_text("json") + "\n")
        count += 1
    return count


def _csv(items: Iterable[ConversationMetadata], target: TextIO) -> int:
    from convstore.fields import OUTPUT_FIELDS

    target.write(csv_row(OUTPUT_FIELDS))
    count = 0
    for record in items:
        target.write(record.output_text("csv"))
        count += 1
    return count


@dataclass(frozen=True)
class _Column:
    heading: str
    style: str | None = None
    widest: int | None = None  # never wider, even on a wide terminal
    narrowest: int | None = None  # None: never cut (its cells are short and say it all)


# The listing table, and the optional columns of fields only some databases have.
_COLUMNS = {
    "marker": _Column("", "red"),
    "id": _Column("id", "cyan"),
    "title": _Column("title", widest=60, narrowest=12),
    "user": _Column("user", widest=24, narrowest=8),
    "email": _Column("email", widest=32, narrowest=8),
    "repository": _Column("repository", widest=40, narrowest=10),
    "created": _Column("created"),
    "version": _Column("version"),
    "cost": _Column("cost"),
    "execution_status": _Column("status", widest=12),
    "org_id": _Column("org", widest=36, narrowest=8),
}
# On a narrow terminal, columns give way in two rounds. First those of ``CUT`` are cut,
# in that order, each down to its narrowest before the next; then those of ``LEAVE_OUT``
# are left out, in that order, until the rest fits with the title at its narrowest. Only
# then is the title cut further. The problem marker, id and cost always show, whole; a
# column that shows is never cut but for those of ``CUT``.
CUT = ("title", "repository", "email", "org_id", "user")
LEAVE_OUT = ("repository", "email", "org_id", "user", "created", "version", "execution_status")
# Between two columns: a table without a box pads each cell by one space on either side.
_GAP = 2


def _table(
    items: Iterable[ConversationMetadata], optional: Sequence[str], emails: Emails | None
) -> int:
    from rich.table import Table
    from rich.text import Text

    shown = list(items)
    rows = [_row(record, optional) for record in shown]
    if not rows:
        return 0
    found = {} if emails is None else emails({r.owner for r in shown if r.owner is not None})
    for record, row in zip(shown, rows, strict=True):
        row["email"] = _visible(found.get(record.owner or "", ""))
    marked = any(row["marker"] for row in rows)
    names = ["marker"] if marked else []  # no column of blanks to push every row right
    names += ["id", "title", "user", *(["email"] if found else []), "repository"]
    names += ["created", "version", "cost", *optional]
    widths = _fit(_natural_widths(names, rows), out.width)
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in widths:
        column = _COLUMNS[name]
        table.add_column(
            column.heading,
            style=column.style,
            no_wrap=True,
            overflow="ellipsis",
            width=widths[name],
        )
    for row in rows:
        table.add_row(*(Text(row[name]) for name in widths))
    out.print(table)
    if marked:
        err.print("[red]![/red] marks a conversation with problems: see `convstore show ID`")
    return len(rows)


def _row(record: ConversationMetadata, optional: Sequence[str]) -> dict[str, str]:
    """A conversation's cells, as plain text (control characters made visible)."""
    cost = record.known("accumulated_cost")
    cells = {
        "marker": "!" if record.problems else "",
        "id": record.short_id,
        "title": record.title or "",
        "user": record.user_id or "",
        "repository": record.selected_repository or "",
        "created": when(record.created_at),
        "version": record.version,
        "cost": "-" if cost is None else f"${cost:.2f}",
    }
    cells.update((name, str(getattr(record, name) or "")) for name in optional)
    return {name: _visible(text) for name, text in cells.items()}


def _natural_widths(names: list[str], rows: list[dict[str, str]]) -> dict[str, int]:
    """Each column as wide as its heading and widest cell, up to its ``widest``."""
    from rich.cells import cell_len

    widths = {}
    for name in names:
        column = _COLUMNS[name]
        width = max(cell_len(column.heading), *(cell_len(row[name]) for row in rows))
        widths[name] = width if column.widest is None else min(width, column.widest)
    return widths


def _fit(natural: dict[str, int], room: int) -> dict[str, int]:
    """The columns to show and their widths, within ``room`` (see ``CUT``)."""
    widths = dict(natural)
    excess = sum(widths.values()) + _GAP * (len(widths) - 1) - room
    for name in CUT:
        if excess > 0 and name in widths:
            cut = min(excess, max(0, widths[name] - (_COLUMNS[name].narrowest or 0)))
            widths[name] -= cut
            excess -= cut
    for name in LEAVE_OUT:
        if excess > 0 and name in widths:
            excess -= widths.pop(name) + _GAP
    if "title" in widths:
        # What leaving a column out freed beyond the excess goes back to the title.
        widths["title"] = max(1, min(natural["title"], widths["title"] - excess))
    return widths


def when(value: datetime | None) -> str:
    if value is None:
        return "-"
    if not out.is_terminal:
        return format_timestamp(value)
    return relative(value, datetime.now(UTC))


def relative(value: datetime, now: datetime) -> str:
    seconds = (now - value).total_seconds()
    suffix = "ago" if seconds >= 0 else "from now"
    seconds = abs(seconds)
    for unit, size in (
        ("year", 365 * 86400),
        ("month", 30 * 86400),
        ("day", 86400),
        ("hour", 3600),
        ("minute", 60),
    ):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count > 1 else ''} {suffix}"
    return "just now"


def one(
    record: ConversationMetadata,
    fmt: str,
    *,
    twin: ConversationMetadata | None = None,
    disk_usage: int | None = None,
    events: EventStats | None = None,
    email: str | None = None,
) -> None:
    """Every field of one conversation, where it lives, its twin, problems, size, events.

    JSON: the keys of ``list --format json``, then twin, size_on_disk and events (its
    directory: a path, or a prefix's URL in a bucket). The table leaves out the fields
    of other stores and generations the source lacks, and shows the owner's ``email``
    (1.x enterprise) beside user_id.
    """
    from convstore.fields import METADATA_JSON_FIELDS

    fields = record.output_fields()
    details: dict[str, Any] = {
        "twin": None
        if twin is None
        else f"{twin.version} {twin.conversation_id} ({twin.location})",
        "size_on_disk": disk_usage,
        "events": None
        if events is None
        else {
            "format": events.format,
            "directory": events.directory,
            "count": events.count,
            "bytes": events.bytes,
        },
    }
    if fmt == "json":
        sys.stdout.write(json.dumps({**fields, **details}, ensure_ascii=False) + "\n")
        return
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name, value in fields.items():
        if name in METADATA_JSON_FIELDS or name in record.source_fields or name in _PLACE:
            table.add_row(name, safe(_plain(value)))
        if name == "user_id" and email is not None:
            table.add_row("email", safe(email))
    for name, value in details.items():
        if name == "events" and events is not None:
            table.add_row(
                name,
                f"{events.count:,} {events.format.upper()} events, {events.bytes:,} bytes in "
                f"{safe(events.directory)}",
            )
        elif value is not None:
            table.add_row(name, f"{value:,} bytes" if name == "size_on_disk" else safe(value))
    if events is None:
        table.add_row("events", "none found")
    out.print(table)
    for problem in record.problems:
        out.print(f"[red]problem:[/red] {safe(problem)}", highlight=False)


_PLACE = ("store", "version", "location")


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def deletions(plans: list[Deletion]) -> None:
    """What a delete removes, a conversation per paragraph: the form OpenHands opens,
    then every form with what goes with it, then what keeps it (``blocked``, ``in use``).
    Data on stdout, the same in a dry run and in a real one."""
    from convstore.stores.deletion import describe_form

    for plan in plans:
        record = plan.record
        out.print(
            f"[bold]{safe(record.conversation_id)}[/bold] {record.version} "
            f"{safe(repr(record.title or '(no title)'))}",
            highlight=False,
        )
        for form in plan.forms:
            out.print(
                f"  {describe_form(form.record)} {safe(form.record.conversation_id)} "
                f"in {safe(form.record.location)}",
                highlight=False,
            )
            for place in form.places:  # "directory <path>", or each object of a bucket
                out.print(f"    remove {safe(place)}", highlight=False)
            for path in form.paths:
                out.print(f"    remove directory {safe(path)}", highlight=False)
            for row in form.rows:
                out.print(f"    delete {safe(row)}", highlight=False)
            for blocker in form.blockers:
                out.print(f"    [red]blocked:[/red] {safe(blocker)}", highlight=False)
        if plan.bytes_on_disk:
            out.print(f"  frees {plan.bytes_on_disk:,} bytes", highlight=False)
        for blocker in plan.blockers:
            out.print(f"  [red]blocked:[/red] {safe(blocker)}", highlight=False)
        if plan.blocked and len(plan.forms) > 1:
            out.print("  every form stays: a conversation goes whole or not at all")
        for number, sign in enumerate(plan.in_use, 1):
            hint = " (--force deletes it anyway)" if number == len(plan.in_use) else ""
            out.print(f"  [yellow]in use:[/yellow] {safe(sign)}{hint}", highlight=False)


def paged(items: Iterator[ConversationMetadata], size: int) -> Iterator[list[ConversationMetadata]]:
    page: list[ConversationMetadata] = []
    for record in items:
        page.append(record)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page


def migration(report: Any) -> None:
    """The summary of a migration (or its plan): a count per outcome, a few examples each."""
    verb = "plan" if report.dry_run else "result"
    out.print(f"[bold]migration {verb}[/bold]", highlight=False)
    for outcome, count in sorted(report.counts.items(), key=lambda item: -item[1]):
        out.print(f"  {outcome:18} {count:>8,}", highlight=False)
        for conversion in report.examples.get(outcome, []):
            target = f" -> {conversion.new_id}" if conversion.new_id else ""
            note = f"  ({conversion.warnings[0]})" if conversion.warnings else ""
            out.print(f"      {conversion.source.conversation_id}{target}{note}", highlight=False)
    if not report.counts:
        out.print("  no V0 conversations found", highlight=False)
    if report.sources:
        out.print(f"[bold]V0 sources[/bold] (--after {report.after})", highlight=False)
        for action, count in report.sources.most_common():
            out.print(f"  {action:18} {count:>8,}  {_went(action, report)}", highlight=False)
    if any(report.events.values()):
        done = "would be" if report.dry_run else "were"
        out.print(
            f"[bold]V0 events[/bold] ({report.event_files_written:,} V1 files {done} written)"
        )
        for fate, kinds in report.events.items():
            if kinds:
                listed = ", ".join(f"{kind} {count:,}" for kind, count in kinds.most_common())
                out.print(f"  {fate:11} {sum(kinds.values()):>8,}  ({listed})", highlight=False)
        if report.event_problems:
            out.print(f"  unreadable or inconsistent event files: {report.event_problems:,}")


def _went(action: str, report: Any) -> str:
    """Where the migrated sources that ``--after`` acted on went."""
    if action == "archived":
        return f"to {report.archive}/"
    if action == "removed":
        return "deleted"
    if action == "in use":
        return "left where they are, in use by OpenHands (see warnings): run again later"
    return "V0 rows, left in the table: --after archive moves only files"


def database(details: Any) -> None:
    """``convstore db info``: revision, optional tables and columns, indexes, row counts."""
    out.print(f"[bold]{details.location}[/bold] ({details.dialect})", highlight=False)
    out.print(f"  revision       {details.revision or 'unknown (no alembic_version)'}")
    for title, present in (
        ("tables", details.optional_tables),
        ("columns", details.revision_columns),
    ):
        listed = ", ".join(f"{name} {'yes' if there else 'no'}" for name, there in present.items())
        out.print(f"  {title:14} {listed}", highlight=False)
    out.print(f"  indexes        {', '.join(details.indexes) or 'none'}", highlight=False)
    rows = ", ".join(f"{version} {count:,}" for version, count in details.rows.items())
    out.print(f"  rows           {rows or 'none'}", highlight=False)
    title = "listing"
    for listing, index in details.listings.items():
        served = f"index {index}" if index is not None else _UNSERVED[listing.split()[0]]
        out.print(f"  {title:14} {listing}: {served}", highlight=False)
        title = ""
    if details.missing:
        err.print(
            "hint: `convstore db add-indexes` adds an index for each listing that has "
            f"none: {', '.join(details.missing)}",
            highlight=False,
        )


# What a listing costs without an index that serves it (``db info``).
_UNSERVED = {
    "--sort": "no index: every page sorts the whole table",
    "--user": "no index: a user with few conversations costs a pass over the table",
    "--org": "no index: an org with few conversations costs a pass over the table",
}


# verify: findings grouped by check, repairs as they happen, the catalog


SEVERITY_STYLES = {"error": "red", "warning": "yellow", "info": "blue"}
VERIFY_FORMATS = ("table", "json", "jsonl")


def findings(items: Iterable[Any], fmt: str, stream: TextIO | None = None) -> None:
    """Stream ``verify``'s findings: every one in json or jsonl, the repairs in a table.

    Call ``findings_end`` once the stream is exhausted (and any progress display closed):
    it prints what needs the whole run, read from the ``verify.Tally`` that counted it.
    """
    target = stream or sys.stdout
    if fmt == "jsonl":
        for finding in items:
            target.write(json.dumps(finding.as_dict(), ensure_ascii=False) + "\n")
    elif fmt == "json":
        target.write('{"findings": [')
        for count, finding in enumerate(items):
            target.write(",\n" if count else "\n")
            target.write(json.dumps(finding.as_dict(), ensure_ascii=False))
    else:
        for finding in items:
            if finding.outcome is not None:
                _repair_line(finding)


def findings_end(fmt: str, tally: Any, verification: Any, stream: TextIO | None = None) -> None:
    """The end of a verify report: the JSON summary, or the table grouped by check; and
    one summary line on stderr."""
    if fmt == "json":
        summary = json.dumps(tally.summary(verification), ensure_ascii=False)
        (stream or sys.stdout).write(f'\n], "summary": {summary}}}\n')
    elif fmt == "table":
        _findings_table(tally, verification)
    sys.stdout.flush()  # the report first: a closed stdout ends the command here
    _verify_summary(tally, verification)


def _repair_line(finding: Any) -> None:
    style = {"repaired": "green", "would repair": "cyan"}.get(finding.outcome, "red")
    note = f": {finding.note}" if finding.note else ""
    out.print(
        f"[{style}]{finding.outcome}[/{style}]  {finding.check}  "
        f"{finding.repair.description}{note}",
        highlight=False,
    )


def _findings_table(tally: Any, verification: Any) -> None:
    from rich.table import Table

    from convstore.jobs.checks.base import SEVERITIES

    if not tally.counts:
        return
    order = {check.id: index for index, check in enumerate(verification.active)}
    checks = sorted(
        tally.counts,
        key=lambda check: (-SEVERITIES.index(tally.severity[check]), order.get(check, 0)),
    )
    described = {check.id: check for check in verification.active}
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("severity", "check", "count", "fix", "what"):
        table.add_column(name, justify="right" if name == "count" else "left", overflow="fold")
    for check in checks:
        severity = tally.severity[check]
        style = SEVERITY_STYLES[severity]
        entry = described.get(check)
        table.add_row(
            f"[{style}]{severity}[/{style}]",
            check,
            f"{tally.counts[check]:,}",
            "yes" if entry is not None and entry.fixable else "",
            entry.description if entry is not None else "",
        )
    out.print(table)
    for check in checks:
        count = tally.counts[check]
        out.print(f"\n[bold]{check}[/bold]: {count:,}", highlight=False)
        for finding in tally.examples[check]:
            who = finding.conversation_id or "-"
            out.print(f"  [cyan]{who}[/cyan]  {finding.location}", highlight=False)
            out.print(f"    {finding.problem}", highlight=False)
            out.print(f"    [dim]fix:[/dim] {finding.remedy}", highlight=False)
            if finding.outcome is not None:
                note = f": {finding.note}" if finding.note else ""
                out.print(f"    [dim]{finding.outcome}{note}[/dim]", highlight=False)
        hidden = count - len(tally.examples[check])
        if hidden:
            out.print(
                f"  … and {hidden:,} more: convstore verify --check {check} --format jsonl",
                highlight=False,
            )


def _verify_summary(tally: Any, verification: Any) -> None:
    examined = ", ".join(f"{count:,} {stage}" for stage, count in verification.examined.items())
    found = ", ".join(
        f"{count:,} {severity}{'s' if count != 1 and severity != 'info' else ''}"
        for severity, count in tally.by_severity().items()
    )
    checks = len(verification.active)
    line = (
        f"verify: {found} from {checks} check{'' if checks == 1 else 's'} "
        f"over {examined or 'nothing'}"
    )
    if tally.outcomes:
        line += "; " + ", ".join(f"{count:,} {what}" for what, count in tally.outcomes.items())
    err.print(line, highlight=False)
    if verification.schema is not None:
        err.print(f"  database: {verification.schema.describe()}", highlight=False)
    by_reason: dict[str, list[str]] = {}
    for check, reason in verification.skipped:
        by_reason.setdefault(reason, []).append(check.id)
    for reason, ids in by_reason.items():
        err.print(f"  [dim]not run ({reason}): {_check_names(ids)}[/dim]", highlight=False)


def _check_names(ids: list[str]) -> str:
    """Check ids, a whole group written ``group.*``."""
    from convstore.jobs.verify import CATALOG

    names: list[str] = []
    for group in dict.fromkeys(name.split(".", 1)[0] for name in ids):
        members = [check.id for check in CATALOG if check.group == group]
        chosen = [name for name in ids if name.split(".", 1)[0] == group]
        names += [f"{group}.*"] if len(members) > 1 and chosen == members else chosen
    return ", ".join(names)


def check_catalog(checks: Iterable[Any], fmt: str) -> None:
    """``verify --list-checks``: every check's id, severity, whether --fix repairs it."""
    rows = [
        {
            "check": check.id,
            "severity": check.severity,
            "fixable": check.fixable,
            "description": check.description,
        }
        for check in checks
    ]
    if fmt in ("json", "jsonl"):
        if fmt == "json":
            sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        else:
            sys.stdout.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in ("check", "severity", "fix", "what"):
        table.add_column(name, overflow="fold")
    for row in rows:
        style = SEVERITY_STYLES[row["severity"]]
        table.add_row(
            row["check"],
            f"[{style}]{row['severity']}[/{style}]",
            "yes" if row["fixable"] else "",
            row["description"],
        )
    out.print(table)


@contextlib.contextmanager
def verify_progress() -> Iterator[Callable[[str, int], None] | None]:
    """A progress display on a terminal's stderr (None elsewhere: cron gets no bar)."""
    if not err.is_terminal:
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} examined"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def advance(stage: str, count: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=None)
            bar.advance(tasks[stage], count)

        yield advance


def stores(locations: Iterable[Any]) -> None:
    """Which stores a batch job read, and a default one it left out: one line on stderr
    (``stores.locations.Location``), so an empty result is never a silent one."""
    described = "; ".join(location.describe() for location in locations)
    if described:
        err.print(f"stores: {safe(described)}", highlight=False)


def warning(message: str) -> None:
    """``convstore: warning: ...`` on stderr: something a person should know; no failure."""
    err.print(f"convstore: warning: {safe(message)}", highlight=False)


# stats: groups and their figures, the totals, a chart of cost over time


def stats(report: StatsReport, fmt: str) -> None:
    """``convstore stats`` in ``fmt``: json, jsonl and csv in the shapes the README
    documents (every key always, null where unknown); a table and chart for people."""
    if fmt == "json":
        document = _stats_summary(report)
        document = {
            **{key: document[key] for key in ("by", "cost_by", "sort")},
            "groups": [_stats_group(report, row) for row in report.rows],
            **{
                key: value
                for key, value in document.items()
                if key not in ("by", "cost_by", "sort")
            },
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False) + "\n")
    elif fmt == "jsonl":
        for row in report.rows:
            sys.stdout.write(json.dumps(_stats_group(report, row), ensure_ascii=False) + "\n")
        sys.stdout.write(json.dumps(_stats_summary(report), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        _stats_csv(report)
    else:
        _stats_table(report)


def _stats_group(report: StatsReport, row: StatsRow) -> dict[str, Any]:
    group: dict[str, Any] = dict(zip(report.by, row.key, strict=True))
    if "user" in report.by:
        group["email"] = row.email
    return {**group, **_stats_figures(row.figures), "share": _share(row.share)}


def _stats_summary(report: StatsReport) -> dict[str, Any]:
    """Everything but the groups: the last line of jsonl, the rest of json."""
    return {
        "by": list(report.by),
        "cost_by": report.cost_by,
        "sort": report.sort,
        "totals": _stats_figures(report.totals),
        "groups_total": len(report.every),
        "folded": {"twins": report.twins, "shadowed": report.shadowed},
        "not_counted": {"unreadable": report.unreadable, "values": report.left_out},
        "notes": report.notes,
    }


def _stats_figures(figures: Any, money: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """The figures of ``STATS_FIGURES``, money as JSON numbers (``money``: otherwise)."""
    from convstore.fields import STATS_TOKEN_FIGURES

    dollars = money or _json_money
    return {
        "conversations": figures.conversations,
        "cost": dollars(figures.known_dollars),
        "mean_cost": dollars(figures.mean_dollars),
        **dict(zip(STATS_TOKEN_FIGURES, figures.tokens, strict=True)),
        "prs": figures.prs,
        "first": None if figures.first is None else format_timestamp(figures.first),
        "last": None if figures.last is None else format_timestamp(figures.last),
    }


def _json_money(amount: Any) -> float | None:
    # Exact to the nanodollar below a million dollars: a decimal of at most 15
    # significant digits is the shortest form (what json writes) of its nearest double.
    # Above that the last digit may be off; CSV gives the exact decimal always.
    return None if amount is None else float(amount)


def _text_money(amount: Any) -> str | None:
    """An exact amount as plain decimal text (CSV): 12.5, 0, 1200."""
    return None if amount is None else format(amount.normalize(), "f")


def _share(share: Any) -> float | None:
    return None if share is None else round(float(share), 6)


def _stats_csv(report: StatsReport) -> None:
    from convstore.fields import STATS_FIGURES

    email = ["email"] if "user" in report.by else []
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["row", *report.by, *email, *STATS_FIGURES, "share"])
    for row in report.rows:
        values = _stats_figures(row.figures, _text_money)
        cells = [*row.key, *([row.email] if email else []), *values.values(), _share(row.share)]
        writer.writerow(["group", *(csv_cell(value) for value in cells)])
    totals = _stats_figures(report.totals, _text_money)
    blanks = [""] * (len(report.by) + len(email))
    writer.writerow(["total", *blanks, *(csv_cell(value) for value in totals.values()), ""])


# Table headings of the figures, and whether a column of them may be left out when no
# group has a value (the store lacks the field).
_STATS_HEADINGS = {
    "conversations": "conversations",
    "cost": "cost",
    "mean_cost": "mean",
    "prompt_tokens": "prompt",
    "completion_tokens": "completion",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
    "reasoning_tokens": "reasoning",
    "prs": "PRs",
    "first": "first",
    "last": "last",
}
_OPTIONAL_FIGURES = (
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "prs",
)
_BAR_WIDTH = 10
_EIGHTHS = " ▏▎▍▌▋▊▉█"
_LEVELS = " ▁▂▃▄▅▆▇█"
_CHART_HEIGHT = 6


def _stats_table(report: StatsReport) -> None:
    from rich.table import Table
    from rich.text import Text

    if not report.every:
        err.print("no conversations match", highlight=False)
        _stats_notes(report)
        return
    if report.dated and out.is_terminal:
        _cost_chart(report)
    cells = [
        _stats_cells(report, row.key, row.email, row.figures, row.share) for row in report.rows
    ]
    total = _stats_cells(report, ("total", *[""] * (len(report.by) - 1)), "", report.totals, None)
    names = [*report.by]
    if any(row.email for row in report.rows):
        names.append("email")
    names += [
        name for name in _STATS_HEADINGS if name not in _OPTIONAL_FIGURES or total[name] != "-"
    ]
    names.append("share")
    table = Table(box=None, header_style="bold", pad_edge=False)
    for name in names:
        numeric = name in _STATS_HEADINGS and name not in ("first", "last")
        table.add_column(
            _STATS_HEADINGS.get(name, name),
            justify="right" if numeric else "left",
            no_wrap=name != "email" and name not in report.by,
            overflow="ellipsis",
        )
    for number, row in enumerate(cells, start=1):
        table.add_row(*(Text(row[name]) for name in names), end_section=number == len(cells))
    table.add_row(*(Text(total[name]) for name in names), style="bold")
    out.print(table)
    _stats_notes(report)


def _stats_cells(
    report: StatsReport, key: tuple[Any, ...], email: str | None, figures: Any, share: Any
) -> dict[str, str]:
    values = _stats_figures(figures, lambda amount: amount)
    cells = {
        name: "-" if value is None else _visible(value)
        for name, value in zip(report.by, key, strict=True)
    }
    cells["email"] = _visible(email or "")
    for name, value in values.items():
        if value is None:
            cells[name] = "-"
        elif name in ("cost", "mean_cost"):
            cells[name] = _dollars(value)
        elif name in ("first", "last"):
            cells[name] = value[:10]
        else:
            cells[name] = f"{value:,}"
    cells["share"] = "" if share is None else _bar(share)
    return cells


def _dollars(amount: Any) -> str:
    """Money for people: to the cent, half up (the one place it is rounded)."""
    from decimal import ROUND_HALF_UP, Decimal

    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"-${-cents:,}" if cents < 0 else f"${cents:,}"


def _bar(share: Any) -> str:
    """A share as a bar of eighths of a cell, and a percentage."""
    fraction = min(max(float(share), 0.0), 1.0)
    eighths = round(fraction * _BAR_WIDTH * 8)
    bar = "█" * (eighths // 8) + (_EIGHTHS[eighths % 8] if eighths % 8 else "")
    return f"{bar:<{_BAR_WIDTH}} {float(share) * 100:5.1f}%"


def _cost_chart(report: StatsReport) -> None:
    """Cost per period of the first time grouping, as columns of blocks (a terminal's)."""
    timeline = [(period, cost) for period, cost in report.timeline() if period is not None]
    highest = max((cost for _, cost in timeline), default=0)
    if len(timeline) < 2 or highest <= 0:
        return
    label = _dollars(highest)
    room = max(1, out.width - len(label) - 3)
    timeline = timeline[-room:]  # the most recent periods that fit
    width = max(1, min(3, room // len(timeline)))
    levels = [max(0.0, float(cost / highest)) * _CHART_HEIGHT * 8 for _, cost in timeline]
    dimension = next(name for name in report.by if name in _TIME)
    out.print(f"[bold]cost per {dimension}[/bold]", highlight=False)
    for line in range(_CHART_HEIGHT, 0, -1):
        axis = label if line == _CHART_HEIGHT else ("$0" if line == 1 else "")
        bars = ""
        for level in levels:
            filled = level - (line - 1) * 8
            cell = "█" if filled >= 8 else _LEVELS[max(0, round(filled))] if filled > 0 else " "
            bars += cell * width
        out.print(f"{axis:>{len(label)}} │{bars}", highlight=False)
    first, last = timeline[0][0] or "", timeline[-1][0] or ""
    span = len(timeline) * width
    gap = max(1, span - len(first) - len(last))
    out.print(f"{'':>{len(label)}}  {first}{' ' * gap}{last}\n", highlight=False)


_TIME = ("day", "week", "month", "year")


def _stats_notes(report: StatsReport) -> None:
    """What a person must know to read the figures: groups left out, conversations
    counted once, values that could not be counted."""
    lines = []
    if len(report.rows) < len(report.every):
        lines.append(
            f"{len(report.rows)} of {len(report.every)} groups shown (--top); the totals are of all"
        )
    if report.cost_by == "incurred":
        lines.append("cost in the period it was incurred in (conversation_cost_events)")
    if report.twins:
        lines.append(f"{report.twins:,} V0 conversation(s) counted once, as the V1 row each became")
    if report.shadowed:
        lines.append(
            f"{report.shadowed:,} V0 row(s) counted once, as the V0 file of the same id "
            "(OpenHands reads the file first)"
        )
    if report.unreadable:
        lines.append(
            f"not counted: {report.unreadable:,} conversation(s) whose metadata could not be "
            "read (`convstore verify` says why)"
        )
    for name, counts in report.left_out.items():
        described = ", ".join(f"{count:,} {why}" for why, count in counts.items())
        lines.append(f"left out: {name} of {described}")
    for line in lines:
        out.print(f"[dim]{safe(line)}[/dim]", highlight=False)
