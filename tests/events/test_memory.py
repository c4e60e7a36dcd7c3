"""Conversion streams: memory stays flat however large a conversation's events are."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from convstore.events import convert_conversation
from tests.events.conftest import V0Conversation, tool_call

EVENTS = 10_000
BODY = "x" * 2_000  # each event file is over 2 KB: over 20 MB in all


@pytest.mark.slow
def test_ten_thousand_events_convert_in_flat_memory(tmp_path: Path) -> None:
    v0 = V0Conversation(tmp_path / "store")
    for n in range(0, EVENTS, 2):
        call = tool_call(f"toolu_{n:08d}", f"chatcmpl-{n:08d}")
        v0.action(n, "run", {"command": f"echo {n}", "thought": BODY}, tool_call_metadata=call)
        v0.observation(
            n + 1, "run", BODY, {"command": "echo", "metadata": {"exit_code": 0}}, cause=n
        )
    v0_bytes = sum(path.stat().st_size for path in v0.events_dir.iterdir())

    tracemalloc.start()
    try:
        report = convert_conversation(v0.events_dir, v0.id, tmp_path / "v1")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert report.written == EVENTS
    assert v0_bytes > 20_000_000
    # What is kept per event is a few hundred bytes (its id, and an action's tool call),
    # never the event: about 2 MB here, against over 20 MB of events.
    assert peak < 4_000_000, f"peak {peak:,} bytes"
