"""The V0 -> V1 mapping of EVENTS.md, event kind by event kind, field by field."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from convstore.errors import UsageError
from convstore.events import convert_conversation, event_uuid, find_events_dir
from convstore.events.v1 import FILE_EDITOR_ACTION, TERMINAL_ACTION
from tests.events.conftest import (
    CONVERSATION,
    OLD_CONVERSATION,
    OLD_USER,
    STORE,
    Converted,
    V0Conversation,
    tool_call,
)

Convert = Callable[..., Converted]
TEXT = {"cache_prompt": False, "type": "text"}


def text(value: str) -> dict[str, Any]:
    return {**TEXT, "text": value}


def v1_id(n: int, *, added: bool = False, conversation: str = CONVERSATION) -> str:
    return str(event_uuid(uuid.UUID(conversation), n, added=added))


@pytest.fixture(scope="module")
def fixture_run(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    """The late-2025 fixture conversation (tests/data/events/v0), converted once."""
    events_root = tmp_path_factory.mktemp("v1") / "v1_conversations"
    events_dir = STORE / "sessions" / CONVERSATION / "events"
    report = convert_conversation(events_dir, CONVERSATION, events_root)
    return Converted(report, events_root / CONVERSATION)


def event(run: Converted, n: int, *, added: bool = False) -> dict[str, Any]:
    return run.by_id[v1_id(n, added=added)]


def test_report_counts_every_v0_event_by_kind(fixture_run: Converted) -> None:
    report = fixture_run.report
    assert report.conversation_id == uuid.UUID(CONVERSATION)
    assert dict(report.converted) == {
        "action:system": 1,
        "action:message": 4,
        "action:run": 3,
        "observation:run": 1,
        "action:read": 1,
        "observation:read": 1,
        "action:think": 1,
        "observation:think": 1,
        "action:edit": 1,
        "observation:edit": 1,
        "action:write": 1,
        "observation:write": 1,
        "action:call_tool_mcp": 1,
        "observation:mcp": 1,
        "observation:user_rejected": 1,
        "observation:error": 1,
        "action:condensation": 1,
        "action:finish": 1,
        "observation:agent_state_changed": 6,
    }
    assert dict(report.summarized) == {
        "action:run_ipython": 1,
        "observation:run_ipython": 1,
        "action:browse_interactive": 1,
        "observation:browse": 1,
        "action:edit": 1,  # an LLM-based edit
        "observation:edit": 1,  # ... and its observation
        "observation:error": 1,  # without a cause
        "action:delegate": 1,
        "observation:delegate": 1,
        "action:task_tracking": 1,
        "observation:task_tracking": 1,
        "action:loop_recovery": 1,
        "observation:loop_detection": 1,
    }
    assert dict(report.skipped) == {
        "action:recall": 1,
        "observation:recall": 1,
        "action:run": 1,  # hidden
        "observation:run": 1,  # answering the hidden run
        "action:change_agent_state": 1,
        "observation:null": 1,
        "observation:agent_state_changed": 1,  # loading
    }
    assert report.v0_events == 49
    assert report.events == report.written == len(fixture_run.events) == 43  # + finish's added one
    assert report.unchanged == 0
    assert [problem.message for problem in report.problems] == [
        "cache page holds event 30, but events/30.json differs from it (V0 showed the page)",
        "cache page holds event 44, but events/44.json does not exist (V0 showed the page)",
    ]


def test_conversion_equals_the_files_the_sdk_read_back(
    fixture_run: Converted, tmp_path: Path
) -> None:
    """Byte for byte: tests/data/events/v1_expected holds what openhands-sdk 1.34 re-dumped."""
    expected = STORE.parent / "v1_expected"
    for conversation, user in ((CONVERSATION, None), (OLD_CONVERSATION, OLD_USER)):
        events_dir = find_events_dir(STORE, conversation, user)
        assert events_dir is not None
        convert_conversation(events_dir, conversation, tmp_path)
        written = sorted(path.name for path in (tmp_path / conversation).iterdir())
        assert written == sorted(path.name for path in (expected / conversation).iterdir())
        for name in written:
            assert (tmp_path / conversation / name).read_bytes() == (
                expected / conversation / name
            ).read_bytes(), name


def test_system_prompt(fixture_run: Converted) -> None:
    assert event(fixture_run, 0) == {
        "id": v1_id(0),
        "timestamp": "2025-11-03T14:00:00.000101",
        "source": "agent",
        "parent_id": None,
        "system_prompt": text(
            "You are OpenHands agent, a helpful AI assistant that can interact with a computer "
            "to solve tasks."
        ),
        "tools": [],  # the V0 tool specs are lost
        "dynamic_context": None,
        "kind": "SystemPromptEvent",
    }


def test_user_message(fixture_run: Converted) -> None:
    assert event(fixture_run, 1) == {
        "id": v1_id(1),
        "timestamp": "2025-11-03T14:00:01.002000",
        "source": "user",
        "parent_id": None,
        "llm_message": {
            "role": "user",
            "content": [
                text("Fix the failing test in app/test_math.py \u2014 caf\u00e9 \U0001f600")
            ],
            "tool_calls": None,
            "tool_call_id": None,
            "name": None,
            "reasoning_content": None,
            "thinking_blocks": [],
            "responses_reasoning_item": None,
        },
        "llm_response_id": None,
        "activated_skills": [],
        "extended_content": [],
        "sender": None,
        "critic_result": None,
        "kind": "MessageEvent",
    }


def test_run_and_its_observation(fixture_run: Converted) -> None:
    assert event(fixture_run, 5) == {
        "id": v1_id(5),
        "timestamp": "2025-11-03T14:00:02.002000",
        "source": "agent",
        "parent_id": None,
        "thought": [text("I will run the tests.")],
        "reasoning_content": None,
        "thinking_blocks": [],
        "responses_reasoning_item": None,
        "action": {
            "command": "pytest -q",
            "is_input": False,
            "timeout": None,
            "reset": False,
            "kind": "TerminalAction",
        },
        "tool_name": "terminal",
        "tool_call_id": "toolu_01",
        "tool_call": {
            "id": "toolu_01",
            "responses_item_id": None,
            "name": "terminal",
            "arguments": '{"command": "pytest -q", "is_input": false}',
            "origin": "completion",
        },
        "llm_response_id": "chatcmpl-001",
        "security_risk": "LOW",
        "critic_result": None,
        "summary": None,
        "kind": "ActionEvent",
    }
    assert event(fixture_run, 6) == {
        "id": v1_id(6),
        "timestamp": "2025-11-03T14:00:05.435558",
        "source": "environment",
        "parent_id": None,
        "tool_name": "terminal",
        "tool_call_id": "toolu_01",
        "observation": {
            "content": [text("F\n1 failed")],
            "is_error": False,
            "command": "pytest -q",
            "exit_code": 1,
            "timeout": False,
            "metadata": {
                "exit_code": 1,
                "pid": 42,
                "username": "openhands",
                "hostname": "runtime-7c1d",
                "working_dir": "/workspace/app",
                "py_interpreter_path": "/usr/bin/python",
                "prefix": "",
                "suffix": "\n[The command completed with exit code 1.]",
            },
            "full_output_save_dir": None,
            "kind": "TerminalObservation",
        },
        "action_id": v1_id(5),
        "extended_content": [],
        "kind": "ObservationEvent",
    }


def test_read_write_and_edit_become_the_file_editor(fixture_run: Converted) -> None:
    view, viewed = event(fixture_run, 7), event(fixture_run, 8)
    assert view["action"] == FILE_EDITOR_ACTION.build(command="view", path="/workspace/app/math.py")
    assert (view["tool_name"], view["tool_call_id"], view["llm_response_id"]) == (
        "file_editor",
        "toolu_02",
        "chatcmpl-002",
    )
    assert viewed["observation"] == {
        "content": [
            text(
                json.loads((STORE / "sessions" / CONVERSATION / "events" / "8.json").read_text())[
                    "content"
                ]
            )
        ],
        "is_error": False,
        "command": "view",
        "path": "/workspace/app/math.py",
        "prev_exist": False,
        "old_content": None,
        "new_content": None,
        "kind": "FileEditorObservation",
    }
    edit, edited = event(fixture_run, 11), event(fixture_run, 12)
    assert edit["action"] == {
        "command": "str_replace",
        "path": "/workspace/app/math.py",
        "file_text": None,
        "old_str": "return a - b",
        "new_str": "return a + b",
        "insert_line": None,
        "view_range": None,
        "kind": "FileEditorAction",
    }
    assert edit["thought"] == [text("Fixing the operator.")]
    assert edit["security_risk"] == "MEDIUM"
    assert edited["observation"] | {"content": []} == {
        "content": [],
        "is_error": False,
        "command": "str_replace",  # the action's: V0's observation has no command
        "path": "/workspace/app/math.py",
        "prev_exist": True,
        "old_content": "def add(a, b):\n    return a - b\n",
        "new_content": "def add(a, b):\n    return a + b\n",
        "kind": "FileEditorObservation",
    }
    write, written = event(fixture_run, 13), event(fixture_run, 14)
    assert write["action"] == FILE_EDITOR_ACTION.build(
        command="create", path="/workspace/app/NOTES.md", file_text="# Notes\n"
    )
    assert written["observation"]["command"] == "create"


def test_think_moves_the_thought_into_the_action(fixture_run: Converted) -> None:
    think, thought = event(fixture_run, 9), event(fixture_run, 10)
    assert think["thought"] == []
    assert think["action"] == {
        "thought": "add() subtracts: the test is right, the code is wrong.",
        "kind": "ThinkAction",
    }
    assert think["tool_name"] == think["tool_call"]["name"] == "think"
    assert thought["observation"] == {
        "content": [text("Your thought has been logged.")],
        "is_error": False,
        "kind": "ThinkObservation",
    }
    assert thought["source"] == "environment"


def test_finish_gains_the_observation_v0_never_wrote(fixture_run: Converted) -> None:
    finish, added = event(fixture_run, 40), event(fixture_run, 40, added=True)
    assert finish["action"] == {"message": "Fixed add(); all tests pass.", "kind": "FinishAction"}
    assert finish["thought"] == [text("Wrapping up.")]
    assert added == {
        "id": v1_id(40, added=True),
        "timestamp": "2025-11-03T14:00:32.000001",  # the finish's time + 1 µs
        "source": "environment",
        "parent_id": None,
        "tool_name": "finish",
        "tool_call_id": "toolu_10",
        "observation": {
            "content": [text("Fixed add(); all tests pass.")],
            "is_error": False,
            "kind": "FinishObservation",
        },
        "action_id": v1_id(40),
        "extended_content": [],
        "kind": "ObservationEvent",
    }
    assert event(fixture_run, 41)["timestamp"] == "2025-11-03T14:00:32.000100"


def test_mcp_calls_keep_the_tool_and_its_arguments(fixture_run: Converted) -> None:
    call, result = event(fixture_run, 19), event(fixture_run, 20)
    assert call["action"] == {
        "data": {"url": "https://example.com", "max_length": 5000},
        "kind": "MCPToolAction",
    }
    assert call["tool_name"] == call["tool_call"]["name"] == "fetch"
    assert json.loads(call["tool_call"]["arguments"]) == call["action"]["data"]
    assert result["tool_name"] == "fetch"
    assert result["observation"]["tool_name"] == "fetch"
    assert result["observation"]["kind"] == "MCPToolObservation"


def test_rejections_and_errors_answer_the_tool_call(fixture_run: Converted) -> None:
    assert event(fixture_run, 24) == {
        "id": v1_id(24),
        "timestamp": "2025-11-03T14:00:19.000000",
        "source": "environment",
        "parent_id": None,
        "tool_name": "terminal",
        "tool_call_id": "toolu_08",
        "rejection_reason": "Action has been rejected by the user! Waiting for further user input.",
        "rejection_source": "user",
        "action_id": v1_id(23),
        "kind": "UserRejectObservation",
    }
    assert event(fixture_run, 23)["security_risk"] == "HIGH"
    assert event(fixture_run, 29) == {
        "id": v1_id(29),
        "timestamp": "2025-11-03T14:00:24.000000",
        "source": "agent",
        "parent_id": None,
        "tool_name": "terminal",
        "tool_call_id": "v0-call-28",  # the run had no tool_call_metadata
        "error": "Runtime disconnected",
        "kind": "AgentErrorEvent",
    }


def test_kinds_without_a_counterpart_become_summaries(fixture_run: Converted) -> None:
    def said(n: int) -> str:
        message = event(fixture_run, n)
        assert message["kind"] == "MessageEvent"
        assert message["source"] == "agent"
        assert message["llm_message"]["role"] == "assistant"
        [content] = message["llm_message"]["content"]
        return str(content["text"])

    assert said(15) == "(V0 run_ipython) Quick check.\ncode: print(1 + 1)\ninclude_extra: true"
    assert said(16) == "(V0 run_ipython) 2\n[Jupyter current working directory: /workspace/app]"
    assert said(18) == "(V0 browse) [Current URL: http://localhost:51234]\n# App"  # no screenshot
    assert said(25).startswith("(V0 edit) path: /workspace/app/util.py\ncontent: def helper():")
    assert said(27) == "(V0 error) AgentStuckInLoopError: Agent got stuck in a loop"
    assert (
        said(30)
        == '(V0 delegate) Delegating.\nagent: BrowsingAgent\ninputs: {"task": "Find the docs"}'
    )
    assert said(31) == "(V0 delegate) Docs are at /docs"
    assert said(32).startswith("(V0 task_tracking) command: plan\ntask_list: [")


def test_skipped_events_write_nothing(fixture_run: Converted) -> None:
    for n in (2, 3, 21, 22, 38, 39, 42):
        assert v1_id(n) not in fixture_run.by_id


def test_condensation_names_the_converted_forgotten_events(fixture_run: Converted) -> None:
    condensation = event(fixture_run, 34)
    assert condensation == {
        "id": v1_id(34),
        "timestamp": "2025-11-03T14:00:28.000000",
        "source": "environment",
        "parent_id": None,
        "forgotten_event_ids": [v1_id(n) for n in range(5, 13)],
        "summary": "Ran the tests; add() subtracted; fixed it.",
        "summary_offset": 1,
        "llm_response_id": "v0-34",
        "kind": "Condensation",
    }


def test_agent_state_changes(fixture_run: Converted) -> None:
    states = {n: event(fixture_run, n)["value"] for n in (4, 37, 41, 45, 49, 50)}
    assert states == {
        4: "running",
        37: "idle",
        41: "finished",
        45: "paused",
        49: "error",
        50: "error",
    }
    assert event(fixture_run, 4) == {
        "id": v1_id(4),
        "timestamp": "2025-11-03T14:00:02.000000",
        "source": "environment",
        "parent_id": None,
        "key": "execution_status",
        "value": "running",
        "kind": "ConversationStateUpdateEvent",
    }


def test_images_and_a_mangled_timestamp(fixture_run: Converted) -> None:
    message = event(fixture_run, 35)
    assert (
        message["timestamp"] == "2025-11-03T14:00:28.000001"
    )  # "<secret_hidden>": previous + 1 µs
    assert message["llm_message"]["content"] == [
        text("Also look at this"),
        {
            "cache_prompt": False,
            "type": "image",
            "image_urls": ["data:image/png;base64,iVBORw0KGgo="],
        },
    ]
    agent = event(fixture_run, 36)
    assert (agent["source"], agent["llm_message"]["role"]) == ("agent", "assistant")


def test_timestamps_increase_strictly_in_v0_id_order(fixture_run: Converted) -> None:
    in_v0_order = sorted(
        fixture_run.events,
        key=lambda e: next(
            (n, added)
            for n in range(51)
            for added in (False, True)
            if v1_id(n, added=added) == e["id"]
        ),
    )
    assert in_v0_order == fixture_run.events  # 1.x's order (by timestamp) is V0's
    stamps = [e["timestamp"] for e in in_v0_order]
    assert stamps == sorted(set(stamps))


def test_every_tool_call_agrees_with_its_action(fixture_run: Converted) -> None:
    models = {"TerminalAction": TERMINAL_ACTION, "FileEditorAction": FILE_EDITOR_ACTION}
    actions = [e for e in fixture_run.events if e["kind"] == "ActionEvent"]
    assert len(actions) == 9
    for action in actions:
        arguments = json.loads(action["tool_call"]["arguments"])
        kind = action["action"]["kind"]
        if kind == "MCPToolAction":
            assert arguments == action["action"]["data"]
        elif kind in models:
            assert models[kind].build(**arguments) == action["action"]
        else:
            assert {**arguments, "kind": kind} == action["action"]
        assert action["tool_call"]["id"] == action["tool_call_id"]
        assert action["tool_call"]["name"] == action["tool_name"]


def test_early_2025_conversation(tmp_path: Path) -> None:
    events_dir = find_events_dir(STORE, OLD_CONVERSATION, OLD_USER)
    assert events_dir is not None
    report = convert_conversation(events_dir, OLD_CONVERSATION, tmp_path)
    run = Converted(report, tmp_path / OLD_CONVERSATION)

    def of(n: int, *, added: bool = False) -> dict[str, Any]:
        return run.by_id[v1_id(n, added=added, conversation=OLD_CONVERSATION)]

    assert [problem.path.name for problem in report.problems] == ["0.json", "6.json"]
    assert of(1)["timestamp"] == "2025-02-10T09:00:00.250000"  # +01:00 -> naive UTC
    run_action = of(2)
    assert run_action["action"]["is_input"] is False  # the string "false"
    assert (run_action["tool_call_id"], run_action["llm_response_id"]) == ("v0-call-2", "v0-2")
    observation = of(3)["observation"]
    assert observation["exit_code"] == 0  # from extras, before V0 had metadata
    assert observation["metadata"]["exit_code"] == 0
    assert observation["metadata"]["pid"] == -1  # command_id
    assert of(4)["timestamp"] == "2025-02-10T09:00:02.000001"  # <secret_hidden>
    assert of(5)["timestamp"] == "2025-02-10T09:00:02.000002"  # earlier than the previous
    assert of(7)["timestamp"] == "2025-02-10T09:01:00.000000"
    assert of(9)["forgotten_event_ids"] == [  # 6 is unreadable, 99 never existed
        v1_id(2, conversation=OLD_CONVERSATION),
        v1_id(3, conversation=OLD_CONVERSATION),
    ]
    assert of(10, added=True)["observation"]["content"] == [text("Listed the files.")]


def test_missing_tool_call_metadata_gets_fallback_ids(v0: V0Conversation, convert: Convert) -> None:
    v0.action(0, "run", {"command": "ls"})
    v0.observation(1, "run", "a", {"command": "ls"}, cause=0)
    v0.action(2, "run", {"command": "pwd"}, tool_call_metadata=tool_call("toolu_x", "chatcmpl-x"))
    v0.observation(3, "run", "/", {"command": "pwd"}, cause=2)
    run = convert(v0)
    first, second = run.of(v0, 0), run.of(v0, 2)
    assert (first["tool_call_id"], first["tool_call"]["id"], first["llm_response_id"]) == (
        "v0-call-0",
        "v0-call-0",
        "v0-0",
    )
    assert run.of(v0, 1)["tool_call_id"] == "v0-call-0"
    assert (second["tool_call_id"], second["llm_response_id"]) == ("toolu_x", "chatcmpl-x")
    assert run.of(v0, 3)["tool_call_id"] == "toolu_x"
    assert run.of(v0, 1)["observation"]["exit_code"] is None  # V0 said nothing of it
    assert run.of(v0, 1)["observation"]["metadata"]["exit_code"] == -1


def test_older_message_and_edit_keys(v0: V0Conversation, convert: Convert) -> None:
    v0.action(
        0,
        "message",
        {"content": "look", "images_urls": ["data:image/png;base64,AA"]},
        source="user",
    )
    code = "print(file_editor(**{'command': 'create', 'path': '/w/a.py', 'file_text': 'x = 1'}))"
    v0.action(1, "edit", {"path": "/w/a.py", "translated_ipython_code": code})
    run = convert(v0)
    assert run.of(v0, 0)["llm_message"]["content"][1]["image_urls"] == ["data:image/png;base64,AA"]
    assert run.of(v0, 1)["action"] == FILE_EDITOR_ACTION.build(
        command="create", path="/w/a.py", file_text="x = 1"
    )


def test_older_run_keys_win_over_the_metadata_as_in_v0(
    v0: V0Conversation, convert: Convert
) -> None:
    v0.action(0, "run", {"command": "make", "keep_prompt": False, "is_confirmed": "confirmed"})
    extras = {"command": "make", "exit_code": 2, "command_id": 77, "metadata": {"exit_code": 0}}
    v0.observation(1, "run", "error", extras, cause=0)
    observation = convert(v0).of(v0, 1)["observation"]
    assert observation["exit_code"] == 2
    assert (observation["metadata"]["exit_code"], observation["metadata"]["pid"]) == (2, 77)


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("running", "running"),
        ("awaiting_user_input", "idle"),
        ("paused", "paused"),
        ("stopped", "paused"),
        ("finished", "finished"),
        ("error", "error"),
        ("rate_limited", "error"),
        ("awaiting_user_confirmation", "waiting_for_confirmation"),
        ("loading", None),
        ("rejected", None),
        ("user_confirmed", None),
        ("user_rejected", None),
        ("no such state", None),
    ],
)
def test_every_agent_state(
    v0: V0Conversation, convert: Convert, state: str, status: str | None
) -> None:
    v0.observation(0, "agent_state_changed", "", {"agent_state": state, "reason": ""})
    run = convert(v0)
    assert [e.get("value") for e in run.events] == ([] if status is None else [status])


def test_observations_follow_their_action(v0: V0Conversation, convert: Convert) -> None:
    v0.action(0, "run", {"command": "git config", "hidden": True})
    v0.observation(1, "run", "", {"command": "git config"}, cause=0)  # action skipped: skipped
    v0.observation(2, "run", "?", {"command": "x"}, cause=99)  # no such action: skipped
    v0.action(3, "run_ipython", {"code": "1"})
    v0.observation(4, "error", "boom", {}, cause=3)  # action summarized: summarized
    v0.action(5, "run", {"command": "ls"})
    v0.observation(6, "read", "odd", {"path": "/x"}, cause=5)  # no terminal counterpart
    v0.action(7, "message", {"content": "hi"}, source="user")
    v0.observation(8, "error", "no", {}, cause=7)  # answers a message
    v0.observation(9, "run", "late", {"command": "ls"}, cause=5)  # a second answer
    run = convert(v0)
    assert dict(run.report.skipped) == {"action:run": 1, "observation:run": 2}
    assert run.report.summarized["observation:error"] == 2
    assert run.report.summarized["observation:read"] == 1
    assert run.of(v0, 9)["action_id"] == v0.v1_id(5)


def test_edits_that_do_not_fit_the_file_editor_are_summarized(
    v0: V0Conversation, convert: Convert
) -> None:
    v0.action(0, "edit", {"path": "/a", "command": "", "content": "x = 1"})  # LLM-based
    v0.action(1, "edit", {"path": "/a", "command": "rewrite"})
    v0.action(2, "edit", {"path": "/a", "command": "insert", "new_str": "y", "insert_line": 3})
    v0.action(3, "edit", {"path": "/a", "command": "view", "view_range": [1, 20]})
    v0.action(4, "read", {"path": "/a", "view_range": [5, -1]})
    v0.action(5, "edit", {"path": "/a", "command": "insert", "new_str": "y", "insert_line": -1})
    run = convert(v0)
    assert run.report.summarized["action:edit"] == 2
    assert run.of(v0, 2)["action"] == FILE_EDITOR_ACTION.build(
        command="insert", path="/a", new_str="y", insert_line=3
    )
    assert json.loads(run.of(v0, 2)["tool_call"]["arguments"]) == {
        "command": "insert",
        "path": "/a",
        "new_str": "y",
        "insert_line": 3,
    }
    assert run.of(v0, 3)["action"]["view_range"] == [1, 20]
    assert run.of(v0, 4)["action"]["view_range"] == [5, -1]
    assert run.of(v0, 5)["action"]["insert_line"] is None  # V1 refuses a negative line


def test_summaries_are_cut_at_4000_characters(v0: V0Conversation, convert: Convert) -> None:
    v0.action(0, "browse", {"url": "https://example.com"})
    v0.observation(1, "browse", "x" * 10_000, {"screenshot": "iVBOR"}, cause=0)
    v0.action(2, "reject", {"outputs": {"reason": "cannot"}, "thought": ""})
    run = convert(v0)
    [summary] = run.of(v0, 1)["llm_message"]["content"]
    assert len(summary["text"]) == 4000
    assert summary["text"].startswith("(V0 browse) xxx")
    assert summary["text"].endswith("x…")
    assert (
        run.of(v0, 2)["llm_message"]["content"][0]["text"]
        == '(V0 reject) outputs: {"reason": "cannot"}'
    )


def test_security_risk_and_sources(v0: V0Conversation, convert: Convert) -> None:
    for n, risk in enumerate([-1, 0, 1, 2, 7, "HIGH", None]):
        v0.action(n, "run", {"command": "ls", "security_risk": risk})
    v0.action(7, "run", {"command": "ls"}, source="user")  # typed in V0's terminal tab
    run = convert(v0)
    assert [run.of(v0, n)["security_risk"] for n in range(7)] == [
        "UNKNOWN",
        "LOW",
        "MEDIUM",
        "HIGH",
        "UNKNOWN",
        "HIGH",
        "UNKNOWN",
    ]
    assert run.of(v0, 7)["source"] == "user"


def test_malformed_events_still_give_valid_events(v0: V0Conversation, convert: Convert) -> None:
    v0.action(0, "message", {"content": {"nested": True}, "image_urls": ["a", 3]})
    v0.action(1, "run", {"command": None, "is_input": "TRUE"})
    v0.write({"id": 2, "action": "call_tool_mcp", "args": {"name": "fetch", "arguments": "url"}})
    v0.write({"id": 3, "action": "think", "args": [1]})
    v0.action(
        4, "condensation", {"forgotten_events_start_id": 0, "forgotten_events_end_id": 10**12}
    )
    run = convert(v0)
    assert run.of(v0, 0)["llm_message"]["content"] == [
        text('{"nested": true}'),
        {"cache_prompt": False, "type": "image", "image_urls": ["a", "3"]},
    ]
    assert run.of(v0, 1)["action"] == TERMINAL_ACTION.build(command="", is_input=True)
    assert run.report.summarized["action:call_tool_mcp"] == 1
    assert run.of(v0, 3)["action"] == {"thought": "", "kind": "ThinkAction"}
    assert run.of(v0, 4)["forgotten_event_ids"] == [v0.v1_id(n) for n in range(4)]


def test_a_conversation_without_a_uuid_gets_no_events(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no UUID id"):
        convert_conversation(tmp_path, "my-old-conversation", tmp_path / "v1")
    assert not (tmp_path / "v1").exists()


def test_a_conversation_without_events_writes_nothing(tmp_path: Path) -> None:
    report = convert_conversation(tmp_path / "none", uuid.uuid4().hex, tmp_path / "v1")
    assert (report.v0_events, report.events, report.problems) == (0, 0, [])
    assert not (tmp_path / "v1").exists()
