"""Options and arguments that recur across commands, declared once with their help panel.

Every command shows them in the same groups, in the order of ``PANELS``: store location,
filters, output (``command_classes.arrange`` sorts each command's options so).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from convstore.cli.completion import complete_conversation_id, complete_trigger, complete_user

STORE_PANEL = "Store location"
FILTER_PANEL = "Filters"
OUTPUT_PANEL = "Output"
# The order of the groups in every command's --help and man page.
PANELS = (STORE_PANEL, FILTER_PANEL, OUTPUT_PANEL)

ListFormat = Literal["table", "json", "jsonl", "csv"]
OneFormat = Literal["table", "json"]
SortChoice = Literal["created", "-created", "updated", "-updated", "title", "-title"]
VersionChoice = Literal["V0", "V1"]
Severity = Literal["error", "warning", "info"]


def _store(*names: str, help: str, **settings: Any) -> Any:
    return typer.Option(
        *names, help=help, rich_help_panel=STORE_PANEL, show_default=False, **settings
    )


# Paths are checked by the command, not by the option parser: a path that cannot be
# read is exit 3 saying "permission denied", as everywhere, not a usage error.
UNCHECKED_PATH: dict[str, Any] = {"readable": False}


def _filter(*names: str, help: str, **settings: Any) -> Any:
    return typer.Option(
        *names, help=help, rich_help_panel=FILTER_PANEL, show_default=False, **settings
    )


def _output(*names: str, help: str) -> Any:
    return typer.Option(*names, help=help, rich_help_panel=OUTPUT_PANEL)


# A store location is a path or a bucket URL, taken as typed: a Path would fold the
# "//" of s3://bucket into one slash.
FileStoreOption = Annotated[
    str | None,
    _store(
        "--file-store",
        metavar="LOCATION",
        help="Directory, or s3://bucket/prefix or gs://bucket/prefix, that holds sessions/ "
        "(V0 files); env CONVSTORE_FILE_STORE.",
    ),
]
DatabaseOption = Annotated[
    str | None,
    _store("--db", help="SQLAlchemy URL or path to a SQLite file; env CONVSTORE_DB."),
]
EventsDirOption = Annotated[
    str | None,
    _store(
        "--events-dir",
        metavar="LOCATION",
        help="Where V1 event files live (<persistence dir>/v1_conversations, or a bucket "
        "URL); env CONVSTORE_EVENTS_DIR.",
    ),
]
NoCacheOption = Annotated[
    bool,
    _store(
        "--no-cache",
        help="Read every metadata.json instead of using the V0 index cache "
        "(kept in the user cache directory).",
    ),
]
ConnectTimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--connect-timeout",
        min=1,
        help="Seconds to wait for a database server or a bucket (default 10); "
        "env CONVSTORE_CONNECT_TIMEOUT.",
        rich_help_panel=STORE_PANEL,
        show_default=False,
    ),
]
ConfigOption = Annotated[
    Path | None,
    _store(
        "--config",
        help="config.toml to read instead of the user config directory's.",
        **UNCHECKED_PATH,
    ),
]

ConversationIdArgument = Annotated[
    str,
    typer.Argument(
        help="Conversation id: V0 hex or V1 dashed UUID, or any V0 id.",
        show_default=False,
        autocompletion=complete_conversation_id,
    ),
]

UserOption = Annotated[
    str | None,
    _filter(
        "--user",
        help="Only this user's conversations: exactly this user id, never a substring "
        "(early files that have only github_user_id: that id); on a 1.x enterprise "
        "database also the user's exact email or git user name.",
        autocompletion=complete_user,
    ),
]
RepoOption = Annotated[
    str | None, _filter("--repo", help="Repository contains this text (case-insensitive).")
]
TriggerOption = Annotated[
    str | None,
    _filter(
        "--trigger",
        help="Only this trigger (gui, resolver, slack, ...).",
        autocompletion=complete_trigger,
    ),
]
TitleOption = Annotated[
    str | None, _filter("--title", help="Title contains this text (case-insensitive).")
]
SinceOption = Annotated[
    str | None, _filter("--since", help="Created at or after: ISO date/time or age (7d, 12h).")
]
UntilOption = Annotated[
    str | None, _filter("--until", help="Created before: ISO date/time or age.")
]
UpdatedSinceOption = Annotated[
    str | None, _filter("--updated-since", help="Last updated at or after: ISO date/time or age.")
]
UpdatedUntilOption = Annotated[
    str | None, _filter("--updated-until", help="Last updated before: ISO date/time or age.")
]
VersionOption = Annotated[
    VersionChoice | None, _filter("--version", help="Only V0 or only V1 conversations.")
]
SubConversationsOption = Annotated[
    bool,
    _filter(
        "--sub-conversations",
        help="Include sub-conversations (left out by default, as OpenHands does).",
    ),
]
StatusOption = Annotated[
    str | None,
    _filter(
        "--status",
        help="Only this execution_status (idle, running, paused, finished, error, stuck, "
        "deleting; OpenHands 1.x databases).",
    ),
]
OrgOption = Annotated[
    str | None,
    _filter("--org", help="Only this org's conversations (1.x enterprise databases)."),
]

ListFormatOption = Annotated[
    ListFormat, _output("--format", help="table for people; json, jsonl or csv for scripts.")
]
OneFormatOption = Annotated[
    OneFormat, _output("--format", help="table for people, json for scripts.")
]
FailOnOption = Annotated[
    Severity,
    _output("--fail-on", help="Exit with status 1 when a finding is at least this severe."),
]
SortOption = Annotated[
    SortChoice,
    _output("--sort", help="Sort order; a leading - is descending; title ignores the case of A-Z."),
]
LimitOption = Annotated[
    int,
    typer.Option("--limit", min=1, help="Conversations per page.", rich_help_panel=OUTPUT_PANEL),
]
CursorOption = Annotated[
    str | None,
    typer.Option(
        "--cursor",
        help="Start after the page that printed this cursor.",
        rich_help_panel=OUTPUT_PANEL,
        show_default=False,
    ),
]
AllPagesOption = Annotated[
    bool, _output("--all", help="Stream every matching conversation, no paging.")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
]
ACTIVE_WITHIN = "5m"  # the default of --active-within (activity.DEFAULT_WINDOW)
ActiveWithinOption = Annotated[
    str,
    typer.Option(
        "--active-within",
        help="A conversation whose metadata or events changed this recently (or whose "
        "execution_status is running) is in use, and left alone (5m, 90s, 1h).",
    ),
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask; required when stdin is not a terminal.")
]
