"""What OpenHands needs of a V1 row to load it: FORMATS.md's rules, stated once.

Both views of a row judge it here: a record's ``problems`` (``list``, ``show``: the SQL
store hands them over as it reads the row) and ``verify``'s findings (the ``sql.v1-*``
checks, and the V1 half of ``sql.unknown-value`` and ``sql.negative-usage``, which add
remedies and repairs). tests/test_v1_rules.py holds the two equal on rows of every
schema revision.

The rules changed between releases, so a row is judged by the generation of the table
it is in. The late-2025 app server crashes on a null ``pr_number`` or usage column and
on a null timestamp; OpenHands 1.x reads them as ``[]``, 0 and the current time, and
knows a few more enum values. The revision in ``alembic_version`` would name the
generation, but the enterprise chain numbers its revisions differently (its late-2025
table is ``085``), so the generation is read from the table itself: revision 005 of the
app server dropped ``github_user_id``, and every 1.x table lacks it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from convstore.ids import parse_uuid
from convstore.model import (
    EXECUTION_STATUSES,
    GIT_PROVIDERS,
    KNOWN_GIT_PROVIDERS,
    KNOWN_TRIGGERS,
    TRIGGERS,
)
from convstore.quoting import clip
from convstore.stores.sql_values import TIMESTAMP_COLUMNS

Generation = Literal["2025", "1.x"]
Grade = Literal["error", "warning"]
Values = Mapping[str, Any]  # a row's columns as stored (JSON decoded); absent: no such column

CANNOT_LOAD = "OpenHands cannot load this V1 row"
CANNOT_LOAD_2025 = "the 2025 app server cannot load this V1 row"
# The usage columns the app server hands to its pydantic models (TokenUsage, MetricsSnapshot
# in SQLAppConversationInfoService._to_info): the 2025 server passes them as stored, so a
# null fails validation; 1.x passes ``value or 0``. Both reject a negative one (ge=0).
READ_USAGE = (
    "accumulated_cost",
    "prompt_tokens",
    "completion_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "context_window",
    "per_turn_token",
)
# Counted but not read into those models: a negative value is only a wrong figure, a null
# one harms nothing.
OTHER_USAGE = ("total_tokens", "reasoning_tokens")


def generation_of(columns: Collection[str]) -> Generation:
    """The OpenHands generation of a ``conversation_metadata`` table with these columns."""
    return "2025" if "github_user_id" in columns else "1.x"


@dataclass(frozen=True, slots=True)
class Fault:
    """One rule a V1 row breaks: what is wrong, how grave, and which columns."""

    problem: str
    severity: Grade = "error"
    columns: tuple[str, ...] = ()  # the columns at fault, in the order the sentence names them


def faults(values: Values, generation: Generation) -> dict[str, list[Fault]]:
    """The rules of its generation that a V1 row breaks: by check, in ``RULES`` order."""
    found: dict[str, list[Fault]] = {}
    for check, judge in RULES.items():
        broken = judge(values, generation)
        if broken:
            found[check] = list(broken)
    return found


def problems(values: Values, generation: Generation) -> list[str]:
    """What ``faults`` finds, as the sentences of a record's ``problems``."""
    return [fault.problem for judge in RULES.values() for fault in judge(values, generation)]


def names(columns: list[str]) -> str:
    """Column names as a sentence lists them: ``a``, ``a and b``, ``a, b and c``."""
    if len(columns) == 1:
        return columns[0]
    return ", ".join(columns[:-1]) + " and " + columns[-1]


def _are(columns: list[str]) -> str:
    return "is" if len(columns) == 1 else "are"


# The rules, one per verify check.


def invalid_id(values: Values, _generation: Generation) -> Sequence[Fault]:
    identifier = str(values["conversation_id"])
    parsed = parse_uuid(identifier)
    if parsed is None:
        return (Fault(f"conversation_id {clip(identifier)} is not a UUID, so {CANNOT_LOAD}"),)
    if str(parsed) != identifier:
        return (
            Fault(
                f"conversation_id is stored as {clip(identifier)}, not in the dashed form "
                f"{str(parsed)!r} OpenHands looks V1 rows up by: it is listed, but opening "
                "it fails"
            ),
        )
    return ()


def null_sandbox(values: Values, _generation: Generation) -> Sequence[Fault]:
    if values.get("sandbox_id") is not None:
        return ()
    return (Fault(f"sandbox_id is null, so {CANNOT_LOAD}", columns=("sandbox_id",)),)


def null_timestamp(values: Values, generation: Generation) -> Sequence[Fault]:
    nulls = [name for name in TIMESTAMP_COLUMNS if name in values and values[name] is None]
    if not nulls:
        return ()
    if generation == "1.x":
        consequence = (
            "OpenHands 1.x reads it as the current time, so the conversation looks new on "
            "every listing"
        )
    else:
        consequence = CANNOT_LOAD_2025
    problem = f"{names(nulls)} {_are(nulls)} null: {consequence}"
    return (Fault(problem, "warning" if generation == "1.x" else "error", tuple(nulls)),)


# The enum columns: the values the 2025 server knows, and those any release knows.
VALUE_SETS: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = (
    ("trigger", TRIGGERS, KNOWN_TRIGGERS),
    ("git_provider", GIT_PROVIDERS, KNOWN_GIT_PROVIDERS),
    ("execution_status", EXECUTION_STATUSES, EXECUTION_STATUSES),
)


def unknown_value(values: Values, generation: Generation) -> Sequence[Fault]:
    found = []
    for name, in_2025, known in VALUE_SETS:
        value = values.get(name)
        if not isinstance(value, str):
            continue  # null, or a wrong type (sql.invalid-field says so)
        if value not in known:
            found.append(
                Fault(
                    f"{name} {clip(value)} is not a value any OpenHands release knows, "
                    f"so {CANNOT_LOAD}",
                    columns=(name,),
                )
            )
        elif generation == "2025" and value not in in_2025:
            found.append(
                Fault(
                    f"{name} {value!r} exists only in OpenHands 1.x, but this database is at "
                    "a 2025 revision, whose server cannot load the row",
                    columns=(name,),
                )
            )
    return found


def pr_number(values: Values, generation: Generation) -> Sequence[Fault]:
    if "pr_number" not in values:
        return ()
    value = values["pr_number"]
    if value is None:
        if generation != "2025":
            return ()
        problem = f"pr_number is null; {CANNOT_LOAD_2025} (it expects a JSON list)"
        return (Fault(problem, columns=("pr_number",)),)
    if type(value) is list and all(type(item) is int for item in value):
        return ()
    problem = f"pr_number is {clip(value)}, not a JSON list of ints, so {CANNOT_LOAD}"
    return (Fault(problem, columns=("pr_number",)),)


def null_usage(values: Values, generation: Generation) -> Sequence[Fault]:
    if generation != "2025":
        return ()
    nulls = [name for name in READ_USAGE if name in values and values[name] is None]
    if not nulls:
        return ()
    problem = (
        f"{names(nulls)} {_are(nulls)} null; {CANNOT_LOAD_2025} (OpenHands 1.x reads null as 0)"
    )
    return (Fault(problem, columns=tuple(nulls)),)


_USAGE = (*READ_USAGE, *OTHER_USAGE)
_NUMBERS = (int, float)  # exact types: a bool is no count


def negative_usage(values: Values, _generation: Generation) -> Sequence[Fault]:
    found = []
    for name in _USAGE:
        value = values.get(name, 0)
        if type(value) not in _NUMBERS or value >= 0:
            continue
        if name in READ_USAGE:
            found.append(Fault(f"{name} is negative ({value}), so {CANNOT_LOAD}", columns=(name,)))
        else:
            problem = f"{name} is negative ({value}): OpenHands shows a wrong figure"
            found.append(Fault(problem, "warning", (name,)))
    return found


def parent_not_uuid(values: Values, _generation: Generation) -> Sequence[Fault]:
    parent = values.get("parent_conversation_id")
    if parent is None or parse_uuid(str(parent)) is not None:
        return ()
    problem = f"parent_conversation_id {clip(parent)} is not a UUID, so {CANNOT_LOAD}"
    return (Fault(problem, columns=("parent_conversation_id",)),)


# The rules by the verify check that reports their faults (rows.py adds remedies and repairs).
RULES: dict[str, Callable[[Values, Generation], Sequence[Fault]]] = {
    "sql.v1-invalid-id": invalid_id,
    "sql.v1-null-sandbox": null_sandbox,
    "sql.v1-null-timestamp": null_timestamp,
    "sql.unknown-value": unknown_value,
    "sql.v1-pr-number": pr_number,
    "sql.v1-null-usage": null_usage,
    "sql.negative-usage": negative_usage,
    "sql.v1-parent-not-uuid": parent_not_uuid,
}
