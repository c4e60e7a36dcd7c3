"""Files generated from the app and checked in (completions/, man/): write them, or check them.

The generators are run by maintainers (``scripts/generate``) and by tests that fail
when a checked-in file differs from a fresh generation, so a changed option cannot
ship with stale completion scripts or man pages.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path


def stale(directory: Path, expected: dict[str, str]) -> list[str]:
    """Names of the files in ``directory`` that differ from ``expected`` or are missing."""
    return [
        name
        for name, content in expected.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != content
    ]


def write(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content, encoding="utf-8")


def command_line(
    generate: Callable[[], dict[str, str]],
    *,
    command: str,
    description: str,
    default_directory: str,
    argv: list[str] | None = None,
) -> int:
    """``command [--check] [DIRECTORY]``: write the files, or list the stale ones (exit 1)."""
    parser = argparse.ArgumentParser(prog=command, description=description)
    parser.add_argument("directory", nargs="?", type=Path, default=Path(default_directory))
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is out of date"
    )
    arguments = parser.parse_args(argv)
    expected = generate()
    if not arguments.check:
        write(arguments.directory, expected)
        return 0
    outdated = stale(arguments.directory, expected)
    for name in outdated:
        print(f"{arguments.directory / name} is out of date: run {command}")
    return 1 if outdated else 0
