"""The validator: would OpenHands 1.x read a V1 file, and if not, why (tamper tests).

Each case breaks a good file the way EVENTS.md says breaks it. tests/events/sdk_check.py
runs thousands of such mutations through the real SDK and this validator and requires
the same verdict from both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from convstore.events import validate_event_bytes, validate_event_file
from tests.events.conftest import DATA

GOOD = DATA / "v1_reference"


def reference(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GOOD / f"{name}.json").read_bytes())
    return loaded


def name_of(event: dict[str, Any]) -> str:
    return f"{str(event['id']).replace('-', '')}.json"


def verdict_after(name: str, tamper: Callable[[dict[str, Any]], object]) -> tuple[str, ...]:
    event = reference(name)
    file_name = name_of(event)
    tamper(event)
    return validate_event_bytes(json.dumps(event).encode(), file_name).errors


@pytest.mark.parametrize(
    ("name", "tamper", "error"),
    [
        ("MessageEvent", lambda e: e.update(mood="happy"), "MessageEvent: unknown field 'mood'"),
        (
            "ActionEvent-TerminalAction",
            lambda e: e["action"].update(cwd="/"),
            "action: unknown field 'cwd'",
        ),
        (
            "ObservationEvent-TerminalObservation",
            lambda e: e["observation"].update(success=True),
            "observation: unknown field 'success'",
        ),
        (
            "MessageEvent",
            lambda e: e["llm_message"]["content"][0].update(bold=True),
            "llm_message.content: matches no alternative",
        ),
        (
            "ActionEvent-ThinkAction",
            lambda e: e.pop("tool_call_id"),
            "required field 'tool_call_id' is missing",
        ),
        (
            "ActionEvent-ThinkAction",
            lambda e: e["action"].pop("thought"),
            "required field 'thought' is missing",
        ),
        ("MessageEvent", lambda e: e.pop("source"), "required field 'source' is missing"),
        (
            "ObservationEvent-TerminalObservation",
            lambda e: e["observation"].pop("command"),
            "'command' is missing",
        ),
        ("Condensation", lambda e: e.pop("llm_response_id"), "'llm_response_id' is missing"),
        ("MessageEvent", lambda e: e.update(timestamp=1762178525), "timestamp: not a string (int)"),
        ("MessageEvent", lambda e: e.update(id="__root__"), "id: '__root__' is reserved"),
        ("MessageEvent", lambda e: e.update(kind="ChatEvent"), "unknown event kind 'ChatEvent'"),
        ("MessageEvent", lambda e: e.pop("kind"), "event: no kind"),
        (
            "ActionEvent-TerminalAction",
            lambda e: e["action"].update(kind="BrowserNavigateAction"),
            "unknown action kind 'BrowserNavigateAction'",
        ),
        (
            "ObservationEvent-ThinkObservation",
            lambda e: e["observation"].update(kind="Nope"),
            "unknown observation kind 'Nope'",
        ),
        ("MessageEvent", lambda e: e.update(source="system"), "source: 'system' is not one of"),
        (
            "ActionEvent-TerminalAction",
            lambda e: e.update(security_risk=2),
            "security_risk: 2 is not one of",
        ),
        (
            "ActionEvent-FileEditorAction",
            lambda e: e["action"].update(insert_line=-1),
            "is below 0",
        ),
        (
            "ActionEvent-FileEditorAction",
            lambda e: e["action"].update(command="append"),
            "'append' is not one of",
        ),
        (
            "ActionEvent-TerminalAction",
            lambda e: e.update(thought="x"),
            "thought: not a list (string)",
        ),
        ("Condensation", lambda e: e.update(summary_offset=-1), "summary_offset: -1 is below 0"),
        ("ConversationStateUpdateEvent", lambda e: e.update(key=None), "key: not a string (null)"),
        (
            "MessageEvent",
            lambda e: e.update(critic_result={"score": 2, "message": None}),
            "score: 2 is above 1",
        ),
    ],
)
def test_tampered_files_are_dropped(
    name: str, tamper: Callable[[dict[str, Any]], object], error: str
) -> None:
    errors = verdict_after(name, tamper)
    assert any(error in message for message in errors), errors


@pytest.mark.parametrize(
    ("name", "tamper"),
    [
        # Message drops unknown keys silently; ImageContent, MessageToolCall and
        # CmdOutputMetadata are plain pydantic models that ignore them too.
        ("MessageEvent", lambda e: e["llm_message"].update(cache_enabled=True, extra=1)),
        ("MessageEvent", lambda e: e["llm_message"]["content"][1].update(detail="low")),
        ("ActionEvent-TerminalAction", lambda e: e["tool_call"].update(type="function")),
        (
            "ObservationEvent-TerminalObservation",
            lambda e: e["observation"]["metadata"].update(x=1),
        ),
        # What pydantic's lax mode coerces.
        ("ActionEvent-TerminalAction", lambda e: e["action"].update(is_input="yes", timeout="30")),
        ("ObservationEvent-TerminalObservation", lambda e: e["observation"].update(exit_code=2.0)),
        # Optional fields may be missing; id and timestamp are then made up.
        (
            "ActionEvent-TerminalAction",
            lambda e: [e.pop(k) for k in ("summary", "parent_id", "id")],
        ),
        ("MessageEvent", lambda e: e["llm_message"].update(content="plain text")),
        ("MessageEvent", lambda e: e["llm_message"]["content"][0].update(enable_truncation=True)),
    ],
)
def test_files_1x_still_reads(name: str, tamper: Callable[[dict[str, Any]], object]) -> None:
    assert verdict_after(name, tamper) == ()


def test_not_utf8_not_json_not_an_object() -> None:
    assert validate_event_bytes(b'{"id": "\xff"}', "a.json").errors == ("not UTF-8",)
    assert validate_event_bytes(b"{", "a.json").errors[0].startswith("not JSON")
    assert validate_event_bytes(b"[]", "a.json").errors == ("not a JSON object",)


def test_warnings_for_files_shown_wrongly() -> None:
    event = reference("MessageEvent")
    good = name_of(event)
    event["timestamp"] = "2025-11-03T14:02:02Z"
    verdict = validate_event_bytes(json.dumps(event).encode(), "other.json")
    assert verdict.readable
    assert verdict.warnings == (
        f"named other.json, not {good}: 1.x lists it but cannot fetch it",
        "timestamp '2025-11-03T14:02:02Z' is not YYYY-MM-DDTHH:MM:SS.ffffff: it sorts out of place",
    )
    event["id"] = "event-1"
    assert (
        "is not a UUID"
        in validate_event_bytes(json.dumps(event).encode(), ".hidden.json").warnings[1]
    )
    assert "never lists it" in validate_event_bytes(b"{}", ".x.json").warnings[0]
    del event["id"]
    assert "no id" in validate_event_bytes(json.dumps(event).encode(), good).warnings[0]


def test_kinds_1x_knows_but_convstore_does_not_model_are_not_judged() -> None:
    verdict = validate_event_bytes(b'{"kind": "PauseEvent", "source": "user"}', "x.json")
    assert verdict.readable
    assert "fields of PauseEvent not checked" in verdict.warnings[0]
    event = reference("ActionEvent-TerminalAction")
    event["action"] = {"kind": "TaskTrackerAction", "command": "plan"}
    assert validate_event_bytes(json.dumps(event).encode(), name_of(event)).readable


def test_validate_a_file(tmp_path: Path) -> None:
    source = GOOD / "Condensation.json"
    target = tmp_path / name_of(reference("Condensation"))
    target.write_bytes(source.read_bytes())
    verdict = validate_event_file(target)
    assert (verdict.readable, verdict.kind, verdict.warnings) == (True, "Condensation", ())
    assert validate_event_file(tmp_path / "missing.json").errors[0].startswith("cannot be read")
