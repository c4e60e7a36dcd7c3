"""Check convstore's V1 event files against the real OpenHands SDK, where a developer has it.

CI runs Python 3.11 without the SDK, so the test suite compares convstore's output with
dumps the SDK made (tests/data/events/v1_reference/). This script is the other half: it
needs openhands-sdk and openhands-tools 1.34, hence Python 3.12 or newer, in a scratch
environment outside the repository:

    python3.12 -m venv /tmp/sdkvenv
    /tmp/sdkvenv/bin/pip install 'openhands-sdk==1.34.*' 'openhands-tools==1.34.*' \\
        'opentelemetry-semantic-conventions==0.60b1' 'opentelemetry-instrumentation==0.60b1'
    /tmp/sdkvenv/bin/python tests/events/sdk_check.py
    /tmp/sdkvenv/bin/python tests/events/sdk_check.py --write-references

(The two opentelemetry pins only help pip's resolver past a conflict of lmnr's.)

It converts the fixture store (tests/data/events/v0) and a synthetic mix built by
benchmarks/events_convert.py with convstore, then checks, for every file written and
every golden file (tests/data/events/v1_expected):

1. ``Event.model_validate_json`` accepts it: the call OpenHands' event service makes on
   each file it lists (only ``openhands.sdk`` and ``openhands.tools`` imported, so only
   the kinds every app server registers are known);
2. dumping the loaded event with ``model_dump_json(indent=2)`` gives back the file's
   bytes exactly (``forgotten_event_ids`` compared as a set: the SDK keeps a set);
3. convstore's validator agrees with the SDK on mutated copies of the files: a key
   added, removed or given another type, an unknown kind, at every level.

``--write-references`` rewrites tests/data/events/v1_reference/ (one dump made by the
SDK per kind convstore writes) and tests/data/events/v1_expected/ (the conversions of
the fixture store, once the SDK has read each back unchanged): run it after changing
the fixtures or the mapping. Exit status 0 when everything passes.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENHANDS_SUPPRESS_BANNER", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "events"
sys.path.insert(0, str(REPO / "src"))

import openhands.sdk  # noqa: E402
import openhands.tools  # noqa: E402  (registers the tools' actions and observations)
from openhands.sdk.event import (  # noqa: E402
    ActionEvent,
    AgentErrorEvent,
    Condensation,
    ConversationStateUpdateEvent,
    Event,
    MessageEvent,
    ObservationEvent,
    SystemPromptEvent,
    UserRejectObservation,
)
from openhands.sdk.llm import ImageContent, Message, MessageToolCall, TextContent  # noqa: E402
from openhands.sdk.mcp import MCPToolAction, MCPToolObservation  # noqa: E402
from openhands.sdk.tool.builtins import (  # noqa: E402
    FinishAction,
    FinishObservation,
    ThinkAction,
    ThinkObservation,
)
from openhands.tools.file_editor import FileEditorAction, FileEditorObservation  # noqa: E402
from openhands.tools.terminal import TerminalAction, TerminalObservation  # noqa: E402
from openhands.tools.terminal.metadata import CmdOutputMetadata  # noqa: E402

from convstore.events import (  # noqa: E402
    convert_conversation,
    find_events_dir,
    validate_event_bytes,
)

FIXTURES = [
    ("7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f", None),
    ("0f3b9a64c1d24e8f9a7b6c5d4e3f2a10", "github-1234"),
]


def references() -> dict[str, Event]:
    """One SDK event per kind convstore writes, with fixed ids and times."""
    envelope = {
        "id": "3f1e5a52-8d7c-5b4a-9e3f-2a1b0c9d8e7f",
        "timestamp": "2025-11-03T14:02:02.002000",
    }

    def call(name: str, arguments: str) -> MessageToolCall:
        return MessageToolCall(id="toolu_01", name=name, arguments=arguments, origin="completion")

    def action(name: str, action: Any) -> ActionEvent:
        # An MCP tool is called with its own arguments; other tools with the action's fields.
        fields = (
            action.data
            if isinstance(action, MCPToolAction)
            else action.model_dump(exclude={"kind"})
        )
        arguments = json.dumps(fields)
        return ActionEvent(
            **envelope,
            thought=[TextContent(text="I will do it.")],
            action=action,
            tool_name=name,
            tool_call_id="toolu_01",
            tool_call=call(name, arguments),
            llm_response_id="chatcmpl-001",
        )

    def observation(name: str, observation: Any) -> ObservationEvent:
        return ObservationEvent(
            **envelope,
            tool_name=name,
            tool_call_id="toolu_01",
            observation=observation,
            action_id="0f83cf79-9c8c-5a12-9939-996ab6ae6908",
        )

    text = [TextContent(text="done")]
    # Non-ASCII text and floats pin the byte form: characters unescaped, pydantic's floats.
    hello = "H\u00e9llo \U0001f600 \u2028 \x7f"
    message = Message(
        role="user", content=[TextContent(text=hello), ImageContent(image_urls=["data:x"])]
    )
    data = {"url": "https://example.com", "text": hello, "ratio": 0.00001, "big": 1e16, "n": 10**20}
    return {
        "MessageEvent": MessageEvent(**envelope, source="user", llm_message=message),
        "SystemPromptEvent": SystemPromptEvent(
            **envelope, system_prompt=TextContent(text="You are"), tools=[]
        ),
        "ActionEvent-TerminalAction": action("terminal", TerminalAction(command="ls")),
        "ActionEvent-FileEditorAction": action(
            "file_editor",
            FileEditorAction(command="str_replace", path="/w/a.py", old_str="x", new_str="y"),
        ),
        "ActionEvent-ThinkAction": action("think", ThinkAction(thought="hmm")),
        "ActionEvent-FinishAction": action("finish", FinishAction(message="Done.")),
        "ActionEvent-MCPToolAction": action("fetch", MCPToolAction(data=data)),
        "ObservationEvent-TerminalObservation": observation(
            "terminal",
            TerminalObservation(
                content=text, command="ls", exit_code=0, metadata=CmdOutputMetadata(exit_code=0)
            ),
        ),
        "ObservationEvent-FileEditorObservation": observation(
            "file_editor",
            FileEditorObservation(
                content=text,
                command="str_replace",
                path="/w/a.py",
                old_content="x",
                new_content="y",
            ),
        ),
        "ObservationEvent-ThinkObservation": observation("think", ThinkObservation(content=text)),
        "ObservationEvent-FinishObservation": observation(
            "finish", FinishObservation(content=text)
        ),
        "ObservationEvent-MCPToolObservation": observation(
            "fetch", MCPToolObservation(content=text, tool_name="fetch")
        ),
        "AgentErrorEvent": AgentErrorEvent(
            **envelope, tool_name="terminal", tool_call_id="toolu_01", error="boom"
        ),
        "UserRejectObservation": UserRejectObservation(
            **envelope,
            tool_name="terminal",
            tool_call_id="toolu_01",
            action_id="a",
            rejection_reason="no",
        ),
        "ConversationStateUpdateEvent": ConversationStateUpdateEvent(
            **envelope, key="execution_status", value="finished"
        ),
        "Condensation": Condensation(
            **envelope,
            forgotten_event_ids={"a"},
            summary="s",
            summary_offset=1,
            llm_response_id="r",
        ),
    }


def write_references() -> None:
    """Rewrite the SDK's reference dumps, and the golden conversions once the SDK read them."""
    target = DATA / "v1_reference"
    target.mkdir(parents=True, exist_ok=True)
    for name, event in references().items():
        (target / f"{name}.json").write_text(event.model_dump_json(indent=2), encoding="utf-8")
    print(f"wrote {len(references())} reference dumps to {target}")
    golden = DATA / "v1_expected"
    with tempfile.TemporaryDirectory() as work:
        for conversation_id, user in FIXTURES:
            events_dir = find_events_dir(DATA / "v0", conversation_id, user)
            assert events_dir is not None
            convert_conversation(events_dir, conversation_id, Path(work))
        for path in Path(work).glob("*/*.json"):
            raw = path.read_bytes()
            dumped = Event.model_validate_json(raw).model_dump_json(indent=2)
            assert normalized(json.loads(dumped)) == normalized(json.loads(raw)), path
        shutil.rmtree(golden, ignore_errors=True)
        shutil.copytree(work, golden)
    print(f"wrote the conversions of the fixture store, read back by the SDK, to {golden}")


def converted_files(work: Path) -> Iterator[Path]:
    """Convert the fixture store and a synthetic mix; every V1 file written."""
    spec = importlib.util.spec_from_file_location(
        "events_convert", REPO / "benchmarks" / "events_convert.py"
    )
    assert spec is not None and spec.loader is not None
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    conversations = [(DATA / "v0", conversation_id, user) for conversation_id, user in FIXTURES]
    conversations += [
        (work / "v0", conversation_id, None)
        for conversation_id in benchmark.build_store(work / "v0", 3000)
    ]
    for root, conversation_id, user in conversations:
        events_dir = find_events_dir(root, conversation_id, user)
        assert events_dir is not None
        convert_conversation(events_dir, conversation_id, work / "v1_conversations")
    yield from sorted((work / "v1_conversations").glob("*/*.json"))
    yield from sorted((DATA / "v1_expected").glob("*/*.json"))


def normalized(data: Any) -> Any:
    if isinstance(data, dict) and data.get("kind") == "Condensation":
        return {**data, "forgotten_event_ids": sorted(data["forgotten_event_ids"])}
    return data


def sdk_reads(raw: bytes) -> bool:
    try:
        Event.model_validate_json(raw.decode("utf-8"))
    except Exception:
        return False
    return True


MUTANTS: list[Any] = [
    None,
    7,
    1.5,
    1.0,
    0,
    -3,
    10**30,
    "7",
    " 3 ",
    "2.0",
    "nan",
    "inf",
    "x",
    "true",
    "yes",
    "",
    True,
    False,
    [],
    {},
    ["x"],
    "__root__",
]


def mutations(data: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Copies of an event with one thing changed, at every level of nesting."""

    def places(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
        if isinstance(node, dict):
            yield path
            for key, value in node.items():
                yield from places(value, (*path, key))
        elif isinstance(node, list) and node:
            yield from places(node[0], (*path, 0))

    def changed(path: tuple[Any, ...], change: Any, description: str) -> tuple[str, dict[str, Any]]:
        mutant = copy.deepcopy(data)
        node = mutant
        for step in path:
            node = node[step]
        change(node)
        return f"{'.'.join(map(str, path)) or '<top>'}: {description}", mutant

    for path in places(data, ()):
        yield changed(path, lambda node: node.__setitem__("zz_extra", 1), "extra key")
        target: Any = data
        for step in path:
            target = target[step]
        for key in list(target):
            yield changed(path, lambda node, key=key: node.pop(key), f"without {key}")
            values = ["NoSuchKind"] if key == "kind" else MUTANTS
            for value in values:
                yield changed(
                    path,
                    lambda node, key=key, value=value: node.__setitem__(key, value),
                    f"{key}={value!r}",
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-references", action="store_true")
    if parser.parse_args().write_references:
        write_references()
        return 0

    print(f"openhands-sdk {openhands.sdk.__version__}")
    failures: list[str] = []
    files = agreed = disagreed = 0
    seen_shapes: set[tuple[Any, ...]] = set()
    with tempfile.TemporaryDirectory() as work:
        for path in converted_files(Path(work)):
            files += 1
            raw = path.read_bytes()
            try:
                event = Event.model_validate_json(raw.decode("utf-8"))
            except Exception as error:
                failures.append(f"{path}: the SDK refuses it: {error}")
                continue
            dumped = event.model_dump_json(indent=2).encode("utf-8")
            if dumped != raw and normalized(json.loads(dumped)) != normalized(json.loads(raw)):
                failures.append(f"{path}: the SDK dumps it differently")
            elif dumped != raw and event.kind != "Condensation":
                failures.append(f"{path}: same content, different bytes")
            verdict = validate_event_bytes(raw, path.name)
            if not verdict.readable:
                failures.append(f"{path}: convstore's validator refuses it: {verdict.errors}")
            data = json.loads(raw)
            shape = (
                data["kind"],
                (data.get("action") or {}).get("kind"),
                (data.get("observation") or {}).get("kind"),
            )
            if shape in seen_shapes:
                continue
            seen_shapes.add(shape)
            for description, mutant in mutations(data):
                mutated = json.dumps(mutant).encode()
                ours = validate_event_bytes(mutated, path.name).readable
                if ours == sdk_reads(mutated):
                    agreed += 1
                else:
                    disagreed += 1
                    theirs = "reads" if not ours else "drops"
                    failures.append(
                        f"{shape} {description}: the SDK {theirs} it, convstore says otherwise"
                    )
    print(f"{files} files: loaded and re-dumped by the SDK")
    total = agreed + disagreed
    print(
        f"validator and SDK agree on {agreed} of {total} mutated files ({len(seen_shapes)} shapes)"
    )
    for failure in failures[:200]:
        print("FAIL", failure)
    print("OK" if not failures else f"{len(failures)} failures")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
