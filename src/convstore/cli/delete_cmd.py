"""convstore delete: conversations by id, or by age for retention; shown, confirmed, then done."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from convstore.cli.common import open_catalog, translated
from convstore.cli.completion import complete_conversation_id
from convstore.cli.options import (
    FILTER_PANEL,
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    DryRunOption,
    EventsDirOption,
    FileStoreOption,
    UserOption,
    VersionOption,
    YesOption,
)

EXAMPLES = """\
Examples:
  convstore delete 0f83cf799c8c5a129939996ab6ae6908
  convstore delete --older-than 90d --version V0 --dry-run
  convstore delete --older-than 180d --user alice --yes   # from cron
"""

IdsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Conversation ids.", show_default=False, autocompletion=complete_conversation_id
    ),
]
OlderThanOption = Annotated[
    str | None,
    typer.Option(
        help="Every conversation not updated for this long (90d, 12w).",
        rich_help_panel=FILTER_PANEL,
        show_default=False,
    ),
]
WithSubOption = Annotated[
    bool,
    typer.Option("--with-sub-conversations", help="Also delete the sub-conversations of a parent."),
]


def delete(
    conversation_ids: IdsArgument = None,
    older_than: OlderThanOption = None,
    version: VersionOption = None,
    user: UserOption = None,
    with_sub_conversations: WithSubOption = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Delete conversations: a V0 directory (metadata and events) or a SQL row."""
    from datetime import UTC, datetime

    from convstore.cli import render
    from convstore.errors import UsageError
    from convstore.stores.base import Query
    from convstore.times import parse_age

    if bool(conversation_ids) == (older_than is not None):
        raise UsageError("give conversation ids or --older-than, not both and not neither")
    if version is not None and older_than is None:
        raise UsageError("--version goes with --older-than")
    with open_catalog(file_store, db, config, connect_timeout, events_dir=events_dir) as catalog:
        if older_than is not None:
            cutoff = datetime.now(UTC) - parse_age(older_than)
            query = Query(user=user, version=version, updated_until=cutoff, sub_conversations=True)
            plans = catalog.plan_retention(query, with_sub_conversations)
            render.stores(catalog.locations)  # a retention job says what it looked at
        else:
            plans = catalog.plan_deletion(conversation_ids or [], user, with_sub_conversations)
        if not plans:
            render.err.print("nothing to delete")
            return
        if dry_run:
            render.removals(plans, render.out)
            render.err.print(f"would delete {len(plans)} conversation(s); nothing was changed")
            return
        render.removals(plans, render.err)
        if not yes:
            if not sys.stdin.isatty():
                raise UsageError("stdin is not a terminal: add --yes to delete without asking")
            try:
                confirmed = typer.confirm(f"Delete {len(plans)} conversation(s)?", err=True)
            except typer.Abort:
                raise KeyboardInterrupt from None
            if not confirmed:
                render.err.print("nothing was deleted")
                return
        catalog.delete(plans)
        render.err.print(f"deleted {len(plans)} conversation(s)")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(delete))
