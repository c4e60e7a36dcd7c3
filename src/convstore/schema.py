"""OpenHands' SQL tables as OpenHands' own migrations create them, in SQLAlchemy Core.

convstore does not own ``conversation_metadata``: OpenHands creates and changes it with
its own Alembic migrations, and a real database can sit at any of their revisions.
Code that reads or writes a real database must reflect the table it finds and write
only columns that exist (shared/FORMATS.md). This module is the other half: DDL that
reproduces what those migrations build, for the places where convstore itself creates
a database or a table:

- test databases, at every revision and in each deployment shape;
- ``convstore sample``, the demo database;
- ``convstore migrate --create-table``, in a database that has no such table.

Nothing here is applied to an existing OpenHands database except through those
explicit create paths, and ``create_schema`` refuses to run where any table it would
create already exists, so it can never alter or stamp a database OpenHands made.

Three shapes:

- the app server's schema at one of its revisions ``001`` .. ``014`` (``REVISIONS``):
  single-machine V1 (SQLite ``openhands.db``) or PostgreSQL; ``alembic_version``
  holds the revision id;
- the same plus the OpenHands 1.x enterprise tables (``enterprise=True``): ``org``,
  ``user``, ``conversation_metadata_saas`` (the owner of each conversation) and
  ``conversation_cost_events`` (a foreign key without cascade, which blocks deleting
  a conversation that has cost events);
- the late-2025 SaaS schema (``saas_2025=True``): one table holding V0 and V1 rows
  (PostgreSQL in real deployments), built by the enterprise migration chain
  (``enterprise/migrations``), whose revision ``alembic_version`` holds (``085``),
  plus one table whose
  foreign key cascades deletes (``conversation_callbacks``) and one whose does not
  (``conversation_feedback``).

Foreign keys: PostgreSQL always enforces them; SQLite only on connections that ran
``PRAGMA foreign_keys=ON`` (outside a transaction). That is the caller's job, e.g.
``enforce_sqlite_foreign_keys(engine)`` before the engine's first connection.

Sources, in the OpenHands repository (``All-Hands-AI/OpenHands``, now ``OpenHands/OpenHands``):
``openhands/app_server/app_lifespan/alembic/versions/{001,002,003,004,005,009,010,013}.py``
(app server), ``openhands/app_server/app_conversation/sql_app_conversation_info_service.py``
(``StoredConversationMetadata``), ``enterprise/migrations/versions/`` ``003``, ``006``,
``014``, ``023``, ``026``, ``038``, ``042``, ``044``, ``049``, ``051``, ``076``, ``081``,
``085`` (late-2025 SaaS table), ``089`` (``org``, ``user``, ``conversation_metadata_saas``),
``118`` (its indexes), ``134`` (``conversation_cost_events``). Where the real migrations
disagree with shared/FORMATS.md or with each other, the comment at that spot says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Enum,
    Float,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    event,
    inspect,
    text,
)
from sqlalchemy.types import TypeEngine

TABLE = "conversation_metadata"
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of ``conversation_metadata`` as a migration declares it."""

    type: TypeEngine[Any]
    nullable: bool = True
    index: bool = False  # an index named ix_conversation_metadata_<column>
    server_default: str | None = None


@dataclass(frozen=True)
class Revision:
    """One app-server Alembic revision and what it does to ``conversation_metadata``.

    ``columns`` adds a column (at the end), replaces one in place (same name), or drops
    one (``None``).
    """

    id: str
    description: str
    columns: tuple[tuple[str, ColumnSpec | None], ...] = ()


_STRING = String()  # VARCHAR without a length, as every OpenHands migration writes it
_AWARE = DateTime(timezone=True)
_NAIVE = DateTime()
_INT = Integer()
_FLOAT = Float()


def _spec(
    type_: TypeEngine[Any],
    *,
    nullable: bool = True,
    index: bool = False,
    default: str | None = None,
) -> ColumnSpec:
    return ColumnSpec(type_, nullable, index, default)


_TOKEN_COLUMNS = ("prompt_tokens", "completion_tokens", "total_tokens")
_V1_TOKEN_COLUMNS = (
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_window",
    "per_turn_token",
)

# 001.py: one create_table, no server defaults at all (so an INSERT that leaves out
# conversation_version fails: it is NOT NULL with no default).
_CREATED_AT_001: tuple[tuple[str, ColumnSpec | None], ...] = (
    ("conversation_id", _spec(_STRING, nullable=False)),
    ("github_user_id", _spec(_STRING)),
    ("user_id", _spec(_STRING, nullable=False)),
    ("selected_repository", _spec(_STRING)),
    ("selected_branch", _spec(_STRING)),
    ("git_provider", _spec(_STRING)),
    ("title", _spec(_STRING)),
    ("last_updated_at", _spec(_AWARE)),
    ("created_at", _spec(_AWARE)),
    ("trigger", _spec(_STRING)),
    ("pr_number", _spec(JSON())),
    ("accumulated_cost", _spec(_FLOAT)),
    *((name, _spec(_INT)) for name in _TOKEN_COLUMNS),
    ("max_budget_per_task", _spec(_FLOAT)),
    *((name, _spec(_INT)) for name in _V1_TOKEN_COLUMNS),
    ("llm_model", _spec(_STRING)),
    ("conversation_version", _spec(_STRING, nullable=False, index=True)),
    ("sandbox_id", _spec(_STRING, index=True)),
)

_UNCHANGED = "conversation_metadata unchanged"

REVISIONS: tuple[Revision, ...] = (
    Revision(
        "001",
        "initial app-server schema: conversation_metadata (github_user_id, user_id NOT NULL, "
        "...), indexed on conversation_version and sandbox_id; also app_conversation_start_task, "
        "event_callback, event_callback_result, v1_remote_sandbox (not built here)",
        _CREATED_AT_001,
    ),
    Revision(
        "002",
        f"event_callback gains status and updated_at, event_callback_result.event_id becomes "
        f"a string ({_UNCHANGED})",
    ),
    Revision(
        "003",
        "parent_conversation_id: string, nullable, indexed",
        (("parent_conversation_id", _spec(_STRING, index=True)),),
    ),
    Revision(
        "004",
        "public: boolean, nullable, indexed",
        (("public", _spec(Boolean(), index=True)),),
    ),
    Revision(
        "005",
        "github_user_id dropped; user_id becomes nullable",
        # The same change was numbered 003 (dropping user_id too) and 004 in earlier
        # versions of the file before it settled as 005 with batch_alter_table.
        (("github_user_id", None), ("user_id", _spec(_STRING))),
    ),
    Revision("006", f"v1_remote_sandbox gains session_api_key_hash, indexed ({_UNCHANGED})"),
    Revision("007", f"not found in OpenHands' code; {_UNCHANGED} (FORMATS.md)"),
    Revision(
        "008",
        "tags: JSON object of string to string, nullable",
        (("tags", _spec(JSON())),),
    ),
    Revision(
        "009",
        "agent_kind: string, nullable (read as 'openhands' when null)",
        (("agent_kind", _spec(_STRING)),),
    ),
    Revision(
        "010",
        "acp_server: string, nullable (in OpenHands' 010.py; FORMATS.md does not list it)",
        (("acp_server", _spec(_STRING)),),
    ),
    Revision(
        "011",
        f"v1_remote_sandbox gains a column (is_paused or sandbox_template: versions of the "
        f"file differ) ({_UNCHANGED})",
    ),
    Revision("012", f"not found in OpenHands' code; {_UNCHANGED} (FORMATS.md)"),
    Revision(
        "013",
        "execution_status: string, nullable, indexed (idle, running, paused, finished, error, "
        "stuck, deleting)",
        (("execution_status", _spec(_STRING, index=True)),),
    ),
    Revision("014", f"not found in OpenHands' code; {_UNCHANGED} (FORMATS.md)"),
)

REVISION_IDS: tuple[str, ...] = tuple(revision.id for revision in REVISIONS)
LATEST_REVISION = REVISION_IDS[-1]

# The enterprise chain's revision that the late-2025 SaaS table corresponds to
# (085_add_public_column_to_conversation_metadata.py, the last change to the table
# before the org tables of 089).
SAAS_2025_REVISION = "085"

# enterprise/migrations/versions, in the order the columns were added. Differences
# from the app-server table that are real, not accidents of this module:
# - 003 made last_updated_at and created_at plain DateTime (timestamp WITHOUT time
#   zone) and NOT NULL, and indexed user_id and created_at;
# - 014 renamed that user_id to github_user_id and added a new, nullable user_id. In a
#   real database the index ix_conversation_metadata_user_id therefore covers
#   github_user_id; here it covers user_id, which is what listings filter on;
# - 023 and 076 gave the cost, token and conversation_version columns server defaults.
_SAAS_2025_COLUMNS: tuple[tuple[str, ColumnSpec | None], ...] = (
    ("conversation_id", _spec(_STRING, nullable=False)),
    ("github_user_id", _spec(_STRING)),
    ("user_id", _spec(_STRING, index=True)),
    ("selected_repository", _spec(_STRING)),
    ("title", _spec(_STRING)),
    ("last_updated_at", _spec(_NAIVE, nullable=False)),
    ("created_at", _spec(_NAIVE, nullable=False, index=True)),
    ("selected_branch", _spec(_STRING)),  # 006
    ("accumulated_cost", _spec(_FLOAT, default="0.0")),  # 023
    *((name, _spec(_INT, default="0")) for name in _TOKEN_COLUMNS),
    ("trigger", _spec(_STRING)),  # 026
    ("pr_number", _spec(JSON())),  # 038
    ("git_provider", _spec(_STRING)),  # 042
    ("llm_model", _spec(_STRING)),  # 044
    ("max_budget_per_task", _spec(_FLOAT)),  # 076
    *((name, _spec(_INT, default="0")) for name in _V1_TOKEN_COLUMNS),
    ("conversation_version", _spec(_STRING, nullable=False, index=True, default="V0")),
    ("sandbox_id", _spec(_STRING, index=True)),
    ("parent_conversation_id", _spec(_STRING, index=True)),  # 081
    ("public", _spec(Boolean(), index=True)),  # 085
)


def columns_at(revision: str = LATEST_REVISION) -> dict[str, ColumnSpec]:
    """``conversation_metadata``'s columns, in table order, as they stand at ``revision``."""
    if revision not in REVISION_IDS:
        raise ValueError(
            f"unknown OpenHands app-server revision {revision!r}; known: {', '.join(REVISION_IDS)}"
        )
    columns: dict[str, ColumnSpec] = {}
    for step in REVISIONS[: REVISION_IDS.index(revision) + 1]:
        _apply(columns, step.columns)
    return columns


def saas_2025_columns() -> dict[str, ColumnSpec]:
    """``conversation_metadata``'s columns in the late-2025 SaaS (enterprise) schema."""
    columns: dict[str, ColumnSpec] = {}
    _apply(columns, _SAAS_2025_COLUMNS)
    return columns


def _apply(
    columns: dict[str, ColumnSpec], changes: Iterable[tuple[str, ColumnSpec | None]]
) -> None:
    for name, spec in changes:
        if spec is None:
            del columns[name]
        else:
            columns[name] = spec  # a dict keeps the old position when a key is replaced


def build_metadata(
    *,
    revision: str | None = None,
    enterprise: bool = False,
    saas_2025: bool = False,
) -> MetaData:
    """The tables ``create_schema`` would create, without touching any database.

    ``revision`` is an app-server revision (default: the latest); ``enterprise`` adds
    the 1.x enterprise tables; ``saas_2025`` builds the late-2025 SaaS schema instead
    and takes neither of the other two.
    """
    metadata = MetaData()
    if saas_2025:
        if revision is not None or enterprise:
            raise ValueError(
                "saas_2025 is its own schema (the enterprise migration chain of late 2025); "
                "it takes no app-server revision and no enterprise=True"
            )
        _conversation_metadata(metadata, saas_2025_columns())
        _saas_2025_tables(metadata)
    else:
        _conversation_metadata(metadata, columns_at(revision or LATEST_REVISION))
        if enterprise:
            _enterprise_tables(metadata)
    Table(
        VERSION_TABLE,
        metadata,
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )
    return metadata


def create_schema(
    connection: Connection,
    *,
    revision: str | None = None,
    enterprise: bool = False,
    saas_2025: bool = False,
    stamp: str | None = None,
) -> None:
    """Create OpenHands' tables as they stand at ``revision``, and stamp ``alembic_version``.

    Arguments as for ``build_metadata``. ``stamp`` is the value written to
    ``alembic_version.version_num``: by default the app-server revision, or ``085`` for
    ``saas_2025``. A real enterprise database carries its own chain's revision (for
    example ``134``, where ``conversation_cost_events`` appeared): pass it to imitate one.

    Runs in the connection's transaction; the caller commits (``engine.begin()``).
    Raises ValueError, creating nothing, when any of the tables already exists.
    """
    metadata = build_metadata(revision=revision, enterprise=enterprise, saas_2025=saas_2025)
    existing = sorted(set(inspect(connection).get_table_names()) & set(metadata.tables))
    if existing:
        raise ValueError(
            f"refusing to create OpenHands tables: {', '.join(existing)} already "
            "exist in this database"
        )
    metadata.create_all(connection, checkfirst=False)
    if stamp is None:
        stamp = SAAS_2025_REVISION if saas_2025 else revision or LATEST_REVISION
    connection.execute(metadata.tables[VERSION_TABLE].insert().values(version_num=stamp))


def enforce_sqlite_foreign_keys(engine: Engine) -> None:
    """Make every new SQLite connection of ``engine`` enforce foreign keys.

    SQLite checks foreign keys only on connections that ran ``PRAGMA foreign_keys=ON``,
    and the pragma does nothing inside a transaction, so it runs as each connection
    opens. Call before the engine's first connection; other dialects are left alone.
    """
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _foreign_keys_on)


def _foreign_keys_on(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _conversation_metadata(metadata: MetaData, columns: Mapping[str, ColumnSpec]) -> Table:
    table = Table(
        TABLE,
        metadata,
        *(
            Column(
                name,
                spec.type,
                primary_key=name == "conversation_id",
                nullable=spec.nullable,
                server_default=spec.server_default,
            )
            for name, spec in columns.items()
        ),
    )
    for name, spec in columns.items():
        if spec.index:
            Index(f"ix_{TABLE}_{name}", table.c[name])
    return table


def _enterprise_tables(metadata: MetaData) -> None:
    # 089_create_org_tables.py, cut down to the columns a row needs (org and user have
    # about twenty settings columns each, all nullable or defaulted, except org.name),
    # and the names an operator knows a user by (enterprise/storage/user.py: email and
    # git_user_name, both nullable; `--user` takes either).
    Table(
        "org",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("name", _STRING, nullable=False),
        UniqueConstraint("name", name="org_name_unique"),
    )
    Table(
        "user",
        metadata,
        Column("id", Uuid(), primary_key=True),
        Column("current_org_id", Uuid(), nullable=False),
        Column("email", _STRING),
        Column("git_user_name", _STRING),
        ForeignKeyConstraint(["current_org_id"], ["org.id"], name="current_org_fkey"),
    )
    # 089 (table) and 118 (indexes). No foreign key to conversation_metadata: deleting
    # a conversation leaves its ownership row unless the deleter removes it too.
    Table(
        "conversation_metadata_saas",
        metadata,
        Column("conversation_id", _STRING, primary_key=True),
        Column("user_id", Uuid(), nullable=False),
        Column("org_id", Uuid(), nullable=False),
        ForeignKeyConstraint(["user_id"], ["user.id"], name="conversation_metadata_saas_user_fkey"),
        ForeignKeyConstraint(["org_id"], ["org.id"], name="conversation_metadata_saas_org_fkey"),
        Index("ix_conversation_metadata_saas_user_id_org_id", "user_id", "org_id"),
        Index("ix_conversation_metadata_saas_org_id", "org_id"),
    )
    # 134_add_conversation_cost_events.py (numbered 135 in another version). The ORM
    # model declares ondelete='CASCADE', the migration does not: the database does not
    # cascade, so a conversation with cost events cannot be deleted before them.
    Table(
        "conversation_cost_events",
        metadata,
        Column("id", Integer(), Identity(), primary_key=True),
        Column("conversation_id", _STRING, nullable=False),
        Column("cost_delta", _FLOAT, nullable=False, server_default="0.0"),
        Column("occurred_at", _AWARE, nullable=False),
        ForeignKeyConstraint(
            ["conversation_id"],
            [f"{TABLE}.conversation_id"],
            name="conversation_cost_events_conversation_id_fkey",
        ),
        Index("ix_conversation_cost_events_conversation_id", "conversation_id"),
        Index("ix_conversation_cost_events_occurred_at", "occurred_at"),
    )


def _saas_2025_tables(metadata: MetaData) -> None:
    # 049_create_conversation_callbacks_table.py; 051 recreated the foreign key with
    # ON DELETE CASCADE under the same name.
    Table(
        "conversation_callbacks",
        metadata,
        Column("id", Integer(), primary_key=True, autoincrement=True),
        Column("conversation_id", _STRING, nullable=False),
        Column(
            "status", Enum("ACTIVE", "COMPLETED", "ERROR", name="callbackstatus"), nullable=False
        ),
        Column("processor_type", _STRING, nullable=False),
        Column("processor_json", Text(), nullable=False),
        Column("created_at", _NAIVE, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
        Column("updated_at", _NAIVE, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
        ForeignKeyConstraint(
            ["conversation_id"],
            [f"{TABLE}.conversation_id"],
            name="conversation_callbacks_conversation_id_fkey",
            ondelete="CASCADE",
        ),
        Index("ix_conversation_callbacks_conversation_id", "conversation_id"),
    )
    # 047_create_conversation_feedback_table.py, plus a foreign key WITHOUT cascade that
    # the real migration does not declare: it stands for the references that block a
    # delete (as conversation_cost_events does in 1.x), so tests can exercise both kinds.
    Table(
        "conversation_feedback",
        metadata,
        Column("id", Integer(), primary_key=True, autoincrement=True),
        Column("conversation_id", _STRING, nullable=False),
        Column("event_id", Integer()),
        Column("rating", Integer(), nullable=False),
        Column("reason", Text()),
        Column("created_at", _NAIVE, nullable=False, server_default=text("CURRENT_TIMESTAMP")),
        ForeignKeyConstraint(
            ["conversation_id"],
            [f"{TABLE}.conversation_id"],
            name="conversation_feedback_conversation_id_fkey",
        ),
        Index("ix_conversation_feedback_conversation_id", "conversation_id"),
    )
