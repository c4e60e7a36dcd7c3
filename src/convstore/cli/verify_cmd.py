"""convstore verify: every check over every store; findings grouped by check; safe repairs."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from convstore.cli.common import open_catalog, resolved_user, translated
from convstore.cli.options import (
    OUTPUT_PANEL,
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    DryRunOption,
    EventsDirOption,
    FailOnOption,
    FileStoreOption,
    UserOption,
)

EXAMPLES = """\
Examples:
  convstore verify                    # every store; exit status 1 on an error
  convstore verify --user alice --fail-on warning --format jsonl
  convstore verify --check files --skip files.negative-usage
  convstore verify --fix --dry-run    # list the repairs, change nothing
  convstore verify --fix              # repair what is safe, list each repair
  convstore verify --list-checks

Exit status: 0 when no finding is at or above --fail-on (repaired ones do not
count), 1 otherwise, 2 for a bad option or check id, 3 when a store cannot
be read.
"""

VerifyFormat = Literal["table", "json", "jsonl"]

CheckOption = Annotated[
    list[str] | None,
    typer.Option(
        "--check",
        metavar="ID",
        help="Run only this check, or group (files, sql, cross, events); repeatable.",
        show_default=False,
    ),
]
SkipOption = Annotated[
    list[str] | None,
    typer.Option(
        "--skip",
        metavar="ID",
        help="Do not run this check or group; repeatable.",
        show_default=False,
    ),
]
FixOption = Annotated[
    bool,
    typer.Option(
        "--fix",
        help="Repair what is safe (missing created_at from the file's mtime or "
        "last_updated_at, whichever is earlier; null pr_number; stale temporary files; ...), "
        "atomically; never deletes a conversation.",
    ),
]
ListChecksOption = Annotated[
    bool, typer.Option("--list-checks", help="List every check and exit.", show_default=False)
]
VerifyFormatOption = Annotated[
    VerifyFormat,
    typer.Option(
        "--format",
        help="table: grouped by check, with counts; json or jsonl: every finding.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def verify(
    check: CheckOption = None,
    skip: SkipOption = None,
    fail_on: FailOnOption = "error",
    fix: FixOption = False,
    dry_run: DryRunOption = False,
    list_checks: ListChecksOption = False,
    user: UserOption = None,
    output_format: VerifyFormatOption = "table",
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Check every store for what OpenHands cannot read or show, and say how to fix it."""
    from dataclasses import replace

    from convstore.cli import render
    from convstore.jobs import verify as job

    if list_checks:
        render.check_catalog(job.select_checks(check or (), skip or ()), output_format)
        return
    options = job.Options(
        user=user, include=tuple(check or ()), exclude=tuple(skip or ()), fix=fix, dry_run=dry_run
    )
    job.select_checks(options.include, options.exclude)  # a bad id fails before any store opens
    with open_catalog(file_store, db, config, connect_timeout, events_dir=events_dir) as catalog:
        options = replace(options, user=resolved_user(catalog, user))
        verification = job.Verification(catalog, options)
        tally = job.Tally()
        with render.verify_progress() as progress:
            render.findings(tally.count(verification.run(progress)), output_format)
        render.findings_end(output_format, tally, verification)
        render.stores(catalog.locations)
    if tally.failed(fail_on):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(verify))
