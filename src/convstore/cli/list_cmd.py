"""convstore list: every store as one listing, filtered, sorted, paged by cursor."""

from __future__ import annotations

import sys
import textwrap

import typer

from convstore.cli.common import (
    filter_query,
    interactive,
    open_catalog,
    resolved_user,
    translated,
)
from convstore.cli.options import (
    AllPagesOption,
    ConfigOption,
    ConnectTimeoutOption,
    CursorOption,
    DatabaseOption,
    FileStoreOption,
    LimitOption,
    ListFormatOption,
    NoCacheOption,
    OrgOption,
    RepoOption,
    SinceOption,
    SortOption,
    StatusOption,
    SubConversationsOption,
    TitleOption,
    TriggerOption,
    UntilOption,
    UpdatedSinceOption,
    UpdatedUntilOption,
    UserOption,
    VersionOption,
)
from convstore.fields import OUTPUT_FIELDS

EXAMPLES = """\
Examples:
  convstore list --user alice
  convstore list --since 7d --sort -updated --format jsonl
  convstore list --all --format csv > conversations.csv
  convstore list --cursor TOKEN   # the page after the one that printed TOKEN
"""
# Help is 80 columns wide, with a margin.
COLUMNS = (
    "Output fields:\n"
    + textwrap.fill(
        "The columns of csv and the keys of json and jsonl: all of them, in this order, "
        "whatever stores are configured; null (an empty cell) where the source lacks a "
        "field, and each value as stored (a numeric user_id stays a number).",
        76,
        initial_indent="  ",
        subsequent_indent="  ",
    )
    + "\n"
    + textwrap.fill(" ".join(OUTPUT_FIELDS), 76, initial_indent="    ", subsequent_indent="    ")
    + "\n"
)


def list_conversations(
    user: UserOption = None,
    repo: RepoOption = None,
    trigger: TriggerOption = None,
    title: TitleOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    updated_since: UpdatedSinceOption = None,
    updated_until: UpdatedUntilOption = None,
    version: VersionOption = None,
    sub_conversations: SubConversationsOption = False,
    status: StatusOption = None,
    org: OrgOption = None,
    sort: SortOption = "-created",
    limit: LimitOption = 20,
    cursor: CursorOption = None,
    all_pages: AllPagesOption = False,
    output_format: ListFormatOption = "table",
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """List conversations of every store, newest first."""
    from dataclasses import replace

    from convstore.cli import render
    from convstore.stores.base import Sort, decode_cursor

    order = Sort.parse(sort)
    query = filter_query(
        user=user,
        repo=repo,
        trigger=trigger,
        title=title,
        since=since,
        until=until,
        updated_since=updated_since,
        updated_until=updated_until,
        version=version,
        sub_conversations=sub_conversations,
        status=status,
        org=org,
    )
    query = replace(
        query, sort=order, after=None if cursor is None else decode_cursor(order, cursor)
    )
    with open_catalog(
        file_store, db, config, connect_timeout, cache=not no_cache, events="none"
    ) as catalog:
        query = replace(query, user=resolved_user(catalog, user))
        extra = catalog.optional_fields()
        emails = catalog.user_emails if catalog.directory is not None else None
        if all_pages:
            render.records(catalog.search(query), output_format, extra, emails)
            return
        while True:
            page = catalog.page(query, limit)
            render.records(page.items, output_format, extra, emails)
            if page.next_cursor is None:
                return
            if not (interactive() and output_format == "table"):
                sys.stdout.flush()  # the page first: a closed stdout ends the command here
                sys.stderr.write(f"more: --cursor {page.next_cursor}\n")
                return
            render.err.print("[dim]-- any key for more, q to quit --[/dim]", end="")
            key = typer.getchar()
            render.err.print()
            if key.lower() == "q":
                return
            query = query.starting_after(decode_cursor(order, page.next_cursor))


def register(app: typer.Typer) -> None:
    app.command("list", epilog=f"{COLUMNS}\n{EXAMPLES}")(translated(list_conversations))
