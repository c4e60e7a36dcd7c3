"""Every command through Typer's CliRunner and, where a terminal matters, a real process."""

import csv
import io
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.sample import write_sample

runner = CliRunner()


@pytest.fixture
def sample(tmp_path, database_url):
    """The demo store: files, and rows in SQLite or in PostgreSQL (every test runs on both)."""
    summary = write_sample(tmp_path / "demo", files=40, rows=24, database_url=database_url)
    return ["--file-store", str(summary.file_store), "--db", summary.database]


def run(*args, input=None):
    return runner.invoke(app, [str(a) for a in args], input=input)


def test_version():
    result = run("--version")
    assert result.exit_code == 0 and result.stdout.startswith("convstore ")


def test_list_json_pages_with_cursor_on_stderr(sample):
    first = run("list", *sample, "--format", "json", "--limit", "5")
    assert first.exit_code == 0, first.output
    items = json.loads(first.stdout)
    assert len(items) == 5
    assert {"conversation_id", "title", "store", "version", "problems"} <= set(items[0])
    last_line = first.stderr.strip().splitlines()[-1]
    assert last_line.startswith("more: --cursor ")
    second = run(
        "list", *sample, "--format", "jsonl", "--limit", "5", "--cursor", last_line.split()[-1]
    )
    following = [json.loads(line) for line in second.stdout.splitlines()]
    assert len(following) == 5
    assert not {i["conversation_id"] for i in items} & {i["conversation_id"] for i in following}


def test_list_all_csv_counts_every_conversation_and_marks_problems(sample):
    result = run("list", *sample, "--all", "--format", "csv", "--sub-conversations")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 40 + 6 + 24
    assert {row["store"] for row in rows} == {"files", "sql"}
    assert any("not valid JSON" in row["problems"] for row in rows)


def test_list_filters_by_user_and_version(sample):
    result = run("list", *sample, "--all", "--format", "json", "--user", "alice", "--version", "V1")
    items = json.loads(result.stdout)
    assert items and all(i["user_id"] == "alice" and i["version"] == "V1" for i in items)


def test_list_table_is_plain_iso_when_piped(sample):
    result = run("list", *sample, "--limit", "3")
    assert result.exit_code == 0
    assert "Z" in result.stdout and "ago" not in result.stdout


def test_show_rename_and_json(sample):
    listing = json.loads(run("list", *sample, "--format", "json", "--limit", "1").stdout)
    conversation_id = listing[0]["conversation_id"]
    renamed = run("rename", *sample, conversation_id, "  Brand new title ")
    assert renamed.exit_code == 0, renamed.output
    shown = json.loads(run("show", *sample, conversation_id, "--format", "json").stdout)
    assert shown["title"] == "Brand new title" and shown["location"]


def test_rename_empty_title_is_usage_error(sample):
    conversation_id = json.loads(run("list", *sample, "--format", "json", "--limit", "1").stdout)[
        0
    ]["conversation_id"]
    assert run("rename", *sample, conversation_id, "  ").exit_code == 2


@pytest.mark.parametrize("bad", ["../x", "a/b", "x" * 101])
def test_invalid_id_exits_2(sample, bad):
    assert run("show", *sample, bad).exit_code == 2


def test_unknown_id_exits_4(sample):
    result = run("show", *sample, "0" * 32)
    assert result.exit_code == 4


def test_missing_database_exits_3(tmp_path):
    assert run("list", "--db", tmp_path / "nope.db").exit_code == 3


def test_delete_dry_run_changes_nothing_and_real_delete_needs_yes(sample, tmp_path):
    listing = json.loads(
        run("list", *sample, "--format", "json", "--limit", "2", "--version", "V0").stdout
    )
    conversation_id = listing[0]["conversation_id"]
    before = sorted(p.name for p in (tmp_path / "demo" / "sessions").iterdir())
    dry = run("delete", *sample, conversation_id, "--dry-run")
    assert dry.exit_code == 0 and conversation_id in dry.stdout
    assert sorted(p.name for p in (tmp_path / "demo" / "sessions").iterdir()) == before
    done = run("delete", *sample, conversation_id, "--yes")
    assert done.exit_code == 0, done.output
    assert run("show", *sample, conversation_id).exit_code == 4


def test_delete_without_yes_refuses_when_stdin_is_not_a_terminal(sample):
    conversation_id = json.loads(run("list", *sample, "--format", "json", "--limit", "1").stdout)[
        0
    ]["conversation_id"]
    process = subprocess.run(
        [sys.executable, "-m", "convstore.cli", "delete", *sample, conversation_id],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    assert process.returncode == 2
    assert "add --yes" in process.stderr and "Traceback" not in process.stderr
    assert run("show", *sample, conversation_id).exit_code == 0


def test_retention_deletes_only_old_conversations(sample):
    before = len(
        json.loads(run("list", *sample, "--all", "--format", "json", "--sub-conversations").stdout)
    )
    result = run("delete", *sample, "--older-than", "300d", "--version", "V0", "--yes")
    assert result.exit_code == 0, result.output
    after = json.loads(
        run("list", *sample, "--all", "--format", "json", "--sub-conversations").stdout
    )
    assert 0 < len(after) < before
    assert all(
        i["version"] == "V1" or i["last_updated_at"] is None for i in after if i["store"] == "files"
    )


def test_config_masks_passwords(monkeypatch):
    monkeypatch.setenv("CONVSTORE_DB", "postgresql://admin:s3cret@db.example:5432/openhands")
    result = run("config", "--format", "json")
    assert "s3cret" not in result.stdout
    assert json.loads(result.stdout)["db"] == {
        "value": "postgresql://admin:***@db.example:5432/openhands",
        "source": "env CONVSTORE_DB",
        "used": True,  # a server: reached only when a command opens it
        "note": None,
    }


def test_config_shows_the_connect_timeout_and_where_it_came_from(monkeypatch):
    monkeypatch.setenv("CONVSTORE_CONNECT_TIMEOUT", "25")
    shown = json.loads(run("config", "--format", "json").stdout)["connect_timeout"]
    assert shown == {"value": "25", "source": "env CONVSTORE_CONNECT_TIMEOUT"}
    flagged = run("config", "--format", "json", "--connect-timeout", "3.5")
    assert json.loads(flagged.stdout)["connect_timeout"] == {"value": "3.5", "source": "flag"}


@pytest.mark.parametrize("seconds", ["0", "-1", "never"])
def test_connect_timeout_flag_refuses_less_than_a_second(sample, seconds):
    result = run("list", *sample, "--connect-timeout", seconds)
    assert result.exit_code == 2 and "--connect-timeout" in result.output


def test_errors_are_one_line_without_traceback(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "convstore.cli", "list", "--db", str(tmp_path / "missing.db")],
        capture_output=True,
        text=True,
    )
    assert process.returncode == 3
    assert process.stderr.count("\n") == 1 and "Traceback" not in process.stderr


def test_terminal_pages_on_a_key_press_and_q_quits(sample):
    """A real pseudo-terminal: the first page, a prompt, the next page on a key, q quits."""
    import os
    import pty
    import select
    import termios
    import time

    from tests.faults import wait_until

    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "convstore.cli", "list", *sample, "--limit", "3"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        close_fds=True,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    os.close(follower)

    def read_until(marker, timeout=20.0):
        seen, deadline = b"", time.monotonic() + timeout
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.5)
            if ready:
                seen += os.read(leader, 65536)
        return seen.decode(errors="replace")

    def press(key):
        # The prompt is printed just before the terminal goes raw, and going raw
        # discards pending input: a person is never that fast, a test must wait until
        # the terminal is raw (the leader's termios are the follower's, on Linux).
        wait_until(lambda: not termios.tcgetattr(leader)[3] & termios.ICANON, "raw mode")
        os.write(leader, key)

    first = read_until(b"q to quit")
    assert "any key for more" in first and "ago" in first
    press(b" ")
    second = read_until(b"q to quit")
    press(b"q")
    assert process.wait(timeout=20) == 0
    os.close(leader)
    rows = [line for line in (first + second).splitlines() if " V0 " in line or " V1 " in line]
    assert len(rows) == 6 and len(set(rows)) == 6
