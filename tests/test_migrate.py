"""migrate-v0-to-v1 on real files and databases: nothing lost, nothing duplicated."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from convstore import v1_rules
from convstore.cli.app import app
from convstore.jobs import migrate
from convstore.jobs.v0_to_v1 import ROW_FIELDS, SANDBOX_PREFIX, convert, remapped_id
from convstore.model import ConversationMetadata
from convstore.sample import GENERATIONS
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import aged
from tests.faults import wait_until
from tests.interleave import OpenGate, require_gate

runner = CliRunner()


def catalog_for(files, database) -> Catalog:
    return Catalog(files=FileStore(files.root), sql=SqlStore(create_engine(database.url)))


def v1_rows(database) -> dict[str, dict]:
    engine = create_engine(database.url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT * FROM conversation_metadata WHERE conversation_version = 'V1'")
        ).mappings()
        result = {row["conversation_id"]: dict(row) for row in rows}
    engine.dispose()
    return result


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_every_generation_from_files_and_sql_rows_becomes_a_loadable_v1_row(files, make_database):
    database = make_database(revision="003")
    ids = [files.generation(gen.name)[0] for gen in GENERATIONS]
    v0_row = database.insert(
        conversation_id=uuid.uuid4().hex, conversation_version="V0", sandbox_id=None, user_id="bob"
    )
    catalog = catalog_for(files, database)
    report = migrate.run(catalog, migrate.Options())
    assert report.counts == {"migrated": len(ids) + 1} and report.clean
    migrated = list(catalog.sql.search(Query(version="V1")))
    assert {r.conversation_id for r in migrated} == {
        str(uuid.UUID(i)) for i in [*ids, v0_row["conversation_id"]]
    }
    for record in migrated:
        assert record.problems == [], (record.conversation_id, record.problems)
        assert record.sandbox_id == SANDBOX_PREFIX + uuid.UUID(record.conversation_id).hex
        assert record.created_at is not None and record.last_updated_at is not None
    second = migrate.run(catalog, migrate.Options())
    assert second.counts == {"already migrated": len(ids) + 1} and second.clean
    catalog.close()


def test_missing_created_at_comes_from_the_file_mtime(files, make_database):
    database = make_database()
    conversation_id, _ = files.generation("2025-01-02")
    path = files.root / "sessions" / conversation_id / "metadata.json"
    os.utime(path, (1_700_000_000, 1_700_000_000))
    catalog = catalog_for(files, database)
    report = migrate.run(catalog, migrate.Options())
    (conversion,) = report.examples["migrated"]
    assert any("modification time" in warning for warning in conversion.warnings)
    row = catalog.sql.get(str(uuid.UUID(conversation_id)))
    assert row.created_at == datetime.fromtimestamp(1_700_000_000, UTC)
    catalog.close()


def test_non_uuid_ids_skip_by_default_and_remap_deterministically(files, make_database):
    database = make_database()
    files.write(
        "legacy-chat", {"conversation_id": "legacy-chat", "created_at": "2025-02-01T00:00:00Z"}
    )
    catalog = catalog_for(files, database)
    assert migrate.run(catalog, migrate.Options()).counts == {"non-UUID": 1}
    report = migrate.run(catalog, migrate.Options(non_uuid="remap"))
    assert report.counts == {"migrated": 1}
    assert catalog.sql.get(str(remapped_id("legacy-chat"))) is not None
    assert remapped_id("legacy-chat") == uuid.uuid5(
        uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/OpenHands/OpenHands#v0-conversation"),
        "legacy-chat",
    )
    catalog.close()


def test_a_differing_v1_row_is_a_conflict_unless_overwrite(files, make_database):
    database = make_database()
    conversation_id, _ = files.generation("2025-12", title="from V0")
    database.insert(conversation_id=str(uuid.UUID(conversation_id)), title="changed in V1")
    catalog = catalog_for(files, database)
    report = migrate.run(catalog, migrate.Options())
    assert report.counts == {"conflict": 1} and not report.clean
    assert "title" in report.examples["conflict"][0].warnings[0]
    assert catalog.sql.get(str(uuid.UUID(conversation_id))).title == "changed in V1"
    report = migrate.run(catalog, migrate.Options(overwrite=True))
    assert report.counts == {"overwritten": 1}
    assert catalog.sql.get(str(uuid.UUID(conversation_id))).title == "from V0"
    catalog.close()


def test_dry_run_changes_nothing(files, make_database):
    database = make_database()
    for gen in GENERATIONS:
        files.generation(gen.name)
    before = (tree_digest(files.root), v1_rows(database))
    report = migrate.run(catalog_for(files, database), migrate.Options(dry_run=True))
    assert report.counts == {"would migrate": len(GENERATIONS)}
    assert (tree_digest(files.root), v1_rows(database)) == before


def test_after_archive_and_remove_touch_sources_only_once_migrated(files, make_database):
    database = make_database()
    kept, _ = files.generation("2025-12")
    aged(files.root)  # not in use: --after takes it (tests/test_deletion.py: one that is)
    catalog = catalog_for(files, database)
    migrate.run(catalog, migrate.Options(after="archive"))
    assert not (files.root / "sessions" / kept).exists()
    assert (files.root / "sessions-migrated" / kept / "metadata.json").exists()
    v0 = database.insert(
        conversation_id=uuid.uuid4().hex, conversation_version="V0", sandbox_id=None
    )
    migrate.run(catalog, migrate.Options(after="remove"))
    assert catalog.sql.get(v0["conversation_id"], "V0") is None
    assert catalog.sql.get(str(uuid.UUID(v0["conversation_id"])), "V1") is not None
    catalog.close()


def test_enterprise_database_gets_ownership_rows_and_refuses_unknown_users(files, make_database):
    database = make_database(enterprise=True)
    org = database.add_org()
    known = database.add_user(org)
    owned, _ = files.generation("2025-12", user_id=str(known))
    orphan, _ = files.generation("2025-12", user_id=str(uuid.uuid4()))
    catalog = catalog_for(files, database)
    report = migrate.run(catalog, migrate.Options())
    assert report.counts == {"migrated": 1, "failed": 1} and not report.clean
    assert "has no row in table user" in report.examples["failed"][0].warnings[-1]
    record = catalog.sql.get(str(uuid.UUID(owned)))
    assert record.user_id == str(known) and record.org_id == str(org)
    assert catalog.sql.get(str(uuid.UUID(orphan))) is None
    catalog.close()


def test_cli_migrate_report_exit_statuses_and_create_table(files, tmp_path):
    for gen in GENERATIONS:
        files.generation(gen.name)
    target = tmp_path / "new.db"
    args = ["migrate-v0-to-v1", "--file-store", str(files.root), "--db", str(target)]
    assert runner.invoke(app, args).exit_code == 3  # no database and no --create-table
    report_path = tmp_path / "report.json"
    result = runner.invoke(app, [*args, "--create-table", "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert report["summary"]["counts"] == {"migrated": len(GENERATIONS)}
    assert {entry["outcome"] for entry in report["conversations"]} == {"migrated"}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "already migrated" in again.stdout


def test_cli_after_archive_and_remove_say_what_moved_where(files, make_database, tmp_path):
    """The summary counts what --after did to the sources and where they went; each report
    entry says what was done to its source and where the source is now."""
    database = make_database()
    archived = [files.generation("2025-12")[0] for _ in range(3)]
    conflicted, _ = files.generation("2025-12", title="from V0")
    database.insert(conversation_id=str(uuid.UUID(conflicted)), title="changed in V1")
    saas = database.insert(
        conversation_id=uuid.uuid4().hex, conversation_version="V0", sandbox_id=None
    )["conversation_id"]
    aged(files.root)  # not in use: --after takes the sources
    store = ["--file-store", str(files.root), "--db", database.url]
    report_path = tmp_path / "archive.json"
    args = ["migrate-v0-to-v1", *store, "--after", "archive", "--report", str(report_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # the conflict
    archive = files.root / "sessions-migrated"
    summary = result.stdout.splitlines()
    (line,) = [line for line in summary if line.split()[:1] == ["archived"]]
    assert line.split()[1] == "3" and line.endswith(f"to {archive}/")
    (line,) = [line for line in summary if line.split()[:1] == ["kept"]]
    assert line.split()[1] == "1" and "V0 rows, left in the table" in line
    report = json.loads(report_path.read_text())
    assert report["summary"]["sources"] == {"archived": 3, "kept": 1}
    assert report["summary"]["archive"] == str(archive)
    entries = {entry["old_id"]: entry for entry in report["conversations"]}
    for cid in archived:
        entry = entries[cid]
        assert entry["source"] == str(files.root / "sessions" / cid / "metadata.json")
        assert entry["source_after"] == "archived"
        assert entry["source_now"] == str(archive / cid / "metadata.json")
        assert Path(entry["source_now"]).is_file() and not Path(entry["source"]).exists()
    kept = entries[conflicted]
    assert kept["outcome"] == "conflict" and kept["source_after"] == "kept"
    assert kept["source_now"] == kept["source"] and Path(kept["source"]).is_file()
    in_table = entries[saas]  # archiving moves files: a V0 row stays
    assert in_table["outcome"] == "migrated" and in_table["source_after"] == "kept"
    assert in_table["source_now"] == in_table["source"]
    assert in_table["source"].startswith("conversation_metadata in ")

    row = database.insert(
        conversation_id=uuid.uuid4().hex, conversation_version="V0", sandbox_id=None
    )
    report_path = tmp_path / "remove.json"
    args = ["migrate-v0-to-v1", *store, "--after", "remove", "--overwrite"]
    result = runner.invoke(app, [*args, "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["removed"]]
    assert line.split()[1:] == ["3", "deleted"]
    report = json.loads(report_path.read_text())
    assert report["summary"]["sources"] == {"removed": 3} and report["summary"]["archive"] is None
    entries = {entry["old_id"]: entry for entry in report["conversations"]}
    assert {cid: (e["source_after"], e["source_now"]) for cid, e in entries.items()} == {
        conflicted: ("removed", None),
        row["conversation_id"]: ("removed", None),
        saas: ("removed", None),  # migrated before: --after finishes it now
    }
    assert not (files.root / "sessions" / conflicted).exists()


def _populate(files, count: int) -> None:
    for index in range(count):
        files.generation(GENERATIONS[index % len(GENERATIONS)].name)


def _migrate_process(files, db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "convstore.cli",
            "migrate-v0-to-v1",
            "--file-store",
            str(files.root),
            "--db",
            str(db),
            "--batch-size",
            "20",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its workers and it, one group: as a terminal's job
    )


@contextlib.contextmanager
def _stopped_midway(files, db: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """A migration of 3,000 files held at its read of the 1,501st conversation (in the
    order it reads them: by name), once the batches before it are committed:
    a run that stopped midway, for certain (tests/interleave.py). Released on leaving."""
    sessions = files.root / "sessions"
    order = sorted(entry.name for entry in os.scandir(sessions) if not entry.name.startswith("."))
    gate = OpenGate(sessions / order[1500])
    try:
        process = _migrate_process(files, db, *extra)
        held = gate.next_open(lambda: process.poll() is not None)
        # 3,000 files are read in the migration's own process (too few for workers):
        # it is the one held, so nothing after conversation 1,500 is committed yet.
        assert held is not None and held.pid == process.pid, (held, process.pid)
        wait_until(lambda: _count(db) >= 1500, "the batches before it are committed")
        yield process
    finally:
        gate.close()


def _count(db: Path) -> int:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            return connection.execute(
                text("SELECT count(*) FROM conversation_metadata")
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.slow
def test_killed_mid_run_then_rerun_gives_exactly_the_clean_rows(files, tmp_path):
    from tests.conftest import Database

    _populate(files, 3000)
    clean, killed = tmp_path / "clean.db", tmp_path / "killed.db"
    for path in (clean, killed):
        Database(f"sqlite:///{path}").dispose()
    assert _migrate_process(files, clean).wait(timeout=300) == 0
    require_gate()
    with _stopped_midway(files, killed) as process:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert _count(killed) == 1500
    assert _migrate_process(files, killed).wait(timeout=300) == 0

    def rows(db: Path) -> list[tuple]:
        engine = create_engine(f"sqlite:///{db}")
        with engine.connect() as connection:
            result = sorted(
                map(
                    tuple,
                    connection.execute(
                        text("SELECT * FROM conversation_metadata ORDER BY conversation_id")
                    ).all(),
                )
            )
        engine.dispose()
        return result

    assert rows(killed) == rows(clean)
    assert len(rows(clean)) == 3000


def test_a_second_migration_on_the_same_database_exits_5_naming_the_holder(files, tmp_path):
    from convstore.jobs.lock import migration_lock
    from tests.conftest import Database

    files.generation("2025-12")
    db = tmp_path / "locked.db"
    Database(f"sqlite:///{db}").dispose()
    store = SqlStore(create_engine(f"sqlite:///{db}"))
    with migration_lock(store):
        process = _migrate_process(files, db)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 5
    assert f"process {os.getpid()}" in stderr and "holds the lock" in stderr
    assert _count(db) == 0
    store.close()


def test_the_postgresql_lock_names_the_holder(files, make_database, database_url):
    from convstore.errors import Conflict
    from convstore.jobs.lock import migration_lock

    database = make_database()
    first, second = (SqlStore(create_engine(database.url)) for _ in range(2))
    with (
        migration_lock(first),
        pytest.raises(Conflict, match="holds the lock"),
        migration_lock(second),
    ):
        pass
    with migration_lock(second):  # released: free again
        pass
    first.close()
    second.close()


values = st.one_of(
    st.none(),
    st.integers(-5, 10**9),
    st.floats(-1e6, 1e9, allow_nan=False),
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.integers(-3, 5), max_size=3),
)
stamps = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.text(max_size=10),
)


@settings(max_examples=200, deadline=None)
@given(
    data=st.fixed_dictionaries(
        {
            "conversation_id": st.one_of(
                st.uuids().map(lambda u: u.hex), st.text(min_size=1, max_size=30)
            )
        },
        optional=dict.fromkeys(
            (
                "title",
                "user_id",
                "trigger",
                "git_provider",
                "pr_number",
                "accumulated_cost",
                "prompt_tokens",
                "completion_tokens",
                "total_tokens",
                "github_user_id",
                "is_public",
            ),
            values,
        )
        | {"created_at": stamps, "last_updated_at": stamps},
    ),
    mtime=st.datetimes(timezones=st.just(UTC)),
)
def test_conversion_always_yields_a_row_every_v1_rule_accepts(data, mtime):
    source = ConversationMetadata.from_source(
        data, store="files", version="V0", location="x", address=data["conversation_id"]
    )
    conversion = convert(source, non_uuid="remap", created_fallback=mtime)
    assert conversion.outcome == "migrate" and conversion.row is not None
    assert tuple(conversion.row) == ROW_FIELDS  # what a bulk insert names
    # Loaded by every release: the table's generation decides which rules a row must keep.
    assert v1_rules.faults(conversion.row, "2025") == {}
    assert v1_rules.faults(conversion.row, "1.x") == {}
    reread = ConversationMetadata.from_source(
        conversion.row, store="sql", version="V1", location="x"
    )
    assert reread.problems == []
    assert reread.conversation_id == str(uuid.UUID(reread.conversation_id))


@pytest.mark.slow
def test_ctrl_c_exits_130_and_rolls_back_the_current_batch(files, tmp_path):
    from tests.conftest import Database

    _populate(files, 3000)
    db = tmp_path / "interrupted.db"
    Database(f"sqlite:///{db}").dispose()
    require_gate()
    with _stopped_midway(files, db, "--no-events") as process:
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the group
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    committed = _count(db)
    assert 1500 <= committed < 3000 and committed % 20 == 0  # whole batches only


def test_without_a_terminal_progress_is_plain_lines_on_stderr(files, tmp_path):
    from tests.conftest import Database

    files.generation("2025-12")
    db = tmp_path / "cron.db"
    Database(f"sqlite:///{db}").dispose()
    stdout, stderr = _migrate_process(files, db).communicate(timeout=60)
    assert "migrating: 1/1" in stderr and "\x1b[" not in stderr
    assert "migration result" in stdout and "\x1b[" not in stdout


def test_missing_created_at_is_never_after_the_last_update(files, make_database):
    database = make_database()
    conversation_id, document = files.generation("2025-01-02")  # no created_at; mtime is now
    catalog = catalog_for(files, database)
    report = migrate.run(catalog, migrate.Options())
    assert "created_at was missing; used last_updated_at" in report.examples["migrated"][0].warnings
    row = catalog.sql.get(str(uuid.UUID(conversation_id)))
    assert (
        row.created_at == row.last_updated_at == datetime.fromisoformat(document["last_updated_at"])
    )
    catalog.close()
