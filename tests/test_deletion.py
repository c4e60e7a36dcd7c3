"""`delete` on real stores: every form of a conversation goes (or none), a retention run
deletes what it can and names the rest, nothing OpenHands is using is deleted, and the
exit status says which of these happened, in a dry run as in a real one.

Use is judged by times (``activity``): the tests set mtimes and ``last_updated_at`` an
hour or a day from now and pick ``--active-within`` on either side of them, so no result
depends on how long a test takes.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from convstore.sample import v0_events
from convstore.stores.activity import Guard
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import CLI, cli

BLOCKED, IN_USE, NOT_FOUND = 1, 5, 4
NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=100)  # beyond --older-than 30d
RECENT = NOW - timedelta(days=1)  # within --older-than 30d, idle by --active-within 5m


def with_events(files: FileStoreBuilder, **values: object) -> str:
    """A V0 conversation with a short history under sessions/<id>/events."""
    conversation_id, document = files.generation("2025-12", **values)
    events = files.root / "sessions" / conversation_id / "events"
    events.mkdir()
    for event in v0_events(document["title"], datetime(2025, 12, 1, tzinfo=UTC), random.Random(1)):
        (events / f"{event['id']}.json").write_text(json.dumps(event))
    return conversation_id


def touched(path: Path, seconds_ago: float) -> None:
    stamp = time.time() - seconds_ago
    os.utime(path, (stamp, stamp))


def rows(database: Database) -> dict[str, str]:
    """conversation_id -> conversation_version of every row."""
    with database.engine.connect() as connection:
        found = connection.execute(
            text("SELECT conversation_id, conversation_version FROM conversation_metadata")
        )
        return {row[0]: row[1] for row in found}


# Every form of a conversation (13.4)


@pytest.fixture
def migrated(files: FileStoreBuilder, make_database) -> tuple[list[str], str, Database]:
    """A V0 conversation with events, migrated (V1 row and V1 event files), its source
    kept, and nothing touched for an hour."""
    database = make_database()
    hexadecimal = with_events(files, user_id="alice")
    store = ["--file-store", str(files.root), "--db", database.url]
    result = cli("migrate-v0-to-v1", *store)
    assert result.exit_code == 0, result.output
    aged(files.root)
    return store, hexadecimal, database


@pytest.mark.parametrize("spelling", ["dashed", "hex"])
def test_deleting_a_migrated_conversation_removes_every_form_and_nothing_comes_back(
    migrated, files, spelling
):
    store, hexadecimal, database = migrated
    dashed = str(uuid.UUID(hexadecimal))
    v1_events = files.root / "v1_conversations" / hexadecimal
    assert v1_events.is_dir() and set(rows(database)) == {dashed}
    preview = cli("delete", *store, dashed if spelling == "dashed" else hexadecimal, "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert f"V1 row {dashed}" in preview.stdout and f"V0 directory {hexadecimal}" in preview.stdout
    assert f"remove directory {v1_events}" in preview.stdout

    done = cli("delete", *store, dashed if spelling == "dashed" else hexadecimal, "--yes")
    assert done.exit_code == 0, done.output
    assert rows(database) == {}
    assert not (files.root / "sessions" / hexadecimal).exists() and not v1_events.exists()
    for name in (dashed, hexadecimal):
        assert cli("show", *store, name).exit_code == NOT_FOUND
    rerun = cli("migrate-v0-to-v1", *store)
    assert rerun.exit_code == 0, rerun.output
    assert "no V0 conversations found" in rerun.stdout and rows(database) == {}


def test_deleting_a_migrated_saas_row_removes_its_v0_row_too(make_database):
    database = make_database(saas_2025=True)
    identifier = uuid.uuid4()
    database.insert(conversation_id=identifier.hex, conversation_version="V0")
    assert cli("migrate-v0-to-v1", "--db", database.url).exit_code == 0
    assert rows(database) == {identifier.hex: "V0", str(identifier): "V1"}
    done = cli("delete", "--db", database.url, str(identifier), "--yes")
    assert done.exit_code == 0, done.output
    assert "V0 row" in done.stdout and "V1 row" in done.stdout
    assert rows(database) == {}
    assert cli("show", "--db", database.url, identifier.hex).exit_code == NOT_FOUND
    rerun = cli("migrate-v0-to-v1", "--db", database.url)
    assert "no V0 conversations found" in rerun.stdout and rows(database) == {}


def test_a_form_that_cannot_be_removed_keeps_every_form(files, make_database, tmp_path):
    """The V0 twin is a link out of the file store: convstore removes no form, and says
    which form stays and what to do."""
    database = make_database()
    identifier = uuid.uuid4()
    outside = FileStoreBuilder(tmp_path / "elsewhere")
    outside.generation("2025-12", conversation_id=identifier.hex)
    (files.root / "sessions" / identifier.hex).symlink_to(
        outside.root / "sessions" / identifier.hex
    )
    database.insert(conversation_id=str(identifier))
    store = ["--file-store", str(files.root), "--db", database.url]
    for mode in ("--dry-run", "--yes"):
        result = cli("delete", *store, str(identifier), mode)
        assert result.exit_code == BLOCKED, result.output
        assert "symbolic link" in result.stdout and "remove the link by hand" in result.stdout
        assert "every form stays" in result.stdout
        assert "not deleted: 1 blocked" in result.stderr
    assert set(rows(database)) == {str(identifier)}
    assert (files.root / "sessions" / identifier.hex).is_symlink()


# Retention that cron can run (13.5)


def test_retention_deletes_a_parent_with_its_old_sub_conversations(make_database):
    """The regression: a parent whose sub-conversation is in the same selection."""
    database = make_database()
    parent = database.insert(last_updated_at=OLD)
    child = database.insert(last_updated_at=OLD, parent_conversation_id=parent["conversation_id"])
    store = ["--db", database.url]
    dry = cli("delete", *store, "--older-than", "30d", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would delete 2 conversation(s)" in dry.stderr
    done = cli("delete", *store, "--older-than", "30d", "--yes")
    assert done.exit_code == 0, done.output
    assert rows(database) == {}
    order = [
        done.stdout.index(child["conversation_id"]),
        done.stdout.index(parent["conversation_id"]),
    ]
    assert order == sorted(order)  # children first


def test_a_blocked_parent_is_named_and_does_not_stop_the_others(make_database):
    database = make_database()
    grandparent = database.insert(last_updated_at=OLD)
    parent = database.insert(
        last_updated_at=OLD, parent_conversation_id=grandparent["conversation_id"]
    )
    young = database.insert(
        last_updated_at=RECENT, parent_conversation_id=parent["conversation_id"]
    )
    others = [database.insert(last_updated_at=OLD) for _ in range(3)]
    store = ["--db", database.url]
    dry = cli("delete", *store, "--older-than", "30d", "--dry-run")
    done = cli("delete", *store, "--older-than", "30d", "--yes")
    for result in (dry, done):
        assert result.exit_code == BLOCKED, result.output
        assert "not deleted: 2 blocked" in result.stderr
        assert young["conversation_id"] in result.stdout  # named as what would remain
    assert "would delete 3 conversation(s)" in dry.stderr
    assert "deleted 3 conversation(s)" in done.stderr
    kept = {grandparent["conversation_id"], parent["conversation_id"], young["conversation_id"]}
    assert set(rows(database)) == kept
    assert not {row["conversation_id"] for row in others} & set(rows(database))


def test_retention_leaves_a_conversation_whose_other_form_is_newer(files, make_database):
    """The V0 file is old, its V1 twin was used since: the conversation is not old."""
    database = make_database()
    identifier = uuid.uuid4()
    files.generation(
        "2025-12", conversation_id=identifier.hex, last_updated_at="2025-12-01T00:00:00Z"
    )
    aged(files.root)
    database.insert(conversation_id=str(identifier), last_updated_at=RECENT)
    store = ["--file-store", str(files.root), "--db", database.url]
    result = cli("delete", *store, "--older-than", "30d", "--yes")
    assert result.exit_code == 0, result.output
    assert "left 1 conversation(s) alone" in result.stderr
    assert (files.root / "sessions" / identifier.hex).is_dir()
    assert set(rows(database)) == {str(identifier)}


# No delete of a running conversation (14.4)


def test_a_running_conversation_is_refused_unless_forced(make_database):
    database = make_database()
    running = database.insert(last_updated_at=OLD, execution_status="running")
    store = ["--db", database.url, running["conversation_id"]]
    for mode in ("--dry-run", "--yes"):
        refused = cli("delete", *store, mode)
        assert refused.exit_code == IN_USE, refused.output
        assert "in use: OpenHands is running it" in refused.stdout
    assert set(rows(database)) == {running["conversation_id"]}
    forced = cli("delete", *store, "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert rows(database) == {}


def test_without_execution_status_only_recent_change_counts(make_database):
    database = make_database(revision="012")  # before execution_status
    idle = database.insert(last_updated_at=OLD)
    assert cli("delete", "--db", database.url, idle["conversation_id"], "--yes").exit_code == 0


def test_a_recently_updated_row_is_in_use_within_the_window(make_database):
    database = make_database()
    row = database.insert(last_updated_at=NOW - timedelta(hours=1))
    store = ["--db", database.url, row["conversation_id"], "--yes"]
    refused = cli("delete", *store, "--active-within", "2h")
    assert refused.exit_code == IN_USE and "row (last_updated_at) changed" in refused.stdout
    assert cli("delete", *store, "--active-within", "30m").exit_code == 0


def test_a_v0_file_changed_or_with_new_events_is_in_use(files):
    changed = with_events(files)
    busy = with_events(files)
    aged(files.root, seconds=3 * 3600)
    touched(files.root / "sessions" / changed / "metadata.json", 3600)
    touched(files.root / "sessions" / busy / "events" / "2.json", 3600)
    store = ["--file-store", str(files.root)]
    refused = cli("delete", *store, changed, busy, "--yes", "--active-within", "2h")
    assert refused.exit_code == IN_USE, refused.output
    assert "its metadata.json changed 60 minutes ago" in refused.stdout
    assert f"its events in {files.root / 'sessions' / busy / 'events'} changed" in refused.stdout
    assert (files.root / "sessions" / changed).is_dir() and (
        files.root / "sessions" / busy
    ).is_dir()
    done = cli("delete", *store, changed, busy, "--yes", "--active-within", "30m")
    assert done.exit_code == 0, done.output
    assert not (files.root / "sessions" / changed).exists()


def test_new_v1_events_make_a_migrated_conversation_in_use(migrated, files):
    store, hexadecimal, database = migrated
    newest = max((files.root / "v1_conversations" / hexadecimal).iterdir())
    touched(newest, 60)
    refused = cli("delete", *store, hexadecimal, "--yes")
    assert refused.exit_code == IN_USE and "its events in" in refused.stdout
    assert set(rows(database)) == {str(uuid.UUID(hexadecimal))}


def test_blocked_outranks_in_use_and_the_rest_is_deleted(make_database):
    database = make_database()
    deletable = database.insert(last_updated_at=OLD)
    running = database.insert(last_updated_at=OLD, execution_status="running")
    parent = database.insert(last_updated_at=OLD)
    database.insert(last_updated_at=RECENT, parent_conversation_id=parent["conversation_id"])
    store = ["--db", database.url, "--older-than", "30d"]
    for mode in ("--dry-run", "--yes"):
        result = cli("delete", *store, mode)
        assert result.exit_code == BLOCKED, result.output
        assert "not deleted: 1 blocked, 1 in use" in result.stderr
    assert deletable["conversation_id"] not in rows(database)
    assert {running["conversation_id"], parent["conversation_id"]} <= set(rows(database))
    with database.engine.begin() as connection:  # without the blocked one: in use only
        connection.execute(
            text("DELETE FROM conversation_metadata WHERE parent_conversation_id IS NOT NULL")
        )
    result = cli("delete", *store, "--yes")
    assert result.exit_code == IN_USE, result.output
    assert set(rows(database)) == {running["conversation_id"]}


def test_use_is_looked_at_again_just_before_deleting(files):
    """Events written between the plan and the deletion (here: after the plan is made)
    keep the conversation, and its parent is not involved."""
    conversation_id = with_events(files)
    other = with_events(files)
    aged(files.root, seconds=2 * 3600)
    catalog = Catalog(files=FileStore(files.root))
    guard = Guard(within=timedelta(hours=1))
    plan = catalog.plan_deletion([conversation_id, other], guard=guard)
    assert len(plan.ready) == 2
    touched(files.root / "sessions" / conversation_id / "events" / "1.json", 0)
    outcome = catalog.delete(plan, guard)
    assert [d.record.conversation_id for d in outcome.in_use] == [conversation_id]
    assert [d.record.conversation_id for d in outcome.deleted] == [other]
    assert (files.root / "sessions" / conversation_id).is_dir()


def test_a_parent_waits_for_a_sub_conversation_that_changed_while_deleting(make_database):
    """The child's row changes between the plan and the deletion (here: after the plan
    is made): it is not deleted, and neither is its parent."""
    database = make_database()
    parent = database.insert(last_updated_at=OLD)
    child = database.insert(last_updated_at=OLD, parent_conversation_id=parent["conversation_id"])
    catalog = Catalog(sql=SqlStore(create_engine(database.url)))
    plan = catalog.plan_deletion([parent["conversation_id"]], with_sub=True)
    assert len(plan.ready) == 2
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE conversation_metadata SET title = 'changed' WHERE conversation_id = :id"),
            {"id": child["conversation_id"]},
        )
    outcome = catalog.delete(plan)
    assert outcome.deleted == [] and len(outcome.in_use) == 2
    waiting = outcome.in_use[1]
    assert waiting.record.conversation_id == parent["conversation_id"]
    assert waiting.in_use == [f"its sub-conversation {child['conversation_id']} was not deleted"]
    assert set(rows(database)) == {parent["conversation_id"], child["conversation_id"]}
    catalog.close()


def test_migrate_after_remove_keeps_a_source_in_use_and_a_later_run_removes_it(
    files, make_database, tmp_path
):
    database = make_database()
    busy = with_events(files)
    idle = with_events(files)
    aged(files.root / "sessions" / idle)  # busy's files were written just now
    report = tmp_path / "report.json"
    store = ["--file-store", str(files.root), "--db", database.url]
    first = cli("migrate-v0-to-v1", *store, "--after", "remove", "--report", report)
    assert first.exit_code == 0, first.output
    assert "in use by OpenHands" in first.stdout
    entries = {entry["old_id"]: entry for entry in json.loads(report.read_text())["conversations"]}
    assert any("its V0 source was kept, not removed" in w for w in entries[busy]["warnings"])
    assert entries[idle]["warnings"] == [] and entries[busy]["outcome"] == "migrated"
    assert json.loads(report.read_text())["summary"]["sources"] == {"in use": 1, "removed": 1}
    assert entries[busy]["source_after"] == "in use"
    assert (files.root / "sessions" / busy).is_dir() and not (
        files.root / "sessions" / idle
    ).exists()
    assert set(rows(database)) == {str(uuid.UUID(busy)), str(uuid.UUID(idle))}

    aged(files.root)
    second = cli("migrate-v0-to-v1", *store, "--after", "remove")
    assert second.exit_code == 0, second.output
    assert "already migrated" in second.stdout and "in use" not in second.stdout
    assert not (files.root / "sessions" / busy).exists()


# What goes where, and declining (13.18)


def test_the_plan_is_data_on_stdout_in_a_dry_run_and_in_a_real_one(make_database):
    database = make_database()
    row = database.insert(last_updated_at=OLD)
    store = ["--db", database.url, row["conversation_id"]]
    dry, done = cli("delete", *store, "--dry-run"), cli("delete", *store, "--yes")
    assert dry.stdout == done.stdout and row["conversation_id"] in dry.stdout
    assert "would delete 1 conversation(s)" in dry.stderr and "deleted 1" in done.stderr
    assert row["conversation_id"] not in dry.stderr + done.stderr


def test_declining_the_confirmation_exits_1_and_deletes_nothing(make_database):
    """A real terminal: the prompt on it, "n", and the command says nothing was deleted."""
    import pty
    import select

    database = make_database()
    row = database.insert(last_updated_at=OLD)
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*CLI, "delete", "--db", database.url, row["conversation_id"]],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "NO_COLOR": "1"},
    )
    os.close(follower)
    seen = b""
    while b"[y/N]" not in seen:
        ready, _, _ = select.select([leader], [], [], 60)
        assert ready, seen
        seen += os.read(leader, 4096)
    os.write(leader, b"n\r")
    out, _ = process.communicate(timeout=60)
    while select.select([leader], [], [], 0)[0]:
        try:
            seen += os.read(leader, 4096)
        except OSError:
            break
    os.close(leader)
    assert process.returncode == 1
    assert b"nothing was deleted" in seen
    assert row["conversation_id"] in out.decode()
    assert set(rows(database)) == {row["conversation_id"]}


def test_the_library_reports_what_it_did_before_an_error_ends_a_run(files, make_database):
    """A store that fails mid-run (its database dropped under it) ends the run with the
    error, and the outcome passed in still holds what was deleted before it."""
    from convstore.errors import StoreUnavailable
    from convstore.stores.deletion import Outcome

    first = with_events(files)
    aged(files.root)
    database = make_database()
    row = database.insert(last_updated_at=OLD)
    catalog = Catalog(files=FileStore(files.root), sql=SqlStore(create_engine(database.url)))
    plan = catalog.plan_deletion([first, row["conversation_id"]])
    assert len(plan.ready) == 2
    with database.engine.begin() as connection:
        connection.execute(text("DROP TABLE conversation_metadata"))
    outcome = Outcome()
    with pytest.raises(StoreUnavailable):
        catalog.delete(plan, Guard(), outcome)
    assert [d.record.conversation_id for d in outcome.deleted] == [first]
    catalog.close()
