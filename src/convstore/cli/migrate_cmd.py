"""convstore migrate-v0-to-v1: every V0 conversation becomes a V1 row OpenHands 1.x loads."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any, Literal

import typer

from convstore.cli.common import resolve_settings, translated
from convstore.cli.options import (
    ACTIVE_WITHIN,
    OUTPUT_PANEL,
    UNCHECKED_PATH,
    ActiveWithinOption,
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    DryRunOption,
    EventsDirOption,
    FileStoreOption,
)

if TYPE_CHECKING:
    from convstore.config import Settings
    from convstore.jobs.migrate import Report
    from convstore.jobs.v0_to_v1 import Conversion

EXAMPLES = """\
Examples:
  convstore migrate-v0-to-v1 --dry-run
  convstore migrate-v0-to-v1 --db ~/.openhands/openhands.db --report log.json
  convstore migrate-v0-to-v1 --db postgresql://db/openhands --after archive
"""

MIGRATION_PANEL = "Migration"


def migrate(
    create_table: Annotated[
        bool,
        typer.Option(
            "--create-table",
            help="Create an OpenHands-shaped table in a database that has none.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = False,
    non_uuid: Annotated[
        Literal["skip", "remap"],
        typer.Option(
            "--non-uuid",
            help="A V0 id that is not a UUID: skip it, or remap it to a uuid5 of the old id.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = "skip",
    default_user: Annotated[
        str,
        typer.Option(
            "--default-user",
            help="user_id of conversations that have none.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = "",
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            help="Org of migrated conversations (1.x enterprise); default: the user's.",
            rich_help_panel=MIGRATION_PANEL,
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Conversations per transaction; default: from 500, grown up to 10,000 "
            "so that a transaction commits about once a second.",
            rich_help_panel=MIGRATION_PANEL,
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a V1 row that differs from the conversion.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = False,
    after: Annotated[
        Literal["keep", "archive", "remove"],
        typer.Option(
            "--after",
            help="After its V1 row is read back (in this run or an earlier one): keep the "
            "V0 source, archive its directory to sessions-migrated/, or remove it; a source "
            "in use (see --active-within) is kept, with a warning.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = "keep",
    active_within: ActiveWithinOption = ACTIVE_WITHIN,
    no_events: Annotated[
        bool,
        typer.Option(
            "--no-events",
            help="Migrate metadata only; leave the V0 events unconverted.",
            rich_help_panel=MIGRATION_PANEL,
        ),
    ] = False,
    dry_run: DryRunOption = False,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Write a JSON report: per conversation old id, new id, outcome, warnings, "
            "and what --after did to its source and where it is now.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
            **UNCHECKED_PATH,
        ),
    ] = None,
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Migrate V0 conversations (files and SaaS rows) to V1 rows, in resumable batches."""
    from convstore.cli import render
    from convstore.cli.progress import progress
    from convstore.fsutil import check_output
    from convstore.jobs import migrate as job
    from convstore.stores.activity import Guard
    from convstore.stores.catalog import open_catalog
    from convstore.times import parse_age

    if report_file is not None:
        check_output(report_file, directory=False)
    guard = Guard(within=parse_age(active_within))
    settings = resolve_settings(file_store, db, config, connect_timeout, events_dir)
    options = job.Options(
        events_root=None if no_events else settings.events_root,
        default_user=default_user,
        non_uuid=non_uuid,
        batch_size=batch_size,
        overwrite=overwrite,
        dry_run=dry_run,
        after=after,
        org=org,
        guard=guard,
    )
    # A dry run that may need an empty table to plan against keeps it here, then drops it.
    with tempfile.TemporaryDirectory(prefix="convstore-plan-") as scratch:
        if create_table:
            settings = _with_table(settings, dry_run, Path(scratch))
        with (
            open_catalog(settings, events="none" if no_events else "write") as catalog,
            _ReportFile(report_file) as report_writer,
            progress("planning" if dry_run else "migrating", job.count_sources(catalog)) as bar,
        ):

            def listener(conversion: Conversion, outcome: str) -> None:
                bar.advance()
                report_writer.add(conversion, outcome)

            report = job.run(catalog, options, listener)
            report_writer.finish(report)
            locations = catalog.locations
    render.migration(report)
    render.stores(locations)
    if not report.clean:
        raise typer.Exit(1)


def _with_table(settings: Settings, dry_run: bool, scratch: Path) -> Settings:
    """--create-table: create the table; in a dry run, plan against an empty one instead."""
    from dataclasses import replace

    from convstore.cli import render
    from convstore.config import Setting, masked
    from convstore.errors import UsageError
    from convstore.jobs.create_table import create_conversation_table, has_conversation_table

    if settings.db is None:
        raise UsageError("--create-table needs --db")
    timeout = settings.connect_seconds
    if not dry_run:
        created = create_conversation_table(settings.db.value, timeout)
        if created:
            render.err.print(f"created table conversation_metadata in {created}", highlight=False)
        return settings
    if has_conversation_table(settings.db.value, timeout):
        return settings
    empty = scratch / "plan.db"
    create_conversation_table(str(empty), timeout)
    where = masked(settings.db.value)
    render.err.print(
        f"{where} has no conversation_metadata table yet: planning against an "
        "empty one (--dry-run creates nothing)",
        highlight=False,
    )
    return replace(
        settings, db=Setting(str(empty), f"dry run: an empty stand-in for {where}", True)
    )


class _ReportFile:
    """The --report JSON, streamed: one entry per conversation, the summary last."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stream: IO[str] | None = None
        self.count = 0

    def __enter__(self) -> _ReportFile:
        if self.path is not None:
            from convstore.fsutil import cannot_write

            try:
                self.stream = self.path.open("w", encoding="utf-8")
            except OSError as error:
                raise cannot_write(self.path, error) from error
            self.stream.write('{"conversations": [')
        return self

    def add(self, conversion: Conversion, outcome: str) -> None:
        if self.stream is None:
            return
        fate = conversion.source_fate
        entry: dict[str, Any] = {
            "old_id": conversion.source.conversation_id,
            "source": conversion.source.location,
            "new_id": conversion.new_id,
            "outcome": outcome,
            # What --after did to the source, and where it is now (null once removed).
            "source_after": "kept" if fate is None else fate.action,
            "source_now": conversion.source.location if fate is None else fate.path,
            "warnings": conversion.warnings,
        }
        if conversion.events is not None:
            entry["events"] = {
                "converted": dict(conversion.events.converted),
                "summarized": dict(conversion.events.summarized),
                "skipped": dict(conversion.events.skipped),
                "files_written": conversion.events.written,
            }
        self.stream.write(
            ("," if self.count else "") + "\n  " + json.dumps(entry, ensure_ascii=False)
        )
        self.count += 1

    def finish(self, report: Report) -> None:
        if self.stream is not None:
            summary = {
                "dry_run": report.dry_run,
                "counts": dict(report.counts),
                "clean": report.clean,
                "sources": dict(report.sources),
                "archive": report.archive,
            }
            self.stream.write(f'\n], "summary": {json.dumps(summary)}}}\n')

    def __exit__(self, *exc_info: object) -> None:
        if self.stream is not None:
            self.stream.close()


def register(app: typer.Typer) -> None:
    app.command("migrate-v0-to-v1", epilog=EXAMPLES)(translated(migrate))
