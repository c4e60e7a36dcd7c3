"""convstore's V1 shapes against dumps the real SDK made (tests/data/events/v1_reference/).

CI has no SDK: these dumps, made by openhands-sdk/-tools 1.34 (tests/events/sdk_check.py
rewrites them), are what catches drift. Every field list in ``v1`` must rebuild them
exactly, key order included; every event convstore writes must have the keys (at every
level) of the reference of its kind; and ``encode`` must give their exact bytes.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from convstore.events import convert_conversation, encode, find_events_dir, v1, validate_event_bytes
from tests.events.conftest import CONVERSATION, DATA, OLD_CONVERSATION, OLD_USER, STORE

REFERENCES = {path.stem: path for path in sorted((DATA / "v1_reference").glob("*.json"))}
TAGGED = {
    model.name: model
    for kinds in (v1.EVENT, v1.ACTION, v1.OBSERVATION)
    for model in kinds.models.values()
}
FREE_FORM = ("data", "value")  # any JSON: MCPToolAction.data, ConversationStateUpdateEvent.value
# Untagged models, by the field that holds them.
NESTED = {
    "llm_message": v1.MESSAGE,
    "tool_call": v1.TOOL_CALL,
    "metadata": v1.CMD_OUTPUT_METADATA,
    "system_prompt": v1.TEXT,
}


def reference_name(event: dict[str, Any]) -> str:
    inner = event.get("action") or event.get("observation")
    return f"{event['kind']}-{inner['kind']}" if isinstance(inner, dict) else str(event["kind"])


def rebuild(value: Any, model: v1.Model | None = None) -> Any:
    """Rebuild a dumped value with convstore's models, nested ones included."""
    if isinstance(value, list):
        return [rebuild(item) for item in value]
    if not isinstance(value, dict):
        return value
    if model is None and "kind" in value:
        model = TAGGED[value["kind"]]
    if model is None and "type" in value:
        model = v1.TEXT if value["type"] == "text" else v1.IMAGE
    assert model is not None, value
    fields = {
        key: item if key in FREE_FORM else rebuild(item, NESTED.get(key))
        for key, item in value.items()
        if key != "kind"
    }
    return model.build(**fields)


def assert_same_keys(ours: Any, reference: Any, where: str) -> None:
    """Same keys in the same order at every level; list items against the reference's like item."""
    if isinstance(ours, dict):
        assert isinstance(reference, dict), where
        assert list(ours) == list(reference), where
        assert ours.get("kind") == reference.get("kind"), where
        for key, item in ours.items():
            if key not in FREE_FORM:
                assert_same_keys(item, reference[key], f"{where}.{key}")
    elif isinstance(ours, list) and isinstance(reference, list) and reference:
        for index, item in enumerate(ours):
            tag = item.get("type") if isinstance(item, dict) else None
            like = [
                other for other in reference if isinstance(other, dict) and other.get("type") == tag
            ]
            assert_same_keys(item, (like or reference)[0], f"{where}[{index}]")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every file convstore writes for the fixture store."""
    root = tmp_path_factory.mktemp("v1")
    for conversation, user in ((CONVERSATION, None), (OLD_CONVERSATION, OLD_USER)):
        events_dir = find_events_dir(STORE, conversation, user)
        assert events_dir is not None
        convert_conversation(events_dir, conversation, root)
    return sorted(root.glob("*/*.json"))


def test_there_is_a_reference_for_every_kind_convstore_writes() -> None:
    assert sorted(REFERENCES) == sorted(
        [
            "MessageEvent",
            "SystemPromptEvent",
            "AgentErrorEvent",
            "UserRejectObservation",
            "ConversationStateUpdateEvent",
            "Condensation",
            *(f"ActionEvent-{model}" for model in v1.ACTION.models),
            *(f"ObservationEvent-{model}" for model in v1.OBSERVATION.models),
        ]
    )


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_models_rebuild_the_sdk_dump_exactly(name: str) -> None:
    raw = REFERENCES[name].read_bytes()
    dumped = json.loads(raw)
    rebuilt = rebuild(dumped)
    assert json.dumps(rebuilt) == json.dumps(dumped)  # same keys, same order, same values
    assert encode(rebuilt) == raw  # and the same bytes: indent, separators, unicode, floats


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_the_validator_reads_the_sdk_dumps(name: str) -> None:
    dumped = json.loads(REFERENCES[name].read_bytes())
    verdict = validate_event_bytes(
        REFERENCES[name].read_bytes(), f"{uuid.UUID(dumped['id']).hex}.json"
    )
    assert (verdict.errors, verdict.warnings, verdict.kind) == ((), (), dumped["kind"])


def test_every_written_event_has_the_keys_of_its_reference(written: list[Path]) -> None:
    produced: set[str] = set()
    for path in written:
        event = json.loads(path.read_bytes())
        name = reference_name(event)
        produced.add(name)
        assert_same_keys(event, json.loads(REFERENCES[name].read_bytes()), str(path))
    assert produced == set(REFERENCES)  # the fixtures exercise every kind


def test_the_byte_form_is_pydantics() -> None:
    """What json.dumps would get wrong, and model_dump_json does not."""
    event = v1.STATE_UPDATE_EVENT.build(
        id="x", timestamp="t", key="k", value={"f": [0.00001, 1e16, 1.0], "s": "é\u2028\x7f\x00"}
    )
    assert encode(event).decode() == (
        "{\n"
        '  "id": "x",\n'
        '  "timestamp": "t",\n'
        '  "source": "environment",\n'
        '  "parent_id": null,\n'
        '  "key": "k",\n'
        '  "value": {\n'
        '    "f": [\n'
        "      0.00001,\n"
        "      1e+16,\n"
        "      1.0\n"
        "    ],\n"
        '    "s": "é\u2028\x7f\\u0000"\n'
        "  },\n"
        '  "kind": "ConversationStateUpdateEvent"\n'
        "}"
    )
    assert json.dumps({"f": 0.00001}) == '{"f": 1e-05}'  # why json.dumps is not used


def test_unwritable_values_are_made_writable() -> None:
    """Half a surrogate pair (V0 could escape one) and non-finite floats."""
    event = v1.STATE_UPDATE_EVENT.build(
        id="x", timestamp="t", key="k", value={"s": "cut \ud83d", "n": float("nan")}
    )
    assert json.loads(encode(event))["value"] == {"s": "cut \ufffd", "n": None}


def test_build_refuses_unknown_and_missing_fields() -> None:
    with pytest.raises(TypeError, match="has no field colour"):
        v1.THINK_ACTION.build(thought="x", colour="red")
    with pytest.raises(TypeError, match=r"ThinkAction\.thought must be given"):
        v1.THINK_ACTION.build()
    with pytest.raises(TypeError, match=r"MessageEvent\.id must be given"):
        v1.MESSAGE_EVENT.build(source="user", llm_message={})
    first, second = v1.MESSAGE.build(role="user"), v1.MESSAGE.build(role="user")
    first["content"].append("x")
    assert second["content"] == []  # defaults are copied, never shared
