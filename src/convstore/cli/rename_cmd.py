"""convstore rename: a new title, written atomically, refused if the record changed."""

from __future__ import annotations

from typing import Annotated

import typer

from convstore.cli.common import open_catalog, resolved_user, translated
from convstore.cli.options import (
    ConfigOption,
    ConnectTimeoutOption,
    ConversationIdArgument,
    DatabaseOption,
    FileStoreOption,
    UserOption,
)

EXAMPLES = """\
Examples:
  convstore rename 0f83cf799c8c5a129939996ab6ae6908 "Fix the flaky login test"
  convstore rename --user alice 0f83cf79-9c8c-5a12-9939-996ab6ae6908 "To do"
"""


def rename(
    conversation_id: ConversationIdArgument,
    title: Annotated[
        str,
        typer.Argument(
            help="The new title (surrounding whitespace is removed).", show_default=False
        ),
    ],
    user: UserOption = None,
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
) -> None:
    """Give a conversation a new title and set last_updated_at to now."""
    with open_catalog(file_store, db, config, connect_timeout, events="none") as catalog:
        record = catalog.rename(conversation_id, title, resolved_user(catalog, user))
    typer.echo(f"{record.conversation_id}\t{record.title}")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(rename))
