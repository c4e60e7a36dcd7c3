"""A conversation's metadata and whole transcript, from V0 or V1 event files.

Export needs no migration: an operator can keep V0 history before upgrading to an
OpenHands that no longer reads it. JSON is complete for a program (the metadata and
every event as stored, in order); Markdown is for a person (who said what, commands
with their output, edits as diffs, costs). Both stream: one event in memory at a time.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

from convstore.events.locate import EventLocation, locate_events, searched_directories
from convstore.events.report import Problem
from convstore.model import ConversationMetadata
from convstore.timestamps import format_timestamp

if TYPE_CHECKING:
    from convstore.objects.base import Objects

Format = Literal["markdown", "json"]
# Long file contents and outputs fold away in Markdown (<details>), never get cut.
FOLD_LINES = 30


@dataclass
class EventSource:
    """Where a conversation's events are, in which format; problems met while reading."""

    location: EventLocation | None
    problems: list[str] = field(default_factory=list)
    # Every directory (or bucket) looked in, in order: what an export without events names.
    searched: list[Path | str] = field(default_factory=list)
    version: str = "V1"

    def not_found(self) -> str | None:
        """Why there is no transcript, where it was looked for, and how to look
        elsewhere; None when the events were found."""
        if self.location is not None:
            return None
        option = (
            "--file-store (the directory holding sessions/)"
            if self.version == "V0"
            else ("--events-dir (the v1_conversations directory)")
        )
        if not self.searched:
            return f"no event files found: nowhere to look; give {option}"
        looked = ", ".join(str(path) for path in self.searched)
        return f"no event files found in {looked}; give {option} to look elsewhere"

    @property
    def format(self) -> str | None:
        return None if self.location is None else self.location.format

    @property
    def directory(self) -> str | None:
        """The events' directory, or their prefix's URL in a bucket."""
        return None if self.location is None else self.location.where

    def events(self) -> Iterator[dict[str, Any]]:
        if self.location is None:
            return
        if self.location.format == "v0":
            for event in self.location.v0_events(self._problem):
                yield event.data
        else:
            for v1_file in self.location.v1_files(self._problem):
                yield v1_file.event

    def _problem(self, problem: Problem) -> None:
        self.problems.append(str(problem))


def event_source(
    record: ConversationMetadata,
    file_store: Path | Objects | None,
    events_root: Path | Objects | None,
) -> EventSource:
    """The events OpenHands shows for this conversation (V0 or V1 layout), on local
    disk or in a bucket."""
    where = (record.conversation_id, record.version, record.user_id, file_store, events_root)
    searched = searched_directories(*where)
    source = EventSource(locate_events(*where), searched=searched, version=record.version)
    missing = source.not_found()
    if missing is not None:
        source.problems.append(missing)
    return source


def write_json(record: ConversationMetadata, source: EventSource, stream: TextIO) -> int:
    """Metadata and every event as stored; returns the number of events."""
    head = {
        "metadata": record.output_fields(),
        "location": record.location,
        "events_format": source.format,
        "events_location": None if source.directory is None else str(source.directory),
        "events_searched": [str(path) for path in source.searched],
    }
    stream.write(json.dumps(head, ensure_ascii=False)[:-1] + ', "events": [')
    count = 0
    for event in source.events():
        stream.write(("," if count else "") + "\n  " + json.dumps(event, ensure_ascii=False))
        count += 1
    stream.write(f'\n], "problems": {json.dumps(source.problems, ensure_ascii=False)}}}\n')
    return count


def write_markdown(record: ConversationMetadata, source: EventSource, stream: TextIO) -> int:
    """A transcript a person reads; returns the number of events."""
    stream.write(_header(record, source))
    render = _v0_block if source.format == "v0" else _v1_block
    count = 0
    for event in source.events():
        block = render(event).strip()
        if block:
            stream.write(block + "\n\n")
        count += 1
    if source.format is None:
        stream.write("_No event files were found for this conversation._\n\n")
    if source.problems:
        stream.write("## Problems reading the events\n\n")
        stream.writelines(f"- {problem}\n" for problem in source.problems)
    return count


def _header(record: ConversationMetadata, source: EventSource) -> str:
    rows = [
        ("id", record.conversation_id),
        ("version", record.version),
        ("user", record.user_id or "-"),
        ("repository", record.selected_repository or "-"),
        ("branch", record.selected_branch or "-"),
        ("created", _time(record.created_at)),
        ("last updated", _time(record.last_updated_at)),
        ("model", record.llm_model or "-"),
        ("cost", _cost(record.known("accumulated_cost"))),
        ("tokens", _tokens(record)),
        ("events", str(source.directory) if source.directory else "none found"),
    ]
    table = "\n".join(f"| {name} | {_cell(value)} |" for name, value in rows)
    title = _inline(record.title or "") or "(untitled conversation)"
    return f"# {title}\n\n| | |\n|---|---|\n{table}\n\n"


# A figure the source does not hold (an unreadable file, a field it lacks or that is
# invalid) is unknown: a zero would pass for a fact.
UNKNOWN = "unknown"


def _time(value: datetime | None) -> str:
    return "-" if value is None else format_timestamp(value)


def _cost(value: float | None) -> str:
    return UNKNOWN if value is None else f"${value:.4f}"


def _tokens(record: ConversationMetadata) -> str:
    counts = {name: record.known(f"{name}_tokens") for name in ("prompt", "completion", "total")}
    if all(count is None for count in counts.values()):
        return UNKNOWN
    return ", ".join(
        f"{UNKNOWN if count is None else f'{count:,}'} {name}" for name, count in counts.items()
    )


def _one_line(text: str) -> str:
    """Text on one line: a line break of any kind (\\n, \\r, U+2028, ...) and the
    blanks around it become one space."""
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


# What Markdown would read as markup in a heading: emphasis, code, links, HTML, and
# the closing #s of a heading.
_MARKUP = {ord(character): f"\\{character}" for character in "\\`*_[]<>#|"}


def _inline(text: str) -> str:
    """Text from a store as Markdown that shows it as written, on one line (a heading)."""
    return _one_line(text).translate(_MARKUP)


def _cell(value: str) -> str:
    return _one_line(value).replace("|", "\\|")


# V0 events (EVENTS.md: `action` + `args`, or `observation` + `content` + `extras`)


def _v0_block(event: dict[str, Any]) -> str:
    source = str(event.get("source", ""))
    if "action" in event:
        return _v0_action(str(event["action"]), _dict(event.get("args")), source)
    return _v0_observation(str(event.get("observation")), event, _dict(event.get("extras")))


def _v0_action(action: str, args: dict[str, Any], source: str) -> str:
    thought = _text(args.get("thought"))
    lead = f"> {thought}\n\n" if thought and action != "think" else ""
    if action == "message":
        who = "User" if source == "user" else "Agent"
        images = "".join(f"\n\n![image]({url})" for url in args.get("image_urls") or [])
        return f"### {who}\n\n{_text(args.get('content'))}{images}"
    if action == "system":
        return ""  # the system prompt: long, and the same in every conversation
    if action == "run":
        if args.get("hidden"):
            return ""  # OpenHands' own housekeeping (git config, ...), never shown in V0
        return lead + _fence(f"$ {_text(args.get('command'))}", "bash")
    if action == "run_ipython":
        return lead + _fence(_text(args.get("code")), "python")
    if action == "browse":
        return f"{lead}**browse** {_text(args.get('url'))}"
    if action == "browse_interactive":
        return lead + _fence(_text(args.get("browser_actions")), "python")
    if action in ("read", "write", "edit"):
        command = _text(args.get("command")) or action
        body = ""
        if action == "write":
            body = "\n\n" + _fold(_text(args.get("content")))
        elif command == "create":
            body = "\n\n" + _fold(_text(args.get("file_text")))
        return f"{lead}**{command}** `{_text(args.get('path'))}`{body}"
    if action == "think":
        return f"> Thought: {_text(args.get('thought'))}"
    if action == "finish":
        return f"### Finished\n\n{lead}{_text(args.get('final_thought'))}"
    if action == "call_tool_mcp":
        return f"{lead}**MCP tool** `{_text(args.get('name'))}`\n\n" + _fence(
            json.dumps(args.get("arguments"), indent=2), "json"
        )
    if action == "condensation":
        return "_(earlier events were condensed)_"
    if action in ("recall", "change_agent_state", "null"):
        return ""
    return f"{lead}_({action})_"


def _v0_observation(kind: str, event: dict[str, Any], extras: dict[str, Any]) -> str:
    content = _text(event.get("content"))
    if extras.get("hidden"):
        return ""
    if kind == "run":
        exit_code = _dict(extras.get("metadata")).get("exit_code")
        code = f"\n\nexit code {exit_code}" if exit_code is not None else ""
        return _fold(content) + code
    if kind == "edit":
        diff = _text(extras.get("diff")) or _diff(
            _text(extras.get("old_content")), _text(extras.get("new_content")), extras
        )
        return _fence(diff, "diff") if diff else _fold(content)
    if kind in ("read", "write", "mcp", "run_ipython", "browse"):
        return _fold(content)
    if kind == "error":
        return f"**Error:** {content}"
    if kind == "user_rejected":
        return f"**Rejected by the user.** {content}"
    if kind == "agent_state_changed":
        return f"_agent state: {_text(extras.get('agent_state'))}_"
    if kind in ("think", "null", "recall", "condense"):
        return ""
    return f"_({kind})_ {content}" if content else ""


# V1 events (EVENTS.md: MessageEvent, ActionEvent, ObservationEvent, ...)


def _v1_block(event: dict[str, Any]) -> str:
    kind = event.get("kind")
    if kind == "MessageEvent":
        message = _dict(event.get("llm_message"))
        who = "User" if message.get("role") == "user" else "Agent"
        return f"### {who}\n\n{_v1_contents(message.get('content'))}"
    if kind == "ActionEvent":
        return _v1_action(event)
    if kind == "ObservationEvent":
        return _v1_observation(_dict(event.get("observation")))
    if kind == "AgentErrorEvent":
        return f"**Error:** {_text(event.get('error'))}"
    if kind == "UserRejectObservation":
        return f"**Rejected by the user.** {_text(event.get('rejection_reason'))}"
    if kind == "ConversationStateUpdateEvent":
        return f"_{_text(event.get('key'))}: {_text(event.get('value'))}_"
    if kind == "Condensation":
        return "_(earlier events were condensed)_"
    if kind == "SystemPromptEvent":
        return ""
    return f"_({kind})_"


def _v1_action(event: dict[str, Any]) -> str:
    thought = _v1_contents(event.get("thought"))
    lead = f"> {thought}\n\n" if thought else ""
    action = _dict(event.get("action"))
    kind = action.get("kind")
    if kind == "TerminalAction":
        return lead + _fence(f"$ {_text(action.get('command'))}", "bash")
    if kind == "FileEditorAction":
        body = ""
        if action.get("command") == "create":
            body = "\n\n" + _fold(_text(action.get("file_text")))
        return f"{lead}**{_text(action.get('command'))}** `{_text(action.get('path'))}`{body}"
    if kind == "ThinkAction":
        return f"> Thought: {_text(action.get('thought'))}"
    if kind == "FinishAction":
        return f"### Finished\n\n{lead}{_text(action.get('message'))}"
    return f"{lead}**{_text(event.get('tool_name'))}**\n\n" + _fence(
        _text(_dict(event.get("tool_call")).get("arguments")), "json"
    )


def _v1_observation(observation: dict[str, Any]) -> str:
    kind = observation.get("kind")
    text = _v1_contents(observation.get("content"))
    if kind == "TerminalObservation":
        exit_code = observation.get("exit_code")
        code = f"\n\nexit code {exit_code}" if exit_code is not None else ""
        return _fold(text) + code
    if kind == "FileEditorObservation" and observation.get("command") != "view":
        diff = _diff(
            _text(observation.get("old_content")),
            _text(observation.get("new_content")),
            observation,
        )
        return _fence(diff, "diff") if diff else _fold(text)
    if kind in ("ThinkObservation", "FinishObservation"):
        return ""
    return _fold(text)


def _v1_contents(contents: Any) -> str:
    if isinstance(contents, str):
        return contents
    parts = []
    for content in contents if isinstance(contents, list) else []:
        item = _dict(content)
        if item.get("type") == "text":
            parts.append(_text(item.get("text")))
        elif item.get("type") == "image":
            parts += [f"![image]({url})" for url in item.get("image_urls") or []]
    return "\n\n".join(part for part in parts if part)


# Shared pieces


def _diff(old: str, new: str, where: dict[str, Any]) -> str:
    if not old and not new:
        return ""
    path = _text(where.get("path")) or "file"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a{path}", f"b{path}"
    )
    return "".join(lines)


def _fold(text: str) -> str:
    if not text:
        return ""
    block = _fence(text, "")
    if text.count("\n") < FOLD_LINES:
        return block
    return f"<details><summary>{text.count(chr(10)) + 1} lines</summary>\n\n{block}\n\n</details>"


def _fence(text: str, language: str) -> str:
    # A fence longer than any run of backticks inside, so content never closes it.
    ticks = "`" * max(3, _longest_backticks(text) + 1)
    return f"{ticks}{language}\n{text.rstrip(chr(10))}\n{ticks}"


def _longest_backticks(text: str) -> int:
    longest = current = 0
    for character in text:
        current = current + 1 if character == "`" else 0
        longest = max(longest, current)
    return longest


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
