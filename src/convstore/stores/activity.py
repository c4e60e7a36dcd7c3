"""Whether OpenHands is using a conversation now: what `delete` and `migrate-v0-to-v1
--after archive|remove` refuse to take away from under it.

OpenHands offers no lock to take, so the signs are what it leaves: a 1.x database says
``execution_status = 'running'`` (revision 013 on), and a conversation it works on
changes: its metadata (a V0 file's mtime, a row's ``last_updated_at``) and its events
(the newest mtime in its event directory). A change within the window (``Guard.within``,
five minutes by default) counts as use. A time ahead of this machine's clock counts as
now: another host's clock may run ahead.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from convstore.model import ConversationMetadata

if TYPE_CHECKING:
    from convstore.events.locate import EventLocation

DEFAULT_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class Guard:
    """How `delete` and `migrate --after` judge use: the window, and whether to ignore it."""

    within: timedelta = DEFAULT_WINDOW
    force: bool = False  # delete even what looks in use (`delete --force`)


def signs_of_use(
    record: ConversationMetadata,
    events: EventLocation | None,
    guard: Guard,
    modified: datetime | None = None,
) -> list[str]:
    """Why OpenHands may be using this form of a conversation right now (empty: it looks
    idle). ``events``: its event directory (or prefix in a bucket), if it has one.
    ``modified``: when a V0 file's metadata.json was last written, looked at now
    (``FileStore.modified``)."""
    found = []
    if record.execution_status == "running":
        found.append("OpenHands is running it (execution_status running)")
    now = datetime.now(UTC)
    since = now - guard.within
    window = f"within --active-within {format_window(guard.within)}"
    metadata = record.last_updated_at if record.store == "sql" else modified
    if metadata is not None and metadata > since:
        what = "metadata.json" if record.store == "files" else "row (last_updated_at)"
        found.append(f"its {what} changed {_ago(now, metadata)}, {window}")
    newest = None if events is None else events_changed(events)
    if events is not None and newest is not None and newest > since:
        found.append(f"its events in {events.where} changed {_ago(now, newest)}, {window}")
    return found


def events_changed(events: EventLocation) -> datetime | None:
    """When a conversation's events last changed: ``newest_change`` of its directory,
    or the newest modification time its prefix's listing reports in a bucket."""
    if events.objects is None:
        assert events.directory is not None
        return newest_change(events.directory)
    times = [info.modified for info in events.below() if info.modified]
    return max(times, default=None)


def newest_change(directory: Path) -> datetime | None:
    """The latest mtime of a directory and the entries in it (a new event file moves the
    directory's; a file rewritten in place moves only its own); links not followed."""
    try:
        times = [os.stat(directory, follow_symlinks=False).st_mtime]
        with os.scandir(directory) as entries:
            times += _mtimes(entries)
    except OSError:
        return None
    return datetime.fromtimestamp(max(times), UTC)


def _mtimes(entries: Iterable[os.DirEntry[str]]) -> Iterable[float]:
    for entry in entries:
        try:
            yield entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue  # removed meanwhile


def _ago(now: datetime, then: datetime) -> str:
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in the future by this machine's clock"
    if seconds < 120:
        return f"{int(seconds)} seconds ago"
    return f"{int(seconds // 60)} minutes ago"


def format_window(window: timedelta) -> str:
    """A window as `--active-within` takes it (``5m``, ``90s``, ``2h``)."""
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
