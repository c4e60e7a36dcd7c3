"""The Typer application: global options, and one module per command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from convstore import __version__
from convstore.cli import (
    config_cmd,
    db_cmd,
    delete_cmd,
    export_cmd,
    list_cmd,
    migrate_cmd,
    rename_cmd,
    sample_cmd,
    show_cmd,
    verify_cmd,
)

EXIT_STATUSES = """\
Exit status: 0 success; 1 a job found problems or some items failed; 2 usage (bad option,
invalid id, --yes needed); 3 a store cannot be reached or read; 4 not found; 5 conflict
(changed since read, or a lock is held); 130 interrupted."""


@dataclass
class State:
    debug: bool = False


state = State()

app = typer.Typer(
    name="convstore",
    help="Administer the conversation metadata of OpenHands deployments: V0 metadata.json "
    "files and the conversation_metadata table (SQLite or PostgreSQL).",
    epilog=EXIT_STATUSES,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"convstore {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when a command fails.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    state.debug = debug


for module in (
    list_cmd,
    show_cmd,
    rename_cmd,
    delete_cmd,
    migrate_cmd,
    export_cmd,
    config_cmd,
    db_cmd,
    sample_cmd,
    verify_cmd,
):
    module.register(app)
