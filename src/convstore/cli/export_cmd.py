"""convstore export: a conversation's metadata and transcript, migrated or not."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from convstore.cli.common import resolve_settings, resolved_user, translated
from convstore.cli.options import (
    OUTPUT_PANEL,
    UNCHECKED_PATH,
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    EventsDirOption,
    FileStoreOption,
    RepoOption,
    SinceOption,
    SubConversationsOption,
    TitleOption,
    UntilOption,
    UserOption,
    VersionOption,
)

if TYPE_CHECKING:
    from convstore.model import ConversationMetadata
    from convstore.stores.catalog import Catalog

EXAMPLES = """\
Examples:
  convstore export 0f83cf79-9c8c-5a12-9939-996ab6ae6908 > transcript.md
  convstore export 0f83cf799c8c5a129939996ab6ae6908 --format json -o out.json
  # before upgrading to OpenHands 1.x: every V0 conversation, one file each
  convstore export --all --version V0 -o ~/openhands-history
"""

ExportFormat = Literal["markdown", "json"]
SUFFIXES = {"markdown": ".md", "json": ".json"}


def export(
    conversation_id: Annotated[
        str | None, typer.Argument(help="The conversation to export.", show_default=False)
    ] = None,
    all_conversations: Annotated[
        bool, typer.Option("--all", help="Every matching conversation, one file each, into -o.")
    ] = False,
    output_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            help="markdown for people, json (complete) for programs.",
            rich_help_panel=OUTPUT_PANEL,
        ),
    ] = "markdown",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="A file (one conversation) or a directory (--all); default: stdout.",
            rich_help_panel=OUTPUT_PANEL,
            show_default=False,
            **UNCHECKED_PATH,
        ),
    ] = None,
    user: UserOption = None,
    repo: RepoOption = None,
    title: TitleOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    version: VersionOption = None,
    sub_conversations: SubConversationsOption = False,
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Write a conversation's metadata and transcript (V0 or V1 events), Markdown or JSON."""
    from convstore.cli import render
    from convstore.errors import UsageError
    from convstore.fsutil import cannot_write, check_output
    from convstore.stores.base import Query
    from convstore.stores.catalog import open_catalog
    from convstore.times import parse_optional_time

    if all_conversations == (conversation_id is not None):
        raise UsageError("give a conversation id or --all, not both and not neither")
    if all_conversations and output is None:
        raise UsageError("--all writes one file per conversation: give -o DIRECTORY")
    if output is not None:
        check_output(output, directory=all_conversations)
    settings = resolve_settings(file_store, db, config, connect_timeout, events_dir)
    events_root = settings.events_root
    with open_catalog(settings) as catalog:
        user = resolved_user(catalog, user)
        if conversation_id is not None:
            record = catalog.get(conversation_id, user)
            missing = _export(catalog, record, events_root, output_format, output)
            if missing is not None:
                render.warning(f"{record.conversation_id}: {missing}")
            return
        assert output is not None
        query = Query(
            user=user,
            repo=repo,
            title=title,
            created_since=parse_optional_time(since),
            created_until=parse_optional_time(until),
            version=version,
            sub_conversations=sub_conversations,
        )
        records = catalog.search(query)  # filters that cannot match fail before mkdir
        try:
            output.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise cannot_write(output, error) from error
        count = without_events = 0
        for record in records:
            target = output / _file_name(record, output_format)
            if _export(catalog, record, events_root, output_format, target) is not None:
                without_events += 1
            count += 1
        render.err.print(f"exported {count} conversation(s) into {output}", highlight=False)
        if without_events:
            render.warning(
                f"{without_events} of them without event files (each file says where it "
                "looked; --events-dir and --file-store look elsewhere)"
            )
        render.stores(catalog.locations)


def _file_name(record: ConversationMetadata, output_format: ExportFormat) -> str:
    # Ids are validated ("/", "\\", ".." refused) before a store is asked, so they are
    # safe file names; the version keeps a V0 file and its V1 twin apart.
    return f"{record.conversation_id}-{record.version}{SUFFIXES[output_format]}"


def _export(
    catalog: Catalog,
    record: ConversationMetadata,
    events_root: Path | None,
    output_format: ExportFormat,
    target: Path | None,
) -> str | None:
    """Write one export; returns why it has no transcript (where events were looked
    for), or None when its events were found."""
    from convstore.fsutil import atomic_text
    from convstore.jobs.export import event_source, write_json, write_markdown

    file_store, catalog_events = catalog.event_roots()
    events = catalog_events if events_root is None else events_root
    source = event_source(record, file_store, events)
    write = write_json if output_format == "json" else write_markdown
    if target is None:
        write(record, source, sys.stdout)
    else:
        with atomic_text(target) as stream:
            write(record, source, stream)
    return source.not_found()


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(export))
