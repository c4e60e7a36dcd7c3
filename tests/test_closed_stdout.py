"""A reader that stops reading (`convstore list --all | head -1`) ends a command quietly.

Every test runs the real program with its stdout on a real pipe. The reader is gone
before the first byte (the read end closed before the program starts), or goes after
the first line with the program blocked on a full pipe (its capacity set to one page),
so every write after that fails with EPIPE: no timing decides what the test sees.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from convstore.sample import write_sample
from tests.faults import CLI

SIGPIPE_STATUS = 141  # what `yes | head -1` reports under `set -o pipefail`
# Python buffers stdout on a pipe, as an operator's shell runs it, unless told otherwise.
BUFFERED = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
UNBUFFERED = {**BUFFERED, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    summary = write_sample(tmp_path_factory.mktemp("closed-stdout") / "demo")
    return ["--file-store", str(summary.file_store), "--db", summary.database]


def into_closed_pipe(
    *args: str, wrapper: list[str] | None = None, env: dict[str, str] = BUFFERED
) -> tuple[int, str]:
    """Run the CLI with a stdout whose reader is already gone; its status and stderr."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.Popen(
            [*(wrapper or CLI), *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    finally:
        os.close(write_end)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def first_line_then_close(*args: str) -> tuple[str, int, str]:
    """Read one line of the CLI's stdout and close the pipe, as `head -1` does."""
    read_end, write_end = os.pipe()
    # One page: the program blocks on a full pipe long before it has written everything,
    # so it is still writing when the reader goes, whatever the machine's speed.
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    try:
        process = subprocess.Popen(
            [*CLI, *args],
            stdin=subprocess.DEVNULL,
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=BUFFERED,
        )
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = reader.readline().decode()
    stderr = process.stderr.read().decode() if process.stderr else ""
    process.wait(timeout=120)
    if process.stderr:
        process.stderr.close()
    return first, process.returncode, stderr


@pytest.mark.parametrize("env", [BUFFERED, UNBUFFERED], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("output_format", ["jsonl", "json", "csv", "table"])
def test_a_listing_into_a_closed_pipe_ends_quietly_with_the_sigpipe_status(
    demo, output_format, env
):
    status, stderr = into_closed_pipe("list", *demo, "--all", "--format", output_format, env=env)
    assert (status, stderr) == (SIGPIPE_STATUS, "")


def test_head_dash_one_of_a_long_listing(demo):
    first, status, stderr = first_line_then_close("list", *demo, "--all", "--format", "jsonl")
    assert json.loads(first)["conversation_id"]
    assert (status, stderr) == (SIGPIPE_STATUS, "")


@pytest.mark.parametrize("env", [BUFFERED, UNBUFFERED], ids=["buffered", "unbuffered"])
def test_a_page_still_buffered_fails_at_the_last_flush_just_as_quietly(demo, env):
    # A page is smaller than the buffer: nothing reaches the pipe before the data is
    # flushed, which happens before the hint about the next page goes to stderr.
    status, stderr = into_closed_pipe("list", *demo, "--limit", "2", "--format", "jsonl", env=env)
    assert (status, stderr) == (SIGPIPE_STATUS, "")


def test_verify_show_and_export_into_a_closed_pipe(demo):
    # A conversation with events, so that export has nothing to warn about on stderr.
    sessions = Path(demo[1]) / "sessions"
    conversation_id = next(
        path.parent.name for path in sorted(sessions.glob("*/events")) if any(path.iterdir())
    )
    for args in (
        ["verify", *demo, "--format", "jsonl"],
        ["verify", *demo, "--format", "json"],
        ["show", *demo, conversation_id],
        ["show", *demo, conversation_id, "--format", "json"],
        ["export", *demo, conversation_id],
        ["export", *demo, conversation_id, "--format", "json"],
    ):
        assert into_closed_pipe(*args) == (SIGPIPE_STATUS, ""), args


# The program as `python -m convstore.cli` runs it, counting the metadata.json files it
# opens (an audit hook, CPython's own instrumentation; nothing in convstore changes).
COUNTING = """
import atexit, sys
count_file = sys.argv.pop(1)
opened = []
def hook(event, args):
    if event == "open" and str(args[0]).endswith("metadata.json"):
        opened.append(args[0])
sys.addaudithook(hook)
atexit.register(lambda: open(count_file, "w").write(str(len(opened))))
sys.argv[0] = "convstore"
from convstore.cli.__main__ import main
main()
"""


def test_a_closed_stdout_stops_the_reading(demo, tmp_path):
    files = len(os.listdir(Path(demo[1]) / "sessions"))
    warm = subprocess.run([*CLI, "list", *demo, "--all", "--format", "jsonl"], capture_output=True)
    assert warm.returncode == 0 and warm.stdout.count(b"\n") > files
    # With the listing's index cached, each listed conversation's file is opened when it
    # is written out: once stdout is found closed, the rest are never read.
    count_file = tmp_path / "opened"
    wrapper = [sys.executable, "-c", COUNTING, str(count_file)]
    status, stderr = into_closed_pipe("list", *demo, "--all", "--format", "jsonl", wrapper=wrapper)
    assert (status, stderr) == (SIGPIPE_STATUS, "")
    assert 0 < int(count_file.read_text()) < files // 10


@pytest.mark.parametrize(
    "args",
    [["--help"], ["list", "--help"], ["db", "--help"], ["--version"], []],
    ids=["help", "command help", "group help", "version", "no arguments"],
)
def test_help_and_version_into_a_closed_pipe_end_quietly_with_141(args: list[str]) -> None:
    """Written while the arguments are parsed, before any command runs: Typer itself
    would end these with status 1."""
    status, stderr = into_closed_pipe(*args)
    assert (status, stderr) == (SIGPIPE_STATUS, "")
