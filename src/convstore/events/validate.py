"""Would OpenHands 1.x read this V1 event file, and if not, why.

1.x lists a conversation by globbing ``<conversation dir>/*`` (names starting with "."
are not matched) and parsing every file with its pydantic models; a file that fails is
logged and dropped from view. It fetches one event by opening ``<UUID(id).hex>.json``
and sorts events by comparing timestamp strings. So a file is either dropped (errors:
not UTF-8, not JSON, an unknown kind at any level, an unknown key, a missing required
field, a wrong type, the reserved id ``__root__``) or shown, possibly wrongly (warnings:
a timestamp that sorts out of place, a name that does not match the id, a hidden name).
The field rules come from ``v1``, the same statement of the models the converter builds
from.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from convstore.events import v1
from convstore.events.clock import is_canonical


@dataclass(frozen=True)
class Verdict:
    """What 1.x would make of one file."""

    name: str
    kind: str | None
    errors: tuple[str, ...]  # each one alone makes 1.x drop the file
    warnings: tuple[str, ...]  # shown, but out of place, unfetchable, or not fully checked

    @property
    def readable(self) -> bool:
        return not self.errors


def validate_event_file(path: Path) -> Verdict:
    """Check one file as 1.x would read it."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        return Verdict(path.name, None, (f"cannot be read: {error.strerror or error}",), ())
    return validate_event_bytes(raw, path.name)


def validate_event_bytes(raw: bytes, name: str) -> Verdict:
    """Check the content of a file named ``name`` as 1.x would read it."""
    findings = v1.Findings()
    if name.startswith("."):
        findings.warnings.append("the name starts with '.': 1.x never lists it")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return _verdict(name, None, findings, "not UTF-8")
    except (ValueError, RecursionError) as error:
        return _verdict(name, None, findings, f"not JSON: {error}")
    if not isinstance(data, dict):
        return _verdict(name, None, findings, "not a JSON object")
    v1.EVENT.check(data, "", findings)
    _check_name(data, name, findings)
    timestamp = data.get("timestamp")
    if isinstance(timestamp, str) and not is_canonical(timestamp):
        findings.warnings.append(
            f"timestamp {timestamp!r} is not YYYY-MM-DDTHH:MM:SS.ffffff: it sorts out of place"
        )
    kind = data.get("kind")
    return _verdict(name, kind if isinstance(kind, str) else None, findings)


def _check_name(data: dict[str, object], name: str, findings: v1.Findings) -> None:
    if "id" not in data:
        findings.warnings.append("no id: 1.x makes up a new one on every read")
        return
    event_id = data["id"]
    if not isinstance(event_id, str):
        return  # already an error
    try:
        expected = f"{uuid.UUID(event_id).hex}.json"
    except ValueError:
        findings.warnings.append(f"id {event_id!r} is not a UUID: 1.x cannot fetch the event")
        return
    if name != expected:
        findings.warnings.append(f"named {name}, not {expected}: 1.x lists it but cannot fetch it")


def _verdict(name: str, kind: str | None, findings: v1.Findings, *errors: str) -> Verdict:
    return Verdict(name, kind, (*errors, *findings.errors), tuple(findings.warnings))
