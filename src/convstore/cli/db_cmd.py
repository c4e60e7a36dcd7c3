"""convstore db: what a conversation database is, and the listing indexes on request."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from convstore.cli.common import resolve_settings, translated
from convstore.cli.options import (
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    DryRunOption,
    OneFormatOption,
)

if TYPE_CHECKING:
    from convstore.stores.sql import SqlStore

EXAMPLES = """\
Examples:
  convstore db info --db ~/.openhands/openhands.db
  convstore db add-indexes --dry-run --db postgresql://openhands@db/openhands
"""

group = typer.Typer(
    help="The conversation database: its OpenHands revision, tables and indexes.",
    epilog=EXAMPLES,
    no_args_is_help=True,
)


@contextmanager
def _sql_store(
    db: str | None, config: Path | None, connect_timeout: float | None
) -> Iterator[SqlStore]:
    from dataclasses import replace

    from convstore.stores.catalog import open_catalog

    settings = resolve_settings(None, db, config, connect_timeout)
    # Only the database: a missing or odd file store is no concern of these commands,
    # and a missing database is named with the one option that gives it.
    with open_catalog(replace(settings, file_store=None, events_dir=None)) as catalog:
        assert catalog.sql is not None, "a catalog without files holds the database"
        yield catalog.sql


def info(
    output_format: OneFormatOption = "table",
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
) -> None:
    """Show the OpenHands revision, tables, columns, indexes, and what serves each listing."""
    from convstore.cli import render
    from convstore.stores.database_info import describe

    with _sql_store(db, config, connect_timeout) as store:
        details = describe(store)
    if output_format == "json":
        typer.echo(json.dumps(asdict(details)))
        return
    render.database(details)


def add_indexes(
    dry_run: DryRunOption = False,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
) -> None:
    """Add an index for each listing that has none (a sort, --user, --org)."""
    from convstore.cli import render
    from convstore.stores.database_info import add_listing_indexes

    with _sql_store(db, config, connect_timeout) as store:
        statements = add_listing_indexes(store, dry_run=dry_run)
    for statement in statements:
        typer.echo(statement + ";")
    if not statements:
        render.err.print("every listing has an index already")
    elif dry_run:
        render.err.print("nothing was changed (--dry-run)")


def register(app: typer.Typer) -> None:
    group.command("info", epilog="Example:\n  convstore db info --db ~/.openhands/openhands.db")(
        translated(info)
    )
    group.command(
        "add-indexes",
        epilog="Example:\n  convstore db add-indexes --db postgresql://openhands@db/openhands",
    )(translated(add_indexes))
    app.add_typer(group, name="db")
