"""convstore sample: a realistic demo store to try every command on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from convstore.cli.common import translated
from convstore.cli.options import UNCHECKED_PATH

EXAMPLES = """\
Example:
  convstore sample /tmp/demo
  convstore list --file-store /tmp/demo --db /tmp/demo/openhands.db
"""


def sample(
    directory: Annotated[
        Path,
        typer.Argument(help="A new or empty directory.", show_default=False, **UNCHECKED_PATH),
    ],
    files: Annotated[int, typer.Option(min=0, help="How many V0 metadata.json files.")] = 300,
    rows: Annotated[
        int, typer.Option(min=0, help="How many SQL rows (a quarter V0, the rest V1).")
    ] = 120,
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 7,
) -> None:
    """Write V0 files of every generation (a few broken) and an OpenHands-shaped SQLite database."""
    from convstore.cli import render
    from convstore.fsutil import cannot_write, check_output
    from convstore.sample import write_sample

    check_output(directory, directory=True)
    try:
        summary = write_sample(directory, files=files, rows=rows, seed=seed)
    except OSError as error:
        raise cannot_write(Path(error.filename or directory), error) from error
    render.err.print(
        f"wrote {summary.files} V0 files and {summary.broken} broken ones under "
        f"{summary.file_store}/sessions, {summary.v0_rows} V0 and {summary.v1_rows} V1 rows "
        f"into {summary.database}",
        highlight=False,
    )
    typer.echo(f"--file-store {summary.file_store} --db {summary.database}")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(sample))
