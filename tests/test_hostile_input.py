"""Hostile input through the command line: bad ids, links out of the store, wildcards,
huge and malformed files. Each gets its documented exit status and one clear line (or a
problem entry in a listing), and nothing is modified: the store tree and the table are
hashed before and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import CLI, cli, listing, one_line_error, table_digest, tree_digest

USAGE, FAILED, UNAVAILABLE, NOT_FOUND = 2, 1, 3, 4
BLOCKED = 1  # a deletion that cannot go now: a person must act


@dataclass
class Stores:
    """A file store and a database side by side, both given to every command."""

    files: FileStoreBuilder
    database: Database

    @property
    def options(self) -> list[str]:
        return ["--file-store", str(self.files.root), "--db", self.database.url]

    def digest(self) -> tuple[Any, ...]:
        return tree_digest(self.files.root), table_digest(self.database.url)


@pytest.fixture
def stores(files: FileStoreBuilder, make_database: Callable[..., Database]) -> Stores:
    files.generation("2025-12", title="a file conversation")
    database = make_database()
    database.insert(title="a V1 row")
    database.insert(conversation_id="f" * 32, conversation_version="V0", title="a V0 row")
    return Stores(files, database)


@pytest.fixture
def file_store(files: FileStoreBuilder) -> FileStoreBuilder:
    files.generation("2025-12", title="a file conversation")
    return files


def _options(files: FileStoreBuilder) -> list[str]:
    return ["--file-store", str(files.root)]


def _commands(conversation_id: str) -> Iterator[tuple[str, ...]]:
    yield ("show", conversation_id)
    yield ("show", conversation_id, "--format", "json")
    yield ("rename", conversation_id, "new title")
    yield ("delete", conversation_id, "--yes")


# Ids

BAD_IDS = {
    "dot-dot": "..",
    "dot-dot-inside": "abc..def",
    "climbs-out": "../../etc",
    "slash": "a/b",
    "absolute": "/etc/passwd",
    "backslash": "a\\b",
    "nul": "abc\x00def",
    "newline": "abc\ndef",
    "escape": "abc\x1b[2Jdef",
    "tab": "abc\tdef",
    "101-characters": "x" * 101,
    "5000-characters": "y" * 5000,
    "empty": "",
}


@pytest.mark.parametrize("conversation_id", BAD_IDS.values(), ids=BAD_IDS.keys())
def test_invalid_ids_are_refused_with_exit_2_and_change_nothing(
    stores: Stores, conversation_id: str
) -> None:
    before = stores.digest()
    for command in _commands(conversation_id):
        result = cli(command[0], *stores.options, *command[1:])
        assert result.exit_code == USAGE, (command, result.output)
        line = one_line_error(result.stderr)
        assert "invalid conversation id" in line
        assert len(line) < 300, "the id is clipped in the message"
        assert result.stdout == ""
    assert stores.digest() == before


@pytest.mark.parametrize("conversation_id", ["%", "_", "%%", "f_f", "*", "'; DROP TABLE x; --"])
def test_wildcards_in_an_id_match_nothing_but_themselves(
    stores: Stores, conversation_id: str
) -> None:
    before = stores.digest()
    for command in _commands(conversation_id):
        result = cli(command[0], *stores.options, *command[1:])
        assert result.exit_code == NOT_FOUND, (command, result.output)
        assert f"no conversation {conversation_id}" in one_line_error(result.stderr)
    assert stores.digest() == before


@pytest.mark.parametrize("conversation_id", [".", ".hidden", ".deleting-abc-12345678"])
def test_hidden_names_are_not_conversations(
    file_store: FileStoreBuilder, conversation_id: str
) -> None:
    """`.` is sessions/ itself: with a stray sessions/metadata.json, `delete .` would
    have removed every conversation."""
    sessions = file_store.root / "sessions"
    (sessions / "metadata.json").write_text('{"conversation_id": ".", "title": "stray"}')
    (sessions / ".hidden").mkdir()
    (sessions / ".hidden" / "metadata.json").write_text('{"title": "hidden"}')
    (sessions / ".deleting-abc-12345678").mkdir()
    (sessions / ".deleting-abc-12345678" / "metadata.json").write_text('{"title": "going"}')
    before = tree_digest(file_store.root)
    for command in _commands(conversation_id):
        result = cli(command[0], *_options(file_store), *command[1:])
        assert result.exit_code == NOT_FOUND, (command, result.output)
        one_line_error(result.stderr)
    assert tree_digest(file_store.root) == before
    assert [item["title"] for item in listing(*_options(file_store))] == ["a file conversation"]


# Links out of the store


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    target = tmp_path / "outside"
    (target / "secret" / "events").mkdir(parents=True)
    (target / "secret" / "metadata.json").write_text(
        json.dumps({"conversation_id": "secret", "title": "private title", "user_id": "eve"})
    )
    (target / "secret" / "events" / "0.json").write_text("{}")
    return target


def test_a_session_directory_linked_out_of_the_store_is_never_followed(
    file_store: FileStoreBuilder, outside: Path
) -> None:
    (file_store.root / "sessions" / "secret").symlink_to(outside / "secret")
    before = tree_digest(file_store.root), tree_digest(outside)
    options = _options(file_store)

    [entry] = [item for item in listing(*options) if item["conversation_id"] == "secret"]
    assert entry["title"] is None
    assert entry["problems"] == [
        f"{file_store.root / 'sessions' / 'secret'} is a symbolic link out of the file store; "
        "not followed"
    ]
    table = cli("list", *options)
    assert table.exit_code == 0 and "private" not in table.stdout

    shown = cli("show", *options, "secret")  # what it can, then exit 3: it could not read it
    assert shown.exit_code == UNAVAILABLE
    assert "private" not in shown.stdout and "symbolic link out of the file store" in shown.stdout
    assert "symbolic link out of the file store" in one_line_error(shown.stderr)

    renamed = cli("rename", *options, "secret", "mine now")
    assert renamed.exit_code == FAILED
    assert "symbolic link out of the file store" in one_line_error(renamed.stderr)

    deleted = cli("delete", *options, "secret", "--yes")
    assert deleted.exit_code == BLOCKED
    assert "symbolic link" in deleted.stdout and "outside the file store" in deleted.stdout
    assert "not deleted: 1 blocked" in deleted.stderr and "Traceback" not in deleted.stderr
    assert (tree_digest(file_store.root), tree_digest(outside)) == before


def test_a_user_directory_linked_out_of_the_store_is_not_deleted_through(
    file_store: FileStoreBuilder, outside: Path
) -> None:
    """Events of a V0 conversation with a user live in users/<user>/conversations/<id>:
    a link there must not make `delete` remove what it points to."""
    conversation_id, _ = file_store.generation("2025-12", user_id="eve")
    (outside / "conversations" / conversation_id / "events").mkdir(parents=True)
    (outside / "conversations" / conversation_id / "events" / "0.json").write_text("{}")
    (file_store.root / "users" / "eve").mkdir(parents=True)
    (file_store.root / "users" / "eve" / "conversations").symlink_to(outside / "conversations")
    for root in (file_store.root, outside):
        aged(root)  # not in use: `delete` takes it (its events are looked at, not followed)
    outside_before = tree_digest(outside)

    preview = cli("delete", *_options(file_store), conversation_id, "--dry-run")
    assert preview.exit_code == 0 and str(outside) not in preview.stdout
    assert "users" not in preview.stdout
    deleted = cli("delete", *_options(file_store), conversation_id, "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert not (file_store.root / "sessions" / conversation_id).exists()
    assert tree_digest(outside) == outside_before


def test_a_metadata_file_linked_out_of_the_store_is_never_read(
    file_store: FileStoreBuilder, outside: Path
) -> None:
    directory = file_store.root / "sessions" / "linked"
    directory.mkdir()
    (directory / "metadata.json").symlink_to(outside / "secret" / "metadata.json")
    before = tree_digest(file_store.root), tree_digest(outside)
    [entry] = [
        item for item in listing(*_options(file_store)) if item["conversation_id"] == "linked"
    ]
    assert entry["title"] is None and "symbolic link" in entry["problems"][0]
    shown = cli("show", *_options(file_store), "linked")
    assert shown.exit_code == UNAVAILABLE and "private" not in shown.stdout
    assert "symbolic link" in one_line_error(shown.stderr)
    renamed = cli("rename", *_options(file_store), "linked", "mine now")
    assert renamed.exit_code == FAILED
    assert "symbolic link" in one_line_error(renamed.stderr)
    assert (tree_digest(file_store.root), tree_digest(outside)) == before


@pytest.mark.slow  # six real processes
def test_a_fifo_or_device_instead_of_metadata_is_a_problem_not_a_hang(
    file_store: FileStoreBuilder,
) -> None:
    """A FIFO blocks open() until a writer comes; /dev/zero never ends."""
    for name in ("fifo", "zero"):
        (file_store.root / "sessions" / name).mkdir()
    os.mkfifo(file_store.root / "sessions" / "fifo" / "metadata.json")
    (file_store.root / "sessions" / "zero" / "metadata.json").symlink_to("/dev/zero")
    before = tree_digest(file_store.root)
    for command in (
        ["list", "--format", "json"],
        ["show", "fifo"],
        ["rename", "fifo", "x"],
        ["show", "zero"],
        ["rename", "zero", "x"],
    ):
        process = subprocess.run(
            [*CLI, command[0], *_options(file_store), *command[1:]],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        # show prints what it can, then exits 3: it could not read the metadata.
        expected = {"rename": FAILED, "show": UNAVAILABLE}.get(command[0], 0)
        assert process.returncode == expected, process.stderr
        if command[0] == "rename":
            assert "refusing" in one_line_error(process.stderr)
        elif command[0] == "show":
            line = one_line_error(process.stderr)
            assert line.startswith(f"convstore: cannot read {command[1]}: metadata.json is "), line
        else:
            assert "Traceback" not in process.stderr
    listed = json.loads(
        subprocess.run(
            [*CLI, "list", *_options(file_store), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )
    problems = {item["conversation_id"]: item["problems"] for item in listed}
    assert problems["fifo"] == ["metadata.json is not a regular file; it is not metadata"]
    assert "symbolic link" in problems["zero"][0] or "not a regular file" in problems["zero"][0]
    assert tree_digest(file_store.root) == before


# Wildcards in filters


def test_percent_and_underscore_in_filters_match_literally(
    files: FileStoreBuilder, make_database: Callable[..., Database]
) -> None:
    titles = {
        "100% done": "acme/x_y",
        "100 done": "acme/xzy",
        "snake_case": "acme/a%b",
        "snakeXcase": "acme/ab",
        "back\\slash": "acme/back\\slash",
        "backslash": "acme/backslash",
    }
    database = make_database()
    for title, repository in titles.items():
        files.generation("2025-12", title=title, selected_repository=repository)
        database.insert(title=title, selected_repository=repository)
    options = ["--file-store", str(files.root), "--db", database.url]

    def found(**filters: str) -> list[tuple[str, str]]:
        return sorted((item["store"], item["title"]) for item in listing(*options, **filters))

    both = [("files",), ("sql",)]
    assert found(title="0% D") == [(*store, "100% done") for store in both]
    assert found(title="_") == [(*store, "snake_case") for store in both]
    assert found(title="%") == [(*store, "100% done") for store in both]
    assert found(title="\\") == [(*store, "back\\slash") for store in both]
    assert found(repo="x_y") == [(*store, "100% done") for store in both]
    assert found(repo="A%B") == [(*store, "snake_case") for store in both]
    assert found(repo="%") == [(*store, "snake_case") for store in both]
    assert found(title="%%") == []
    assert found(title="__") == []


# Size


# Runs the command and prints its exit status and peak RSS. A wrapper, because a child
# forked straight from pytest starts with pytest's memory in its peak.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "status = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, "
    "stderr=subprocess.DEVNULL)\n"
    "print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def _peak_rss_kib(args: list[str]) -> tuple[int, int]:
    """Run the CLI in a process of its own; its exit status and peak RSS in KiB."""
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, *CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    status, peak = measured.stdout.split()
    return int(status), int(peak)


def test_a_50_mb_metadata_file_is_a_bounded_error(file_store: FileStoreBuilder) -> None:
    conversation_id, _ = file_store.generation("2025-12", title="normal size")
    options = _options(file_store)
    baseline = _peak_rss_kib(["list", *options, "--format", "json"])
    assert baseline[0] == 0

    path = file_store.root / "sessions" / conversation_id / "metadata.json"
    with path.open("wb") as stream:
        stream.write(b'{"conversation_id": "%s", "title": "' % conversation_id.encode())
        stream.write(b"x" * (50 << 20))
        stream.write(b'"}')
    size = path.stat().st_size
    aged(file_store.root)  # not in use: `delete` reaches the file, and refuses it
    before = tree_digest(file_store.root)

    [entry] = [item for item in listing(*options) if item["conversation_id"] == conversation_id]
    assert entry["problems"] == [
        f"metadata.json is {size:,} bytes, more than the 1,048,576 convstore reads; "
        "it is not metadata"
    ]
    shown = cli("show", *options, conversation_id)
    assert shown.exit_code == UNAVAILABLE
    assert "more than the 1,048,576 convstore reads" in shown.stdout
    assert "more than the 1,048,576" in one_line_error(shown.stderr)
    renamed = cli("rename", *options, conversation_id, "new title")
    assert renamed.exit_code == FAILED
    assert "refusing to rewrite" in one_line_error(renamed.stderr)
    deleted = cli("delete", *options, conversation_id, "--yes")
    assert deleted.exit_code == FAILED
    assert "refusing to delete" in one_line_error(deleted.stderr, after_preview=True)
    assert tree_digest(file_store.root) == before

    status, peak = _peak_rss_kib(["list", *options, "--format", "json"])
    assert status == 0
    assert peak - baseline[1] < 20 * 1024, f"peak RSS {peak} KiB, {baseline[1]} KiB without"
    status, peak = _peak_rss_kib(["rename", *options, conversation_id, "x"])
    assert status == FAILED and peak - baseline[1] < 20 * 1024


# Malformed files


def _good(conversation_id: str) -> str:
    return json.dumps(
        {"conversation_id": conversation_id, "title": "a title", "created_at": "2025-12-01"}
    )


def _latin1(conversation_id: str) -> bytes:
    return b'{"conversation_id": "%s", "title": "caf\xe9"}' % conversation_id.encode()


def _invalid(conversation_id: str) -> bytes:
    return b'{"conversation_id": "%s", "title": "\xff\xfe\x80"}' % conversation_id.encode()


MALFORMED: dict[str, tuple[Callable[[str], bytes], str]] = {
    "empty": (lambda _: b"", "metadata.json is not valid JSON: line 1 column 1"),
    "whitespace": (lambda _: b" \n\t ", "metadata.json is not valid JSON: line 2 column 3"),
    "truncated": (
        lambda name: _good(name)[:-12].encode(),
        "metadata.json is not valid JSON: line 1 column",
    ),
    "array": (lambda _: b'[{"title": "x"}]', "metadata.json holds a JSON list, not an object"),
    "string": (lambda _: b'"just a string"', "metadata.json holds a JSON str, not an object"),
    "null": (lambda _: b"null", "metadata.json holds a JSON NoneType, not an object"),
    "bom": (
        lambda name: b"\xef\xbb\xbf" + _good(name).encode(),
        "metadata.json starts with a UTF-8 byte order mark",
    ),
    "utf-16": (lambda name: _good(name).encode("utf-16"), "metadata.json is UTF-16"),
    "utf-16-be-no-bom": (lambda name: _good(name).encode("utf-16-be"), "metadata.json is UTF-16"),
    "deeply-nested": (
        lambda _: b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "metadata.json is nested too deeply to be metadata",
    ),
    # Deep enough that parsing succeeds near the top of the stack and fails deeper.
    "nested-near-the-limit": (
        lambda name: _good(name)[:-1].encode() + b', "x": ' + b"[" * 975 + b"]" * 975 + b"}",
        "metadata.json is nested too deeply to be metadata",
    ),
    "latin-1-title": (_latin1, "metadata.json is not valid UTF-8 (byte "),
    "invalid-bytes-in-title": (_invalid, "metadata.json is not valid UTF-8 (byte "),
    "escaped-lone-surrogate": (
        lambda name: _good(name).replace("a title", "\\ud800 half a character").encode(),
        "metadata.json escapes a lone surrogate",
    ),
    "huge-integer": (
        lambda name: _good(name)[:-1].encode() + b', "prompt_tokens": ' + b"9" * 5000 + b"}",
        "metadata.json is not valid JSON: a number has more than",
    ),
}


@pytest.mark.parametrize("content", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_metadata_is_a_problem_entry_and_never_rewritten(
    file_store: FileStoreBuilder, content: tuple[Callable[[str], bytes], str]
) -> None:
    make, problem = content
    conversation_id = uuid.uuid4().hex
    file_store.write(conversation_id, make(conversation_id))
    options = _options(file_store)
    before = tree_digest(file_store.root)

    [entry] = [item for item in listing(*options) if item["conversation_id"] == conversation_id]
    assert any(found.startswith(problem) for found in entry["problems"]), entry["problems"]
    for fmt in ("table", "csv", "jsonl"):
        assert cli("list", *options, "--format", fmt).exit_code == 0
    shown = cli("show", *options, conversation_id)
    assert shown.exit_code == 0 and "problem: " in shown.stdout
    renamed = cli("rename", *options, conversation_id, "new title")
    assert renamed.exit_code == FAILED
    assert "refusing to rewrite" in one_line_error(renamed.stderr)
    assert tree_digest(file_store.root) == before


def test_values_of_the_wrong_type_are_problems_and_kept_verbatim_by_a_rename(
    file_store: FileStoreBuilder,
) -> None:
    """Valid JSON with fields of the wrong type is readable: each field is a problem
    entry, and a rename changes only the title, keeping the odd values as they are."""
    document = {
        "conversation_id": "typed",
        "selected_repository": ["not", "a", "string"],
        "title": 42,
        "pr_number": "7",
        "created_at": "yesterday",
        "accumulated_cost": "a lot",
        "prompt_tokens": -5,
        "is_public": "maybe",
    }
    file_store.write("typed", document)
    options = _options(file_store)
    [entry] = [item for item in listing(*options) if item["conversation_id"] == "typed"]
    assert len(entry["problems"]) >= 6
    for field in ("selected_repository", "title", "pr_number", "created_at", "accumulated_cost"):
        assert any(problem.startswith(f"{field} is invalid") for problem in entry["problems"])
    renamed = cli("rename", *options, "typed", "a real title")
    assert renamed.exit_code == 0, renamed.output
    written = json.loads((file_store.root / "sessions" / "typed" / "metadata.json").read_bytes())
    assert list(written) == [*document, "last_updated_at"]
    assert {k: v for k, v in written.items() if k not in ("title", "last_updated_at")} == {
        k: v for k, v in document.items() if k != "title"
    }


def test_not_a_number_and_infinity_never_reach_json_output(file_store: FileStoreBuilder) -> None:
    file_store.write(
        "odd",
        b'{"conversation_id": "odd", "accumulated_cost": NaN, "prompt_tokens": 1e999, '
        b'"created_at": "2025-12-01T00:00:00Z"}',
    )
    options = _options(file_store)
    [entry] = [item for item in listing(*options) if item["conversation_id"] == "odd"]
    # As stored, in the only form JSON output can carry them: their names, as text.
    assert entry["accumulated_cost"] == "NaN" and entry["prompt_tokens"] == "Infinity"
    assert entry["problems"][0].startswith("accumulated_cost is invalid (input should be a finite")
    assert entry["problems"][1].startswith("prompt_tokens is invalid")
    for fmt in ("jsonl",):
        result = cli("list", *options, "--format", fmt)
        for line in result.stdout.splitlines():
            json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))
    shown = cli("show", *options, "odd", "--format", "json")
    json.loads(shown.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))


# What a terminal would interpret


HOSTILE_TITLES = [
    "[/x] closes a tag never opened",
    "[bold red]looks styled[/bold red]",
    "rings \x07 the bell, clears \x1b[2J the screen, sets \x1b]0;the title\x07",
    "carriage\rreturn and new\nline",
    "C1 control \x9b31m",
]


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_titles_are_shown_as_text_never_as_markup_or_terminal_controls(
    stores: Stores, title: str
) -> None:
    conversation_id, _ = stores.files.generation("2025-12", title=title)
    aged(stores.files.root)  # not in use: `delete --dry-run` plans to delete it
    row = stores.database.insert(title=title)
    for command in (
        ["list"],
        ["show", conversation_id],
        ["show", row["conversation_id"]],
        ["delete", conversation_id, "--dry-run"],
    ):
        result = cli(command[0], *stores.options, *command[1:])
        assert result.exit_code == 0, (command, result.output, result.exception)
        for control in ("\x07", "\x1b", "\r", "\x9b"):
            assert control not in result.output, (command, result.output)
        if title.isprintable():
            assert title in result.stdout, result.stdout


BAD_TITLES = {
    "nul": "abc\x00def",
    "newline": "two\nlines",
    "escape": "clears \x1b[2J the screen",
}


@pytest.mark.parametrize("title", BAD_TITLES.values(), ids=BAD_TITLES.keys())
def test_a_new_title_with_control_characters_is_refused(stores: Stores, title: str) -> None:
    """PostgreSQL would refuse a NUL with a database error (exit 3); every store refuses
    the same titles the same way, before touching anything."""
    before = stores.digest()
    targets = [*stores.files.root.joinpath("sessions").iterdir()]
    for conversation_id in [targets[0].name, "f" * 32]:
        renamed = cli("rename", *stores.options, conversation_id, title)
        assert renamed.exit_code == USAGE, renamed.output
        assert "control character" in one_line_error(renamed.stderr)
    assert stores.digest() == before


def test_a_new_title_that_is_not_utf_8_is_refused(stores: Stores) -> None:
    """Bytes that are not UTF-8 on the command line reach Python as lone surrogates."""
    before = stores.digest()
    target = next(stores.files.root.joinpath("sessions").iterdir()).name
    for conversation_id in (target, "f" * 32):
        process = subprocess.run(
            [
                *CLI,
                "rename",
                *stores.options,
                conversation_id,
                b"caf\xe9".decode(errors="surrogateescape"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert process.returncode == USAGE, process.stderr
        assert "not valid UTF-8" in one_line_error(process.stderr)
    assert stores.digest() == before


def test_a_sqlite_title_that_is_not_utf_8_is_a_problem_entry(tmp_path: Path) -> None:
    import sqlite3

    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "openhands.db"
    database = Database(f"sqlite:///{path}")
    database.insert(title="fine")
    bad = database.insert(title="to be broken")
    database.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE conversation_metadata SET title = CAST(x'6361ffe9' AS TEXT) "
            "WHERE conversation_id = ?",
            (bad["conversation_id"],),
        )
    listed = cli("list", "--db", path, "--format", "json")
    assert listed.exit_code == 0, listed.output
    entries = {item["conversation_id"]: item for item in json.loads(listed.stdout)}
    assert entries[bad["conversation_id"]]["problems"]
