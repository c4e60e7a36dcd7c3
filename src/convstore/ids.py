"""Conversation ids: the rules OpenHands' API enforces, and the two forms of a UUID.

V0 mints ids as ``uuid4().hex`` (32 hex digits); V1 stores ``str(uuid)`` (dashed).
OpenHands routes an id that parses as a UUID in either form to the V1 row with the
dashed form first, then to V0 with the id exactly as given.
"""

from __future__ import annotations

import re
import uuid

from convstore.errors import UsageError

MAX_ID_LENGTH = 100
SHOWN_ID_LENGTH = 80  # of an id's repr in an error message, quotes included
# Checked once per record read: a regex scans in C what a generator would per character.
_CONTROL = re.compile("[\x00-\x1f]")


def id_problem(conversation_id: str) -> str | None:
    """Why OpenHands' API would refuse this id, or None when it is acceptable."""
    if not conversation_id:
        return "the conversation id is empty"
    if len(conversation_id) > MAX_ID_LENGTH:
        return f"the conversation id is {len(conversation_id)} characters long (at most 100)"
    if _CONTROL.search(conversation_id):
        return "the conversation id contains a NUL or control character"
    for forbidden in ("..", "/", "\\"):
        if forbidden in conversation_id:
            return f"the conversation id contains {forbidden!r}"
    return None


def validate_id(conversation_id: str) -> str:
    """Return the id unchanged, or raise UsageError saying why it is refused."""
    problem = id_problem(conversation_id)
    if problem is not None:
        shown = repr(conversation_id)
        if len(shown) > SHOWN_ID_LENGTH:
            # A 5,000-character id would make the one error line a page: its start, the
            # closing quote, and its length (which a too-long id's problem already says).
            shown = shown[: SHOWN_ID_LENGTH - 2] + "…" + shown[-1]
            if len(conversation_id) <= MAX_ID_LENGTH:
                shown += f" ({len(conversation_id)} characters)"
        raise UsageError(f"invalid conversation id {shown}: {problem}")
    return conversation_id


def parse_uuid(conversation_id: str) -> uuid.UUID | None:
    """The UUID an id denotes, else None.

    Parsed exactly as OpenHands routes (``uuid.UUID(id)``): hex and dashed forms, in
    either case, and the spellings ``uuid.UUID`` tolerates (braces, ``urn:uuid:``).
    """
    try:
        return uuid.UUID(conversation_id)
    except (ValueError, TypeError):
        return None


def v1_form(conversation_id: str) -> str | None:
    """The dashed form a V1 row uses, or None when the id is not a UUID."""
    parsed = parse_uuid(conversation_id)
    return None if parsed is None else str(parsed)


def v0_form(conversation_id: str) -> str | None:
    """The 32-digit hex form V0 mints, or None when the id is not a UUID."""
    parsed = parse_uuid(conversation_id)
    return None if parsed is None else parsed.hex
