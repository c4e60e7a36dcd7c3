"""User isolation: with ``--user alice``, `list`, `show`, `rename`, `delete` and `verify`
never show or touch another user's conversation, on every store: files, SQLite and
PostgreSQL, and the 1.x enterprise schema whose owners live in their own table.

Every world holds, besides plain conversations of alice and bob, the cases where the
stores make the mistake easy: bob's sub-conversation of alice's conversation, bob's V1
twin of alice's V0 conversation, bob's row whose legacy user_id column still says alice,
and a directory of bob's events named like alice's conversation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from convstore.ids import conversation_key
from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import cli, one_line_error, table_digest, tree_digest

NOT_FOUND = 4


@dataclass
class World:
    """Two users' conversations in one store: ids, titles and owners by short name."""

    kind: str
    options: list[str]
    users: dict[str, str]  # "alice" / "bob" -> what --user takes
    ids: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)
    root: Path | None = None
    database: Database | None = None

    def add(self, name: str, conversation_id: str, owner: str) -> None:
        self.ids[name] = conversation_id
        self.owners[name] = owner
        self.titles[name] = f"{owner.upper()}-{name}-TITLE"

    def names(self, owner: str) -> list[str]:
        return [name for name, who in self.owners.items() if who == owner]

    def foreign(self, owner: str, viewer: str) -> list[str]:
        """``owner``'s conversations whose id is no spelling of one of ``viewer``'s. (Bob's
        V1 row under the dashed id of alice's V0 conversation is not: to alice, that id
        is her own conversation's, which every spelling of its id finds.)"""
        theirs = {conversation_key(self.ids[name]) for name in self.names(viewer)}
        return [
            name for name in self.names(owner) if conversation_key(self.ids[name]) not in theirs
        ]

    def of(self, owner: str) -> set[str]:
        return {self.ids[name] for name in self.names(owner)}

    def user(self, owner: str) -> list[str]:
        return ["--user", self.users[owner]]

    def exists(self, name: str) -> bool:
        if self.root is not None:
            return (self.root / "sessions" / self.ids[name]).exists()
        return any(row["conversation_id"] == self.ids[name] for row in self._rows())

    def digest(self) -> Any:
        if self.root is not None:
            return tree_digest(self.root)
        assert self.database is not None
        return table_digest(self.database.url)

    def belongs_to(self, owner: str) -> Any:
        """Everything of ``owner``'s: their directories, or their rows."""
        ids = self.of(owner)
        if self.root is not None:
            return {
                path: value
                for path, value in tree_digest(self.root).items()
                if any(conversation_id in path for conversation_id in ids)
                or path.startswith(f"users/{owner}")
            }
        return [row for row in self._rows() if row["conversation_id"] in ids]

    def _rows(self) -> list[dict[str, Any]]:
        assert self.database is not None
        with self.database.engine.connect() as connection:
            rows = connection.execute(
                text("SELECT * FROM conversation_metadata ORDER BY conversation_id")
            ).mappings()
            return [dict(row) for row in rows]

    def mentions(self, output: str, owner: str, ids: bool = True) -> list[str]:
        """The names of ``owner``'s conversations whose id or title is in ``output``."""
        return [
            name
            for name in self.names(owner)
            if self.titles[name] in output or (ids and self.ids[name] in output)
        ]


def _file_world(tmp_path: Path) -> World:
    files = FileStoreBuilder(tmp_path / "store")
    world = World(
        "files",
        ["--file-store", str(files.root)],
        users={"alice": "alice", "bob": "bob"},
        root=files.root,
    )
    for name, owner, extra in (
        ("a1", "alice", {}),
        ("a2", "alice", {"prompt_tokens": -5}),  # something for verify to report
        ("b1", "bob", {}),
        ("b2", "bob", {"prompt_tokens": -7}),
    ):
        conversation_id = uuid.uuid4().hex
        world.add(name, conversation_id, owner)
        files.generation(
            "2025-12",
            conversation_id=conversation_id,
            user_id=owner,
            title=world.titles[name],
            **extra,
        )
        events = files.root / "users" / owner / "conversations" / conversation_id / "events"
        events.mkdir(parents=True)
        (events / "0.json").write_text('{"id": 0}')
    # Bob's events under a directory named like alice's conversation.
    clash = files.root / "users" / "bob" / "conversations" / world.ids["a1"] / "events"
    clash.mkdir(parents=True)
    (clash / "0.json").write_text('{"id": 0, "secret": "BOB"}')
    aged(files.root)  # not in use: `delete` takes it
    return world


def _sql_world(url: str, kind: str, enterprise: bool) -> World:
    database = Database(url, enterprise=True) if enterprise else Database(url)
    users = {"alice": "alice", "bob": "bob"}
    if enterprise:  # 1.x: owners are UUIDs, in conversation_metadata_saas
        users = {name: str(uuid.uuid4()) for name in ("alice", "bob")}
    world = World(kind, ["--db", url], users=users, database=database)
    a2_hex = uuid.uuid4().hex
    rows: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
        ("a1", "alice", str(uuid.uuid4()), {}),
        ("a2", "alice", a2_hex, {"conversation_version": "V0", "prompt_tokens": -5}),
        ("a3", "alice", str(uuid.uuid4()), {"parent_conversation_id": "a1"}),
        # the legacy user_id column still names alice; the owner is bob
        ("b1", "bob", str(uuid.uuid4()), {"user_id": "alice"} if enterprise else {}),
        ("b2", "bob", str(uuid.uuid4()), {"prompt_tokens": -7}),
        ("b3", "bob", str(uuid.uuid4()), {"parent_conversation_id": "a1"}),
        # bob's V1 row under the dashed id of alice's V0 conversation: not her twin
        ("b4", "bob", str(uuid.UUID(a2_hex)), {}),
    )
    if enterprise:
        org = database.add_org()
        for user in users.values():
            database.add_user(org, uuid.UUID(user))
    for name, owner, conversation_id, extra in rows:
        world.add(name, conversation_id, owner)
        values = {"conversation_id": conversation_id, "title": world.titles[name]}
        values["user_id"] = users[extra.pop("user_id", owner)]
        if "parent_conversation_id" in extra:
            extra["parent_conversation_id"] = world.ids[extra["parent_conversation_id"]]
        database.insert(**values, **extra)
        if enterprise:
            database.own(conversation_id, uuid.UUID(users[owner]), org)
    return world


@pytest.fixture(
    params=[
        "files",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgresql),
        "sqlite-enterprise",
        pytest.param("postgresql-enterprise", marks=pytest.mark.postgresql),
    ]
)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    kind: str = request.param
    if kind == "files":
        yield _file_world(tmp_path)
        return
    if kind.startswith("sqlite"):
        (tmp_path / "db").mkdir()
        url = f"sqlite:///{tmp_path / 'db' / 'openhands.db'}"
    else:
        url = request.getfixturevalue("postgres_database_url")
    made = _sql_world(url, kind, enterprise=kind.endswith("enterprise"))
    try:
        yield made
    finally:
        assert made.database is not None
        made.database.dispose()


def _json(output: str) -> Any:
    return json.loads(output)


@pytest.mark.parametrize("who", ["alice", "bob"])
def test_list_shows_only_the_users_conversations(world: World, who: str) -> None:
    other = "bob" if who == "alice" else "alice"
    listed = cli("list", *world.options, *world.user(who), "--all", "--format", "json")
    assert listed.exit_code == 0, listed.output
    subs = cli(
        "list", *world.options, *world.user(who), "--all", "--format", "json", "--sub-conversations"
    )
    assert {item["conversation_id"] for item in _json(subs.stdout)} == world.of(who)
    assert {item["conversation_id"] for item in _json(listed.stdout)} <= world.of(who)
    for fmt in ("table", "csv", "jsonl"):
        result = cli(
            "list",
            *world.options,
            *world.user(who),
            "--all",
            "--format",
            fmt,
            "--sub-conversations",
        )
        # Ids are not checked: bob's sub-conversation names alice's as its parent.
        assert result.exit_code == 0 and world.mentions(result.output, other, ids=False) == []


def test_show_never_finds_another_users_conversation(world: World) -> None:
    before = world.digest()
    for name in set(world.names("bob")) - set(world.foreign("bob", "alice")):
        shown = cli("show", *world.options, *world.user("alice"), world.ids[name])
        assert shown.exit_code == 0, shown.output  # alice's own, under another spelling
        assert world.mentions(shown.output, "bob", ids=False) == []
    for name in world.foreign("bob", "alice"):
        for fmt in ("table", "json"):
            shown = cli(
                "show", *world.options, *world.user("alice"), world.ids[name], "--format", fmt
            )
            assert shown.exit_code == NOT_FOUND, (name, shown.output)
            assert world.mentions(one_line_error(shown.stderr), "bob") == [name]
            assert shown.stdout == ""
    for name in world.names("alice"):
        shown = cli(
            "show", *world.options, *world.user("alice"), world.ids[name], "--format", "json"
        )
        assert shown.exit_code == 0, shown.output
        assert _json(shown.stdout)["user_id"] == world.users["alice"]
        assert world.mentions(shown.stdout, "bob") == [], "bob's twin is not alice's"
    assert world.digest() == before


def test_rename_never_touches_another_users_conversation(world: World) -> None:
    before = world.digest()
    for name in world.foreign("bob", "alice"):
        renamed = cli("rename", *world.options, *world.user("alice"), world.ids[name], "mine now")
        assert renamed.exit_code == NOT_FOUND, renamed.output
        one_line_error(renamed.stderr)
    assert world.digest() == before
    bobs = world.belongs_to("bob")
    for name in world.names("alice"):
        renamed = cli("rename", *world.options, *world.user("alice"), world.ids[name], "renamed")
        assert renamed.exit_code == 0, renamed.output
    assert world.belongs_to("bob") == bobs


def test_delete_never_touches_another_users_conversation(world: World) -> None:
    before = world.digest()
    alice = world.user("alice")
    for name in world.foreign("bob", "alice"):
        refused = cli("delete", *world.options, *alice, world.ids[name], "--yes")
        assert refused.exit_code == NOT_FOUND, refused.output
        one_line_error(refused.stderr)
    # One of the ids is bob's: nothing at all is deleted.
    mixed = cli("delete", *world.options, *alice, world.ids["a1"], world.ids["b1"], "--yes")
    assert mixed.exit_code == NOT_FOUND and world.exists("a1")
    assert world.digest() == before

    preview = cli("delete", *world.options, *alice, world.ids["a1"], "--dry-run")
    # In the databases a1 has alice's sub-conversation a3 (and bob's b3, not hers to
    # name): blocked, as the real run would be, without --with-sub-conversations.
    assert preview.exit_code == (0 if world.kind == "files" else 1), preview.output
    assert world.mentions(preview.output, "bob") == []
    bobs = world.belongs_to("bob")
    deleted = cli(
        "delete", *world.options, *alice, world.ids["a1"], "--with-sub-conversations", "--yes"
    )
    assert deleted.exit_code == 0, deleted.output
    assert world.mentions(deleted.output, "bob") == []
    assert not world.exists("a1")
    assert world.belongs_to("bob") == bobs

    everything = cli(
        "delete",
        *world.options,
        *alice,
        "--older-than",
        "0d",
        "--with-sub-conversations",
        "--yes",
    )
    assert everything.exit_code == 0, everything.output
    assert world.mentions(everything.output, "bob") == []
    assert not any(world.exists(name) for name in world.names("alice"))
    assert all(world.exists(name) for name in world.names("bob"))
    assert world.belongs_to("bob") == bobs


def test_verify_never_reports_or_repairs_another_users_conversation(world: World) -> None:
    """Including bob's V1 row under the dashed id of alice's V0 conversation: a twin
    check must not name it in alice's report."""
    bobs = world.belongs_to("bob")
    report = cli("verify", *world.options, *world.user("alice"), "--format", "jsonl")
    assert report.exit_code in (0, 1), report.output
    findings = [json.loads(line) for line in report.stdout.splitlines()]
    assert findings, "alice's own problems are reported"
    assert {finding["conversation_id"] for finding in findings} - {None} <= world.of("alice")
    assert world.mentions(report.output, "bob") == []
    fixed = cli("verify", *world.options, *world.user("alice"), "--fix")
    assert fixed.exit_code in (0, 1), fixed.output
    assert world.mentions(fixed.output, "bob") == []
    assert world.belongs_to("bob") == bobs
