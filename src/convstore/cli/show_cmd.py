"""convstore show: one conversation, every field, where it lives, its twin and problems."""

from __future__ import annotations

import typer

from convstore.cli.common import open_catalog, resolved_user, translated
from convstore.cli.options import (
    ConfigOption,
    ConnectTimeoutOption,
    ConversationIdArgument,
    DatabaseOption,
    EventsDirOption,
    FileStoreOption,
    OneFormatOption,
    UserOption,
)

EXAMPLES = """\
Examples:
  convstore show 0f83cf799c8c5a129939996ab6ae6908
  convstore show 0f83cf79-9c8c-5a12-9939-996ab6ae6908 --format json

Exit status 3 when the conversation or its events could not be read
(permission denied, a link out of the store), after what could be read.
"""


def show(
    conversation_id: ConversationIdArgument,
    user: UserOption = None,
    output_format: OneFormatOption = "table",
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Show every field of one conversation, where it lives, and what is wrong with it."""
    from convstore.cli import render
    from convstore.errors import StoreUnavailable
    from convstore.events.locate import event_stats
    from convstore.stores.files import FileStore

    with open_catalog(file_store, db, config, connect_timeout, events_dir=events_dir) as catalog:
        user = resolved_user(catalog, user)
        record = catalog.get(conversation_id, user)
        unread = None
        try:
            found = catalog.events(record)
        except PermissionError:
            found = None
            unread = f"cannot read the events of {record.conversation_id}: permission denied"
        render.one(
            record,
            output_format,
            twin=catalog.twin(record, user),
            disk_usage=catalog.disk_usage(record),
            events=None if found is None else event_stats(found),
            email=catalog.user_emails([record.owner]).get(record.owner or "")
            if record.owner is not None
            else None,
        )
    # What could be shown is shown; a conversation that could not be read is still exit 3.
    if FileStore.unread(record):
        unread = f"cannot read {record.conversation_id}: {'; '.join(record.problems)}"
    if unread is not None:
        raise StoreUnavailable(unread)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(show))
