"""convstore config: each resolved setting and where it came from, passwords masked."""

from __future__ import annotations

import json
from typing import Any

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
    from convstore.stores.locations import survey

    settings = resolve_settings(file_store, db, config, connect_timeout, events_dir)
    names = {"file store": "file_store", "database": "db", "V1 events": "events_dir"}
    looked = {names[location.kind]: location for location in survey(settings)}
    resolved = {
        "file_store": settings.file_store,
        "db": settings.db,
        "events_dir": settings.events_dir,
        "connect_timeout": settings.connect_timeout,
    }
    data: dict[str, dict[str, Any] | None] = {}
    for name, entry in resolved.items():
        shown: dict[str, Any] | None = None
        if entry is not None:
            shown = {"value": masked(entry.value), "source": entry.source}
        location = looked.get(name)
        if shown is not None and location is not None:
            # Whether commands read it, and why not: "not found, not used", ...
            shown |= {"used": location.used, "note": location.note}
            if location.problem is not None:
                shown["error"] = str(location.problem)  # what every command stops with
        data[name] = shown
    if settings.config_file is not None:
        data["config_file"] = {"value": str(settings.config_file), "source": "read"}
    if output_format == "json":
        typer.echo(json.dumps(data))
        return
    for name, shown in data.items():
        if shown is None:
            render.out.print(f"{name:15} -", highlight=False)
            continue
        about = shown["source"]
        if shown.get("note") is not None:
            about += f"; {shown['note']}"
        if "error" in shown:
            about += ": every command stops here"
        line = f"{name:15} {render.safe(shown['value'])}  [dim]({render.safe(about)})[/dim]"
        render.out.print(line, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("config", epilog="Example:\n  convstore config --format json")(
        translated(show_config)
    )
