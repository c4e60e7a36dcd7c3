"""convstore stats: what conversations cost and who runs them, grouped, from every store."""

from __future__ import annotations

import textwrap
from typing import Annotated, Literal

import typer

from convstore.cli.common import filter_query, open_catalog, resolved_user, translated
from convstore.cli.completion import complete_stats_by, complete_stats_sort
from convstore.cli.options import (
    OUTPUT_PANEL,
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    FileStoreOption,
    ListFormatOption,
    NoCacheOption,
    OrgOption,
    RepoOption,
    SinceOption,
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

EXAMPLES = """\
Examples:
  convstore stats                     # conversations and cost per month
  convstore stats --by user --since 2026-01-01   # per user, this year
  convstore stats --by user --by month --format csv > usage.csv
  convstore stats --by model --sort -prompt_tokens --top 5
  convstore stats --cost-by incurred  # cost in the months it was spent
"""
# Help is 80 columns wide, with a margin.
OUTPUT = "\n".join(
    textwrap.fill(paragraph, 76, initial_indent="  ", subsequent_indent="  ")
    for paragraph in (
        "Per group: conversations, cost (total and mean), prompt_tokens, "
        "completion_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens "
        "(null where no store has them), prs (entries of pr_number), first and last "
        "(created_at), share (of the total cost); then the totals. A V0 conversation "
        "migrated to V1 counts once, as its V1 row; what could not be counted is said.",
        "json: {by, cost_by, sort, groups: [{<each --by>, [email,] <figures>, share}], "
        "totals, groups_total, folded: {twins, shadowed}, not_counted: {unreadable, "
        "values}, notes}. jsonl: one line per group, then that object without groups. "
        "csv: row (group or total), each --by, [email,] the figures, share. Costs are "
        "dollars, exact to the nanodollar; times ISO 8601 UTC.",
    )
)

CostByChoice = Literal["created", "incurred"]

ByOption = Annotated[
    list[str] | None,
    typer.Option(
        "--by",
        metavar="GROUPING",
        help="Group by user, org, model, repo, provider, trigger, version, status, day, "
        "week, month or year; repeatable, or comma-separated (default: month).",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
        autocompletion=complete_stats_by,
    ),
]
StatsSortOption = Annotated[
    str | None,
    typer.Option(
        "--sort",
        metavar="FIGURE",
        help="Order groups by group, conversations, cost, mean_cost, a token count, prs, "
        "first or last; a leading - is descending (default: group for a time grouping "
        "first, else -cost).",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
        autocompletion=complete_stats_sort,
    ),
]
TopOption = Annotated[
    int | None,
    typer.Option(
        "--top",
        min=1,
        help="Show only the first N groups (the totals stay those of all).",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]
CostByOption = Annotated[
    CostByChoice,
    typer.Option(
        "--cost-by",
        help="Put cost in the period a conversation was created in, or in the periods "
        "its cost events say it was incurred in (OpenHands 1.x enterprise).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def stats(
    by: ByOption = None,
    sort: StatsSortOption = None,
    top: TopOption = None,
    cost_by: CostByOption = "created",
    output_format: ListFormatOption = "table",
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
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    no_cache: NoCacheOption = False,
) -> None:
    """Count conversations, cost and tokens by user, model, repository or time."""
    from dataclasses import replace

    from convstore.cli import render
    from convstore.jobs import stats as job

    groupings = tuple(name.strip() for value in by or () for name in value.split(","))
    request = job.Request(by=groupings, sort=sort, top=top, cost_by=cost_by).checked()
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
    with open_catalog(
        file_store, db, config, connect_timeout, cache=not no_cache, events="none"
    ) as catalog:
        query = replace(query, user=resolved_user(catalog, user))
        report = job.run(catalog, replace(request, query=query))
    for note in report.notes:
        render.warning(note)
    render.stats(report, output_format)


def register(app: typer.Typer) -> None:
    app.command("stats", epilog=f"Output fields:\n{OUTPUT}\n\n{EXAMPLES}")(translated(stats))
