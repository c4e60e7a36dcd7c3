"""A realistic demo store: V0 files of every generation, a few broken, and an
OpenHands-shaped SQLite database with V0 and V1 rows, several users and sub-conversations.

The generations follow FORMATS.md: each adds or changes keys, in the order OpenHands
wrote them. Tests build their fixtures from the same functions, so the demo and the
tests exercise the same shapes. Everything is derived from a seed: two runs with the
same seed write the same bytes.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convstore.errors import UsageError
from convstore.model import METADATA_JSON_FIELDS, TRIGGERS, format_v0_datetime

if TYPE_CHECKING:
    from convstore.objects import Objects

USERS = ("alice", "bob", "carol", "dave")
REPOSITORIES = (
    "acme/webshop",
    "acme/billing",
    "octo/infra",
    "octo/docs",
    None,
)
TITLES = (
    "Fix flaky login test",
    "Add CSV export",
    "Upgrade to Python 3.12",
    "Investigate memory leak in worker",
    "Write release notes",
    "Refactor payment module",
    "Café menu: handle Unicode titles",
    "Set up CI cache",
    "Migrate settings page to React",
    "Triage issue #1234",
)
EVENTS_EVERY = 10  # one V0 conversation in ten comes with a short event history
MODELS = ("anthropic/claude-sonnet-4", "openai/gpt-4o", "litellm_proxy/claude-3-7-sonnet")


@dataclass(frozen=True)
class Generation:
    """One historical shape of metadata.json (FORMATS.md, "Older generations")."""

    name: str
    since: datetime
    fields: tuple[str, ...]
    naive_created_at: bool = False
    github_user_id: str = "none"  # "int", "str", "either" or "none"


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


_FIRST = ("conversation_id", "github_user_id", "selected_repository", "title", "last_updated_at")
_CURRENT = METADATA_JSON_FIELDS  # the current generation: every field, in order


def _without(fields: tuple[str, ...], *names: str) -> tuple[str, ...]:
    return tuple(name for name in fields if name not in names)


GENERATIONS: tuple[Generation, ...] = (
    Generation("2025-01-02", _date("2025-01-02"), _FIRST, github_user_id="either"),
    Generation(
        "2025-01-06",
        _date("2025-01-06"),
        (*_FIRST, "created_at"),
        naive_created_at=True,
        github_user_id="either",
    ),
    Generation("2025-01-13", _date("2025-01-13"), (*_FIRST, "created_at"), github_user_id="int"),
    Generation("2025-01-14", _date("2025-01-14"), (*_FIRST, "created_at"), github_user_id="str"),
    Generation(
        "2025-03",
        _date("2025-03-01"),
        (
            "conversation_id",
            "github_user_id",
            "selected_repository",
            "user_id",
            "selected_branch",
            "title",
            "last_updated_at",
            "created_at",
        ),
        github_user_id="str",
    ),
    Generation(
        "2025-04",
        _date("2025-04-01"),
        (
            "conversation_id",
            "github_user_id",
            "selected_repository",
            "user_id",
            "selected_branch",
            "title",
            "last_updated_at",
            "trigger",
            "created_at",
            "accumulated_cost",
            "prompt_tokens",
            "completion_tokens",
            "total_tokens",
        ),
        github_user_id="str",
    ),
    Generation(
        "2025-05",
        _date("2025-05-01"),
        _without(
            _CURRENT,
            "llm_model",
            "sandbox_id",
            "conversation_version",
            "is_public",
            "public_share_token",
            "shared_at",
        ),
    ),
    Generation(
        "2025-06",
        _date("2025-06-01"),
        _without(
            _CURRENT,
            "sandbox_id",
            "conversation_version",
            "is_public",
            "public_share_token",
            "shared_at",
        ),
    ),
    Generation(
        "2025-10",
        _date("2025-10-01"),
        _without(_CURRENT, "is_public", "public_share_token", "shared_at"),
    ),
    Generation("2025-12", _date("2025-12-01"), _CURRENT),
)


def generation(name: str) -> Generation:
    for candidate in GENERATIONS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


def v0_document(gen: Generation, rng: random.Random, conversation_id: str) -> dict[str, Any]:
    """A metadata.json of generation ``gen`` with plausible values, keys in written order."""
    created = gen.since + timedelta(seconds=rng.randrange(0, 25 * 24 * 3600))
    updated = created + timedelta(seconds=rng.randrange(60, 5 * 24 * 3600))
    prompt = rng.randrange(1_000, 400_000)
    completion = rng.randrange(100, 40_000)
    values: dict[str, Any] = {
        "conversation_id": conversation_id,
        "selected_repository": rng.choice(REPOSITORIES),
        "user_id": rng.choice(USERS),
        "selected_branch": rng.choice(("main", "develop", None)),
        "git_provider": "github",
        "title": rng.choice(TITLES),
        "last_updated_at": format_v0_datetime(updated),
        "trigger": rng.choice(sorted(TRIGGERS)[:4]),
        "pr_number": rng.choice(([], [rng.randrange(1, 5000)])),
        "created_at": format_v0_datetime(created),
        "llm_model": rng.choice(MODELS),
        "accumulated_cost": round(prompt * 3e-6 + completion * 15e-6, 6),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "sandbox_id": None,
        "conversation_version": "V0",
        "is_public": False,
        "public_share_token": None,
        "shared_at": None,
    }
    if gen.naive_created_at:
        values["created_at"] = created.replace(tzinfo=None).isoformat()
    github_id = rng.randrange(10_000, 9_000_000)
    kind = gen.github_user_id
    if kind == "either":
        kind = rng.choice(("int", "str"))
    values["github_user_id"] = github_id if kind == "int" else str(github_id)
    if gen.name == "2025-03" and rng.random() < 0.2:
        values["user_id"] = rng.randrange(1, 999)  # early files may carry a number
    return {name: values[name] for name in gen.fields}


def encode(document: dict[str, Any]) -> bytes:
    """How OpenHands writes metadata.json: compact JSON, UTF-8."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# Breakage found in real stores, each as (name, bytes of metadata.json).
def _broken(rng: random.Random) -> list[tuple[str, bytes]]:
    """(directory name, metadata.json bytes) of each breakage; only "wrong id" has a
    conversation_id that differs from its directory."""

    def good() -> tuple[str, dict[str, Any]]:
        address = uuid.UUID(int=rng.getrandbits(128)).hex
        return address, v0_document(GENERATIONS[-1], rng, address)

    broken: list[tuple[str, bytes]] = []
    for change in ("truncated", "byte order mark", "wrong id", "unknown trigger", "null pr"):
        address, document = good()
        text = encode(document)
        if change == "truncated":
            text = text[: len(text) // 2]
        elif change == "byte order mark":
            text = b"\xef\xbb\xbf" + text
        else:
            key, value = {
                "wrong id": ("conversation_id", "somewhere-else"),
                "unknown trigger": ("trigger", "carrier_pigeon"),
                "null pr": ("pr_number", None),
            }[change]
            text = encode({**document, key: value})
        broken.append((address, text))
    broken.append((uuid.UUID(int=rng.getrandbits(128)).hex, b"[1, 2, 3]"))  # not an object
    return broken


@dataclass(frozen=True)
class SampleSummary:
    files: int
    broken: int
    v0_rows: int
    v1_rows: int
    file_store: Path  # the directory given
    database: str  # a path to the SQLite file, or the URL the rows were written to
    bucket: str | None = None  # where the V0 files went instead of file_store

    @property
    def v0_files(self) -> str:
        """Where the V0 files are: the bucket's URL, or the directory."""
        return self.bucket or str(self.file_store)


def write_sample(
    directory: Path,
    *,
    files: int = 300,
    rows: int = 120,
    seed: int = 7,
    database_url: str | None = None,
    bucket: Objects | None = None,
) -> SampleSummary:
    """Write a demo file store and database under ``directory`` (which must be new or empty).

    ``database_url`` writes the rows into that (empty) database instead of a new
    ``openhands.db``: the tests use it to run every command on PostgreSQL too. ``bucket``
    takes the V0 files instead of ``directory`` (nothing may be below its prefix); its
    objects are as new as the upload, not dated as OpenHands would have left them.
    """
    if directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty; give a new directory for the sample")
    if bucket is not None and next(iter(bucket.walk("")), None) is not None:
        raise UsageError(f"{bucket.location} is not empty; give a new prefix for the sample")
    rng = random.Random(seed)
    objects: list[tuple[str, bytes]] = []  # for a bucket: written together, many in flight
    sessions = directory / "sessions"
    if bucket is None:
        sessions.mkdir(parents=True)
    else:
        directory.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        gen = GENERATIONS[index % len(GENERATIONS)]
        conversation_id = uuid.UUID(int=rng.getrandbits(128)).hex
        document = v0_document(gen, rng, conversation_id)
        written = [("metadata.json", encode(document))]
        if index % EVENTS_EVERY == 0:  # a history to export and migrate
            start = datetime.fromisoformat(
                document.get("created_at") or document["last_updated_at"]
            )
            events = v0_events(document["title"], start, rng)
            written += [(f"events/{e['id']}.json", json.dumps(e).encode()) for e in events]
        updated = datetime.fromisoformat(document["last_updated_at"])
        _write_v0(sessions / conversation_id, written, updated, objects, bucket)
    broken = _broken(rng)
    for address, content in broken:
        _write_v0(
            sessions / address, [("metadata.json", content)], GENERATIONS[-1].since, objects, bucket
        )
    if bucket is not None:
        _upload(bucket, objects)
    database = str(directory / "openhands.db")
    v0_rows, v1_rows = _write_database(database_url or f"sqlite:///{database}", rng, rows)
    location = None if bucket is None else bucket.location
    return SampleSummary(
        files, len(broken), v0_rows, v1_rows, directory, database_url or database, location
    )


def _write_v0(
    directory: Path,
    written: list[tuple[str, bytes]],
    updated: datetime,
    objects: list[tuple[str, bytes]],
    bucket: Objects | None,
) -> None:
    """A conversation's files (``written``: names below its directory) on disk, dated
    as OpenHands would have left them; or, for a bucket, added to ``objects``."""
    if bucket is not None:
        prefix = f"sessions/{directory.name}"
        objects.extend((f"{prefix}/{name}", data) for name, data in written)
        return
    for name, data in written:
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _dated(directory, updated)


def _upload(bucket: Objects, objects: list[tuple[str, bytes]]) -> None:
    """Create every object, many requests in flight (create only: nothing is replaced)."""
    from concurrent.futures import ThreadPoolExecutor

    from convstore.objects import IN_FLIGHT

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for _ in pool.map(lambda item: bucket.create_if_absent(*item), objects):
            pass


def _dated(directory: Path, updated: datetime) -> None:
    """Give a conversation's files the mtime OpenHands would have left: that of its last
    update. (Files written just now would look in use to `delete`.)"""
    stamp = updated.timestamp()
    for path in [*sorted(directory.rglob("*"), reverse=True), directory]:
        os.utime(path, (stamp, stamp))


def v0_events(title: str, start: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """A short V0 history as OpenHands wrote it: a request, a failing command, an edit,
    the passing command, the answer, and the finish (EVENTS.md's shapes)."""
    path = f"/workspace/app/{rng.choice(('math', 'utils', 'views'))}.py"
    steps: list[dict[str, Any]] = [
        {
            "source": "user",
            "action": "message",
            "args": {
                "content": title,
                "image_urls": [],
                "file_urls": [],
                "wait_for_response": False,
            },
        },
        {
            "source": "environment",
            "observation": "agent_state_changed",
            "content": "",
            "extras": {"agent_state": "running", "reason": ""},
        },
        {
            "source": "agent",
            "action": "run",
            "args": {
                "command": "pytest -q",
                "is_input": False,
                "thought": "Let me run the tests first.",
                "blocking": False,
                "hidden": False,
                "confirmation_state": "confirmed",
            },
        },
        {
            "source": "environment",
            "observation": "run",
            "cause": -1,
            "content": "F.\n1 failed, 1 passed",
            "extras": {
                "command": "pytest -q",
                "metadata": {"exit_code": 1, "pid": 42, "working_dir": "/workspace/app"},
                "hidden": False,
            },
            "success": False,
        },
        {
            "source": "agent",
            "action": "edit",
            "args": {
                "path": path,
                "command": "str_replace",
                "old_str": "return a - b",
                "new_str": "return a + b",
                "thought": "The operator is wrong.",
            },
        },
        {
            "source": "environment",
            "observation": "edit",
            "cause": -1,
            "content": f"The file {path} has been edited.",
            "extras": {
                "path": path,
                "prev_exist": True,
                "old_content": "def add(a, b):\n    return a - b\n",
                "new_content": "def add(a, b):\n    return a + b\n",
                "diff": "",
            },
        },
        {
            "source": "agent",
            "action": "run",
            "args": {
                "command": "pytest -q",
                "is_input": False,
                "thought": "",
                "blocking": False,
                "hidden": False,
                "confirmation_state": "confirmed",
            },
        },
        {
            "source": "environment",
            "observation": "run",
            "cause": -1,
            "content": "..\n2 passed",
            "extras": {
                "command": "pytest -q",
                "metadata": {"exit_code": 0, "pid": 43, "working_dir": "/workspace/app"},
                "hidden": False,
            },
            "success": True,
        },
        {
            "source": "agent",
            "action": "finish",
            "args": {"final_thought": "Fixed: the tests pass now.", "outputs": {}, "thought": ""},
        },
        {
            "source": "environment",
            "observation": "agent_state_changed",
            "content": "",
            "extras": {"agent_state": "finished", "reason": ""},
        },
    ]
    events = []
    for number, step in enumerate(steps):
        event = {
            "id": number,
            "timestamp": (start + timedelta(seconds=7 * number)).replace(tzinfo=None).isoformat(),
            "message": "",
            **step,
        }
        if event.get("cause") == -1:
            event["cause"] = number - 1  # the action just before answers to it
        events.append(event)
    return events


def _write_database(url: str, rng: random.Random, count: int) -> tuple[int, int]:
    from sqlalchemy import MetaData, Table, create_engine

    from convstore.schema import create_schema

    engine = create_engine(url)
    with engine.begin() as connection:
        create_schema(connection)
        table = Table("conversation_metadata", MetaData(), autoload_with=connection)
        rows = _rows(rng, count, set(table.columns.keys()))
        connection.execute(table.insert(), rows)
    engine.dispose()
    v1 = sum(1 for row in rows if row["conversation_version"] == "V1")
    return len(rows) - v1, v1


def _rows(rng: random.Random, count: int, columns: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    parents: list[str] = []
    for index in range(count):
        version = "V0" if index % 4 == 0 else "V1"
        identifier = uuid.UUID(int=rng.getrandbits(128))
        document = v0_document(GENERATIONS[-1], rng, identifier.hex)
        row: dict[str, Any] = {
            **document,
            "created_at": datetime.fromisoformat(document["created_at"]),
            "last_updated_at": datetime.fromisoformat(document["last_updated_at"]),
            "conversation_version": version,
            "user_id": document["user_id"] or "",
        }
        if version == "V1":
            row["conversation_id"] = str(identifier)
            row["sandbox_id"] = f"sample-sandbox-{identifier.hex[:12]}"
            row["created_at"] += timedelta(days=200)
            row["last_updated_at"] += timedelta(days=200)
            if parents and rng.random() < 0.15:
                row["parent_conversation_id"] = rng.choice(parents)
            else:
                parents.append(row["conversation_id"])
            row["execution_status"] = rng.choice(("idle", "finished", "paused", "error"))
            row["agent_kind"] = None
            row["tags"] = {"team": rng.choice(("web", "platform"))}
        rows.append(row)
    # An executemany takes its columns from the first row: give every row every column.
    names = sorted(columns & set().union(*rows)) if rows else []
    return [{name: row.get(name) for name in names} for row in rows]
