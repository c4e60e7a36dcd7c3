"""Every command resolves the stores one way (``locations.survey``) and says which it read.

- A file store without ``sessions/`` (a 1.x-only ``~/.openhands``, an empty directory)
  is an empty V0 store for every command; one that looks like ``sessions/`` itself is
  a usage error with a hint.
- A store named explicitly (flag, ``CONVSTORE_*``, config.toml, OpenHands' environment)
  that does not exist is exit 3 everywhere; only the built-in default may be absent,
  and `config` and each batch job's summary then say so.
- A directory given as ``--db`` is called a directory; `db info` advises ``--db``.
- Every command that reads events takes ``--events-dir``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import cli, one_line_error

USAGE, UNAVAILABLE = 2, 3
OPENHANDS_VARIABLES = (
    "FILE_STORE_PATH",
    "OH_PERSISTENCE_DIR",
    "DB_HOST",
    "DB_PORT",
    "DB_NAME",
    "DB_USER",
    "DB_PASS",
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own: no config.toml, no store but what a test puts in ~/.openhands."""
    directory = tmp_path / "home"
    directory.mkdir()
    monkeypatch.setenv("HOME", str(directory))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(directory / ".config"))
    for name in [*os.environ]:
        if name.startswith("CONVSTORE_") or name in OPENHANDS_VARIABLES:
            monkeypatch.delenv(name)
    return directory


@pytest.fixture
def one_x_home(home: Path) -> tuple[Path, str]:
    """A typical 1.x-only install: ~/.openhands holds openhands.db and no sessions/."""
    persistence = home / ".openhands"
    persistence.mkdir()
    database = Database(f"sqlite:///{persistence / 'openhands.db'}")
    row = database.insert(title="a 1.x conversation")
    database.dispose()
    return persistence, row["conversation_id"]


# Every command that opens the stores, as an operator would run it on such an install.
def _commands(conversation_id: str, tmp_path: Path) -> list[list[str]]:
    return [
        ["list", "--format", "json"],
        ["show", conversation_id],
        ["export", conversation_id],
        ["export", "--all", "-o", str(tmp_path / "exported")],
        ["delete", "--older-than", "1d", "--dry-run"],
        ["verify", "--format", "json"],
        ["migrate-v0-to-v1", "--dry-run"],
        ["rename", conversation_id, "renamed"],
        ["db", "info"],
        ["config"],
    ]


def test_a_one_x_install_without_sessions_is_an_empty_v0_store_for_every_command(
    one_x_home: tuple[Path, str], tmp_path: Path
) -> None:
    _, conversation_id = one_x_home
    for command in _commands(conversation_id, tmp_path):
        result = cli(*command)
        assert result.exit_code == 0, (command, result.output)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    listed = json.loads(cli("list", "--format", "json").stdout)
    assert [item["conversation_id"] for item in listed] == [conversation_id]


@pytest.mark.parametrize("kind", ["empty", "no-sessions"])
def test_a_file_store_flag_without_sessions_is_an_empty_store(
    one_x_home: tuple[Path, str], tmp_path: Path, kind: str
) -> None:
    persistence, conversation_id = one_x_home
    store = tmp_path / "store"
    store.mkdir()
    if kind == "no-sessions":
        (store / "users").mkdir()
    stores = ["--file-store", str(store), "--db", str(persistence / "openhands.db")]
    for command in _commands(conversation_id, tmp_path)[:-2]:
        result = cli(command[0], *stores, *command[1:])
        assert result.exit_code == 0, (command, result.output)
    alone = cli("list", "--file-store", store, "--format", "json")
    assert alone.exit_code == 0 and json.loads(alone.stdout) == []


def test_a_file_store_that_is_sessions_itself_gets_a_hint_everywhere(
    files: FileStoreBuilder, tmp_path: Path, home: Path
) -> None:
    conversation_id, _ = files.generation("2025-12")
    sessions = files.root / "sessions"
    renamed = tmp_path / "conversations"  # not named sessions: found by what it holds
    (renamed / conversation_id).mkdir(parents=True)
    (renamed / conversation_id / "metadata.json").write_bytes(
        (sessions / conversation_id / "metadata.json").read_bytes()
    )
    for given in (sessions, renamed):
        for command in _commands(conversation_id, tmp_path)[:-2]:
            result = cli(command[0], "--file-store", given, *command[1:])
            assert result.exit_code == USAGE, (command, result.output)
            line = one_line_error(result.stderr)
            assert "looks like a sessions/ directory itself" in line
            assert f"give the directory that holds it ({given.parent})" in line


@pytest.mark.parametrize(
    ("variable", "command"),
    [
        ("FILE_STORE_PATH", ["migrate-v0-to-v1", "--dry-run"]),
        ("FILE_STORE_PATH", ["verify"]),
        ("FILE_STORE_PATH", ["list"]),
        ("FILE_STORE_PATH", ["export", "--all", "-o", "{tmp}/out"]),
        ("FILE_STORE_PATH", ["delete", "--older-than", "1d", "--dry-run"]),
        ("CONVSTORE_FILE_STORE", ["verify"]),
        ("CONVSTORE_EVENTS_DIR", ["verify"]),
        ("CONVSTORE_EVENTS_DIR", ["migrate-v0-to-v1", "--dry-run"]),
        ("CONVSTORE_DB", ["list"]),
        ("OH_PERSISTENCE_DIR", ["verify"]),
    ],
)
def test_a_store_the_environment_names_that_does_not_exist_is_exit_3(
    one_x_home: tuple[Path, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    command: list[str],
) -> None:
    """Not "no V0 conversations found" and exit 0, as if the store were empty. (Its parent
    is missing too: a migration would create a missing events directory in an existing
    one.)"""
    missing = tmp_path / "missing" / "store"
    monkeypatch.setenv(variable, str(missing))
    result = cli(*(part.format(tmp=tmp_path) for part in command))
    assert result.exit_code == UNAVAILABLE, result.output
    line = one_line_error(result.stderr)
    assert str(missing) in line and f"(env {variable})" in line and "does not exist" in line


def test_a_store_in_config_toml_that_does_not_exist_is_exit_3(
    one_x_home: tuple[Path, str], home: Path, tmp_path: Path
) -> None:
    config = home / ".config" / "convstore" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'file_store = "{tmp_path / "gone"}"\n')
    result = cli("verify")
    assert result.exit_code == UNAVAILABLE
    assert f"({'config ' + str(config)}) does not exist" in one_line_error(result.stderr)


def test_only_the_default_may_be_absent_and_config_and_summaries_say_so(
    home: Path, tmp_path: Path
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    database.insert()
    database.dispose()
    database_flag = ["--db", str(tmp_path / "openhands.db")]
    shown = json.loads(cli("config", "--format", "json").stdout)
    default = str(home / ".openhands")
    assert shown["file_store"] == {
        "value": default,
        "source": "default",
        "used": False,
        "note": "not found, not used",
    }
    assert shown["db"]["note"] == "not found, not used" and shown["db"]["used"] is False
    table = cli("config").stdout
    assert f"{default}  (default; not found, not used)" in table

    # Flags scope the run to the database; each batch job names the stores it read.
    for command in (
        ["verify"],
        ["migrate-v0-to-v1", "--dry-run"],
        ["export", "--all", "-o", str(tmp_path / "out")],
        ["delete", "--older-than", "1d", "--dry-run"],
    ):
        result = cli(command[0], *database_flag, *command[1:])
        assert result.exit_code in (0, 1), (command, result.output)
        summary = [line for line in result.stderr.splitlines() if line.startswith("stores: ")]
        assert summary == [
            f"stores: database {tmp_path / 'openhands.db'} (flag); V1 events "
            f"{home / '.openhands' / 'v1_conversations'} (v1_conversations/ in ~/.openhands "
            "(default); not found: none yet)"
        ], (command, result.stderr)


def test_a_one_x_home_summary_says_the_file_store_has_no_sessions(
    one_x_home: tuple[Path, str],
) -> None:
    persistence, _ = one_x_home
    result = cli("migrate-v0-to-v1", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        f"stores: file store {persistence} (default; no sessions/: no V0 conversations); "
        f"database {persistence / 'openhands.db'} (default)"
    ) in result.stderr


def test_the_events_dir_source_reads_well(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources = {
        (): "v1_conversations/ in the file store (default)",
        ("--file-store", "/srv/oh"): "v1_conversations/ in the file store (flag)",
        ("--events-dir", "/srv/events"): "flag",
    }
    for flags, expected in sources.items():
        shown = json.loads(cli("config", "--format", "json", *flags).stdout)
        assert shown["events_dir"]["source"] == expected
    monkeypatch.setenv("OH_PERSISTENCE_DIR", "/srv/persist")
    shown = json.loads(cli("config", "--format", "json").stdout)
    assert shown["events_dir"]["value"] == "/srv/persist/v1_conversations"
    assert shown["events_dir"]["source"] == "v1_conversations/ in env OH_PERSISTENCE_DIR"


def test_a_directory_given_as_db_is_called_a_directory(home: Path, tmp_path: Path) -> None:
    for command in (["list"], ["db", "info"], ["verify"]):
        result = cli(*command, "--db", tmp_path)
        assert result.exit_code == UNAVAILABLE
        assert one_line_error(result.stderr) == (
            f"convstore: database {tmp_path} (flag) is a directory, not a SQLite file "
            "(give the openhands.db inside it)"
        )
    shown = json.loads(cli("config", "--format", "json", "--db", tmp_path).stdout)["db"]
    assert shown["note"] == "a directory, not a SQLite file" and shown["used"] is False


def test_db_info_without_a_database_advises_db_only(home: Path) -> None:
    (home / ".openhands" / "sessions").mkdir(parents=True)  # a file store it must not use
    for command in (["db", "info"], ["db", "add-indexes", "--dry-run"]):
        result = cli(*command)
        assert result.exit_code == UNAVAILABLE
        line = one_line_error(result.stderr)
        assert "--file-store" not in line and "give --db" in line, line
        assert str(home / ".openhands" / "openhands.db") in line


@pytest.mark.parametrize("command", ["verify", "show", "delete", "export", "migrate-v0-to-v1"])
def test_every_command_that_reads_events_takes_events_dir(
    one_x_home: tuple[Path, str], tmp_path: Path, command: str
) -> None:
    """A V1 conversation's events in a directory named only by --events-dir: each command
    finds them there (and exit 3 for one that does not exist)."""
    _, conversation_id = one_x_home
    events = tmp_path / "events"
    directory = events / conversation_id.replace("-", "")
    directory.mkdir(parents=True)
    (directory / "event-00001-aaaa.json").write_text("{}")
    aged(events)  # events written just now would make `delete` take it for one in use
    assert "--events-dir" in cli(command, "--help").stdout
    arguments = {
        "verify": ["--format", "json", "--check", "events"],
        "show": [conversation_id, "--format", "json"],
        "delete": [conversation_id, "--dry-run"],
        "export": [conversation_id, "--format", "json"],
        "migrate-v0-to-v1": ["--dry-run"],
    }[command]
    result = cli(command, "--events-dir", events, *arguments)
    assert result.exit_code in (0, 1), result.output
    if command == "show":
        assert json.loads(result.stdout)["events"]["directory"] == str(directory)
    elif command == "delete":
        assert f"remove directory {directory}" in result.stdout
    elif command == "export":
        assert json.loads(result.stdout)["events_location"] == str(directory)
    elif command == "verify":
        assert str(directory) in result.stdout
    # A migration creates the directory it writes to, but not a missing parent (a typo).
    nowhere = tmp_path / "nowhere" / ("events" if command == "migrate-v0-to-v1" else "")
    gone = cli(command, "--events-dir", nowhere, *arguments)
    assert gone.exit_code == UNAVAILABLE
    assert one_line_error(gone.stderr) == f"convstore: V1 events {nowhere} (flag) does not exist"


def test_a_migration_creates_the_events_directory_it_is_told_to_write(
    home: Path, tmp_path: Path
) -> None:
    files = FileStoreBuilder(tmp_path / "store")
    conversation_id, _ = files.generation("2025-12", user_id="alice")
    history = files.root / "sessions" / conversation_id / "events"
    history.mkdir()
    message = {"content": "hi", "image_urls": [], "wait_for_response": False}
    (history / "0.json").write_text(
        json.dumps(
            {
                "id": 0,
                "timestamp": "2025-11-03T14:02:05.435558",
                "source": "user",
                "message": "hi",
                "action": "message",
                "args": message,
            }
        )
    )
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    database.dispose()
    events = tmp_path / "new-events"
    result = cli(
        "migrate-v0-to-v1",
        *("--file-store", files.root, "--db", tmp_path / "openhands.db"),
        *("--events-dir", events),
    )
    assert result.exit_code == 0, result.output
    assert [path.name for path in events.iterdir()] == [conversation_id]
    assert len(list((events / conversation_id).glob("*.json"))) == 1


def test_commands_that_never_read_events_ignore_the_events_setting(
    one_x_home: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONVSTORE_EVENTS_DIR naming a directory that does not exist yet (a migration will
    create it) stops only the commands that read events."""
    _, conversation_id = one_x_home
    monkeypatch.setenv("CONVSTORE_EVENTS_DIR", str(tmp_path / "not-yet"))
    assert cli("list", "--format", "json").exit_code == 0
    assert cli("rename", conversation_id, "Renamed").exit_code == 0
    shown = cli("show", conversation_id)
    assert shown.exit_code == UNAVAILABLE
    assert "V1 events" in one_line_error(shown.stderr)


def test_an_export_without_events_says_where_it_looked_and_records_it(
    one_x_home: tuple[Path, str], tmp_path: Path
) -> None:
    persistence, conversation_id = one_x_home
    hexadecimal = conversation_id.replace("-", "")
    looked = [
        persistence / "v1_conversations" / hexadecimal,
        persistence / "alice" / "v1_conversations" / hexadecimal,
    ]
    result = cli("export", conversation_id, "--format", "json")
    assert result.exit_code == 0, result.output
    warning = (
        f"convstore: warning: {conversation_id}: no event files found in "
        f"{looked[0]}, {looked[1]}; give --events-dir (the v1_conversations directory) "
        "to look elsewhere"
    )
    assert result.stderr.splitlines() == [warning]
    exported = json.loads(result.stdout)
    assert exported["events_location"] is None and exported["events"] == []
    assert exported["events_searched"] == [str(path) for path in looked]
    assert exported["problems"] == [warning.split(f"{conversation_id}: ", 1)[1]]

    markdown = cli("export", conversation_id)
    assert markdown.exit_code == 0 and markdown.stderr.splitlines() == [warning]
    assert f"no event files found in {looked[0]}" in markdown.stdout

    many = cli("export", "--all", "-o", tmp_path / "all")
    assert many.exit_code == 0, many.output
    assert "1 of them without event files" in many.stderr


def test_an_export_of_a_v0_row_without_a_file_store_says_to_give_one(
    home: Path, tmp_path: Path
) -> None:
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    row = database.insert(conversation_id="ab" * 16, conversation_version="V0")
    database.dispose()
    result = cli("export", "--db", tmp_path / "openhands.db", row["conversation_id"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"convstore: warning: {row['conversation_id']}: no event files found: nowhere to "
        "look; give --file-store (the directory holding sessions/)"
    ]
