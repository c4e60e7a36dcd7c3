"""convstore config: each resolved setting and where it came from, passwords masked."""

from __future__ import annotations

import json

import typer

from convstore.cli.common import resolve_settings, translated
from convstore.cli.options import (
    ConfigOption,
    ConnectTimeoutOption,
    DatabaseOption,
    EventsDirOption,
    FileStoreOption,
    OneFormatOption,
)


def show_config(
    output_format: OneFormatOption = "table",
    file_store: FileStoreOption = None,
    db: DatabaseOption = None,
    config: ConfigOption = None,
    connect_timeout: ConnectTimeoutOption = None,
    events_dir: EventsDirOption = None,
) -> None:
    """Show where convstore looks for each store, and why."""
    from convstore.cli import render
    from convstore.config import masked

    settings = resolve_settings(file_store, db, config, connect_timeout, events_dir)
    resolved = {
        "file_store": settings.file_store,
        "db": settings.db,
        "events_dir": settings.events_dir,
        "connect_timeout": settings.connect_timeout,
    }
    data = {
        name: None if entry is None else {"value": masked(entry.value), "source": entry.source}
        for name, entry in resolved.items()
    }
    if settings.config_file is not None:
        data["config_file"] = {"value": str(settings.config_file), "source": "read"}
    if output_format == "json":
        typer.echo(json.dumps(data))
        return
    for name, entry in data.items():
        if entry is None:
            render.out.print(f"{name:15} -", highlight=False)
        else:
            line = f"{name:15} {entry['value']}  [dim]({entry['source']})[/dim]"
            render.out.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("config", epilog="Example:\n  convstore config --format json")(
        translated(show_config)
    )
