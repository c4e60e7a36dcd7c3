"""Bytes of a metadata.json to a dict and back, saying precisely what OpenHands would trip on.

OpenHands opens the file as UTF-8 text and calls ``json.loads``: a byte order mark,
UTF-16 or invalid UTF-8 hide the conversation. convstore still reads what it can and
reports why. Writing back keeps every key, the key order and the file's own JSON
style, so a file rewritten without changes keeps the same bytes.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from typing import Any

# Real metadata.json files are a few hundred bytes; a larger one is not metadata.
MAX_METADATA_BYTES = 1 << 20
# A \uXXXX escape of a UTF-16 surrogate: a pair is a character, a lone one is not.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Real metadata nests two levels (pr_number, tags). A fixed bound, not the interpreter's
# recursion limit, so a file reads the same however deep the caller's stack is.
MAX_NESTING = 64

# The styles OpenHands and hand edits have produced, tried in order to reproduce a file.
_STYLES: tuple[dict[str, Any], ...] = (
    {"separators": (",", ":"), "ensure_ascii": False},  # pydantic's dump_json (current)
    {"separators": (",", ":"), "ensure_ascii": True},
    {"separators": (", ", ": "), "ensure_ascii": True},  # json.dumps defaults (early 2025)
    {"separators": (", ", ": "), "ensure_ascii": False},
    {"indent": 2, "ensure_ascii": False},
    {"indent": 2, "ensure_ascii": True},
)


@dataclass
class Decoded:
    """The JSON object in a metadata.json (None when there is none) and what is wrong."""

    data: dict[str, Any] | None
    problems: list[str] = field(default_factory=list)


def decode(raw: bytes) -> Decoded:
    problems: list[str] = []
    if raw.startswith(b"\xef\xbb\xbf"):
        problems.append(
            "metadata.json starts with a UTF-8 byte order mark; OpenHands cannot read it"
        )
        text = raw[3:].decode("utf-8", errors="replace")
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(raw) > 1 and b"\x00" in raw[:4]):
        encoding = json.detect_encoding(raw)
        problems.append(f"metadata.json is {encoding.upper()}, not UTF-8; OpenHands cannot read it")
        text = raw.decode(encoding, errors="replace")
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            problems.append(
                f"metadata.json is not valid UTF-8 (byte {error.start}); OpenHands cannot read it"
            )
            text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        problems.append(
            f"metadata.json is not valid JSON: line {error.lineno} column {error.colno} "
            f"({error.msg})"
        )
        return Decoded(None, problems)
    except ValueError:
        # Not a JSONDecodeError: an integer longer than int() converts (CVE-2020-10735).
        problems.append(
            "metadata.json is not valid JSON: a number has more than "
            f"{sys.get_int_max_str_digits():,} digits"
        )
        return Decoded(None, problems)
    except RecursionError:
        problems.append("metadata.json is nested too deeply to be metadata")
        return Decoded(None, problems)
    # Depth is at most the number of brackets: counting them (in C) spares the walk
    # for every real file, which has a handful.
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting(data) > MAX_NESTING:
        problems.append("metadata.json is nested too deeply to be metadata")
        return Decoded(None, problems)
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        replaced: list[str] = []
        data = _without_lone_surrogates(data, replaced)
        if replaced:
            problems.append(
                "metadata.json escapes a lone surrogate (\\ud800-\\udfff), which is not a "
                f"character, in {_clip(replaced[0])}; shown as \ufffd"
            )
    if not isinstance(data, dict):
        problems.append(f"metadata.json holds a JSON {type(data).__name__}, not an object")
        return Decoded(None, problems)
    return Decoded(data, problems)


def _without_lone_surrogates(value: Any, replaced: list[str]) -> Any:
    """``value`` with every lone surrogate (no UTF-8 form, so no output) made U+FFFD."""
    if isinstance(value, str):
        cleaned = _LONE_SURROGATE.sub("\ufffd", value)
        if cleaned != value:
            replaced.append(value)
        return cleaned
    if isinstance(value, list):
        return [_without_lone_surrogates(item, replaced) for item in value]
    if isinstance(value, dict):
        return {
            _without_lone_surrogates(key, replaced): _without_lone_surrogates(item, replaced)
            for key, item in value.items()
        }
    return value


def _clip(text: str, limit: int = 40) -> str:
    shown = ascii(text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def _nesting(data: Any) -> int:
    """How deeply lists and objects nest in ``data`` (0 for a scalar), without recursion."""
    deepest = 0
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            children = value.values() if isinstance(value, dict) else value
            if depth <= MAX_NESTING:
                pending.extend((child, depth + 1) for child in children)
    return deepest


def encode_like(original: bytes, original_data: dict[str, Any], data: dict[str, Any]) -> bytes:
    """Serialize ``data`` in the JSON style ``original`` was written in.

    The style is found by re-serializing the original: the first style that
    reproduces its bytes exactly is used, and whitespace after the JSON (the newline an
    editor adds) is kept. A file in no known style is written the way OpenHands writes
    today.
    """
    body = original.rstrip()
    ending = original[len(body) :]
    for style in _STYLES:
        if _dump(original_data, style) == body:
            return _dump(data, style) + ending
    return _dump(data, _STYLES[0])


def encode_new(data: dict[str, Any]) -> bytes:
    """A new file, exactly as OpenHands' pydantic ``dump_json`` writes one."""
    return _dump(data, _STYLES[0])


def _dump(data: dict[str, Any], style: dict[str, Any]) -> bytes:
    return json.dumps(data, **style).encode("utf-8")
