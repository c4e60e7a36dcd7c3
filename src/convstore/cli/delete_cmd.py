"""convstore delete: conversations by id, or by age for retention; shown, confirmed, then done."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from convstore.cli.common import open_catalog, resolved_user, translated
from convstore.cli.completion import complete_conversation_id
from convstore.cli.options import (
    ACTIVE_WITHIN,
    FILTER_PANEL,
    ActiveWithinOption,
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

if TYPE_CHECKING:
    from convstore.stores.deletion import Deletion

EXAMPLES = """\
Examples:
  convstore delete 0f83cf799c8c5a129939996ab6ae6908
  convstore delete 0f83cf79 --dry-run     # the first 8 digits, as list shows
  convstore delete --older-than 90d --version V0 --dry-run
  convstore delete --older-than 180d --user alice --yes   # from cron

The plan goes to stdout, the same in a dry run and a real one: a paragraph
per conversation, with every form of it. Counts and the prompt: stderr.
A conversation that is blocked (a sub-conversation would remain, a form
cannot be removed) or in use (running, or changed within --active-within)
stays; the others are deleted. Exit status: 0 all deleted; 1 some blocked,
or the confirmation declined; 5 none blocked but some in use (a later run
takes them). --dry-run exits as the run would.
"""

IdsArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Conversation ids: any spelling, or a prefix of 8 or more hex digits.",
        show_default=False,
        autocompletion=complete_conversation_id,
    ),
]
OlderThanOption = Annotated[
    str | None,
    typer.Option(
        help="Every conversation not updated for this long (90d, 12w), by its newest form.",
        rich_help_panel=FILTER_PANEL,
        show_default=False,
    ),
]
WithSubOption = Annotated[
    bool,
    typer.Option("--with-sub-conversations", help="Also delete the sub-conversations of a parent."),
]
ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Delete conversations that are in use too (see --active-within)."),
]


def delete(
    conversation_ids: IdsArgument = None,
    older_than: OlderThanOption = None,
    version: VersionOption = None,
    user: UserOption = None,
    with_sub_conversations: WithSubOption = False,
    active_within: ActiveWithinOption = ACTIVE_WITHIN,
    force: ForceOption = False,
    yes: YesOption = False,
    dry_run: DryRunOption = False,
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Delete conversations: every form of each (V1 row, V0 directory, V0 row)."""
    from datetime import UTC, datetime

    from convstore.cli import render
    from convstore.errors import UsageError
    from convstore.stores.activity import Guard
    from convstore.stores.deletion import Outcome, exit_status
    from convstore.times import parse_age

    if bool(conversation_ids) == (older_than is not None):
        raise UsageError("give conversation ids or --older-than, not both and not neither")
    if version is not None and older_than is None:
        raise UsageError("--version goes with --older-than")
    guard = Guard(within=parse_age(active_within), force=force)
    with open_catalog(file_store, db, config, connect_timeout, events_dir=events_dir) as catalog:
        user = resolved_user(catalog, user)
        if older_than is not None:
            cutoff = datetime.now(UTC) - parse_age(older_than)
            plan = catalog.plan_retention(
                cutoff, user=user, version=version, with_sub=with_sub_conversations, guard=guard
            )
            render.stores(catalog.locations)  # a retention job says what it looked at
        else:
            plan = catalog.plan_deletion(
                conversation_ids or [], user, with_sub_conversations, guard
            )
        if plan.left_alone:
            render.err.print(
                f"left {plan.left_alone} conversation(s) alone: another form of each "
                "(a V1 twin, or its V0 source) is newer, or of the other version",
                highlight=False,
            )
        if not plan.deletions:
            render.err.print("nothing to delete")
            return
        render.deletions(plan.deletions)
        ready = plan.ready
        if dry_run or not ready:
            verb = "would delete" if dry_run else "deleted"
            render.err.print(
                f"{verb} {len(ready)} conversation(s){_refusals(plan.blocked, plan.in_use)}"
                + ("; nothing was changed (--dry-run)" if dry_run else ""),
                highlight=False,
            )
            raise typer.Exit(exit_status(bool(plan.blocked), bool(plan.in_use)))
        if not yes:
            _confirm(len(ready))
        outcome = Outcome()
        try:
            catalog.delete(plan, guard, outcome)
        finally:
            render.err.print(
                f"deleted {len(outcome.deleted)} conversation(s)"
                f"{_refusals(outcome.blocked, outcome.in_use)}",
                highlight=False,
            )
            # Refused only now (changed meanwhile): the plan above showed them ready.
            shown_ready = {id(deletion) for deletion in ready}
            for deletion in outcome.in_use:
                if id(deletion) in shown_ready:
                    render.err.print(
                        f"convstore: not deleted {render.safe(deletion.record.conversation_id)}: "
                        f"{render.safe('; '.join(deletion.in_use))}",
                        highlight=False,
                    )
    raise typer.Exit(exit_status(bool(outcome.blocked), bool(outcome.in_use)))


def _refusals(blocked: list[Deletion], in_use: list[Deletion]) -> str:
    """The end of a summary line: '; not deleted: 2 blocked, 1 in use', or nothing."""
    parts = [f"{len(blocked)} blocked"] if blocked else []
    if in_use:
        parts.append(f"{len(in_use)} in use")
    return f"; not deleted: {', '.join(parts)}" if parts else ""


def _confirm(count: int) -> None:
    """Ask on the terminal; declining ends the command with status 1, changing nothing."""
    from convstore.cli import render
    from convstore.errors import UsageError

    if not sys.stdin.isatty():
        raise UsageError("stdin is not a terminal: add --yes to delete without asking")
    try:
        confirmed = typer.confirm(f"Delete {count} conversation(s)?", err=True)
    except typer.Abort:
        raise KeyboardInterrupt from None
    if not confirmed:
        render.err.print("nothing was deleted")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(delete))
