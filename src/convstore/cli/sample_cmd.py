"""convstore sample: a realistic demo store to try every command on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from convstore.cli.common import translated
from convstore.cli.options import STORE_PANEL, UNCHECKED_PATH, ConnectTimeoutOption

if TYPE_CHECKING:
    from convstore.objects import Objects

EXAMPLES = """\
Examples:
  convstore sample /tmp/demo
  convstore list --file-store /tmp/demo --db /tmp/demo/openhands.db
  convstore sample /tmp/demo --file-store s3://my-bucket/demo   # V0 files: S3
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
    file_store: Annotated[
        str | None,
        typer.Option(
            "--file-store",
            metavar="URL",
            help="Write the V0 files into this bucket (s3://bucket/prefix or "
            "gs://bucket/prefix, empty) instead of DIRECTORY; the database stays in "
            "DIRECTORY.",
            show_default=False,
            rich_help_panel=STORE_PANEL,
        ),
    ] = None,
    connect_timeout: ConnectTimeoutOption = None,
) -> None:
    """Write V0 files of every generation (a few broken) and an OpenHands-shaped SQLite database."""
    from convstore.cli import render
    from convstore.fsutil import cannot_write, check_output
    from convstore.sample import write_sample

    check_output(directory, directory=True)
    bucket = _bucket(file_store, connect_timeout)
    try:
        summary = write_sample(directory, files=files, rows=rows, seed=seed, bucket=bucket)
    except OSError as error:
        raise cannot_write(Path(error.filename or directory), error) from error
    render.err.print(
        f"wrote {summary.files} V0 files and {summary.broken} broken ones under "
        f"{summary.v0_files}/sessions, {summary.v0_rows} V0 and {summary.v1_rows} V1 rows "
        f"into {summary.database}",
        highlight=False,
    )
    typer.echo(f"--file-store {summary.v0_files} --db {summary.database}")


def _bucket(location: str | None, connect_timeout: float | None) -> Objects | None:
    """The bucket ``--file-store`` names, opened and probed; None without one."""
    if location is None:
        return None
    from convstore.errors import UsageError
    from convstore.objects import is_bucket_url, open_objects

    if not is_bucket_url(location):
        raise UsageError(
            f"--file-store takes a bucket URL (s3://... or gs://...), not {location!r}"
        )
    return open_objects(location, connect_seconds=connect_timeout)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXAMPLES)(translated(sample))
