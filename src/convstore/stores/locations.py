"""Which stores a run reads: each resolved location looked at once, the same way for
every command, and for ``convstore config``, which shows the outcome.

A store that a flag, ``CONVSTORE_*``, config.toml or OpenHands' environment names must
be there and readable; otherwise every command stops with exit 3 (a file store that
looks like ``sessions/`` itself is a usage error with a hint, exit 2). Only the
built-in default (``~/.openhands``) may be absent: it is then left out, and the summary
of a batch job and ``convstore config`` say so. A file store without ``sessions/`` is
an empty V0 store (a 1.x-only install keeps only ``openhands.db`` there).

A bucket (``s3://``, ``gs://``) is looked at with one request (``Objects.probe``) where
a path is looked at with a stat: a bucket that does not exist, credentials refused or
an endpoint that does not answer is exit 3 in one line, within the connect timeout.
The store opened for that is kept (``Location.objects``), so a run opens it once.

Nothing here connects to a database server: a URL is taken as given, and reaching it
is ``SqlStore``'s job (exit 3 naming host, port and reason).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from convstore.config import Setting, Settings, database_url, masked, sqlite_path
from convstore.errors import ConvstoreError, StoreUnavailable, UsageError
from convstore.objects import Objects, is_bucket_url, open_objects
from convstore.objects.addresses import parse_location

Kind = Literal["file store", "database", "V1 events"]
# What a command does with V1 event files: reads them (show, export, delete, verify),
# writes them (migrate: a directory named for them may not exist yet), or never touches
# them (list, rename), so that no events setting can stop it.
EventsUse = Literal["read", "write", "none"]
SESSIONS = "sessions"
# How many entries of a directory without sessions/ are looked into, to tell whether it
# is sessions/ itself: enough for a real one, bounded for a large unrelated directory.
LOOKS_LIKE_SESSIONS_ENTRIES = 64


@dataclass(frozen=True)
class Location:
    """One resolved store location, as looked at before a run reads it."""

    kind: Kind
    setting: Setting
    used: bool  # the run reads it
    note: str | None = None  # what a person should know about it, in a few words
    problem: ConvstoreError | None = None  # why no command can run with it
    objects: Objects | None = None  # a bucket, opened and probed

    @property
    def where(self) -> str:
        return masked(self.setting.value)

    def describe(self) -> str:
        """``file store /srv/oh (flag; no sessions/: no V0 conversations)``."""
        about = self.setting.source if self.note is None else f"{self.setting.source}; {self.note}"
        return f"{self.kind} {self.where} ({about})"


def survey(settings: Settings, events: EventsUse = "read") -> list[Location]:
    """Each store location the settings name (file store, database, V1 events), looked
    at as a command that ``events`` them needs it."""
    found = []
    seconds = settings.connect_seconds
    if settings.file_store is not None:
        setting = settings.file_store
        if is_bucket_url(setting.value):
            found.append(_bucket("file store", setting, seconds))
        else:
            found.append(_file_store(setting))
    if settings.db is not None:
        found.append(_database(settings.db))
    if settings.events_dir is not None and events != "none":
        setting = settings.events_dir
        opened = next(
            (f for f in found if f.objects is not None and f.setting.value == setting.value), None
        )
        if opened is not None:
            # The file store's bucket (1.x writes V1 events beside it): probed already.
            found.append(replace(opened, kind="V1 events", setting=setting))
        elif is_bucket_url(setting.value):
            found.append(_bucket("V1 events", setting, seconds))
        else:
            found.append(_events(setting, writing=events == "write"))
    return found


def _bucket(kind: Kind, setting: Setting, connect_seconds: float) -> Location:
    """A bucket, opened and probed with one request; the credentials' source in its note."""
    try:
        objects = open_objects(setting.value, connect_seconds=connect_seconds)
    except UsageError as error:
        return Location(kind, setting, used=False, note="not a bucket address", problem=error)
    except StoreUnavailable as error:
        detail = str(error).removeprefix(f"{parse_location(setting.value)}: ")
        message = f"{kind} {masked(setting.value)} ({setting.source}): {detail}"
        return Location(kind, setting, used=False, note=detail, problem=StoreUnavailable(message))
    return Location(
        kind, setting, used=True, note=f"credentials: {objects.credentials}", objects=objects
    )


def _file_store(setting: Setting) -> Location:
    root = Path(setting.value).expanduser()
    absent = _absent(root, "file store", setting)
    if absent is not None:
        return absent
    try:
        sessions_is_dir = (root / SESSIONS).is_dir()
        sessions_exists = sessions_is_dir or (root / SESSIONS).exists()
    except PermissionError:
        return _unreadable("file store", root, setting)
    if sessions_exists and not sessions_is_dir:
        message = f"file store {root} ({setting.source}): {root / SESSIONS} is not a directory"
        return _broken("file store", setting, "sessions/ is not a directory", message)
    if sessions_is_dir:
        return Location("file store", setting, used=True)
    if setting.explicit and _looks_like_sessions(root):
        return Location(
            "file store",
            setting,
            used=False,
            note="looks like sessions/ itself",
            problem=UsageError(
                f"file store {root} ({setting.source}) has no sessions/ and looks like a "
                f"sessions/ directory itself: give the directory that holds it ({root.parent})"
            ),
        )
    return Location("file store", setting, used=True, note="no sessions/: no V0 conversations")


def _database(setting: Setting) -> Location:
    path = sqlite_path(database_url(setting.value))
    if path is None:
        return Location("database", setting, used=True)  # a server: reached when opened
    absent = _absent(path, "database", setting, directory=False)
    if absent is not None:
        return absent
    try:
        with path.open("rb"):
            pass
    except PermissionError:
        return _unreadable("database", path, setting)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        return _broken("database", setting, reason, f"cannot read database {path}: {reason}")
    return Location("database", setting, used=True)


def _events(setting: Setting, *, writing: bool) -> Location:
    root = Path(setting.value).expanduser()
    if not _exists(root) and (not setting.explicit or (writing and root.parent.is_dir())):
        # The default place: 1.x creates it with its first conversation; and any place a
        # migration is told to write to, which creates it with the first events it
        # writes (a missing parent is more likely a typo, and stays an error).
        return Location("V1 events", setting, used=True, note="not found: none yet")
    absent = _absent(root, "V1 events", setting)
    if absent is not None:
        return absent
    try:
        os.scandir(root).close()
    except PermissionError:
        return _unreadable("V1 events", root, setting)
    return Location("V1 events", setting, used=True)


def _absent(path: Path, kind: Kind, setting: Setting, *, directory: bool = True) -> Location | None:
    """A Location for a path that is missing or of the wrong kind; None when it is fine."""
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
    except PermissionError:
        return _unreadable(kind, path, setting)
    if not exists:
        if not setting.explicit:
            return Location(kind, setting, used=False, note="not found, not used")
        return _broken(
            kind, setting, "does not exist", f"{kind} {path} ({setting.source}) does not exist"
        )
    if is_dir == directory:
        return None
    wrong = "not a directory" if directory else "a directory, not a SQLite file"
    if not setting.explicit:
        return Location(kind, setting, used=False, note=f"{wrong}; not used")
    advice = "" if directory else " (give the openhands.db inside it)"
    return _broken(kind, setting, wrong, f"{kind} {path} ({setting.source}) is {wrong}{advice}")


def _unreadable(kind: Kind, path: Path, setting: Setting) -> Location:
    message = f"cannot read {kind} {path} ({setting.source}): permission denied"
    return _broken(kind, setting, "permission denied", message)


def _broken(kind: Kind, setting: Setting, note: str, message: str) -> Location:
    """A location no command can use: ``note`` for `config`, ``message`` for the error."""
    return Location(kind, setting, used=False, note=note, problem=StoreUnavailable(message))


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except PermissionError:
        return True  # it may well exist: the caller's look says why it cannot be read


def _looks_like_sessions(root: Path) -> bool:
    """True when ``root`` is named sessions or holds conversation directories itself."""
    if root.name == SESSIONS:
        return True
    try:
        with os.scandir(root) as entries:
            for entry in itertools.islice(entries, LOOKS_LIKE_SESSIONS_ENTRIES):
                if entry.is_dir() and os.path.isfile(os.path.join(entry.path, "metadata.json")):
                    return True
    except OSError:
        return False
    return False
