"""convstore.schema builds OpenHands' tables as OpenHands' migrations do, on both backends.

The expectations below are written out from the migrations (see the module docstring of
convstore.schema), not derived from the module's own data, so a slip in either shows.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from convstore import schema

REVISIONS = [f"{n:03d}" for n in range(1, 15)]

COLUMNS_001 = [
    "conversation_id",
    "github_user_id",
    "user_id",
    "selected_repository",
    "selected_branch",
    "git_provider",
    "title",
    "last_updated_at",
    "created_at",
    "trigger",
    "pr_number",
    "accumulated_cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "max_budget_per_task",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_window",
    "per_turn_token",
    "llm_model",
    "conversation_version",
    "sandbox_id",
]
ADDED = {
    "003": ["parent_conversation_id"],
    "004": ["public"],
    "008": ["tags"],
    "009": ["agent_kind"],
    "010": ["acp_server"],
    "013": ["execution_status"],
}
DROPPED = {"005": ["github_user_id"]}
INDEXED_001 = ["conversation_version", "sandbox_id"]
INDEXED_LATER = {"003": "parent_conversation_id", "004": "public", "013": "execution_status"}

SAAS_2025_COLUMNS = [
    "conversation_id",
    "github_user_id",
    "user_id",
    "selected_repository",
    "title",
    "last_updated_at",
    "created_at",
    "selected_branch",
    "accumulated_cost",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "trigger",
    "pr_number",
    "git_provider",
    "llm_model",
    "max_budget_per_task",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "context_window",
    "per_turn_token",
    "conversation_version",
    "sandbox_id",
    "parent_conversation_id",
    "public",
]
SAAS_2025_INDEXED = [
    "conversation_version",
    "created_at",
    "parent_conversation_id",
    "public",
    "sandbox_id",
    "user_id",
]


def expected_columns(revision: str) -> list[str]:
    columns: list[str] = []
    for step in REVISIONS[: REVISIONS.index(revision) + 1]:
        if step == "001":
            columns = list(COLUMNS_001)
        columns = [c for c in columns if c not in DROPPED.get(step, [])]
        columns += ADDED.get(step, [])
    return columns


def expected_indexes(revision: str) -> dict[str, list[str]]:
    indexed = INDEXED_001 + [c for r, c in INDEXED_LATER.items() if r <= revision]
    return {f"ix_conversation_metadata_{c}": [c] for c in indexed}


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(database_url)
    schema.enforce_sqlite_foreign_keys(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def create(engine: sa.Engine, **options: Any) -> None:
    with engine.begin() as connection:
        schema.create_schema(connection, **options)


def columns_of(engine: sa.Engine, table: str) -> dict[str, dict[str, Any]]:
    return {column["name"]: dict(column) for column in sa.inspect(engine).get_columns(table)}


def indexes_of(engine: sa.Engine, table: str) -> dict[str, list[str]]:
    return {
        index["name"]: [str(name) for name in index["column_names"]]
        for index in sa.inspect(engine).get_indexes(table)
        if index["name"]
    }


def stamped(engine: sa.Engine) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
        )


def v1_row(conversation_id: str | None = None, **values: Any) -> dict[str, Any]:
    now = dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
    return {
        "conversation_id": conversation_id or str(uuid.uuid4()),
        "conversation_version": "V1",
        "sandbox_id": "convstore-archived",
        "created_at": now,
        "last_updated_at": now,
        "pr_number": [],
        **values,
    }


def insert(engine: sa.Engine, table: str, *rows: dict[str, Any], **options: Any) -> None:
    # Through convstore.schema's own tables: a reflected SQLite table sees UUID columns
    # as CHAR(32) and would not convert uuid.UUID values.
    target = schema.build_metadata(**options).tables[table]
    with engine.begin() as connection:
        connection.execute(target.insert(), list(rows))


# -- the revision list --------------------------------------------------------------


def test_revisions_are_001_to_014_in_order_each_described() -> None:
    assert [revision.id for revision in schema.REVISIONS] == REVISIONS
    assert list(schema.REVISION_IDS) == REVISIONS
    assert schema.LATEST_REVISION == "014"
    assert all(revision.description for revision in schema.REVISIONS)


@pytest.mark.parametrize("revision", REVISIONS)
def test_columns_at_matches_the_migrations(revision: str) -> None:
    assert list(schema.columns_at(revision)) == expected_columns(revision)


def test_an_unknown_revision_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown OpenHands app-server revision '015'"):
        schema.columns_at("015")
    with pytest.raises(ValueError, match="'1'"):
        schema.build_metadata(revision="1")


def test_saas_2025_takes_no_revision_and_no_enterprise_flag() -> None:
    with pytest.raises(ValueError, match="saas_2025"):
        schema.build_metadata(saas_2025=True, revision="013")
    with pytest.raises(ValueError, match="saas_2025"):
        schema.build_metadata(saas_2025=True, enterprise=True)


# -- conversation_metadata at each revision, on both backends -----------------------


@pytest.mark.parametrize("enterprise", [False, True], ids=["app-server", "enterprise"])
@pytest.mark.parametrize("revision", REVISIONS)
def test_conversation_metadata_at_each_revision(
    engine: sa.Engine, revision: str, enterprise: bool
) -> None:
    create(engine, revision=revision, enterprise=enterprise)

    columns = columns_of(engine, "conversation_metadata")
    assert list(columns) == expected_columns(revision)
    assert indexes_of(engine, "conversation_metadata") == expected_indexes(revision)
    assert sa.inspect(engine).get_pk_constraint("conversation_metadata")["constrained_columns"] == [
        "conversation_id"
    ]
    assert stamped(engine) == [revision]

    not_null = {name for name, column in columns.items() if not column["nullable"]}
    user_id_required = revision < "005"
    assert not_null == {"conversation_id", "conversation_version"} | (
        {"user_id"} if user_id_required else set()
    )
    # The app server's migrations give this table no server defaults at all.
    assert all(column["default"] is None for column in columns.values())

    assert isinstance(columns["created_at"]["type"], sa.DateTime)
    assert isinstance(columns["pr_number"]["type"], sa.JSON)
    assert isinstance(columns["accumulated_cost"]["type"], sa.Float)
    assert isinstance(columns["total_tokens"]["type"], sa.Integer)
    if engine.dialect.name == "postgresql":
        assert columns["created_at"]["type"].timezone is True
    if revision >= "004":
        assert isinstance(columns["public"]["type"], sa.Boolean)
    if revision >= "008":
        assert isinstance(columns["tags"]["type"], sa.JSON)

    expected_tables = {"conversation_metadata", "alembic_version"}
    if enterprise:
        expected_tables |= {"org", "user", "conversation_metadata_saas", "conversation_cost_events"}
    assert set(sa.inspect(engine).get_table_names()) == expected_tables


@pytest.mark.parametrize("revision", ["001", "004", "005", "014"])
def test_user_id_is_required_before_005_and_optional_from_it(
    engine: sa.Engine, revision: str
) -> None:
    create(engine, revision=revision)
    row = v1_row()
    if revision < "005":
        with pytest.raises(sa.exc.IntegrityError):
            insert(engine, "conversation_metadata", row, revision=revision)
        insert(engine, "conversation_metadata", {**row, "user_id": ""}, revision=revision)
    else:
        insert(engine, "conversation_metadata", row, revision=revision)


def test_conversation_version_has_no_default_in_the_app_server_table(engine: sa.Engine) -> None:
    create(engine)
    row = v1_row()
    del row["conversation_version"]
    with pytest.raises(sa.exc.IntegrityError):
        insert(engine, "conversation_metadata", row)


def test_a_v1_row_round_trips(engine: sa.Engine) -> None:
    create(engine)
    row = v1_row(title="hello", pr_number=[3, 5], tags={"trigger": "automation"})
    insert(engine, "conversation_metadata", row)
    with engine.connect() as connection:
        read = connection.execute(sa.text("SELECT * FROM conversation_metadata")).mappings().one()
    assert read["title"] == "hello"
    assert read["conversation_version"] == "V1"
    # JSON comes back parsed on PostgreSQL and as text on SQLite without a typed column.
    assert read["pr_number"] in ([3, 5], "[3, 5]")
    created = read["created_at"]
    if isinstance(created, str):  # SQLite without a typed column: the stored text
        created = dt.datetime.fromisoformat(created)
    assert created.replace(tzinfo=created.tzinfo or dt.UTC) == row["created_at"]


# -- enterprise 1.x tables ---------------------------------------------------------


def test_enterprise_tables(engine: sa.Engine) -> None:
    create(engine, enterprise=True)
    inspector = sa.inspect(engine)

    saas = columns_of(engine, "conversation_metadata_saas")
    assert list(saas) == ["conversation_id", "user_id", "org_id"]
    assert not any(column["nullable"] for column in saas.values())
    assert isinstance(saas["user_id"]["type"], sa.Uuid | sa.CHAR)
    assert indexes_of(engine, "conversation_metadata_saas") == {
        "ix_conversation_metadata_saas_user_id_org_id": ["user_id", "org_id"],
        "ix_conversation_metadata_saas_org_id": ["org_id"],
    }
    saas_keys = {
        (fk["referred_table"], tuple(fk["constrained_columns"]))
        for fk in inspector.get_foreign_keys("conversation_metadata_saas")
    }
    assert saas_keys == {("user", ("user_id",)), ("org", ("org_id",))}

    user = columns_of(engine, "user")
    assert list(user) == ["id", "current_org_id", "email", "git_user_name"]
    assert user["email"]["nullable"] and user["git_user_name"]["nullable"]
    assert user["current_org_id"]["nullable"] is False

    costs = columns_of(engine, "conversation_cost_events")
    assert list(costs) == ["id", "conversation_id", "cost_delta", "occurred_at"]
    assert [name for name, c in costs.items() if c["nullable"]] == []
    (cost_key,) = inspector.get_foreign_keys("conversation_cost_events")
    assert cost_key["referred_table"] == "conversation_metadata"
    assert cost_key["referred_columns"] == ["conversation_id"]
    assert cost_key["options"].get("ondelete") is None
    assert indexes_of(engine, "conversation_cost_events") == {
        "ix_conversation_cost_events_conversation_id": ["conversation_id"],
        "ix_conversation_cost_events_occurred_at": ["occurred_at"],
    }


def test_a_cost_event_needs_its_conversation(engine: sa.Engine) -> None:
    create(engine, enterprise=True)
    event = {"conversation_id": str(uuid.uuid4()), "cost_delta": 0.5, "occurred_at": _now()}
    with pytest.raises(sa.exc.IntegrityError):
        insert(engine, "conversation_cost_events", event, enterprise=True)


def test_a_conversation_with_cost_events_cannot_be_deleted_before_them(engine: sa.Engine) -> None:
    create(engine, enterprise=True)
    row = v1_row()
    insert(engine, "conversation_metadata", row)
    event = {"conversation_id": row["conversation_id"], "cost_delta": 0.5, "occurred_at": _now()}
    insert(engine, "conversation_cost_events", event, enterprise=True)
    delete = sa.text("DELETE FROM conversation_metadata WHERE conversation_id = :id")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(delete, {"id": row["conversation_id"]})
    with engine.begin() as connection:
        connection.execute(
            sa.text("DELETE FROM conversation_cost_events WHERE conversation_id = :id"),
            {"id": row["conversation_id"]},
        )
        assert connection.execute(delete, {"id": row["conversation_id"]}).rowcount == 1


def test_an_ownership_row_needs_an_existing_user_and_org(engine: sa.Engine) -> None:
    create(engine, enterprise=True)
    org, user = uuid.uuid4(), uuid.uuid4()
    row = v1_row()
    insert(engine, "conversation_metadata", row)
    ownership = {"conversation_id": row["conversation_id"], "user_id": user, "org_id": org}
    with pytest.raises(sa.exc.IntegrityError):
        insert(engine, "conversation_metadata_saas", ownership, enterprise=True)
    insert(engine, "org", {"id": org, "name": "acme"}, enterprise=True)
    insert(engine, "user", {"id": user, "current_org_id": org}, enterprise=True)
    insert(engine, "conversation_metadata_saas", ownership, enterprise=True)


def test_sqlite_enforces_foreign_keys_only_when_asked(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    plain = sa.create_engine(url)  # no enforce_sqlite_foreign_keys
    try:
        create(plain, enterprise=True)
        orphan = {"conversation_id": "missing", "cost_delta": 0.5, "occurred_at": _now()}
        insert(
            plain, "conversation_cost_events", orphan, enterprise=True
        )  # accepted: nothing checks
    finally:
        plain.dispose()


# -- the late-2025 SaaS schema -------------------------------------------------------


def test_saas_2025_schema(engine: sa.Engine) -> None:
    create(engine, saas_2025=True)
    columns = columns_of(engine, "conversation_metadata")
    assert list(columns) == SAAS_2025_COLUMNS
    assert {name for name, c in columns.items() if not c["nullable"]} == {
        "conversation_id",
        "last_updated_at",
        "created_at",
        "conversation_version",
    }
    assert indexes_of(engine, "conversation_metadata") == {
        f"ix_conversation_metadata_{name}": [name] for name in SAAS_2025_INDEXED
    }
    if engine.dialect.name == "postgresql":
        assert columns["created_at"]["type"].timezone is False
    assert stamped(engine) == ["085"]
    assert set(sa.inspect(engine).get_table_names()) == {
        "conversation_metadata",
        "alembic_version",
        "conversation_callbacks",
        "conversation_feedback",
    }
    keys = {
        table: sa.inspect(engine).get_foreign_keys(table)[0]["options"].get("ondelete")
        for table in ("conversation_callbacks", "conversation_feedback")
    }
    assert keys == {"conversation_callbacks": "CASCADE", "conversation_feedback": None}


def test_saas_2025_defaults_fill_a_v0_row(engine: sa.Engine) -> None:
    create(engine, saas_2025=True)
    naive = dt.datetime(2025, 11, 3, 9, 30)
    insert(
        engine,
        "conversation_metadata",
        {
            "conversation_id": "a" * 32,
            "user_id": "u1",
            "created_at": naive,
            "last_updated_at": naive,
        },
        saas_2025=True,
    )
    with engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM conversation_metadata")).mappings().one()
    assert row["conversation_version"] == "V0"
    assert row["total_tokens"] == 0
    assert row["cache_read_tokens"] == 0
    assert float(row["accumulated_cost"]) == 0.0


def test_saas_2025_cascade_and_restrict(engine: sa.Engine) -> None:
    create(engine, saas_2025=True)
    naive = dt.datetime(2025, 11, 3, 9, 30)
    for conversation_id in ("a" * 32, "b" * 32):
        insert(
            engine,
            "conversation_metadata",
            {"conversation_id": conversation_id, "created_at": naive, "last_updated_at": naive},
            saas_2025=True,
        )
    insert(
        engine,
        "conversation_callbacks",
        {
            "conversation_id": "a" * 32,
            "status": "ACTIVE",
            "processor_type": "p",
            "processor_json": "{}",
        },
        saas_2025=True,
    )
    insert(
        engine, "conversation_feedback", {"conversation_id": "b" * 32, "rating": 5}, saas_2025=True
    )
    delete = sa.text("DELETE FROM conversation_metadata WHERE conversation_id = :id")

    with engine.begin() as connection:
        connection.execute(delete, {"id": "a" * 32})
        callbacks = connection.execute(sa.text("SELECT count(*) FROM conversation_callbacks"))
        assert callbacks.scalar_one() == 0  # cascaded

    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(delete, {"id": "b" * 32})  # feedback still references it


# -- create paths only ---------------------------------------------------------------


def test_create_schema_refuses_a_database_that_has_any_of_its_tables(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE conversation_metadata (conversation_id TEXT)"))
    with pytest.raises(ValueError, match="conversation_metadata already exist"):
        create(engine, enterprise=True)
    assert sa.inspect(engine).get_table_names() == ["conversation_metadata"]


def test_stamp_overrides_the_version_written(engine: sa.Engine) -> None:
    create(engine, enterprise=True, stamp="134")
    assert stamped(engine) == ["134"]


def _now() -> dt.datetime:
    return dt.datetime(2026, 7, 1, 12, 0, tzinfo=dt.UTC)
