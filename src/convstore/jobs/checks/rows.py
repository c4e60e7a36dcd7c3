"""Checks of the ``conversation_metadata`` table, one row at a time, one rule per check.

The table is read in keyset chunks on its primary key (``conversation_id > last``), raw:
the checks must tell a null from a default, which a validated record no longer can.
The rules for V1 rows are FORMATS.md's "What OpenHands needs of a V1 row", judged by
``convstore.v1_rules`` for the generation of the table (as ``list`` and ``show`` judge
them); the checks here add remedies and repairs. Where OpenHands 1.x relaxed a rule
(nulls read as defaults) it holds only on 2025 schemas or grades lower there, and a
column a revision lacks is not judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, false, null, select
from sqlalchemy.exc import DBAPIError

from convstore.ids import parse_uuid, v0_form
from convstore.jobs.checks.base import Check, Context, Issue
from convstore.jobs.checks.fields import invalid_fields
from convstore.jobs.checks.lookup import owner_column, uuid_forms
from convstore.jobs.checks.repairs import RowChange, UpdateRow
from convstore.jobs.checks.schema import (
    needs_column,
    needs_ownership,
    needs_schema,
    needs_sqlite,
    only_2025,
)
from convstore.jobs.checks.twins import V0View
from convstore.jobs.v0_to_v1 import sandbox_id_for
from convstore.model import (
    TOKEN_FIELDS,
    format_v0_datetime,
    parse_timestamp,
)
from convstore.quoting import clip
from convstore.stores.sql import TABLE, SqlStore
from convstore.stores.sql_connection import unavailable
from convstore.stores.sql_values import TIMESTAMP_COLUMNS, time_parameter
from convstore.v1_rules import (
    CANNOT_LOAD,
    OTHER_USAGE,
    READ_USAGE,
    VALUE_SETS,
    Fault,
    faults,
    names,
)

CHUNK = 1000
LIVE_SANDBOX_PREFIX = "oh-agent-server-"  # Docker sandbox ids (FORMATS.md)
_OWNER = "convstore_owner"
_SAAS_ROW = "convstore_ownership_row"


@dataclass(slots=True)
class Row:
    conversation_id: str
    values: dict[str, Any]  # the columns as stored; SQLite's JSON text decoded
    owner: str | None
    ownership_row: bool | None  # None where there is no ownership table
    location: str
    columns: frozenset[str] = field(default_factory=frozenset)
    # The V1 rules it breaks (convstore.v1_rules), by check; empty for other rows.
    faults: dict[str, list[Fault]] = field(default_factory=dict)

    @property
    def version(self) -> Any:
        return self.values.get("conversation_version")

    @property
    def v1(self) -> bool:
        return bool(self.version == "V1")

    def lookup_ids(self) -> list[str]:
        ids = []
        parent = self.values.get("parent_conversation_id")
        if isinstance(parent, str):
            ids.append(parent)
        if _live_sandbox(self) and (hexadecimal := v0_form(self.conversation_id)):
            ids.append(hexadecimal)
        return ids


def scan(store: SqlStore, context: Context) -> Iterator[Row | V0View]:
    """Every row in scope, in primary-key order, one chunk in memory at a time."""
    table = store.table
    owner = owner_column(store)
    extra: list[Any] = [(null() if owner is None else owner).label(_OWNER)]
    if store.ownership is not None:
        extra.append(store.ownership.c.conversation_id.label(_SAAS_ROW))
    statement = select(table, *extra)
    if store.ownership is not None:
        statement = statement.select_from(
            table.outerjoin(
                store.ownership, store.ownership.c.conversation_id == table.c.conversation_id
            )
        )
    if context.user is not None:
        forms = uuid_forms(context.user)
        statement = statement.where(false() if owner is None else cast(owner, String).in_(forms))
    location = f"{TABLE} in {store.display}"
    last: str | None = None
    while True:
        page = statement if last is None else statement.where(table.c.conversation_id > last)
        try:
            with store.engine.connect() as connection:
                rows = (
                    connection.execute(page.order_by(table.c.conversation_id).limit(CHUNK))
                    .mappings()
                    .all()
                )
        except DBAPIError as error:
            raise unavailable(store.display, error) from error
        for mapping in rows:
            row = _row(store, dict(mapping), location)
            yield row
            if row.version == "V0":
                yield V0View(
                    row.conversation_id, location, "sql", row.values.get("last_updated_at")
                )
        if len(rows) < CHUNK:
            return
        last = rows[-1]["conversation_id"]


def _row(store: SqlStore, values: dict[str, Any], location: str) -> Row:
    owner = values.pop(_OWNER, None)
    saas = values.pop(_SAAS_ROW, None) if store.ownership is not None else None
    version = values.get("conversation_version")
    if store.sqlite:
        for name in ("pr_number", "tags"):
            if isinstance(values.get(name), str):
                values[name] = _json(values[name])
    return Row(
        conversation_id=values["conversation_id"],
        values=values,
        owner=None if owner is None else str(owner),
        ownership_row=None if store.ownership is None else saas is not None,
        location=location,
        columns=store.columns,
        faults=faults(values, store.generation) if version == "V1" else {},
    )


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text  # left as text: the checks report what it is


def _live_sandbox(row: Row) -> bool:
    sandbox = row.values.get("sandbox_id")
    return row.v1 and isinstance(sandbox, str) and sandbox.startswith(LIVE_SANDBOX_PREFIX)


# The checks


def bad_version(row: Row, _context: Context) -> Iterator[Issue]:
    version = row.version
    if version in ("V0", "V1"):
        return
    near = version.strip().upper() if isinstance(version, str) else None
    remedy = (
        f"set it to {near!r}"
        if near in ("V0", "V1")
        else "set it to 'V1' if the row passes every sql.v1-* check, else 'V0'"
    )
    yield Issue(
        f"conversation_version is {clip(version)}, neither V0 nor V1, so OpenHands shows "
        "this row nowhere",
        remedy,
    )


# The rules of a V1 row are judged in convstore.v1_rules, as list and show judge them;
# these checks say how to repair what it found.


def v1_invalid_id(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-invalid-id", ()):
        parsed = parse_uuid(row.conversation_id)
        if parsed is None:
            remedy = (
                "give the row a UUID id (and update rows that name it as their parent), "
                "or delete it"
            )
        else:
            remedy = (
                f"set conversation_id to {str(parsed)!r} (and the parent_conversation_id of "
                "its sub-conversations)"
            )
        yield Issue(fault.problem, remedy, severity=fault.severity)


def v1_null_sandbox(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-null-sandbox", ()):
        hexadecimal = v0_form(row.conversation_id) or "<id>"
        yield Issue(
            fault.problem,
            f"set sandbox_id to a value no sandbox service hands out, such as "
            f"'archived-{hexadecimal}': OpenHands then opens the conversation read-only",
            severity=fault.severity,
        )


def v1_null_timestamp(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-null-timestamp", ()):
        remedy, repair = _timestamp_repair(row, list(fault.columns))
        yield Issue(fault.problem, remedy, repair, severity=fault.severity)


def _timestamp_repair(row: Row, nulls: list[str]) -> tuple[str, UpdateRow | None]:
    """Copy the timestamp that is set into the one that is null, when one is set."""
    others = [name for name in TIMESTAMP_COLUMNS if name in row.columns and name not in nulls]
    if not others:
        return "set both timestamps (when the conversation started)", None
    source, target = others[0], nulls[0]
    value = parse_timestamp(row.values[source])
    if value is None:  # the other one is unreadable too: sql.invalid-field says so
        return f"set {target} (and correct {source})", None
    return f"--fix copies {source} into {target}", UpdateRow(
        row.conversation_id,
        (RowChange(target, value),),
        f"set {target} of row {row.conversation_id} to its {source} ({format_v0_datetime(value)})",
    )


def unknown_value(row: Row, context: Context) -> Iterator[Issue]:
    if row.v1:
        for fault in row.faults.get("sql.unknown-value", ()):
            name = fault.columns[0]
            remedy = _value_remedy(name, row.values[name])
            yield Issue(fault.problem, remedy, severity=fault.severity)
        return
    era_2025 = context.schema is not None and context.schema.generation == "2025"
    reader = "OpenHands' V0 reader skips this conversation"
    for name, in_2025, known in VALUE_SETS:
        value = row.values.get(name)
        if not isinstance(value, str):
            continue
        if value not in known:
            problem = (
                f"{name} {clip(value)} is not a value any OpenHands release knows, so {reader}"
            )
        elif era_2025 and value not in in_2025:
            problem = (
                f"{name} {value!r} exists only in OpenHands 1.x, but this database is at a "
                "2025 revision, whose server cannot load the row"
            )
        else:
            continue
        yield Issue(problem, _value_remedy(name, value))


def _value_remedy(name: str, value: str) -> str:
    known = next(known for column, _, known in VALUE_SETS if column == name)
    if value in known:  # known to 1.x only
        return f"set {name} to null until the deployment runs OpenHands 1.x"
    return f"set {name} to null or one of {', '.join(sorted(known))}"


def v1_pr_number(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-pr-number", ()):
        if row.values.get("pr_number") is not None:
            yield Issue(
                fault.problem,
                "set it to [] or to the list of its pull request numbers",
                severity=fault.severity,
            )
            continue
        yield Issue(
            fault.problem,
            "--fix sets it to []",
            UpdateRow(
                row.conversation_id,
                (RowChange("pr_number", []),),
                f"set pr_number of row {row.conversation_id} to []",
            ),
            severity=fault.severity,
        )


def v1_null_usage(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-null-usage", ()):
        nulls = list(fault.columns)
        changes = tuple(RowChange(name, 0.0 if name == "accumulated_cost" else 0) for name in nulls)
        yield Issue(
            fault.problem,
            "--fix sets them to 0",
            UpdateRow(
                row.conversation_id,
                changes,
                f"set {names(nulls)} of row {row.conversation_id} to 0",
            ),
            severity=fault.severity,
        )


def negative_usage(row: Row, _context: Context) -> Iterator[Issue]:
    if row.v1:
        for fault in row.faults.get("sql.negative-usage", ()):
            remedy = f"set {fault.columns[0]} to its true value, or 0"
            yield Issue(fault.problem, remedy, severity=fault.severity)
        return
    for name in (*READ_USAGE, *OTHER_USAGE):
        value = row.values.get(name)
        if (type(value) is int or type(value) is float) and value < 0:
            yield Issue(
                f"{name} is negative ({value}); migrate-v0-to-v1 will write 0",
                f"set {name} to its true value, or 0",
                severity="warning",
            )


def v1_parent_not_uuid(row: Row, _context: Context) -> Iterator[Issue]:
    for fault in row.faults.get("sql.v1-parent-not-uuid", ()):
        yield Issue(
            fault.problem,
            "set it to the dashed id of the parent conversation, or to null",
            severity=fault.severity,
        )


def parent_missing(row: Row, context: Context) -> Iterator[Issue]:
    parent = row.values.get("parent_conversation_id")
    if not isinstance(parent, str) or parent in context.known.rows:
        return
    yield Issue(
        f"parent_conversation_id {parent!r} names no row: OpenHands lists a "
        "sub-conversation only with its parent, so no one sees this one",
        "set parent_conversation_id to null to list it on its own, or delete it",
    )


def v0_without_user(row: Row, _context: Context) -> Iterator[Issue]:
    if row.version != "V0" or (row.owner is not None and row.owner.strip()):
        return
    yield Issue(
        "this V0 row has no user: OpenHands lists V0 rows per user, so no one sees it",
        "set its user_id; migrate-v0-to-v1 gives such rows the --default-user",
    )


def v1_missing_owner(row: Row, _context: Context) -> Iterator[Issue]:
    if not row.v1 or row.ownership_row is not False:
        return
    yield Issue(
        "no conversation_metadata_saas row: OpenHands 1.x enterprise finds a "
        "conversation's owner there, so no one sees this one",
        "insert its conversation_metadata_saas row (user_id, org_id)",
    )


def token_total(row: Row, _context: Context) -> Iterator[Issue]:
    prompt, completion, total = (row.values.get(name) for name in TOKEN_FIELDS)
    if not (type(prompt) is int and type(completion) is int and type(total) is int):
        return
    if total == prompt + completion:
        return
    yield Issue(
        f"total_tokens is {total:,}, but prompt_tokens + completion_tokens is "
        f"{prompt + completion:,} ({prompt:,} + {completion:,})",
        "OpenHands shows total_tokens as stored: correct whichever count is wrong",
    )


def invalid_field(row: Row, _context: Context) -> Iterator[Issue]:
    consequence = CANNOT_LOAD if row.v1 else "OpenHands' V0 reader skips this conversation"
    for sentence in invalid_fields(row.values, frozenset({"pr_number"})):
        yield Issue(
            f"{sentence}; {consequence}",
            f"correct {sentence.split(' ', 1)[0]} (SQLite keeps whatever type was written)",
        )


def sqlite_timestamp_text(row: Row, _context: Context) -> Iterator[Issue]:
    for name in TIMESTAMP_COLUMNS:
        text = row.values.get(name)
        if not isinstance(text, str):
            continue
        value = parse_timestamp(text)
        if value is None or _in_text_order(text, value):
            continue  # an unreadable one: sql.invalid-field says so
        written = time_parameter(value, sqlite=True)
        yield Issue(
            f"{name} is stored as {text!r}, not in the form OpenHands writes ({written!r}): "
            "listings order timestamps by their text in SQLite, so this conversation is "
            "listed out of its place in time",
            f"--fix rewrites it as {written!r}, the same instant",
            UpdateRow(
                row.conversation_id,
                (RowChange(name, value, expected=text),),
                f"rewrite {name} of row {row.conversation_id} as {written!r}",
            ),
        )


def _in_text_order(text: str, value: datetime) -> bool:
    """Whether ``text`` sorts among SQLAlchemy's text timestamps as ``value`` does: naive
    UTC ``YYYY-MM-DD HH:MM:SS``, with any number of fraction digits (SQLite's
    CURRENT_TIMESTAMP writes none, SQLAlchemy six)."""
    seconds = value.strftime("%Y-%m-%d %H:%M:%S")
    rest = text[len(seconds) :]
    return text.startswith(seconds) and (not rest or (rest[0] == "." and rest[1:].isdigit()))


def live_sandbox(row: Row, context: Context) -> Iterator[Issue]:
    if not _live_sandbox(row):
        return
    parsed = parse_uuid(row.conversation_id)
    if parsed is None:
        return
    evidence = _v0_origin(parsed.hex, context)
    if evidence is None:
        return
    sandbox = row.values["sandbox_id"]
    replacement = sandbox_id_for(parsed)
    yield Issue(
        f"this conversation came from V0 ({evidence}), but its sandbox_id {sandbox!r} "
        "looks like a Docker sandbox: OpenHands 1.x tries to resume that sandbox instead "
        "of opening the conversation read-only",
        f"--fix sets sandbox_id to {replacement!r}, the value migrate-v0-to-v1 writes",
        UpdateRow(
            row.conversation_id,
            (RowChange("sandbox_id", replacement, expected=sandbox),),
            f"set sandbox_id of row {row.conversation_id} to {replacement!r}",
        ),
    )


def _v0_origin(hexadecimal: str, context: Context) -> str | None:
    """Where the V0 conversation this row came from is (within --user's scope), if anywhere."""
    row = context.known.v0_row(hexadecimal)
    if row is not None and context.owned(row.owner):
        return f"V0 row {hexadecimal}"
    if context.files is not None:
        for found in context.files.origins(hexadecimal):
            if context.user is None or context.owned(found.user()):
                return found.location
    return None


CHECKS: tuple[Check[Row], ...] = (
    Check(
        "sql.bad-version",
        "error",
        "conversation_version neither V0 nor V1: the row is shown nowhere",
        Row,
        bad_version,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-invalid-id",
        "error",
        "V1 rule: conversation_id is a UUID, stored dashed",
        Row,
        v1_invalid_id,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-null-sandbox",
        "error",
        "V1 rule: sandbox_id is not null",
        Row,
        v1_null_sandbox,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-null-timestamp",
        "error",
        "V1 rule: created_at and last_updated_at are set (a warning on 1.x schemas)",
        Row,
        v1_null_timestamp,
        fixable=True,
        applies=needs_schema,
    ),
    Check(
        "sql.unknown-value",
        "error",
        "V1 rule: trigger, git_provider (and execution_status) are values OpenHands knows",
        Row,
        unknown_value,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-pr-number",
        "error",
        "V1 rule: pr_number is a JSON list of ints (null: 2025 schemas only)",
        Row,
        v1_pr_number,
        fixable=True,
        applies=needs_column("pr_number", "001"),
    ),
    Check(
        "sql.v1-null-usage",
        "error",
        "V1 rule: cost and the token columns the server reads are not null (2025 schemas)",
        Row,
        v1_null_usage,
        fixable=True,
        applies=only_2025,
    ),
    Check(
        "sql.negative-usage",
        "error",
        "V1 rule: cost and token counts are >= 0 (a warning where nothing rejects them)",
        Row,
        negative_usage,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-parent-not-uuid",
        "error",
        "V1 rule: parent_conversation_id, when set, is a UUID",
        Row,
        v1_parent_not_uuid,
        applies=needs_column("parent_conversation_id", "003"),
    ),
    Check(
        "sql.parent-missing",
        "warning",
        "parent_conversation_id names no row: the sub-conversation is orphaned",
        Row,
        parent_missing,
        lookup=True,
        applies=needs_column("parent_conversation_id", "003"),
    ),
    Check(
        "sql.v0-without-user",
        "warning",
        "a V0 row without a user: OpenHands lists V0 rows per user",
        Row,
        v0_without_user,
        applies=needs_schema,
    ),
    Check(
        "sql.v1-missing-owner",
        "error",
        "a V1 row without its conversation_metadata_saas row (1.x enterprise)",
        Row,
        v1_missing_owner,
        applies=needs_ownership,
    ),
    Check(
        "sql.token-total",
        "warning",
        "total_tokens differs from prompt_tokens + completion_tokens",
        Row,
        token_total,
        applies=needs_schema,
    ),
    Check(
        "sql.invalid-field",
        "error",
        "a column holds a value of the wrong type (SQLite stores any type)",
        Row,
        invalid_field,
        applies=needs_schema,
    ),
    Check(
        "sql.timestamp-text",
        "warning",
        "SQLite: a timestamp stored in another text form than OpenHands writes sorts out of order",
        Row,
        sqlite_timestamp_text,
        fixable=True,
        applies=needs_sqlite,
    ),
    Check(
        "sql.v1-live-sandbox-id",
        "warning",
        "a V1 row migrated from V0 whose sandbox_id looks like a real sandbox (oh-agent-server-)",
        Row,
        live_sandbox,
        fixable=True,
        lookup=True,
        applies=needs_schema,
    ),
)
