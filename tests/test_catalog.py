"""The catalog: routing like OpenHands, merged keyset paging over every store."""

import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from convstore.errors import NotFound, UsageError
from convstore.model import format_v0_datetime
from convstore.stores.base import Query, Sort, decode_cursor
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database, FileStoreBuilder

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def catalog_of(files_root: Path | None, database: Database | None) -> Catalog:
    return Catalog(
        files=FileStore(files_root) if files_root else None,
        sql=SqlStore(create_engine(database.url)) if database else None,
    )


def test_routes_a_uuid_to_v1_first_then_v0(files, make_database):
    database = make_database()
    identifier = uuid.uuid4()
    files.generation("2025-12", conversation_id=identifier.hex, title="the V0 file")
    catalog = catalog_of(files.root, database)
    assert catalog.get(identifier.hex).title == "the V0 file"
    # OpenHands tries V1, then V0 with the id as given; convstore then V0 under the hex
    # form, so every spelling finds the V0 file.
    for spelling in (str(identifier), identifier.hex.upper(), str(identifier).upper()):
        assert catalog.get(spelling).title == "the V0 file"
    database.insert(conversation_id=str(identifier), title="the V1 row")
    assert catalog.get(identifier.hex).title == "the V1 row"
    assert catalog.get(str(identifier)).title == "the V1 row"
    record = catalog.get(str(identifier))
    assert catalog.twin(record).title == "the V0 file"
    catalog.close()


def test_user_scoping_hides_other_users(files):
    conversation_id, _ = files.generation("2025-12", user_id="bob")
    catalog = catalog_of(files.root, None)
    assert catalog.get(conversation_id, user="bob").user_id == "bob"
    with pytest.raises(NotFound):
        catalog.get(conversation_id, user="alice")
    with pytest.raises(NotFound):
        catalog.rename(conversation_id, "mine now", user="alice")


def test_rename_strips_and_refuses_empty(files):
    conversation_id, _ = files.generation("2025-12")
    catalog = catalog_of(files.root, None)
    assert catalog.rename(conversation_id, "  spaced  ").title == "spaced"
    with pytest.raises(UsageError):
        catalog.rename(conversation_id, "   ")


def test_parent_with_sub_conversations_is_refused_without_flag(make_database):
    database = make_database()
    parent = database.insert()
    child = database.insert(parent_conversation_id=parent["conversation_id"])
    catalog = catalog_of(None, database)
    plan = catalog.plan_deletion([parent["conversation_id"]])
    assert "sub-conversations would remain" in plan.deletions[0].blockers[0]
    outcome = catalog.delete(plan)
    assert outcome.blocked == plan.deletions and outcome.deleted == []
    assert len(list(catalog.search(Query(sub_conversations=True)))) == 2
    plan = catalog.plan_deletion([parent["conversation_id"]], with_sub=True)
    assert [d.record.conversation_id for d in plan.deletions] == [
        child["conversation_id"],
        parent["conversation_id"],
    ]
    assert len(catalog.delete(plan).deleted) == 2
    assert list(catalog.search(Query(sub_conversations=True))) == []
    catalog.close()


def test_cursor_of_another_sort_is_refused():
    with pytest.raises(UsageError, match="belongs to --sort"):
        from convstore.stores.base import encode_cursor, position

        token = encode_cursor(
            Sort("title", False), position(Sort("title", False), "a", "x", "files")
        )
        decode_cursor(Sort(), token)
    with pytest.raises(UsageError, match="invalid cursor"):
        decode_cursor(Sort(), "not a cursor!")


TIMES = [None, T0, T0 + timedelta(seconds=1), T0 + timedelta(days=3)]
entry = st.tuples(
    st.sampled_from(["files", "sql-v0", "sql-v1"]),
    st.integers(0, 12),  # a small id space: the same id in files and in SQL ties across stores
    st.sampled_from(TIMES),
    st.sampled_from([None, "alpha", "Beta", "beta", "BETA", "ärger", "Ärger", "Zoo", "apple"]),
)


@pytest.fixture
def paging_database(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    entries=st.lists(entry, max_size=30, unique_by=lambda e: (e[0], e[1])),
    page_size=st.integers(1, 7),
    sort=st.sampled_from(["created", "-created", "updated", "-updated", "title", "-title"]),
)
def test_merged_paging_yields_every_conversation_once_in_order(
    paging_database, entries, page_size, sort
):
    database = paging_database
    with database.engine.begin() as connection:
        connection.execute(database.table.delete())
    with tempfile.TemporaryDirectory() as directory:
        builder = FileStoreBuilder(Path(directory) / "store")
        for where, number, when, title in entries:
            identifier = uuid.UUID(int=number)
            stamp = None if when is None else format_v0_datetime(when)
            if where == "files":
                document = {
                    "conversation_id": identifier.hex,
                    "title": title,
                    "last_updated_at": stamp,
                }
                if when is not None:
                    document["created_at"] = stamp
                builder.write(identifier.hex, document)
            else:
                database.insert(
                    conversation_id=str(identifier) if where == "sql-v1" else identifier.hex,
                    conversation_version="V1" if where == "sql-v1" else "V0",
                    created_at=when,
                    last_updated_at=when,
                    title=title,
                )
        catalog = catalog_of(builder.root, database)
        order = Sort.parse(sort)
        everything = list(catalog.search(Query(sort=order)))
        walked, query = [], Query(sort=order)
        while True:
            page = catalog.page(query, page_size)
            walked += page.items
            assert len(page.items) <= page_size
            if page.next_cursor is None:
                break
            query = query.starting_after(decode_cursor(order, page.next_cursor))
        keys = [(r.store, r.conversation_id) for r in walked]
        assert keys == [(r.store, r.conversation_id) for r in everything]
        assert len(keys) == len(set(keys)) == len(entries)
        values = [order.value_of(r) for r in walked]
        present = [v for v in values if v is not None]
        assert values == present + [None] * (len(values) - len(present))
        assert present == sorted(present, reverse=order.descending)
        catalog.close()
