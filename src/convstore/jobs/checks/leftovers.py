"""What interrupted writes and deletes leave behind, and the checks that clear it.

convstore writes a file through a hidden temporary (``.<name>.<hex>.convstore-tmp``)
and deletes a conversation by first renaming its directories to ``.deleting-<id>-<hex>``;
a crash between the steps leaves either behind. OpenHands ignores hidden names, so
nothing is lost, but the bytes stay. A leftover younger than ``stale_after`` may be a
write or delete still in progress and is not reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from convstore.fsutil import TEMPORARY_SUFFIX, tree_size
from convstore.jobs.checks.base import Check, Context, Issue, plural
from convstore.jobs.checks.repairs import RemoveLeftover
from convstore.objects.local import DELETING_PREFIX
from convstore.stores.files import METADATA
from convstore.stores.metadata_json import MAX_METADATA_BYTES

# A temporary file lives for milliseconds and a delete's rename precedes its rmtree by
# as long as the rmtree of the directories before it: ten minutes covers both.
STALE_AFTER = 600.0
_TOKEN_LENGTH = 8  # the hex suffix a delete adds: .deleting-<id>-<8 hex digits>


@dataclass(frozen=True, slots=True)
class Leftover:
    path: Path
    kind: Literal["temporary", "deleting"]
    conversation_id: str | None
    lock: Path | None = None  # the conversation directory whose lock its writer held

    @property
    def location(self) -> str:
        return str(self.path)


def leftover(
    directory: str, name: str, *, is_dir: bool, conversation_id: str | None, lock: Path | None
) -> Leftover | None:
    """The leftover a hidden name in ``directory`` denotes, or None when it is none."""
    path = Path(directory, name)
    if not is_dir and name.startswith(".") and name.endswith(TEMPORARY_SUFFIX):
        return Leftover(path, "temporary", conversation_id, lock)
    if is_dir and name.startswith(DELETING_PREFIX):
        original = name[len(DELETING_PREFIX) : -(_TOKEN_LENGTH + 1)] or None
        return Leftover(path, "deleting", conversation_id or original)
    return None


def recorded_owner(path: Path) -> str | None:
    """The user_id in a directory's metadata.json, for --user scoping (None if unreadable)."""
    try:
        with open(path / METADATA, "rb") as stream:
            data = json.loads(stream.read(MAX_METADATA_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    user = data.get("user_id") if isinstance(data, dict) else None
    return None if user is None else str(user)


def age_text(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            return plural(int(seconds // size), unit)
    return plural(int(seconds), "second")


def _stale_age(path: Path, context: Context) -> float | None:
    try:
        age = context.now - path.lstat().st_mtime
    except OSError:
        return None
    return age if age >= context.stale_after else None


def temporary(item: Leftover, context: Context) -> Iterator[Issue]:
    if item.kind != "temporary" or (age := _stale_age(item.path, context)) is None:
        return
    yield Issue(
        f"temporary file left by an interrupted write, {age_text(age)} old (OpenHands ignores it)",
        "--fix removes it; nothing refers to it",
        RemoveLeftover(item.path, f"remove {item.path}", item.lock),
    )


def deleting(item: Leftover, context: Context) -> Iterator[Issue]:
    if item.kind != "deleting" or (age := _stale_age(item.path, context)) is None:
        return
    size = tree_size(item.path)
    yield Issue(
        f"directory hidden by an interrupted `convstore delete`, {age_text(age)} old, "
        f"{size:,} bytes (OpenHands ignores it)",
        "--fix removes it, finishing the delete",
        RemoveLeftover(item.path, f"remove directory {item.path}"),
    )


def directory_entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    """The entries of a directory that may not exist."""
    try:
        with os.scandir(directory) as entries:
            yield from entries
    except (FileNotFoundError, NotADirectoryError):
        return


CHECKS: tuple[Check[Leftover], ...] = (
    Check(
        "files.temporary-leftover",
        "warning",
        "a temporary file (.*.convstore-tmp) left by an interrupted write",
        Leftover,
        temporary,
        fixable=True,
    ),
    Check(
        "files.deleting-leftover",
        "warning",
        "a .deleting-* directory left by an interrupted delete",
        Leftover,
        deleting,
        fixable=True,
    ),
)
