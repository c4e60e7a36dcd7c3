"""convstore db info and db add-indexes, on SQLite and PostgreSQL."""

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.stores.database_info import (
    LISTING_INDEXES,
    OWNER_INDEXES,
    add_listing_indexes,
    describe,
)
from convstore.stores.sql import SqlStore
from convstore.stores.sql_indexes import reflect

runner = CliRunner()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def indexes(url):
    engine = create_engine(url)
    with engine.connect() as connection:
        names = set(reflect(connection, ["conversation_metadata"]).names("conversation_metadata"))
    engine.dispose()
    return names


def test_info_reports_revision_tables_and_columns(make_database):
    database = make_database(revision="005", enterprise=True)
    database.insert()
    result = runner.invoke(app, ["db", "info", "--db", database.url, "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["revision"] == "005"
    assert info["optional_tables"]["conversation_metadata_saas"] is True
    assert info["revision_columns"] == {
        "github_user_id": False,
        "parent_conversation_id": True,
        "public": True,
        "tags": False,
        "agent_kind": False,
        "execution_status": False,
    }
    assert info["rows"] == {"V1": 1}


def test_add_indexes_only_when_asked_dry_run_first_and_idempotent(make_database):
    database = make_database(revision="001")
    before = indexes(database.url)
    dry = runner.invoke(app, ["db", "add-indexes", "--db", database.url, "--dry-run"])
    assert dry.exit_code == 0 and "CREATE INDEX" in dry.stdout
    assert indexes(database.url) == before
    done = runner.invoke(app, ["db", "add-indexes", "--db", database.url])
    assert done.exit_code == 0, done.output
    # One per sort, and one for --user (user_id has no index in a single-machine table).
    added = {index.name for index in LISTING_INDEXES} | {OWNER_INDEXES[0].name}
    assert indexes(database.url) == before | added
    store = SqlStore(create_engine(database.url))
    assert add_listing_indexes(store) == [] and describe(store).missing == []
    assert set(describe(store).listings.values()) == added
    store.close()


def test_the_title_index_costs_no_warning_on_sqlite(tmp_path):
    """SQLAlchemy cannot reflect an index on an expression from SQLite, and says so on
    stderr (a SAWarning) wherever the table is reflected: never from convstore's own."""
    from convstore.sample import write_sample

    summary = write_sample(tmp_path / "demo", files=4, rows=6)
    stores = ["--file-store", str(summary.file_store), "--db", str(summary.database)]
    convstore = str(Path(sys.executable).with_name("convstore"))

    def run(*arguments):
        return subprocess.run(
            [convstore, *arguments], capture_output=True, text=True, timeout=120, cwd=tmp_path
        )

    assert run("db", "add-indexes", "--db", str(summary.database)).returncode == 0
    assert "convstore_ix_conversation_metadata_title" in run("db", "info", *stores[2:]).stdout
    row = json.loads(run("list", *stores, "--version", "V1", "--format", "json").stdout)[0]
    for arguments in (
        ["list", *stores, "--sort", "title"],
        ["verify", *stores],
        ["delete", *stores, row["conversation_id"], "--dry-run"],
        ["db", "info", *stores[2:]],
    ):
        result = run(*arguments)
        assert "Warning" not in result.stderr and "reflection" not in result.stderr, arguments
