"""Benchmark: V0 events converted to V1 and written, per second.

Builds N synthetic V0 events (default 50,000) in a temporary directory, as conversations
of a few hundred events with the mix a real CodeAct run produces (commands and their
output, file views and edits, thoughts, messages, state changes, recalls, a condensation,
a finish, the odd error and IPython cell; tool calls carry a litellm response, as they
do on disk), with their event_cache pages. Then converts every conversation with
``convert_conversation`` (durable, atomic writes) and prints events/second, the machine
and the count. The target is 5,000 events/second.

    .venv/bin/python benchmarks/events_convert.py [--events 50000] [--dir /dev/shm]

``--dir`` chooses the file system: the figure is bound by how fast it creates and syncs
files, so compare runs on the same one. ``--dry-run`` converts without writing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from convstore.events import convert_conversation, find_events_dir

PAGE = 25


def _response(
    rng: random.Random, call_id: str, name: str, arguments: dict[str, Any]
) -> dict[str, Any]:
    """A litellm ModelResponse as V0 stored it: the whole response, with usage."""
    return {
        "id": f"chatcmpl-{rng.getrandbits(64):016x}",
        "created": 1762178520 + rng.randrange(10**6),
        "model": "litellm_proxy/claude-sonnet-4-5-20250929",
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": [
            {
                "finish_reason": "tool_calls",
                "index": 0,
                "message": {
                    "content": None,
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 1,
                            "function": {"arguments": json.dumps(arguments), "name": name},
                            "id": call_id,
                            "type": "function",
                        }
                    ],
                    "function_call": None,
                },
            }
        ],
        "usage": {
            "completion_tokens": rng.randrange(50, 800),
            "prompt_tokens": rng.randrange(5_000, 120_000),
            "total_tokens": 0,
            "prompt_tokens_details": {"cached_tokens": rng.randrange(0, 100_000)},
        },
    }


_METRICS = {
    "accumulated_cost": 0.42,
    "max_budget_per_task": None,
    "accumulated_token_usage": {
        "model": "default",
        "prompt_tokens": 812345,
        "completion_tokens": 12345,
        "cache_read_tokens": 700000,
        "cache_write_tokens": 9000,
        "context_window": 200000,
        "per_turn_token": 31000,
        "response_id": "",
    },
    "costs": [],
    "response_latencies": [],
    "token_usages": [],
}

_WORDS = (
    "the", "a", "test", "file", "line", "value", "error", "module", "function", "import",
    "return", "assert", "path",
)  # fmt: skip


def _text(rng: random.Random, words: int) -> str:
    lines, line = [], []
    for _ in range(words):
        line.append(rng.choice(_WORDS))
        if len(line) > 10:
            lines.append(" ".join(line))
            line = []
    return "\n".join([*lines, " ".join(line)])


class _Conversation:
    """Appends V0 events of one conversation, as a CodeAct agent run produces them."""

    def __init__(self, rng: random.Random, start: float) -> None:
        self.rng = rng
        self.events: list[dict[str, Any]] = []
        self.clock = start

    def _base(self, source: str, message: str = "") -> dict[str, Any]:
        self.clock += self.rng.uniform(0.001, 3.0)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock))
        micros = int((self.clock % 1) * 1e6)
        return {
            "id": len(self.events),
            "timestamp": f"{stamp}.{micros:06d}",
            "source": source,
            "message": message,
        }

    def action(self, name: str, args: dict[str, Any], tool: str | None = None, **extra: Any) -> int:
        event = self._base(extra.pop("source", "agent"))
        event["action"] = name
        if tool:
            call_id = f"toolu_{self.rng.getrandbits(64):016x}"
            event["tool_call_metadata"] = {
                "function_name": tool,
                "tool_call_id": call_id,
                "model_response": _response(self.rng, call_id, tool, args),
                "total_calls_in_response": 1,
            }
            event["llm_metrics"] = _METRICS
        event["args"] = args | extra
        self.events.append(event)
        return int(event["id"])

    def observation(
        self, name: str, content: str, extras: dict[str, Any], cause: int | None
    ) -> None:
        event = self._base("environment" if name != "error" else "agent")
        if cause is not None:
            event["cause"] = cause
            metadata = self.events[cause].get("tool_call_metadata")
            if metadata:
                event["tool_call_metadata"] = metadata
        event |= {"observation": name, "content": content, "extras": extras}
        self.events.append(event)

    def state(self, state: str) -> None:
        self.observation("agent_state_changed", "", {"agent_state": state, "reason": ""}, None)

    def turn(self) -> None:
        rng = self.rng
        roll = rng.random()
        thought = _text(rng, rng.randrange(0, 40))
        if roll < 0.40:
            command = f"pytest -q tests/test_{rng.choice(_WORDS)}.py"
            cause = self.action(
                "run",
                {
                    "command": command,
                    "is_input": False,
                    "thought": thought,
                    "blocking": False,
                    "is_static": False,
                    "cwd": None,
                    "hidden": False,
                    "confirmation_state": "confirmed",
                    "security_risk": rng.choice([-1, 0, 1]),
                },
                "execute_bash",
                timeout=120,
            )
            code = rng.choice([0, 0, 0, 1, 2])
            metadata = {
                "exit_code": code,
                "pid": rng.randrange(100, 9999),
                "username": "openhands",
                "hostname": "runtime",
                "working_dir": "/workspace/app",
                "py_interpreter_path": "/usr/bin/python",
                "prefix": "",
                "suffix": f"\n[The command completed with exit code {code}.]",
            }
            extras = {"command": command, "metadata": metadata, "hidden": False}
            self.observation("run", _text(rng, rng.randrange(20, 600)), extras, cause)
            self.events[-1]["success"] = code == 0
        elif roll < 0.60:
            path = f"/workspace/app/{rng.choice(_WORDS)}.py"
            if rng.random() < 0.5:
                args = {
                    "path": path,
                    "start": 0,
                    "end": -1,
                    "thought": thought,
                    "security_risk": 0,
                    "impl_source": "oh_aci",
                    "view_range": None,
                }
                cause = self.action("read", args, "str_replace_editor")
                self.observation(
                    "read",
                    _text(rng, rng.randrange(50, 800)),
                    {"path": path, "impl_source": "oh_aci"},
                    cause,
                )
            else:
                old, new = _text(rng, 8), _text(rng, 9)
                args = {
                    "path": path,
                    "command": "str_replace",
                    "file_text": None,
                    "old_str": old,
                    "new_str": new,
                    "insert_line": None,
                    "content": "",
                    "start": 1,
                    "end": -1,
                    "thought": thought,
                    "security_risk": 1,
                    "impl_source": "oh_aci",
                }
                cause = self.action("edit", args, "str_replace_editor")
                before = _text(rng, 200)
                extras = {
                    "path": path,
                    "prev_exist": True,
                    "old_content": before,
                    "new_content": before + new,
                    "impl_source": "oh_aci",
                    "diff": None,
                }
                self.observation("edit", f"The file {path} has been edited.", extras, cause)
        elif roll < 0.68:
            cause = self.action("think", {"thought": _text(rng, 60)}, "think")
            self.observation("think", "Your thought has been logged.", {}, cause)
        elif roll < 0.76:
            self.action(
                "message",
                {
                    "content": _text(rng, 40),
                    "file_urls": [],
                    "image_urls": [],
                    "wait_for_response": True,
                    "security_risk": -1,
                },
            )
            self.state("awaiting_user_input")
            self.action(
                "message",
                {
                    "content": _text(rng, 15),
                    "file_urls": [],
                    "image_urls": [],
                    "wait_for_response": False,
                    "security_risk": -1,
                },
                source="user",
            )
            recall = self.action(
                "recall", {"recall_type": "knowledge", "query": "x", "thought": ""}, source="user"
            )
            self.observation(
                "recall", "", {"recall_type": "knowledge", "microagent_knowledge": []}, recall
            )
            self.state("running")
        elif roll < 0.82:
            cause = self.action(
                "run_ipython",
                {
                    "code": "print(1)",
                    "thought": thought,
                    "include_extra": True,
                    "confirmation_state": "confirmed",
                    "kernel_init_code": "",
                    "security_risk": 0,
                },
                "execute_ipython_cell",
            )
            self.observation("run_ipython", "1", {"code": "print(1)", "image_urls": None}, cause)
        elif roll < 0.86:
            cause = self.action(
                "run",
                {
                    "command": "make",
                    "is_input": False,
                    "thought": thought,
                    "hidden": False,
                    "security_risk": -1,
                },
                "execute_bash",
            )
            self.observation("error", "Runtime disconnected", {"error_id": ""}, cause)
        elif roll < 0.88 and len(self.events) > 60:
            start = rng.randrange(2, len(self.events) - 40)
            self.action(
                "condensation",
                {
                    "forgotten_event_ids": None,
                    "forgotten_events_start_id": start,
                    "forgotten_events_end_id": start + 30,
                    "summary": _text(rng, 80),
                    "summary_offset": 1,
                    "thought": "",
                },
            )
        else:
            cause = self.action(
                "call_tool_mcp",
                {
                    "name": "fetch",
                    "arguments": {"url": "https://example.com"},
                    "thought": thought,
                    "security_risk": -1,
                },
                "fetch",
            )
            self.observation(
                "mcp",
                json.dumps({"content": [{"type": "text", "text": _text(rng, 100)}]}),
                {"name": "fetch", "arguments": {"url": "https://example.com"}},
                cause,
            )


def build_store(root: Path, events: int, per_conversation: int = 400, seed: int = 0) -> list[str]:
    """Write V0 conversations holding ``events`` events in total; their ids."""
    rng = random.Random(seed)
    ids: list[str] = []
    remaining = events
    while remaining > 0:
        conversation = _Conversation(rng, 1_762_000_000 + rng.randrange(10**7))
        conversation.action(
            "system",
            {
                "content": _text(rng, 400),
                "tools": [],
                "openhands_version": "0.59.0",
                "agent_class": "CodeActAgent",
            },
        )
        conversation.action(
            "message",
            {
                "content": _text(rng, 30),
                "file_urls": [],
                "image_urls": [],
                "wait_for_response": False,
                "security_risk": -1,
            },
            source="user",
        )
        conversation.state("running")
        size = min(remaining, max(4, int(rng.uniform(0.5, 1.5) * per_conversation)))
        while len(conversation.events) < size - 2:
            conversation.turn()
        conversation.action(
            "finish", {"final_thought": _text(rng, 30), "outputs": {}, "thought": ""}, "finish"
        )
        conversation.state("finished")
        batch = conversation.events[:size]
        conversation_id = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        directory = root / "sessions" / conversation_id
        (directory / "events").mkdir(parents=True)
        (directory / "event_cache").mkdir()
        for event in batch:
            (directory / "events" / f"{event['id']}.json").write_text(json.dumps(event))
        for start in range(0, len(batch) - PAGE + 1, PAGE):
            page = directory / "event_cache" / f"{start}-{start + PAGE}.json"
            page.write_text(json.dumps(batch[start : start + PAGE]))
        ids.append(conversation_id)
        remaining -= len(batch)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--per-conversation", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary store goes")
    parser.add_argument("--dry-run", action="store_true", help="convert without writing")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="convstore-bench-", dir=options.dir))
    try:
        print(f"building {options.events:,} V0 events in {work} ...", file=sys.stderr)
        ids = build_store(work / "v0", options.events, options.per_conversation)
        started = time.perf_counter()
        v0_events = v1_events = 0
        for conversation_id in ids:
            events_dir = find_events_dir(work / "v0", conversation_id)
            assert events_dir is not None
            report = convert_conversation(
                events_dir, conversation_id, work / "v1_conversations", dry_run=options.dry_run
            )
            v0_events += report.v0_events
            v1_events += report.events
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mode = "converted (dry run)" if options.dry_run else "converted+written"
    print(f"events: {v0_events:,} V0 in {len(ids)} conversations -> {v1_events:,} V1 files")
    print(f"{mode}: {v0_events / elapsed:,.0f} events/second ({elapsed:.2f} s)")
    print(
        f"machine: {platform.platform()}, {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"directory: {options.dir or tempfile.gettempdir()}")


if __name__ == "__main__":
    main()
