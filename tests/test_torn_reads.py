"""No torn reads (issue 14, item 3): a metadata.json caught mid-rewrite is read again.

OpenHands rewrites metadata.json in place: open with truncation, then write. A reader
in between finds it empty, or cut short. The rewrite here is torn across two opens of
a real `convstore` process (``tests.interleave``): at its k-th open of a file in the
conversation directory the test truncates the file (and writes a part of it, or
nothing), keeping it open as OpenHands would; at the next open it writes the rest. k
steps through every open `show`, `list`, `verify` and `rename` make, so each of their
reads is once the one that catches the file torn. The rewrite puts back the bytes it
found (OpenHands saving unchanged state), so nothing may be reported broken and rename
must succeed every time.

A file broken for longer than the window is reported at once: counted with inotify,
the command opens it exactly as often as a healthy one.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from convstore.objects.local import REREADS
from tests.conftest import FileStoreBuilder
from tests.faults import finish, spawn
from tests.interleave import Change, Opens, Run, TornWrite, every_open, require_gate

# How a rewrite caught midway looks: the bytes written so far, of those it writes.
SHAPES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda raw: b"",
    "cut short": lambda raw: raw[: len(raw) // 2],
}


class Round:
    """A fresh store with one conversation (and a bystander), per round of a sweep."""

    def __init__(self, root: Path) -> None:
        store = FileStoreBuilder(root)
        self.root = root
        self.conversation_id, self.document = store.generation("2025-12", title="original")
        store.generation("2025-12", title="bystander")
        self.directory = root / "sessions" / self.conversation_id
        self.original = (self.directory / "metadata.json").read_bytes()


COMMANDS: dict[str, Callable[[Round], list[str]]] = {
    "show": lambda r: ["show", "--file-store", str(r.root), r.conversation_id, "--format", "json"],
    "list": lambda r: ["list", "--file-store", str(r.root), "--all", "--format", "json"],
    "verify": lambda r: ["verify", "--file-store", str(r.root), "--format", "json"],
    "rename": lambda r: ["rename", "--file-store", str(r.root), r.conversation_id, "renamed"],
}


def _judge(command: str, current: Round, k: int, run: Run) -> None:
    where = f"{command}, torn at open {k} ({run.opened[k - 1].name}): {run.stderr}"
    assert run.status == 0, where
    if command == "show":
        shown = json.loads(run.stdout)
        assert shown["title"] == "original" and shown["problems"] == [], where
    elif command == "list":
        [mine] = [item for item in json.loads(run.stdout) if item["title"] == "original"]
        assert mine["problems"] == [], where
    elif command == "verify":
        assert json.loads(run.stdout)["findings"] == [], where
    else:
        final = json.loads((current.directory / "metadata.json").read_bytes())
        assert final["title"] == "renamed", where
        kept = {**final, "title": "original", "last_updated_at": None}
        assert kept == {**current.document, "last_updated_at": None}, where


@pytest.mark.slow
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_caught_mid_rewrite_is_read_again(tmp_path: Path, command: str, shape: str) -> None:
    require_gate()
    numbers = itertools.count()
    current: Round
    rewrite: TornWrite
    rounds = 0

    def setup() -> tuple[list[str], list[Path]]:
        nonlocal current, rewrite
        current = Round(tmp_path / f"round-{next(numbers)}")
        rewrite = TornWrite(lambda raw: raw, SHAPES[shape])  # its own bytes, put back
        return COMMANDS[command](current), [current.directory]

    def tear(k: int) -> dict[int, Change]:
        return {k: rewrite.start, k + 1: rewrite.finish}

    def check(k: int, run: Run) -> None:
        nonlocal rounds
        rewrite.finish()
        _judge(command, current, k, run)
        rounds += 1

    every_open(setup, tear, check)
    assert rounds >= {"show": 1, "list": 2, "verify": 1, "rename": 4}[command]


def _aged(path: Path, seconds: float) -> None:
    """Set the file's modification time ``seconds`` from now (negative: in the past)."""
    when = time.time() + seconds
    os.utime(path, (when, when))


def test_only_a_recently_changed_broken_file_is_read_again(tmp_path: Path) -> None:
    """Read once, as a healthy file is: a broken file not modified for an hour. Read
    1 + REREADS times: one modified "now" (its time set ahead, so that however long
    the command takes to start, it is still recent). Counted with inotify: exact, and
    open to any user."""
    store = FileStoreBuilder(tmp_path / "store")
    healthy, _ = store.generation("2025-12", title="healthy")
    old, _ = store.generation("2025-12", title="old")
    recent, _ = store.generation("2025-12", title="recent")
    for name, shape in (("old", "cut short"), ("recent", "empty")):
        conversation = old if name == "old" else recent
        path = store.root / "sessions" / conversation / "metadata.json"
        path.write_bytes(SHAPES[shape](path.read_bytes()))
        _aged(path, -3600 if name == "old" else 3600)
    _aged(store.root / "sessions" / healthy / "metadata.json", -3600)
    sessions = store.root / "sessions"
    runs = {
        "show": [["show", conversation] for conversation in (healthy, old, recent)],
        "list": [["list", "--all"]],
        "verify": [["verify"]],
    }
    for command, invocations in runs.items():
        watched = {
            conversation: Opens(sessions / conversation) for conversation in (healthy, old, recent)
        }
        try:
            for arguments in invocations:
                process = spawn(*arguments, "--file-store", store.root, "--format", "json")
                status, out, err = finish(process)
                assert status in (0, 1) and "Traceback" not in err, (command, status, err)
                assert "not valid JSON" in out or arguments[-1] == healthy, (command, out)
            counts = {name: opens.of("metadata.json") for name, opens in watched.items()}
        finally:
            for opens in watched.values():
                opens.close()
        assert counts[old] == counts[healthy] >= 1, (command, counts)
        assert counts[recent] == counts[healthy] * (1 + REREADS), (command, counts)
