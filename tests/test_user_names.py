"""Operators name users the way they know them: on a 1.x enterprise database (table
`user` with `email` and `git_user_name`), every `--user` takes the user's id in any UUID
spelling, their email or their git user name, resolved exactly (never a substring or
another case: `delete --user` must not widen); tables show the email beside the id."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from convstore.cli import render
from tests.conftest import Database
from tests.faults import cli, one_line_error


def enterprise(make_database) -> Database:
    """A 1.x enterprise database with one org and one user, Ada, who has a name."""
    database: Database = make_database(enterprise=True)
    org = database.add_org()
    database.user = database.add_user(org, email="ada@example.com", git_user_name="ada-l")  # type: ignore[attr-defined]
    database.org = org  # type: ignore[attr-defined]
    return database


def listed(*args: object) -> list[str]:
    result = cli("list", *args, "--all", "--format", "json")
    assert result.exit_code == 0, result.output
    return [item["conversation_id"] for item in json.loads(result.stdout)]


def test_user_names_resolve_to_the_user_in_every_command(make_database, tmp_path: Path) -> None:
    database = enterprise(make_database)
    user = database.user  # type: ignore[attr-defined]
    mine = database.insert(accumulated_cost=2.0)["conversation_id"]
    database.own(mine, user, database.org)  # type: ignore[attr-defined]
    others = database.insert(user_id="someone-else")["conversation_id"]
    store = ["--db", database.url, "--config", "/dev/null"]
    for name in (str(user), user.hex, str(user).upper(), "ada@example.com", "ada-l"):
        assert listed(*store, "--user", name) == [mine], name
        counted = cli("stats", *store, "--by", "user", "--user", name, "--format", "json")
        groups = json.loads(counted.stdout)["groups"]
        assert [(group["user"], group["email"]) for group in groups] == [
            (str(user), "ada@example.com")
        ], name
        assert cli("show", *store, "--user", name, mine).exit_code == 0
        assert cli("show", *store, "--user", name, others).exit_code == 4
        exported = cli("export", *store, "--user", name, "--all", "-o", tmp_path / name)
        assert exported.exit_code == 0, exported.output
        assert [path.name for path in (tmp_path / name).iterdir()] == [f"{mine}-V1.md"]
        verified = cli("verify", *store, "--user", name, "--format", "jsonl")
        assert verified.exit_code in (0, 1), verified.output
        scoped = {json.loads(line)["conversation_id"] for line in verified.stdout.splitlines()}
        assert others not in scoped
    resolved = cli("list", *store, "--user", "ada@example.com", "--format", "json")
    assert f"--user ada@example.com: user {user} (by email)" in resolved.stderr
    # Exact: another case, or a part, is not the user's name.
    for name in ("ADA@example.com", "ada", "example.com", "ada-"):
        assert listed(*store, "--user", name) == [], name
    # A name no user has is matched as given: an owner id no user row holds.
    assert listed(*store, "--user", "someone-else") == [others]
    renamed = cli("rename", *store, "--user", "ada-l", mine, "Renamed")
    assert renamed.exit_code == 0, renamed.output
    deleted = cli("delete", *store, "--user", "ada-l", "--older-than", "0d", "--force", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert listed(*store) == [others]


def test_delete_by_a_name_that_is_only_part_of_one_deletes_nothing(make_database) -> None:
    database = enterprise(make_database)
    mine = database.insert()["conversation_id"]
    database.own(mine, database.user, database.org)  # type: ignore[attr-defined]
    store = ["--db", database.url, "--config", "/dev/null"]
    for name in ("ada", "example.com", "ADA-L"):
        result = cli("delete", *store, "--user", name, "--older-than", "0d", "--force", "--yes")
        assert result.exit_code in (0, 4), result.output
    assert listed(*store) == [mine]


def test_a_name_two_users_share_is_a_usage_error(make_database) -> None:
    database = enterprise(make_database)
    twin = database.add_user(database.org, email="ada@example.com")  # type: ignore[attr-defined]
    for command in (["list"], ["stats"], ["delete", "--older-than", "0d", "--yes"]):
        result = cli(*command, "--db", database.url, "--user", "ada@example.com")
        assert result.exit_code == 2, result.output
        line = one_line_error(result.stderr)
        assert "is the email of 2 users" in line and str(twin) in line


def test_tables_show_the_email_beside_the_user(make_database, monkeypatch) -> None:
    database = enterprise(make_database)
    mine = database.insert(accumulated_cost=2.0)["conversation_id"]
    database.own(mine, database.user, database.org)  # type: ignore[attr-defined]
    store = ["--db", database.url, "--config", "/dev/null"]
    for command in (["list"], ["stats", "--by", "user"], ["show", mine]):
        screen = io.StringIO()
        console = Console(width=200, file=screen, force_terminal=True, color_system=None)
        monkeypatch.setattr(render, "out", console)
        result = cli(*command, *store)
        assert result.exit_code == 0, result.output
        lines = screen.getvalue().splitlines()
        user = str(database.user)  # type: ignore[attr-defined]
        if command[0] == "show":  # a row per field: the email right after the owner's id
            at = next(i for i, line in enumerate(lines) if line.startswith("user_id"))
            assert user in lines[at] and lines[at + 1].split() == ["email", "ada@example.com"]
        else:  # list cuts the id to fit its column
            assert any(user[:20] in line and "ada@example.com" in line for line in lines), lines


def test_without_a_user_table_user_is_the_id_as_given(make_database) -> None:
    database: Database = make_database()
    mine = database.insert(user_id="ada@example.com")["conversation_id"]
    store = ["--db", database.url, "--config", "/dev/null"]
    result = cli("list", *store, "--user", "ada@example.com", "--all", "--format", "json")
    assert [item["conversation_id"] for item in json.loads(result.stdout)] == [mine]
    assert "by email" not in result.stderr
