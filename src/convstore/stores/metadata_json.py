"""Bytes of a metadata.json to a dict and back, saying precisely what OpenHands would trip on.

OpenHands opens the file as UTF-8 text and calls ``json.loads``: a byte order mark,
UTF-16 or invalid UTF-8 hide the conversation. convstore still reads what it can and
reports why. Writing back keeps every key, the key order and the file's own JSON
style, so a file rewritten without changes keeps the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Real metadata.json files are a few hundred bytes; a larger one is not metadata.
MAX_METADATA_BYTES = 1 << 20

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
    except RecursionError:
        problems.append("metadata.json is nested too deeply to be metadata")
        return Decoded(None, problems)
    if not isinstance(data, dict):
        problems.append(f"metadata.json holds a JSON {type(data).__name__}, not an object")
        return Decoded(None, problems)
    return Decoded(data, problems)


def encode_like(original: bytes, original_data: dict[str, Any], data: dict[str, Any]) -> bytes:
    """Serialize ``data`` in the JSON style ``original`` was written in.

    The style is found by re-serializing the original: the first style that
    reproduces its bytes exactly is used. A file in no known style is written the
    way OpenHands writes today.
    """
    for style in _STYLES:
        if _dump(original_data, style) == original:
            return _dump(data, style)
    return _dump(data, _STYLES[0])


def encode_new(data: dict[str, Any]) -> bytes:
    """A new file, exactly as OpenHands' pydantic ``dump_json`` writes one."""
    return _dump(data, _STYLES[0])


def _dump(data: dict[str, Any], style: dict[str, Any]) -> bytes:
    return json.dumps(data, **style).encode("utf-8")
