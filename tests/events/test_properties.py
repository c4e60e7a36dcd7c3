"""Property: any sequence of V0 events converts to files 1.x reads, in V0's order.

Hypothesis writes V0 conversations of every kind of event, well-formed or not (wrong
types, unknown kinds, causes pointing anywhere, times that do not parse, go backwards or
carry a zone, NaN, half surrogate pairs), reads and converts them, and requires that the
bytes the writer would write (``encode``, under ``file_name``) pass the validator, with
one file per event, and that the timestamp strings increase strictly in V0 id order
(1.x sorts by them). Writing itself is tested in test_v1_files.py.
"""

from __future__ import annotations

import itertools
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convstore.events import (
    ConversionReport,
    Converter,
    encode,
    event_uuid,
    iter_events,
    validate_event_bytes,
)
from convstore.events.v1_files import file_name

ACTIONS = [
    "message", "system", "run", "read", "write", "edit", "think", "finish", "condensation",
    "call_tool_mcp", "recall", "change_agent_state", "null", "run_ipython", "browse",
    "browse_interactive", "delegate", "task_tracking", "reject", "loop_recovery", "made_up",
]  # fmt: skip
OBSERVATIONS = [
    "run", "read", "write", "edit", "think", "error", "user_rejected", "agent_state_changed",
    "mcp", "recall", "null", "browse", "run_ipython", "delegate", "condense", "made_up",
]  # fmt: skip
KEYS = [
    "content", "command", "is_input", "hidden", "path", "file_text", "old_str", "new_str",
    "insert_line", "view_range", "thought", "final_thought", "name", "arguments",
    "forgotten_event_ids", "forgotten_events_start_id", "forgotten_events_end_id", "summary",
    "summary_offset", "agent_state", "image_urls", "security_risk", "metadata", "prev_exist",
    "old_content", "new_content", "exit_code", "command_id",
]  # fmt: skip

text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 60),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    text,
    st.sampled_from(["", "view", "str_replace", "create", "running", "finished", "ls -la"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
timestamps = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    st.sampled_from(["<secret_hidden>", "", "2025-11-03T14:00:00", "2025-13-01T00:00:00"]),
    st.integers(),
    st.none(),
)


@st.composite
def v0_event(draw: st.DrawFn, n: int) -> dict[str, Any]:
    is_action = draw(st.booleans())
    payload = draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
    event: dict[str, Any] = {
        "id": n,
        "timestamp": draw(timestamps),
        "source": draw(st.sampled_from(["agent", "user", "environment", "other"])),
    }
    if is_action:
        event |= {"action": draw(st.sampled_from(ACTIONS)), "args": payload}
    else:
        event["observation"] = draw(st.sampled_from(OBSERVATIONS))
        event |= {"content": draw(values), "extras": payload}
        if draw(st.booleans()):
            event["cause"] = draw(st.integers(-1, n + 2))
    if draw(st.booleans()):
        event["tool_call_metadata"] = {
            "tool_call_id": draw(st.one_of(text, st.none())),
            "model_response": {"id": draw(st.one_of(text, st.integers()))},
        }
    return event


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    ids = sorted(draw(st.sets(st.integers(0, 60), max_size=25)))
    return [draw(v0_event(n)) for n in ids]


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(events=conversations())
def test_any_v0_conversation_converts_to_readable_files_in_v0_order(
    events: list[dict[str, Any]],
) -> None:
    conversation = uuid.uuid4()
    with tempfile.TemporaryDirectory() as work:
        events_dir = Path(work) / "sessions" / conversation.hex / "events"
        events_dir.mkdir(parents=True)
        for event in events:
            # As V0 wrote them: json.dumps defaults (ASCII escapes, NaN as a bare word).
            (events_dir / f"{event['id']}.json").write_text(json.dumps(event))
        report = ConversionReport(conversation)
        converter = Converter(conversation, report)
        written: list[dict[str, Any]] = []
        for event in iter_events(events_dir, report.problems.append):
            written.extend(converter.convert(event))
    assert report.v0_events == len(events)
    assert report.problems == []
    names = [file_name(event) for event in written]
    assert len(set(names)) == len(names)
    for event, name in zip(written, names, strict=True):
        verdict = validate_event_bytes(encode(event), name)
        assert (verdict.errors, verdict.warnings) == ((), ()), name

    # Timestamps in V0 id order (an added event right after its own) strictly increase.
    position = {str(event_uuid(conversation, event["id"], added=added)): (event["id"], added)
                for event in events for added in (False, True)}  # fmt: skip
    assert [position[event["id"]] for event in written] == sorted(
        position[e["id"]] for e in written
    )
    stamps = [event["timestamp"] for event in written]
    assert all(earlier < later for earlier, later in itertools.pairwise(stamps))
