"""What ``verify --fix`` changes, as data, and the code that changes it safely.

A repair never trusts what was read earlier: a metadata.json is rewritten only as a
compare-and-swap against the bytes the check read (``FileStore.rewrite``: their version,
checked by the store in the write itself, on local disk and in a bucket alike), keeping
every key, the key order and the file's JSON style; a row is
updated only where the column still holds the value the check saw, so a concurrent
writer wins and the repair is reported as not made. Rows of one batch are repaired in
one transaction. Nothing here removes a conversation: only temporary files and the
``.deleting-*`` directories an interrupted delete left behind.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, cast, or_
from sqlalchemy.engine import Connection

from convstore.errors import Conflict, ConvstoreError, StoreUnavailable
from convstore.fsutil import locked_directory
from convstore.jobs.checks.base import Finding
from convstore.stores import metadata_json
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from convstore.stores.sql_values import TIMESTAMP_COLUMNS, time_parameter

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class SetFields:
    """Set keys of one metadata.json (and/or re-encode it as UTF-8), if it is unchanged."""

    address: str  # the conversation's prefix in sessions/
    version: str  # of the bytes the check read
    changes: tuple[tuple[str, Any], ...]  # JSON values, in the order they are applied
    description: str
    reencode: bool = False


@dataclass(frozen=True, slots=True)
class RemoveLeftover:
    """Remove a temporary file or a ``.deleting-*`` directory, if it is still stale."""

    path: Path
    description: str
    lock: Path | None = None  # the conversation directory whose lock writers hold


@dataclass(frozen=True, slots=True)
class RowChange:
    """One column of one row: its new value, and the value it must still hold.

    ``expected`` None means SQL NULL, or JSON ``null`` in a JSON column.
    """

    column: str
    value: Any
    expected: Any = None


@dataclass(frozen=True, slots=True)
class UpdateRow:
    conversation_id: str
    changes: tuple[RowChange, ...]
    description: str


Repair = SetFields | RemoveLeftover | UpdateRow


class NotRepaired(Exception):
    """Why one repair was not made; the run goes on."""


def utf8_bytes(raw: bytes) -> bytes | None:
    """The same JSON text as UTF-8 without a byte order mark, or None when that would
    lose a character (the file is not cleanly UTF-8 with a BOM, UTF-16 or UTF-32)."""
    try:
        if raw.startswith(UTF8_BOM):
            return raw[len(UTF8_BOM) :].decode("utf-8").encode("utf-8")
        encoding = json.detect_encoding(raw)
        if encoding == "utf-8":
            return None
        return raw.decode(encoding).removeprefix("\ufeff").encode("utf-8")
    except (UnicodeDecodeError, LookupError):
        return None


class Fixer:
    """Carries out the repairs of one batch of findings and records each outcome."""

    def __init__(
        self,
        sql: SqlStore | None,
        *,
        stale_after: float,
        dry_run: bool,
        files: FileStore | None = None,
    ) -> None:
        self.sql = sql
        self.files = files
        self.stale_after = stale_after
        self.dry_run = dry_run

    def apply(self, findings: Sequence[Finding]) -> list[Finding]:
        pending = [index for index, finding in enumerate(findings) if finding.repair is not None]
        if not pending:
            return list(findings)
        if self.dry_run:
            return [
                replace(finding, outcome="would repair") if finding.repair else finding
                for finding in findings
            ]
        notes: dict[int, str | None] = {}  # index -> None (repaired) or why not
        edits: dict[str, list[tuple[int, SetFields]]] = {}
        rows: list[tuple[int, UpdateRow]] = []
        for index in pending:
            repair = findings[index].repair
            if isinstance(repair, SetFields):
                edits.setdefault(repair.address, []).append((index, repair))
            elif isinstance(repair, UpdateRow):
                rows.append((index, repair))
            elif isinstance(repair, RemoveLeftover):
                notes[index] = _attempt(self._remove, repair)
        for address, items in edits.items():
            assert self.files is not None, "file repairs come from a file store"
            note = _attempt(_rewrite, self.files, address, [edit for _, edit in items])
            notes.update((index, note) for index, _ in items)
        if rows:
            notes.update(self._update_rows(rows))
        return [
            _settled(finding, notes[index]) if index in notes else finding
            for index, finding in enumerate(findings)
        ]

    def _remove(self, repair: RemoveLeftover) -> None:
        # A temporary file is locked through its conversation directory, as its writer
        # held that lock; a .deleting-* directory through itself: a delete holds that
        # lock (taken before it hid the directory) until it has decided whether to move
        # the directory back, so it is never taken from under a delete that does.
        lock = repair.lock
        if lock is None and repair.path.is_dir() and not repair.path.is_symlink():
            lock = repair.path
        try:
            if lock is not None:
                with locked_directory(lock):
                    self._remove_stale(repair.path)
            else:
                self._remove_stale(repair.path)
        except FileNotFoundError:
            return  # gone already: the leftover is no more, which is the point

    def _remove_stale(self, path: Path) -> None:
        status = path.lstat()
        if time.time() - status.st_mtime < self.stale_after:
            raise NotRepaired("it was modified meanwhile: a write or delete may be in progress")
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, onerror=_ignore_vanished)
        else:
            path.unlink()

    def _update_rows(self, items: list[tuple[int, UpdateRow]]) -> dict[int, str | None]:
        store = self.sql
        assert store is not None, "row repairs come from a SQL store"

        def work(connection: Connection) -> list[bool]:
            return [_update_row(store, connection, update) for _, update in items]

        try:
            done = store.write(work)
        except StoreUnavailable as error:
            return {index: f"the transaction failed: {error}" for index, _ in items}
        changed = "the row changed since verify read it; run verify again"
        return {index: None if ok else changed for (index, _), ok in zip(items, done, strict=True)}


def _attempt(action: Callable[..., None], *arguments: Any) -> str | None:
    try:
        action(*arguments)
    except NotRepaired as reason:
        return str(reason)
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        return f"cannot change{where}: {error.strerror or error}"
    return None


def _settled(finding: Finding, note: str | None) -> Finding:
    if note is None:
        return replace(finding, outcome="repaired")
    return replace(finding, outcome="not repaired", note=note)


def _ignore_vanished(_function: Any, _path: str, info: Any) -> None:
    # Another process (the interrupted delete's own rmtree) may be removing it too.
    if not isinstance(info[1], FileNotFoundError):
        raise info[1]


def _rewrite(files: FileStore, address: str, edits: list[SetFields]) -> None:
    """Apply every edit of one file in one compare-and-swap against the bytes verify read."""

    def edit(raw: bytes) -> bytes:
        content = raw
        if any(edit.reencode for edit in edits):
            converted = utf8_bytes(raw)
            if converted is None:
                raise NotRepaired("it cannot be re-encoded as UTF-8 without losing characters")
            content = converted
        changes = [change for edit in edits for change in edit.changes]
        if changes:
            decoded = metadata_json.decode(content)
            if decoded.data is None or decoded.problems:
                raise NotRepaired("it no longer decodes cleanly; fix it by hand")
            data = dict(decoded.data)
            data.update(changes)
            content = metadata_json.encode_like(content, decoded.data, data)
        return content

    try:
        files.rewrite(address, edits[0].version, edit)
    except Conflict as error:
        raise NotRepaired("metadata.json changed since verify read it; run verify again") from error
    except ConvstoreError as error:
        raise NotRepaired(str(error)) from error


def _update_row(store: SqlStore, connection: Connection, update: UpdateRow) -> bool:
    table = store.table
    conditions = [table.c.conversation_id == update.conversation_id]
    conditions += [_still(store, change) for change in update.changes]
    values = {
        change.column: stored(store, change.column, change.value) for change in update.changes
    }
    result = connection.execute(table.update().where(*conditions).values(values))
    return result.rowcount == 1


def _still(store: SqlStore, change: RowChange) -> ColumnElement[bool]:
    column = store.table.c[change.column]
    if change.expected is not None:
        same: ColumnElement[bool] = column == stored(store, change.column, change.expected)
        return same
    if _json_column(store, change.column):
        # SQLAlchemy writes Python None into a JSON column as JSON null, not SQL NULL.
        return or_(column.is_(None), cast(column, String) == "null")
    return column.is_(None)


def _json_column(store: SqlStore, name: str) -> bool:
    return name in ("pr_number", "tags") or isinstance(store.table.c[name].type, JSON)


def stored(store: SqlStore, column: str, value: Any) -> Any:
    """A logical value as this table stores it (SQLite keeps timestamps and JSON as text)."""
    if isinstance(value, datetime):
        return time_parameter(value, sqlite=store.sqlite)
    if store.sqlite and (column in TIMESTAMP_COLUMNS or _json_column(store, column)):
        return json.dumps(value) if not isinstance(value, str) else value
    return value
