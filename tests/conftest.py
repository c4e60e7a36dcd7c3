"""Fixtures shared by the whole suite: real stores in temporary directories and databases."""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import MetaData, Table, create_engine

from convstore.sample import GENERATIONS, encode, v0_document
from convstore.schema import create_schema

pytest_plugins = ["tests.pg_plugin"]

# Property tests run the same examples on every run (derandomized: a red run is a bug to
# fix, never bad luck), with no deadline and no "too slow" health check, which a loaded
# machine would trip. CONVSTORE_HYPOTHESIS_PROFILE=explore draws new examples each run.
hypothesis_settings.register_profile(
    "deterministic",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.register_profile(
    "explore", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile(os.environ.get("CONVSTORE_HYPOTHESIS_PROFILE", "deterministic"))
_OWN_BASETEMP = pytest.StashKey[Path]()

# A suite started in the background by a script (`nohup ./scripts/check &`, some CI
# runners) inherits SIGINT ignored: POSIX shells ignore it for asynchronous commands,
# an ignored signal stays ignored across exec, and Python then installs no
# KeyboardInterrupt. Every convstore the tests start would ignore Ctrl-C too, and the
# Ctrl-C test would watch a migration run to its end. A handled signal is reset to its
# default on exec: with a handler here, the suite and every process it starts take
# Ctrl-C as a terminal's foreground job does.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Temporary directories of this run's own, unless --basetemp names one.

    Permission tests let an unprivileged user into their temporary directories
    (tests/unprivileged.py). Under pytest's shared /tmp/pytest-of-<user>, another test
    run starting on the same machine resets that directory to 0700, which locks the
    user out mid-test; a directory no other run knows of stays as the tests set it.
    """
    if config.option.basetemp is None:
        base = Path(tempfile.mkdtemp(prefix="convstore-tests-"))
        config.option.basetemp = str(base)
        config.stash[_OWN_BASETEMP] = base


def pytest_unconfigure(config: pytest.Config) -> None:
    base = config.stash.get(_OWN_BASETEMP, None)
    if base is not None:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI keeps its V0 index cache in the user cache directory: during the tests, one
    of the session's own, so a run neither reads nor litters the developer's."""
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache-home"))
    yield
    if previous is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = previous


class FileStoreBuilder:
    """Writes metadata.json files into ``<root>/sessions/<id>/``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "sessions").mkdir(parents=True, exist_ok=True)
        self.rng = random.Random(1)

    def write(self, conversation_id: str, content: bytes | dict[str, Any]) -> Path:
        directory = self.root / "sessions" / conversation_id
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "metadata.json"
        path.write_bytes(content if isinstance(content, bytes) else encode(content))
        return path

    def generation(self, name: str, **values: Any) -> tuple[str, dict[str, Any]]:
        """A file of one generation of FORMATS.md, with ``values`` overriding the random ones."""
        gen = next(candidate for candidate in GENERATIONS if candidate.name == name)
        conversation_id = values.pop(
            "conversation_id", uuid.UUID(int=self.rng.getrandbits(128)).hex
        )
        document = v0_document(gen, self.rng, conversation_id)
        document.update(values)
        self.write(conversation_id, document)
        return conversation_id, document


def aged(root: Path, seconds: float = 3600) -> None:
    """Move the mtime of everything under ``root`` (and its own) ``seconds`` back: a store
    OpenHands has not written to lately, which `delete` does not take for one in use."""
    for path in [*root.rglob("*"), root]:
        status = path.lstat()
        os.utime(path, (status.st_atime, status.st_mtime - seconds), follow_symlinks=False)


@pytest.fixture
def files(tmp_path: Path) -> FileStoreBuilder:
    return FileStoreBuilder(tmp_path / "store")


class Database:
    """An OpenHands-shaped database at one revision, and a way to insert rows into it."""

    def __init__(self, url: str, **schema: Any) -> None:
        self.url = url
        self.engine = create_engine(url)
        with self.engine.begin() as connection:
            create_schema(connection, **schema)
            self.table = Table("conversation_metadata", MetaData(), autoload_with=connection)

    def insert(self, **values: Any) -> dict[str, Any]:
        row = v1_row(**values)
        row = {name: value for name, value in row.items() if name in self.table.columns}
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), [row])
        return row

    # The 1.x enterprise tables (org, user, conversation_metadata_saas): their UUID columns
    # hold 32 hex digits on SQLite and UUIDs on PostgreSQL.

    def stored_uuid(self, value: str | uuid.UUID) -> Any:
        parsed = uuid.UUID(str(value))
        return parsed.hex if self.url.startswith("sqlite") else parsed

    def add_org(self, name: str = "acme") -> uuid.UUID:
        org = uuid.uuid4()
        self._execute("INSERT INTO org (id, name) VALUES (:id, :name)", id=org, name=name)
        return org

    def add_user(
        self,
        org: uuid.UUID,
        user: uuid.UUID | None = None,
        *,
        email: str | None = None,
        git_user_name: str | None = None,
    ) -> uuid.UUID:
        user = user or uuid.uuid4()
        self._execute(
            'INSERT INTO "user" (id, current_org_id, email, git_user_name) '
            "VALUES (:id, :org, :email, :git_user_name)",
            id=user,
            org=org,
            email=email,
            git_user_name=git_user_name,
        )
        return user

    def own(self, conversation_id: str, user: uuid.UUID, org: uuid.UUID) -> None:
        self._execute(
            "INSERT INTO conversation_metadata_saas (conversation_id, user_id, org_id) "
            "VALUES (:conversation, :user, :org)",
            conversation=conversation_id,
            user=user,
            org=org,
        )

    def _execute(self, statement: str, **values: Any) -> None:
        from sqlalchemy import text

        bound = {
            k: self.stored_uuid(v) if isinstance(v, uuid.UUID) else v for k, v in values.items()
        }
        with self.engine.begin() as connection:
            connection.execute(text(statement), bound)

    def dispose(self) -> None:
        self.engine.dispose()


def v1_row(**values: Any) -> dict[str, Any]:
    """A valid V1 row (every rule of FORMATS.md holds), with ``values`` overriding."""
    from datetime import UTC, datetime

    identifier = values.pop("conversation_id", str(uuid.uuid4()))
    created = values.pop("created_at", datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    row: dict[str, Any] = {
        "conversation_id": identifier,
        "user_id": "alice",
        "selected_repository": "acme/webshop",
        "title": "A V1 conversation",
        "created_at": created,
        "last_updated_at": created,
        "pr_number": [],
        "accumulated_cost": 0.5,
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "context_window": 0,
        "per_turn_token": 0,
        "conversation_version": "V1",
        "sandbox_id": "sandbox-" + identifier[:8],
    }
    row.update(values)
    return row


@pytest.fixture
def make_database(database_url: str) -> Iterator[Callable[..., Database]]:
    """Build an OpenHands-shaped database (SQLite and PostgreSQL) at a chosen revision."""
    made: list[Database] = []

    def make(**schema: Any) -> Database:
        database = Database(database_url, **schema)
        made.append(database)
        return database

    yield make
    for database in made:
        database.dispose()
