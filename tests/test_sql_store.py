"""The SQL store on real SQLite files and a real PostgreSQL server, at several revisions."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from convstore.errors import Conflict, StoreUnavailable
from convstore.stores.base import Query, Sort
from convstore.stores.sql import SqlStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def open_store(database):
    return SqlStore(create_engine(database.url))


@pytest.mark.parametrize("revision", ["001", "005", "014"])
def test_reads_v0_and_v1_rows_at_every_revision(make_database, revision):
    database = make_database(revision=revision)
    v1 = database.insert(created_at=T0)
    v0 = database.insert(
        conversation_id="0" * 32, conversation_version="V0", created_at=T0 - timedelta(days=1)
    )
    store = open_store(database)
    records = list(store.search(Query()))
    assert [(r.conversation_id, r.version) for r in records] == [
        (v1["conversation_id"], "V1"),
        ("0" * 32, "V0"),
    ]
    assert records[0].created_at == T0 and records[0].problems == []
    assert [r.conversation_id for r in store.search(Query(version="V0"))] == [v0["conversation_id"]]
    store.close()


def test_missing_table_is_store_unavailable(database_url):
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE unrelated (x INTEGER)"))
    with pytest.raises(StoreUnavailable, match="has no table conversation_metadata"):
        SqlStore(engine)
    engine.dispose()


def test_filters_match_literally_and_sort_nulls_last(make_database):
    database = make_database()
    a = database.insert(title="100% done_now", selected_repository="acme/x_y", created_at=T0)
    database.insert(title="100 percent doneXnow", selected_repository="acme/xzy", created_at=T0)
    c = database.insert(title=None, created_at=T0 + timedelta(hours=1))
    store = open_store(database)
    assert [r.conversation_id for r in store.search(Query(title="0% DONE_"))] == [
        a["conversation_id"]
    ]
    assert [r.conversation_id for r in store.search(Query(repo="x_y"))] == [a["conversation_id"]]
    titles = [r.conversation_id for r in store.search(Query(sort=Sort("title", False)))]
    assert titles[-1] == c["conversation_id"]
    titles = [r.conversation_id for r in store.search(Query(sort=Sort("title", True)))]
    assert titles[-1] == c["conversation_id"]
    store.close()


def test_sub_conversations_left_out_unless_asked(make_database):
    database = make_database()
    parent = database.insert()
    child = database.insert(parent_conversation_id=parent["conversation_id"])
    store = open_store(database)
    assert [r.conversation_id for r in store.search(Query())] == [parent["conversation_id"]]
    assert len(list(store.search(Query(sub_conversations=True)))) == 2
    assert [r.conversation_id for r in store.search(Query(parent=parent["conversation_id"]))] == [
        child["conversation_id"]
    ]
    store.close()


def test_rename_in_a_transaction_with_optimistic_check(make_database):
    database = make_database()
    row = database.insert(title="old")
    store = open_store(database)
    record = store.get(row["conversation_id"])
    later = T0 + timedelta(days=3)
    updated = store.update(record, {"title": "new", "last_updated_at": later})
    assert updated.title == "new" and updated.last_updated_at == later
    with pytest.raises(Conflict):
        store.update(record, {"title": "stale"})
    assert store.get(row["conversation_id"]).title == "new"
    store.close()


def test_delete_plans_dependents_and_blockers_then_removes(make_database):
    database = make_database(revision="014", enterprise=True)
    row = database.insert()
    store = open_store(database)
    record = store.get(row["conversation_id"])
    plan = store.plan_removal(record)
    assert plan.blockers == [] and plan.rows == [
        f"conversation_metadata row {row['conversation_id']}"
    ]
    store.remove(plan)
    assert store.get(row["conversation_id"]) is None
    store.close()


def test_keyset_pages_walk_every_row_once(make_database):
    database = make_database()
    rows = [database.insert(created_at=T0 + timedelta(minutes=i % 7)) for i in range(75)]
    rows.append(database.insert(created_at=None, last_updated_at=T0))
    store = open_store(database)
    walked = [r.conversation_id for r in store.search(Query())]
    assert sorted(walked) == sorted(r["conversation_id"] for r in rows)
    assert len(walked) == len(set(walked))
    assert walked[-1] == rows[-1]["conversation_id"]
    store.close()


def test_enterprise_2025_delete_says_what_cascades_and_what_blocks(make_database):
    from typer.testing import CliRunner

    from convstore.cli.app import app

    database = make_database(saas_2025=True)
    cascading = database.insert(user_id="alice")
    blocked = database.insert(user_id="alice")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversation_callbacks (conversation_id, status, processor_type, "
                "processor_json) VALUES (:id, 'ACTIVE', 'p', '{}')"
            ),
            {"id": cascading["conversation_id"]},
        )
        connection.execute(
            text("INSERT INTO conversation_feedback (conversation_id, rating) VALUES (:id, 5)"),
            {"id": blocked["conversation_id"]},
        )
    runner = CliRunner()
    preview = runner.invoke(
        app, ["delete", "--db", database.url, cascading["conversation_id"], "--dry-run"]
    )
    assert preview.exit_code == 0 and "1 row(s) of conversation_callbacks" in preview.stdout
    done = runner.invoke(
        app, ["delete", "--db", database.url, cascading["conversation_id"], "--yes"]
    )
    assert done.exit_code == 0, done.output
    refused = runner.invoke(
        app, ["delete", "--db", database.url, blocked["conversation_id"], "--yes"]
    )
    assert refused.exit_code == 1  # blocked: a person must deal with the reference first
    assert "1 row(s) of conversation_feedback reference it" in refused.stdout
    store = open_store(database)
    assert store.get(cascading["conversation_id"]) is None
    assert store.get(blocked["conversation_id"]) is not None
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM conversation_callbacks")).scalar() == 0
    store.close()


def test_1x_enterprise_delete_removes_cost_events_and_ownership_in_one_transaction(make_database):

    database = make_database(enterprise=True)
    org = database.add_org()
    user = database.add_user(org)
    row = database.insert()
    database.own(row["conversation_id"], user, org)
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO conversation_cost_events (conversation_id, cost_delta, occurred_at) "
                "VALUES (:c, 0.5, CURRENT_TIMESTAMP)"
            ),
            {"c": row["conversation_id"]},
        )
    store = open_store(database)
    record = store.get(row["conversation_id"])
    assert record.user_id == str(user) and record.org_id == str(org)
    plan = store.plan_removal(record)
    assert plan.blockers == []
    assert {
        "1 row(s) of conversation_cost_events",
        "1 row(s) of conversation_metadata_saas",
    } <= set(plan.rows)
    store.remove(plan)
    with database.engine.connect() as connection:
        for table in (
            "conversation_metadata",
            "conversation_metadata_saas",
            "conversation_cost_events",
        ):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
    store.close()
