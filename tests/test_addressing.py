"""Addressing a conversation: every spelling of its id, and an abbreviation of it, find it
in every store (V0 files, SaaS V0 rows, V1 rows; SQLite and PostgreSQL), through every
command that takes an id; an abbreviation that fits several conversations is refused,
naming them."""

from __future__ import annotations

import json
import secrets
import uuid

import pytest
from sqlalchemy import create_engine, event, text

from convstore.errors import NotFound, UsageError
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import cli

USAGE, NOT_FOUND = 2, 4


def spellings(identifier: uuid.UUID) -> list[str]:
    """Every spelling an operator may type: hex and dashed, either case, and the
    abbreviations `list` prints (8 digits) and a dashed one."""
    return [
        identifier.hex,
        str(identifier),
        identifier.hex.upper(),
        str(identifier).upper(),
        identifier.hex[:8],
        str(identifier)[:13],
        identifier.hex[:12].upper(),
    ]


@pytest.fixture(params=["v0 file", "v0 row", "v1 row"])
def stored(request, files, make_database) -> tuple[list[str], uuid.UUID]:
    """One conversation, in one of the three stores (the rows on SQLite and PostgreSQL)."""
    identifier = uuid.uuid4()
    if request.param == "v0 file":
        files.generation("2025-12", conversation_id=identifier.hex, title="the V0 file")
        aged(files.root)
        return ["--file-store", str(files.root)], identifier
    if request.param == "v0 row":
        database = make_database(saas_2025=True)
        database.insert(conversation_id=identifier.hex, conversation_version="V0")
    else:
        database = make_database()
        database.insert(conversation_id=str(identifier))
    return ["--db", database.url], identifier


def test_show_finds_a_conversation_by_every_spelling_and_abbreviation(stored):
    options, identifier = stored
    for spelling in spellings(identifier):
        shown = cli("show", *options, spelling, "--format", "json")
        assert shown.exit_code == 0, (spelling, shown.output)
        assert uuid.UUID(json.loads(shown.stdout)["conversation_id"]) == identifier


def test_rename_export_and_delete_take_every_spelling(stored, tmp_path):
    options, identifier = stored
    dashed_upper, abbreviation = str(identifier).upper(), str(identifier)[:13]
    renamed = cli("rename", *options, dashed_upper, "Renamed by its dashed id")
    assert renamed.exit_code == 0, renamed.output
    exported = cli("export", *options, abbreviation, "--format", "json")
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["metadata"]["title"] == "Renamed by its dashed id"
    # --force: the rename just now makes it look in use (tests/test_deletion.py)
    deleted = cli("delete", *options, dashed_upper, "--yes", "--force")
    assert deleted.exit_code == 0, deleted.output
    for spelling in spellings(identifier):
        assert cli("show", *options, spelling).exit_code == NOT_FOUND


def catalog_for(files: FileStoreBuilder | None, database: Database | None) -> Catalog:
    return Catalog(
        files=FileStore(files.root) if files is not None else None,
        sql=SqlStore(create_engine(database.url)) if database is not None else None,
    )


def twins(prefix: str) -> tuple[uuid.UUID, uuid.UUID]:
    """Two UUIDs whose hex forms share their first 12 digits, and only those."""
    first, second = (uuid.UUID(prefix + digit + secrets.token_hex(10)[1:]) for digit in "12")
    return first, second


def test_an_ambiguous_abbreviation_is_refused_naming_every_candidate(files, make_database):
    database = make_database(saas_2025=True)
    in_files, in_rows = twins("c0ffee00aaaa")
    files.generation("2025-12", conversation_id=in_files.hex)
    database.insert(conversation_id=str(in_rows), conversation_version="V1")
    catalog = catalog_for(files, database)
    for abbreviation in ("c0ffee00", "c0ffee00-aaaa", "C0FFEE00AAAA"):
        with pytest.raises(UsageError, match="ambiguous") as refused:
            catalog.get(abbreviation)
        assert in_files.hex in str(refused.value) and str(in_rows) in str(refused.value)
    # One more digit tells them apart.
    assert catalog.get(in_files.hex[:13]).conversation_id == in_files.hex
    assert catalog.get(str(in_rows)[:15]).conversation_id == str(in_rows)
    result = cli("show", "--file-store", files.root, "--db", database.url, "c0ffee00")
    assert result.exit_code == USAGE
    assert in_files.hex in result.stderr and str(in_rows) in result.stderr
    catalog.close()


def test_a_conversation_and_its_migrated_twin_are_one_not_an_ambiguity(files, make_database):
    database = make_database(saas_2025=True)
    identifier = uuid.uuid4()
    files.generation("2025-12", conversation_id=identifier.hex, title="the V0 file")
    database.insert(conversation_id=identifier.hex, conversation_version="V0")
    database.insert(conversation_id=str(identifier), conversation_version="V1", title="V1")
    catalog = catalog_for(files, database)
    found = catalog.get(identifier.hex[:8])
    assert (found.conversation_id, found.version) == (str(identifier), "V1")
    catalog.close()


def test_an_abbreviation_sees_only_the_users_conversations(files):
    alices, bobs = twins("d00dfeed1234")
    files.generation("2025-12", conversation_id=alices.hex, user_id="alice")
    files.generation("2025-12", conversation_id=bobs.hex, user_id="bob")
    catalog = catalog_for(files, None)
    assert catalog.get("d00dfeed", user="alice").conversation_id == alices.hex
    with pytest.raises(UsageError):
        catalog.get("d00dfeed")
    with pytest.raises(NotFound) as missing:
        catalog.get("d00dfeed", user="carol")
    assert bobs.hex not in str(missing.value)


def test_seven_digits_or_another_shape_is_not_an_abbreviation(files):
    identifier = uuid.uuid4()
    files.generation("2025-12", conversation_id=identifier.hex)
    catalog = catalog_for(files, None)
    for typed in (identifier.hex[:7], identifier.hex[:4] + "-" + identifier.hex[4:12]):
        with pytest.raises(NotFound):
            catalog.get(typed)
    # Seven digits: the error says how many an abbreviation takes.
    with pytest.raises(NotFound, match="8 or more of its first hex digits"):
        catalog.get(identifier.hex[:7])


def test_the_abbreviation_lookup_is_a_range_on_the_primary_key_index(make_database, database_url):
    """The lookup's own statements, captured as they run, are planned as index scans
    (PostgreSQL is told to avoid a sequential scan where it has a choice: on a small
    table it would rightly prefer one)."""
    database = make_database()
    for _ in range(50):
        database.insert()
    store = SqlStore(create_engine(database.url))
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", capture)
    assert store.abbreviated_by("0123abcd4567", limit=20) == []
    event.remove(store.engine, "before_cursor_execute", capture)
    ((statement, parameters),) = [s for s in statements if "conversation_metadata" in s[0]]
    with store.engine.connect() as connection:
        if database_url.startswith("sqlite"):
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            details = " ".join(str(row[-1]) for row in plan)
            assert "SEARCH" in details and "conversation_id>?" in details.replace(" ", "")
            assert "SCAN conversation_metadata" not in details
        else:
            connection.execute(text("SET enable_seqscan = off"))
            plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
            details = " ".join(row[0] for row in plan)
            assert "Index" in details and "conversation_metadata_pkey" in details
    store.close()


def test_completion_offers_ids_in_the_spelling_being_typed(files):
    from convstore.cli.live_values import candidates

    identifier = uuid.UUID("abcdef12" + uuid.uuid4().hex[8:])  # letters to type upper case
    files.generation("2025-12", conversation_id=identifier.hex, title="typed dashed")
    request = {"file_store": str(files.root), "kind": "ids", "limit": 10}
    dashed = str(identifier)[:10]
    assert list(candidates({**request, "prefix": dashed})) == [(str(identifier), "typed dashed")]
    upper = identifier.hex[:6].upper()
    assert list(candidates({**request, "prefix": upper})) == [
        (identifier.hex.upper(), "typed dashed")
    ]
