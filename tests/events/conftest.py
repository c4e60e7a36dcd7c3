"""Fixtures for the event tests: V0 conversations written as V0 wrote them, and their V1 output.

tests/data/events/ holds real-shaped data: ``v0/`` a store with two conversations (a late
2025 run with every kind of event and its cache pages, and an early 2025 one of a user
with broken files), ``v1_expected/`` their conversions as the real SDK read them back,
and ``v1_reference/`` dumps the real SDK made (tests/events/sdk_check.py rewrites both).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from convstore.events import ConversionReport, convert_conversation, event_uuid, iter_v1_events

DATA = Path(__file__).resolve().parents[1] / "data" / "events"
STORE = DATA / "v0"
CONVERSATION = "7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f"  # late 2025, sessions/, every kind
OLD_CONVERSATION = "0f3b9a64c1d24e8f9a7b6c5d4e3f2a10"  # early 2025, users/github-1234/
OLD_USER = "github-1234"
START = datetime(2025, 11, 3, 14, 0, 0)


def stamp(n: int) -> str:
    """The V0 timestamp of event ``n`` in a synthetic conversation: one second apart."""
    return (START + timedelta(seconds=n)).isoformat(timespec="microseconds")


def tool_call(call_id: str, response_id: str, function: str = "execute_bash") -> dict[str, Any]:
    """A V0 ``tool_call_metadata`` (the model response abridged to what matters)."""
    return {
        "function_name": function,
        "tool_call_id": call_id,
        "model_response": {"id": response_id, "object": "chat.completion", "choices": []},
        "total_calls_in_response": 1,
    }


class V0Conversation:
    """Writes the event files of one V0 conversation the way V0 did: compact, ASCII, no newline."""

    def __init__(self, root: Path, conversation_id: str | None = None) -> None:
        self.id = conversation_id or uuid.uuid4().hex
        self.uuid = uuid.UUID(self.id)
        self.root = root
        self.events_dir = root / "sessions" / self.id / "events"
        self.events_dir.mkdir(parents=True)

    def write(self, event: dict[str, Any]) -> dict[str, Any]:
        (self.events_dir / f"{event['id']}.json").write_text(json.dumps(event))
        return event

    def action(
        self,
        n: int,
        name: str,
        args: dict[str, Any] | None = None,
        *,
        source: str = "agent",
        timestamp: object = None,
        **extra: Any,
    ) -> dict[str, Any]:
        event = {"id": n, "timestamp": stamp(n) if timestamp is None else timestamp}
        event |= {"source": source, "message": "", "action": name, **extra, "args": args or {}}
        return self.write(event)

    def observation(
        self,
        n: int,
        name: str,
        content: str = "",
        extras: dict[str, Any] | None = None,
        *,
        cause: int | None = None,
        source: str = "environment",
        timestamp: object = None,
        **extra: Any,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {"id": n, "timestamp": stamp(n) if timestamp is None else timestamp}
        event |= {"source": source, "message": ""}
        if cause is not None:
            event["cause"] = cause
        event |= {"observation": name, **extra, "content": content, "extras": extras or {}}
        return self.write(event)

    def page(self, start: int, events: list[Any]) -> Path:
        cache = self.events_dir.parent / "event_cache"
        cache.mkdir(exist_ok=True)
        path = cache / f"{start}-{start + 25}.json"
        path.write_text(json.dumps(events))
        return path

    def v1_id(self, n: int, *, added: bool = False) -> str:
        return str(event_uuid(self.uuid, n, added=added))


class Converted:
    """A conversion's report and the V1 events written, in the order 1.x shows them."""

    def __init__(self, report: ConversionReport, directory: Path) -> None:
        self.report = report
        self.directory = directory
        self.events = [file.event for file in iter_v1_events(directory)]
        self.by_id = {event["id"]: event for event in self.events}

    def of(self, conversation: V0Conversation, n: int, *, added: bool = False) -> dict[str, Any]:
        """The V1 event written for V0 event ``n``."""
        return self.by_id[conversation.v1_id(n, added=added)]


@pytest.fixture
def v0(tmp_path: Path) -> V0Conversation:
    return V0Conversation(tmp_path / "store")


@pytest.fixture
def convert(tmp_path: Path) -> Callable[..., Converted]:
    """Convert a V0Conversation into ``tmp_path/v1_conversations`` and read the result back."""

    def run(conversation: V0Conversation, **options: Any) -> Converted:
        events_root = tmp_path / "v1_conversations"
        report = convert_conversation(
            conversation.events_dir, conversation.id, events_root, **options
        )
        return Converted(report, events_root / conversation.uuid.hex)

    return run
