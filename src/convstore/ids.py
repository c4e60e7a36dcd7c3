"""Conversation ids: the rules OpenHands' API enforces, and the two forms of a UUID.

V0 mints ids as ``uuid4().hex`` (32 hex digits); V1 stores ``str(uuid)`` (dashed).
OpenHands routes an id that parses as a UUID in either form to the V1 row with the
dashed form first, then to V0 with the id exactly as given; convstore also finds a V0
conversation under the hex form of any spelling, and by a prefix of its id (as git
takes an abbreviated hash).
"""

from __future__ import annotations

import re
import uuid

from convstore.errors import UsageError
from convstore.quoting import clip

MAX_ID_LENGTH = 100
SHOWN_ID_LENGTH = 80  # of an id's repr in an error message, quotes included
# The fewest hex digits an abbreviated id may have: as many as `list` prints.
MIN_PREFIX_DIGITS = 8
_HEX_DIGITS = re.compile("[0-9a-f]+")
_ID_CHARACTERS = re.compile("[0-9a-f-]+")
_UUID_GROUPS = (8, 4, 4, 4, 12)  # hex digits per group of the dashed form
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
        # A 5,000-character id would make the one error line a page: its start, the
        # closing quote, and its length (which a too-long id's problem already says).
        shown = clip(conversation_id, SHOWN_ID_LENGTH)
        if shown != repr(conversation_id) and len(conversation_id) <= MAX_ID_LENGTH:
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


def id_prefix(text: str) -> str | None:
    """The hex digits an abbreviated UUID stands for, lower case, or None when ``text``
    is not one: 8 to 31 hex digits, in either case, plain or with dashes where the
    dashed form has them (``cd16b1cc``, ``CD16B1CC6E47``, ``cd16b1cc-6e47``)."""
    lowered = text.lower()
    digits = lowered.replace("-", "")
    if not MIN_PREFIX_DIGITS <= len(digits) < 32 or not _HEX_DIGITS.fullmatch(digits):
        return None
    if lowered.rstrip("-") not in (digits, dashed_prefix(digits)):
        return None  # dashes out of place: not a spelling of a UUID
    return digits


def short_prefix(text: str) -> bool:
    """True for hex digits too few to abbreviate an id (``id_prefix`` wants 8)."""
    digits = text.lower().replace("-", "")
    return 0 < len(digits) < MIN_PREFIX_DIGITS and bool(_HEX_DIGITS.fullmatch(digits))


def dashed_prefix(digits: str) -> str:
    """The start of the dashed form whose hex digits begin with ``digits``."""
    groups, start = [], 0
    for size in _UUID_GROUPS:
        if start >= len(digits):
            break
        groups.append(digits[start : start + size])
        start += size
    return "-".join(groups)


def prefix_forms(digits: str) -> tuple[str, ...]:
    """How a stored id that starts with these hex digits begins: the hex form (V0) and
    the dashed form (V1), one string when they agree (8 digits)."""
    return tuple(dict.fromkeys((digits, dashed_prefix(digits))))


def abbreviates(digits: str, conversation_id: str) -> bool:
    """Whether ``digits`` (from ``id_prefix``) abbreviate an id a store holds: one of
    lower-case hex digits and dashes, as OpenHands mints them, that begins with their
    hex form (V0) or dashed form (V1)."""
    return _ID_CHARACTERS.fullmatch(conversation_id) is not None and conversation_id.startswith(
        prefix_forms(digits)
    )


def conversation_key(conversation_id: str) -> str:
    """What the forms of one conversation share: a UUID's hex form (a V0 conversation and
    its V1 twin), else the id itself."""
    return v0_form(conversation_id) or conversation_id


def spelling_extending(conversation_id: str, typed: str) -> str | None:
    """A spelling of ``conversation_id`` that starts with what a person typed, or None.

    The id itself when it does; for a UUID, else, its hex or dashed form in the case
    typed (every spelling finds the same conversation). Shell completion offers ids so,
    since a shell keeps only the candidates that extend the word being completed.
    """
    if conversation_id.startswith(typed):
        return conversation_id
    parsed = parse_uuid(conversation_id)
    if parsed is None:
        return None
    for spelled in (parsed.hex, str(parsed)):
        for cased in (spelled, spelled.upper()):
            if cased.startswith(typed):
                return cased
    return None
