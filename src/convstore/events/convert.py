"""V0 events to V1 events, following the mapping table of EVENTS.md.

A ``Converter`` takes one conversation's V0 events in id order and returns, for each,
the V1 events (as the dicts ``model_dump`` would give, built from ``v1``) that replace
it: none (skipped), one, or two (a ``finish`` gains the observation V0 never wrote).
A V0 event without a V1 counterpart becomes an agent message saying what it was (a
summary); an event whose fields do not fit its counterpart is summarized the same way
rather than dropped.

Memory stays flat in the size of the events: the converter keeps no event, only what
pairing needs, per V0 id: the tool call of each tool action (so observations can answer
it, by ``cause``) and which ids produced V1 events (so a condensation can name them).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from convstore.events import v1
from convstore.events.clock import Clock
from convstore.events.ids import event_uuid
from convstore.events.report import ConversionReport
from convstore.events.v0 import V0Event

V1Event = dict[str, Any]

SUMMARY_LIMIT = 4000
MCP = "mcp"  # the family of MCP tools, whose V1 tool name is the MCP tool's own
SKIPPED_ACTIONS = frozenset({"recall", "change_agent_state", "null", "condensation_request"})
SKIPPED_OBSERVATIONS = frozenset({"recall", "null"})
# V0 agent states -> V1 execution_status; other states are not written.
EXECUTION_STATUS = {
    "running": "running",
    "awaiting_user_input": "idle",
    "paused": "paused",
    "stopped": "paused",
    "finished": "finished",
    "error": "error",
    "rate_limited": "error",
    "awaiting_user_confirmation": "waiting_for_confirmation",
}
SECURITY_RISK = {-1: "UNKNOWN", 0: "LOW", 1: "MEDIUM", 2: "HIGH"}
# The V0 observations each tool family's V1 observation is made from.
ANSWERS = {
    "terminal": frozenset({"run"}),
    "file_editor": frozenset({"read", "write", "edit"}),
    "think": frozenset({"think"}),
    MCP: frozenset({"mcp"}),
}
# Arguments a summary leaves out: said elsewhere, or meaningless once migrated.
_NOT_SUMMARIZED = frozenset(
    {"thought", "security_risk", "confirmation_state", "is_confirmed", "impl_source"}
)


@dataclass(frozen=True, slots=True)
class _ToolCall:
    """What an observation needs of the V1 action it answers."""

    family: str
    tool_name: str
    call_id: str
    editor_command: str | None = None


class Converter:
    """Converts one conversation's V0 events, fed in id order, to V1 events."""

    def __init__(
        self,
        conversation: uuid.UUID,
        report: ConversionReport | None = None,
        *,
        start: datetime | None = None,
    ) -> None:
        self.conversation = conversation
        self.report = report if report is not None else ConversionReport(conversation)
        self._clock = Clock(start)
        self._calls: dict[int, _ToolCall] = {}
        # V0 id -> whether an event was added after it; present = it produced V1 events.
        self._produced: dict[int, bool] = {}

    def convert(self, event: V0Event) -> list[V1Event]:
        """The V1 events that replace ``event``; counted in the report."""
        return self._action(event) if event.is_action else self._observation(event)

    # --- outcomes --------------------------------------------------------------------------

    def _converted(self, event: V0Event, *events: V1Event) -> list[V1Event]:
        self.report.converted[event.kind] += 1
        self._produced[event.id] = len(events) > 1
        return list(events)

    def _skip(self, event: V0Event) -> list[V1Event]:
        self.report.skipped[event.kind] += 1
        return []

    def _summarize(self, event: V0Event) -> list[V1Event]:
        self.report.summarized[event.kind] += 1
        self._produced[event.id] = False
        text = f"(V0 {event.name}) {_describe(event)}".rstrip()
        if len(text) > SUMMARY_LIMIT:
            text = text[: SUMMARY_LIMIT - 1] + "…"
        message = v1.MESSAGE.build(role="assistant", content=[v1.TEXT.build(text=text)])
        return [
            v1.MESSAGE_EVENT.build(**self._envelope(event), source="agent", llm_message=message)
        ]

    def _envelope(self, event: V0Event, *, added: bool = False) -> dict[str, str]:
        # Stamped only for events written, so a skipped event's time cannot push others.
        timestamp = self._clock.tick() if added else self._clock.stamp(event.data.get("timestamp"))
        return {
            "id": str(event_uuid(self.conversation, event.id, added=added)),
            "timestamp": timestamp,
        }

    # --- actions ---------------------------------------------------------------------------

    def _action(self, event: V0Event) -> list[V1Event]:
        name, args = event.name, event.args
        if name in SKIPPED_ACTIONS or (name == "run" and _flag(args.get("hidden"))):
            return self._skip(event)
        if name == "message":
            return self._message(event)
        if name == "system":
            prompt = v1.TEXT.build(text=_text(args.get("content")))
            return self._converted(
                event,
                v1.SYSTEM_PROMPT_EVENT.build(
                    **self._envelope(event), system_prompt=prompt, tools=[]
                ),
            )
        if name == "run":
            arguments = {
                "command": _text(args.get("command")),
                "is_input": _flag(args.get("is_input")),
            }
            action = v1.TERMINAL_ACTION.build(**arguments)
            return self._converted(event, self._tool_action(event, "terminal", action, arguments))
        if name in ("read", "write", "edit"):
            return self._file_editor(event)
        if name == "think":
            # The thought is the action itself; the event's own thought stays empty.
            arguments = {"thought": _text(args.get("thought"))}
            action = v1.THINK_ACTION.build(**arguments)
            return self._converted(
                event, self._tool_action(event, "think", action, arguments, thought=[])
            )
        if name == "finish":
            return self._finish(event)
        if name == "call_tool_mcp":
            return self._mcp(event)
        if name == "condensation":
            return self._condensation(event)
        return self._summarize(event)

    def _message(self, event: V0Event) -> list[V1Event]:
        args = event.args
        content = [v1.TEXT.build(text=_text(args.get("content")))]
        image_urls = args.get("image_urls")
        if isinstance(image_urls, list) and image_urls:
            content.append(v1.IMAGE.build(image_urls=[_text(url) for url in image_urls]))
        by_user = event.data.get("source") == "user"
        message = v1.MESSAGE.build(role="user" if by_user else "assistant", content=content)
        return self._converted(
            event,
            v1.MESSAGE_EVENT.build(
                **self._envelope(event),
                source="user" if by_user else "agent",
                llm_message=message,
                llm_response_id=None if by_user else _response_id(event),
            ),
        )

    def _file_editor(self, event: V0Event) -> list[V1Event]:
        name, args = event.name, event.args
        arguments: dict[str, Any] = {"path": _text(args.get("path"))}
        if name == "read":
            arguments["command"] = "view"
        elif name == "write":
            arguments |= {"command": "create", "file_text": _text(args.get("content"))}
        elif args.get("command") in v1.EDITOR_COMMANDS:
            arguments["command"] = args["command"]
            for key in ("file_text", "old_str", "new_str"):
                if args.get(key) is not None:
                    arguments[key] = _text(args[key])
            insert_line = args.get("insert_line")
            if type(insert_line) is int and insert_line >= 0:
                arguments["insert_line"] = insert_line
        else:  # an LLM-based edit (command ""), which V1 has no tool for
            return self._summarize(event)
        view_range = args.get("view_range")
        if isinstance(view_range, list) and view_range and all(type(n) is int for n in view_range):
            arguments["view_range"] = view_range
        # The dump order is the model's; the call's arguments read best command-first.
        arguments = {"command": arguments.pop("command"), **arguments}
        action = v1.FILE_EDITOR_ACTION.build(**arguments)
        built = self._tool_action(
            event, "file_editor", action, arguments, editor_command=arguments["command"]
        )
        return self._converted(event, built)

    def _finish(self, event: V0Event) -> list[V1Event]:
        arguments = {"message": _text(event.args.get("final_thought"))}
        action = self._tool_action(event, "finish", v1.FINISH_ACTION.build(**arguments), arguments)
        # V1 answers every tool call; V0's finish had no observation, so one is added.
        observation = v1.FINISH_OBSERVATION.build(
            content=[v1.TEXT.build(text=arguments["message"])]
        )
        added = v1.OBSERVATION_EVENT.build(
            **self._envelope(event, added=True),
            tool_name="finish",
            tool_call_id=action["tool_call_id"],
            observation=observation,
            action_id=action["id"],
        )
        return self._converted(event, action, added)

    def _mcp(self, event: V0Event) -> list[V1Event]:
        name, data = event.args.get("name"), event.args.get("arguments")
        if not (isinstance(name, str) and name and isinstance(data, dict)):
            return self._summarize(event)
        # An MCP tool's call carries the tool's own arguments; the action wraps them.
        action = v1.MCP_ACTION.build(data=data)
        return self._converted(event, self._tool_action(event, MCP, action, data, tool_name=name))

    def _tool_action(
        self,
        event: V0Event,
        family: str,
        action: V1Event,
        arguments: dict[str, Any],
        *,
        tool_name: str | None = None,
        thought: list[V1Event] | None = None,
        editor_command: str | None = None,
    ) -> V1Event:
        """The ActionEvent of a tool call; its ``arguments`` are what builds ``action``."""
        tool_name = tool_name or family
        call_id = _string(event.tool_call_metadata.get("tool_call_id")) or f"v0-call-{event.id}"
        self._calls[event.id] = _ToolCall(family, tool_name, call_id, editor_command)
        v0_thought = _text(event.args.get("thought"))
        tool_call = v1.TOOL_CALL.build(
            id=call_id,
            name=tool_name,
            arguments=json.dumps(arguments, ensure_ascii=False),
            origin="completion",
        )
        source = "user" if event.data.get("source") == "user" else "agent"
        return v1.ACTION_EVENT.build(
            **self._envelope(event),
            source=source,
            thought=thought if thought is not None else _texts(v0_thought),
            action=action,
            tool_name=tool_name,
            tool_call_id=call_id,
            tool_call=tool_call,
            llm_response_id=_response_id(event) or f"v0-{event.id}",
            security_risk=_security_risk(event.args.get("security_risk")),
        )

    def _condensation(self, event: V0Event) -> list[V1Event]:
        args = event.args
        listed = args.get("forgotten_event_ids")
        first, last = args.get("forgotten_events_start_id"), args.get("forgotten_events_end_id")
        forgotten: list[int] | range = range(0)
        if isinstance(listed, list):
            forgotten = sorted({n for n in listed if type(n) is int})
        elif type(first) is int and type(last) is int:
            # Only earlier events can be forgotten: bounds a range a bad file makes huge.
            forgotten = range(max(first, 0), min(last, event.id - 1) + 1)
        ids: list[str] = []
        for n in forgotten:
            added = self._produced.get(n)
            if added is None:
                continue
            ids.append(str(event_uuid(self.conversation, n)))
            if added:
                ids.append(str(event_uuid(self.conversation, n, added=True)))
        offset = args.get("summary_offset")
        return self._converted(
            event,
            v1.CONDENSATION.build(
                **self._envelope(event),
                forgotten_event_ids=ids,
                summary=_optional_text(args.get("summary")),
                summary_offset=offset if type(offset) is int and offset >= 0 else None,
                llm_response_id=_response_id(event) or f"v0-{event.id}",
            ),
        )

    # --- observations ----------------------------------------------------------------------

    def _observation(self, event: V0Event) -> list[V1Event]:
        name = event.name
        if name in SKIPPED_OBSERVATIONS:
            return self._skip(event)
        if name == "agent_state_changed":
            status = EXECUTION_STATUS.get(_text(event.args.get("agent_state")))
            if status is None:
                return self._skip(event)
            update = v1.STATE_UPDATE_EVENT.build(
                **self._envelope(event), key="execution_status", value=status
            )
            return self._converted(event, update)
        cause = event.cause
        if cause is None:
            return self._summarize(event)  # unsolicited
        call = self._calls.get(cause)
        if call is None:
            # Answering a message or a summarized action: said as a summary too. Answering
            # an action that was skipped, or is missing: skipped with it.
            return self._summarize(event) if cause in self._produced else self._skip(event)
        answer = {"tool_name": call.tool_name, "tool_call_id": call.call_id}
        action_id = str(event_uuid(self.conversation, cause))
        content = _text(event.data.get("content"))
        if name == "error":
            built = v1.AGENT_ERROR_EVENT.build(**self._envelope(event), **answer, error=content)
        elif name == "user_rejected":
            built = v1.USER_REJECT_OBSERVATION.build(
                **self._envelope(event), **answer, rejection_reason=content, action_id=action_id
            )
        elif name in ANSWERS.get(call.family, ()):
            observation = self._tool_observation(call, event, [v1.TEXT.build(text=content)])
            built = v1.OBSERVATION_EVENT.build(
                **self._envelope(event), **answer, observation=observation, action_id=action_id
            )
        else:
            return self._summarize(event)
        return self._converted(event, built)

    def _tool_observation(self, call: _ToolCall, event: V0Event, content: list[V1Event]) -> V1Event:
        extras = event.args
        if call.family == "terminal":
            exit_code, metadata = _terminal_metadata(extras)
            return v1.TERMINAL_OBSERVATION.build(
                content=content,
                command=_optional_text(extras.get("command")),
                exit_code=exit_code,
                metadata=metadata,
            )
        if call.family == "file_editor":
            return v1.FILE_EDITOR_OBSERVATION.build(
                content=content,
                command=call.editor_command,
                path=_optional_text(extras.get("path")),
                prev_exist=_flag(extras.get("prev_exist")),
                old_content=_optional_text(extras.get("old_content")),
                new_content=_optional_text(extras.get("new_content")),
            )
        if call.family == "think":
            return v1.THINK_OBSERVATION.build(content=content)
        return v1.MCP_OBSERVATION.build(content=content, tool_name=call.tool_name)


def _terminal_metadata(extras: dict[str, Any]) -> tuple[int | None, V1Event]:
    """The exit code and ``CmdOutputMetadata`` of a V0 ``run`` observation."""
    v0 = extras.get("metadata")
    v0 = v0 if isinstance(v0, dict) else {}
    exit_code = _integer(v0.get("exit_code"))
    values: dict[str, Any] = {"exit_code": exit_code, "pid": _integer(v0.get("pid"))}
    for key in ("username", "hostname", "working_dir", "py_interpreter_path", "prefix", "suffix"):
        if isinstance(v0.get(key), str):
            values[key] = v0[key]
    metadata = v1.CMD_OUTPUT_METADATA.build(**{k: v for k, v in values.items() if v is not None})
    return exit_code, metadata


def _describe(event: V0Event) -> str:
    """What a summary says of an event: its text, or its arguments one per line."""
    if not event.is_action:
        content = _text(event.data.get("content"))
        if content:
            return content
    lines = [_text(event.args.get("thought"))] if event.is_action else []
    for key, value in event.args.items():
        if key in _NOT_SUMMARIZED or value in (None, "", [], {}):
            continue
        lines.append(f"{key}: {_text(value)}")
    return "\n".join(line for line in lines if line)


def _text(value: object) -> str:
    """A V0 value as text: strings as they are, null as "", anything else as JSON."""
    if isinstance(value, str):
        return value
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _texts(text: str) -> list[V1Event]:
    return [v1.TEXT.build(text=text)] if text else []


def _string(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _integer(value: object) -> int | None:
    return value if type(value) is int else None


def _flag(value: object) -> bool:
    # V0 stored bools; function-calling arguments could leave the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _security_risk(value: object) -> str:
    if isinstance(value, str) and value.upper() in v1.SECURITY_RISKS:
        return value.upper()
    return SECURITY_RISK.get(value, "UNKNOWN") if type(value) is int else "UNKNOWN"


def _response_id(event: V0Event) -> str | None:
    response = event.tool_call_metadata.get("model_response")
    return _string(response.get("id")) if isinstance(response, dict) else None
