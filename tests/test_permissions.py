"""Permissions, with the CLI run as an unprivileged user (uid 65534 when the tests run
as root, as CI does): what cannot be read is a problem entry or exit 3 with one line,
never a traceback, and never a half-done write. A rewritten file keeps its mode (and,
under root, its owner)."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import CLI, one_line_error, table_digest, tree_digest
from tests.unprivileged import NOBODY, make_traversable, run_unprivileged

UNAVAILABLE = 3
ROOT = os.geteuid() == 0


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def as_nobody(home: Path, *args: Any) -> Outcome:
    """The CLI as uid/gid 65534 (or as the unprivileged user running the tests).

    Run in a forked child that drops its privileges (tests/unprivileged.py): the
    interpreter itself may live where uid 65534 cannot execute it (/root/.pyenv).
    """

    def run() -> tuple[int, str, str, str | None]:
        os.environ["HOME"] = str(home)
        os.environ["XDG_CONFIG_HOME"] = str(home / ".config")
        result = CliRunner().invoke(app, [str(arg) for arg in args])
        crash = result.exception
        if crash is None or isinstance(crash, SystemExit):
            return result.exit_code, result.stdout, result.stderr, None
        return result.exit_code, result.stdout, result.stderr, repr(crash)

    status, stdout, stderr, crash = run_unprivileged(run)
    assert crash is None, f"{args}: a traceback, not an error line: {crash}"
    return Outcome(status, stdout, stderr)


@pytest.fixture(scope="module", autouse=True)
def _imported(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run every command once as ourselves, so the modules they import lazily are loaded
    before a child drops privileges (the standard library may sit under /root)."""
    scratch = tmp_path_factory.mktemp("warm-up")
    files = FileStoreBuilder(scratch / "store")
    conversation_id, _ = files.generation("2025-12")
    database = Database(f"sqlite:///{scratch / 'openhands.db'}")
    row = database.insert()
    database.dispose()
    stores = ["--file-store", str(files.root), "--db", str(scratch / "openhands.db")]
    runner = CliRunner()
    for args in (
        ["list"],
        ["list", "--format", "json"],
        ["show", conversation_id],
        ["show", row["conversation_id"], "--format", "json"],
        ["show", "0" * 32],
        ["rename", conversation_id, "warm"],
        ["rename", row["conversation_id"], "warm"],
        ["delete", conversation_id, "--dry-run"],
        ["delete", conversation_id, "--yes"],
        ["delete", row["conversation_id"], "--yes"],
    ):
        result = runner.invoke(app, [args[0], *stores, *args[1:]])
        assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    directory.mkdir(mode=0o755)
    make_traversable(directory)
    return directory


@pytest.fixture
def store(files: FileStoreBuilder) -> tuple[FileStoreBuilder, str, str]:
    readable, _ = files.generation("2025-12", user_id="alice", title="readable")
    other, _ = files.generation("2025-12", user_id="alice", title="other")
    events = files.root / "users" / "alice" / "conversations" / other / "events"
    events.mkdir(parents=True)
    (events / "0.json").write_text("{}")
    aged(files.root)  # not in use: `delete` goes as far as the permissions let it
    make_traversable(files.root)
    return files, readable, other


def _commands(conversation_id: str) -> list[list[str]]:
    return [
        ["list"],
        ["show", conversation_id],
        ["rename", conversation_id, "new title"],
        ["delete", conversation_id, "--yes"],
    ]


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # For uid 65534 only the "other" bits count.
        (0o700, {"list": 3, "show": 3, "rename": 3, "delete": 3}),  # nothing
        (0o704, {"list": 3, "show": 3, "rename": 3, "delete": 3}),  # read, no search
        (0o701, {"list": 3, "show": 0, "rename": 3, "delete": 3}),  # search, no read
    ],
    ids=["no-access", "read-only", "search-only"],
)
def test_a_sessions_directory_that_cannot_be_read_is_exit_3_in_one_line(
    store: tuple[FileStoreBuilder, str, str], home: Path, mode: int, expected: dict[str, int]
) -> None:
    files, conversation_id, _ = store
    (files.root / "sessions").chmod(mode)
    before = tree_digest(files.root)
    for command in _commands(conversation_id):
        process = as_nobody(home, command[0], "--file-store", files.root, *command[1:])
        assert process.returncode == expected[command[0]], (command, process.stderr)
        if process.returncode:
            line = one_line_error(process.stderr, after_preview=command[0] == "delete")
            assert "ermission denied" in line, line
        else:
            assert "Traceback" not in process.stderr
    assert tree_digest(files.root) == before


@pytest.mark.parametrize("what", ["directory", "file"])
def test_one_unreadable_conversation_is_a_problem_entry(
    store: tuple[FileStoreBuilder, str, str], home: Path, what: str
) -> None:
    files, readable, locked = store
    directory = files.root / "sessions" / locked
    (directory if what == "directory" else directory / "metadata.json").chmod(0o700)
    before = tree_digest(files.root)

    listed = as_nobody(home, "list", "--file-store", files.root, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    problems = {item["conversation_id"]: item["problems"] for item in json.loads(listed.stdout)}
    if ROOT:
        assert problems == {
            readable: [],
            locked: ["metadata.json is not readable (permission denied)"],
        }
    table = as_nobody(home, "list", "--file-store", files.root)
    assert table.returncode == 0 and "Traceback" not in table.stderr
    shown = as_nobody(home, "show", "--file-store", files.root, locked)
    if ROOT:
        # What can be shown is shown (where it is, and why it cannot be read); exit 3.
        assert shown.returncode == UNAVAILABLE, shown.stderr
        assert "problem: metadata.json is not readable (permission denied)" in shown.stdout
        assert "permission denied" in one_line_error(shown.stderr)
    else:
        assert shown.returncode == 0 and "Traceback" not in shown.stderr
        for command in (["rename", locked, "new title"], ["delete", locked, "--yes"]):
            process = as_nobody(home, command[0], "--file-store", files.root, *command[1:])
            assert process.returncode == UNAVAILABLE, (command, process.stderr)
            line = one_line_error(process.stderr, after_preview=command[0] == "delete")
            assert "permission denied" in line.lower()
    assert tree_digest(files.root) == before


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_a_store_that_cannot_be_written_is_exit_3_and_left_as_it_was(
    store: tuple[FileStoreBuilder, str, str], home: Path
) -> None:
    files, readable, other = store
    before = tree_digest(files.root)
    for conversation_id in (readable, other):
        for command in _commands(conversation_id)[2:]:
            process = as_nobody(home, command[0], "--file-store", files.root, *command[1:])
            assert process.returncode == UNAVAILABLE, (command, process.stderr)
            line = one_line_error(process.stderr, after_preview=command[0] == "delete")
            assert "ermission denied" in line
    assert tree_digest(files.root) == before


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_a_delete_that_can_move_one_directory_but_not_the_other_deletes_nothing(
    store: tuple[FileStoreBuilder, str, str], home: Path
) -> None:
    """sessions/ is writable, users/alice/conversations is not: hiding the session
    directory alone would make the conversation vanish while the command fails."""
    files, _, conversation_id = store
    (files.root / "sessions").chmod(0o777)
    before = tree_digest(files.root)
    process = as_nobody(home, "delete", "--file-store", files.root, conversation_id, "--yes")
    assert process.returncode == UNAVAILABLE, process.stderr
    line = one_line_error(process.stderr, after_preview=True)
    assert line.endswith("Permission denied; nothing was deleted"), line
    assert f"users/alice/conversations/{conversation_id}" in line
    assert tree_digest(files.root) == before
    listed = as_nobody(home, "list", "--file-store", files.root, "--format", "json")
    assert conversation_id in {item["conversation_id"] for item in json.loads(listed.stdout)}


@pytest.mark.skipif(not ROOT, reason="needs root to give files to another owner")
@pytest.mark.parametrize("mode", [0o640, 0o600, 0o664, 0o444])
def test_a_rename_as_root_keeps_the_files_mode_and_owner(
    files: FileStoreBuilder, home: Path, mode: int
) -> None:
    conversation_id, _ = files.generation("2025-12", title="before")
    path = files.root / "sessions" / conversation_id / "metadata.json"
    os.chown(path, 1234, 2345)
    path.chmod(mode)
    result = subprocess.run(
        [*CLI, "rename", "--file-store", str(files.root), conversation_id, "after"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    info = path.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (mode, 1234, 2345)
    assert json.loads(path.read_bytes())["title"] == "after"
    assert [p.name for p in path.parent.iterdir()] == ["metadata.json"]


@pytest.mark.parametrize("mode", [0o600, 0o604, 0o660])
def test_a_rename_by_the_owner_keeps_the_files_mode(
    files: FileStoreBuilder, home: Path, mode: int
) -> None:
    conversation_id, _ = files.generation("2025-12", title="before")
    directory = files.root / "sessions" / conversation_id
    path = directory / "metadata.json"
    if ROOT:
        for owned in (directory, path):
            os.chown(owned, NOBODY, NOBODY)
    path.chmod(mode)
    make_traversable(directory)
    process = as_nobody(home, "rename", "--file-store", files.root, conversation_id, "after")
    assert process.returncode == 0, process.stderr
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == mode
    if ROOT:
        assert (info.st_uid, info.st_gid) == (NOBODY, NOBODY)
    assert json.loads(path.read_bytes())["title"] == "after"


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_a_sqlite_database_that_cannot_be_read_or_written_is_exit_3(
    tmp_path: Path, home: Path
) -> None:
    directory = tmp_path / "database"
    directory.mkdir()
    database = Database(f"sqlite:///{directory / 'openhands.db'}")
    row = database.insert(title="before")
    database.dispose()
    path = directory / "openhands.db"
    make_traversable(directory)
    before = table_digest(database.url)

    path.chmod(0o644)  # readable, in a directory nobody may write to: no journal
    shown = as_nobody(home, "show", "--db", path, row["conversation_id"])
    assert shown.returncode == 0, shown.stderr
    for command in (
        ["rename", row["conversation_id"], "after"],
        ["delete", row["conversation_id"], "--yes"],
    ):
        process = as_nobody(home, command[0], "--db", path, *command[1:])
        assert process.returncode == UNAVAILABLE, (command, process.stderr)
        line = one_line_error(process.stderr, after_preview=command[0] == "delete")
        assert "cannot use" in line and str(path) in line
        assert f"permission denied: this user may not write {path}" in line

    path.chmod(0o600)  # not readable at all
    for command in _commands(row["conversation_id"]):
        process = as_nobody(home, command[0], "--db", path, *command[1:])
        assert process.returncode == UNAVAILABLE, (command, process.stderr)
        line = one_line_error(process.stderr)
        assert line == f"convstore: cannot read database {path} (flag): permission denied"
    assert table_digest(database.url) == before
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_unreadable_config_file_is_exit_3_naming_it_and_config_dev_null_skips_it(
    store: tuple[FileStoreBuilder, str, str], home: Path
) -> None:
    """Even when flags name the stores: the file may hold settings the flags do not
    override (events_dir, connect_timeout), so it is never skipped silently."""
    files, readable, _ = store
    config = home / ".config" / "convstore" / "config.toml"
    config.parent.mkdir(parents=True)
    make_traversable(config.parent)
    config.write_text('events_dir = "/srv/events"\n')
    config.chmod(0o000)
    refused = as_nobody(home, "list", "--file-store", files.root)
    assert refused.returncode == UNAVAILABLE  # permission denied: exit 3, as everywhere
    line = one_line_error(refused.stderr)
    assert str(config) in line and line.endswith("permission denied")
    listed = as_nobody(
        home, "list", "--file-store", files.root, "--config", "/dev/null", "--format", "json"
    )
    assert listed.returncode == 0 and readable in listed.stdout


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_every_path_that_cannot_be_read_or_written_is_exit_3_saying_permission_denied(
    store: tuple[FileStoreBuilder, str, str], home: Path, tmp_path: Path
) -> None:
    """Never exit 2 from the option parser ("path is not readable"), never an internal
    error: the same line wherever permission is denied."""
    files, readable, _ = store
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)  # root's: uid 65534 may neither list nor write it
    make_traversable(tmp_path)
    locked.chmod(0o700)
    stores = ["--file-store", str(files.root)]
    for command in (
        ["export", *stores, readable, "-o", locked / "out.md"],
        ["export", *stores, "--all", "-o", locked / "out"],
        ["sample", locked / "demo"],
        ["migrate-v0-to-v1", *stores, "--dry-run", "--report", locked / "report.json"],
        ["list", "--file-store", locked],
        ["verify", "--file-store", locked],
        ["verify", *stores, "--events-dir", locked],
        ["show", *stores, readable, "--events-dir", locked],
        ["list", *stores, "--config", locked / "config.toml"],
    ):
        process = as_nobody(home, *command)
        assert process.returncode == UNAVAILABLE, (command, process.stderr)
        line = one_line_error(process.stderr)
        assert line.endswith("permission denied") and str(locked) in line, (command, line)
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(not ROOT, reason="needs root to run as another user")
def test_a_migration_beside_a_database_it_may_not_write_is_exit_3(
    files: FileStoreBuilder, home: Path, tmp_path: Path
) -> None:
    files.generation("2025-12")
    directory = tmp_path / "database"
    directory.mkdir()
    database = Database(f"sqlite:///{directory / 'openhands.db'}")
    database.dispose()
    make_traversable(files.root)
    make_traversable(directory)
    before = table_digest(database.url)
    process = as_nobody(
        home, "migrate-v0-to-v1", "--file-store", files.root, "--db", directory / "openhands.db"
    )
    assert process.returncode == UNAVAILABLE, process.stderr
    lock = directory / "openhands.db.convstore-migrate.lock"
    assert one_line_error(process.stderr) == f"convstore: cannot write {lock}: permission denied"
    assert table_digest(database.url) == before
