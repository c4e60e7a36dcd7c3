"""verify: break a store in every way it can break, and verify must name the conversation
and the check; --fix repairs what is safe and a second run is clean; --dry-run changes
nothing; --user never reads past its user; exit statuses; memory stays flat."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.jobs import verify as job
from convstore.jobs.checks import files as file_checks
from convstore.jobs.checks.base import Context
from convstore.jobs.checks.repairs import Fixer
from convstore.model import ConversationMetadata
from convstore.sample import encode
from convstore.stores import metadata_json
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog
from convstore.stores.files import FileStore
from convstore.stores.sql import SqlStore
from tests.conftest import Database, FileStoreBuilder
from tests.unprivileged import make_traversable, run_unprivileged

runner = CliRunner()
OLD = time.time() - 3600  # older than a leftover is allowed to be
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REFERENCE_EVENT = Path(__file__).parent / "data/events/v1_reference/MessageEvent.json"


def catalog_of(root: Path | None = None, database: Database | None = None) -> Catalog:
    return Catalog(
        files=FileStore(root) if root is not None else None,
        sql=SqlStore(create_engine(database.url)) if database is not None else None,
    )


def verify(catalog: Catalog, **options: Any) -> list[job.Finding]:
    return list(job.Verification(catalog, job.Options(**options)).run())


def named(findings: list[job.Finding], check: str) -> dict[str | None, job.Finding]:
    """The findings of one check, by conversation id."""
    return {finding.conversation_id: finding for finding in findings if finding.check == check}


def checks_of(findings: list[job.Finding], conversation_id: str) -> set[str]:
    return {finding.check for finding in findings if finding.conversation_id == conversation_id}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root``, by relative path, with its bytes (links by their target)."""
    found: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        key = str(path.relative_to(root))
        if path.is_symlink():
            found[key] = b"-> " + os.readlink(path).encode()
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key] = b"<dir>"
    return found


def table_rows(database: Database) -> list[tuple[Any, ...]]:
    with database.engine.connect() as connection:
        table = database.table
        return [
            tuple(row)
            for row in connection.execute(select(table).order_by(table.c.conversation_id))
        ]


def cli(*args: Any) -> Any:
    return runner.invoke(app, ["verify", *(str(arg) for arg in args)])


def hexid() -> str:
    return uuid.uuid4().hex


# -- the V0 file store -----------------------------------------------------------------


def _rewrite(files: FileStoreBuilder, cid: str, **changes: Any) -> None:
    path = files.root / "sessions" / cid / "metadata.json"
    data = json.loads(path.read_bytes())
    for key, value in changes.items():
        if value is _DROP:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_bytes(encode(data))


_DROP = object()


def _good(files: FileStoreBuilder, **values: Any) -> str:
    return files.generation("2025-12", **values)[0]


FILE_TAMPERS: dict[str, tuple[str, bool, Any]] = {
    # name: (check id, fixable, tamper(files, cid))
    "truncated JSON": (
        "files.invalid-json",
        False,
        lambda f, c: f.write(c, b'{"conversation_id": "' + c.encode()),
    ),
    "a JSON list": ("files.invalid-json", False, lambda f, c: f.write(c, b"[1, 2]")),
    "byte order mark": (
        "files.encoding",
        True,
        lambda f, c: f.write(c, b"\xef\xbb\xbf" + _path(f, c).read_bytes()),
    ),
    "UTF-16": (
        "files.encoding",
        True,
        lambda f, c: f.write(c, _path(f, c).read_text().encode("utf-16")),
    ),
    "invalid UTF-8": (
        "files.encoding",
        False,
        lambda f, c: f.write(c, _path(f, c).read_bytes().replace(b'"title":"', b'"title":"\xe9')),
    ),
    "another conversation's id": (
        "files.id-mismatch",
        False,
        lambda f, c: _rewrite(f, c, conversation_id=hexid()),
    ),
    "no conversation_id": (
        "files.id-mismatch",
        True,
        lambda f, c: _rewrite(f, c, conversation_id=_DROP),
    ),
    "the id dashed": (
        "files.id-mismatch",
        True,
        lambda f, c: _rewrite(f, c, conversation_id=str(uuid.UUID(c))),
    ),
    "the id in capitals": (
        "files.id-mismatch",
        True,
        lambda f, c: _rewrite(f, c, conversation_id=c.upper()),
    ),
    "the id a number": ("files.id-mismatch", True, lambda f, c: _rewrite(f, c, conversation_id=7)),
    "an id OpenHands refuses": (
        "files.id-mismatch",
        True,
        lambda f, c: _rewrite(f, c, conversation_id="../" + c),
    ),
    "created_at missing": (
        "files.missing-created-at",
        True,
        lambda f, c: _rewrite(f, c, created_at=_DROP),
    ),
    "created_at null": (
        "files.missing-created-at",
        True,
        lambda f, c: _rewrite(f, c, created_at=None),
    ),
    "pr_number null": ("files.required-field", True, lambda f, c: _rewrite(f, c, pr_number=None)),
    "tokens null": ("files.required-field", True, lambda f, c: _rewrite(f, c, total_tokens=None)),
    "no selected_repository": (
        "files.required-field",
        True,
        lambda f, c: _rewrite(f, c, selected_repository=_DROP),
    ),
    "tokens not a number": (
        "files.invalid-field",
        False,
        lambda f, c: _rewrite(f, c, prompt_tokens="many"),
    ),
    "timestamp not a time": (
        "files.invalid-field",
        False,
        lambda f, c: _rewrite(f, c, last_updated_at="last tuesday"),
    ),
    "unknown trigger": (
        "files.unknown-value",
        False,
        lambda f, c: _rewrite(f, c, trigger="carrier_pigeon"),
    ),
    "unknown git provider": (
        "files.unknown-value",
        False,
        lambda f, c: _rewrite(f, c, git_provider="sourceforge"),
    ),
    "numeric user_id": ("files.numeric-user-id", True, lambda f, c: _rewrite(f, c, user_id=42)),
    "negative cost": (
        "files.negative-usage",
        False,
        lambda f, c: _rewrite(f, c, accumulated_cost=-1.5),
    ),
    "no metadata.json": (
        "files.missing-metadata",
        False,
        lambda f, c: _path(f, c).unlink(),
    ),
    "not a regular file": (
        "files.unreadable",
        False,
        lambda f, c: (_path(f, c).unlink(), os.mkfifo(_path(f, c))),
    ),
    "too large": (
        "files.unreadable",
        False,
        lambda f, c: f.write(c, b" " * (2 << 20)),
    ),
}


def _path(files: FileStoreBuilder, cid: str) -> Path:
    return files.root / "sessions" / cid / "metadata.json"


@pytest.mark.parametrize("tamper", FILE_TAMPERS, ids=list(FILE_TAMPERS))
def test_each_broken_file_is_named_with_its_check(files, tamper):
    check, fixable, breaks = FILE_TAMPERS[tamper]
    healthy = _good(files)
    broken = _good(files)
    breaks(files, broken)
    findings = verify(catalog_of(files.root))
    finding = named(findings, check)[broken]
    assert finding.severity in ("error", "warning")
    assert finding.fixable is fixable
    assert broken in finding.location and finding.problem and finding.remedy
    assert checks_of(findings, healthy) == set()


def test_invalid_directory_names_are_named(files):
    for name in ("bad..id", "x" * 101, "tab\there"):
        _good(files, conversation_id=name)
    findings = named(verify(catalog_of(files.root)), "files.invalid-id")
    assert set(findings) == {"bad..id", "x" * 101, "tab\there"}
    assert "API refuses it" in findings["bad..id"].problem


def test_every_generation_of_formats_md_is_healthy_but_the_first(files):
    from convstore.sample import GENERATIONS

    made = {gen.name: files.generation(gen.name, user_id="alice")[0] for gen in GENERATIONS}
    findings = verify(catalog_of(files.root))
    assert {
        gen: checks_of(findings, cid) for gen, cid in made.items() if checks_of(findings, cid)
    } == {"2025-01-02": {"files.missing-created-at"}}


def test_symlink_out_of_the_store_is_reported_and_never_followed(files, tmp_path):
    outside = tmp_path / "elsewhere" / "secret"
    outside.mkdir(parents=True)
    (outside / "metadata.json").write_bytes(b'{"conversation_id": "secret"}')
    before = snapshot(tmp_path / "elsewhere")
    (files.root / "sessions" / "secret").symlink_to(outside)
    findings = verify(catalog_of(files.root), fix=True)
    assert checks_of(findings, "secret") == {"files.symlink-outside"}
    assert str(outside) in named(findings, "files.symlink-outside")["secret"].problem
    assert snapshot(tmp_path / "elsewhere") == before


def test_a_file_the_current_user_cannot_read_is_named(files):
    cid = _good(files)
    _path(files, cid).chmod(0)
    make_traversable(files.root / "sessions" / cid)

    def unprivileged() -> list[tuple[str | None, str, str]]:
        return [(f.conversation_id, f.check, f.problem) for f in verify(catalog_of(files.root))]

    found = run_unprivileged(unprivileged)
    assert [(c, check) for c, check, _ in found] == [(cid, "files.unreadable")]
    assert "permission denied" in found[0][2] and "mode 0" in found[0][2]


def test_leftovers_are_reported_when_stale_and_removed_by_fix(files):
    cid = _good(files)
    stale = files.root / "sessions" / cid / ".metadata.json.0123abcd.convstore-tmp"
    stale.write_bytes(b"{")
    fresh = files.root / "sessions" / cid / ".metadata.json.4567cdef.convstore-tmp"
    fresh.write_bytes(b"{")
    hidden = files.root / "sessions" / f".deleting-{cid}-89abcdef"
    (hidden / "events").mkdir(parents=True)
    (hidden / "metadata.json").write_bytes(b"{}")
    os.utime(stale, (OLD, OLD))
    os.utime(hidden, (OLD, OLD))
    findings = verify(catalog_of(files.root))
    temporary = [f for f in findings if f.check == "files.temporary-leftover"]
    assert [f.location for f in temporary] == [str(stale)]
    assert temporary[0].conversation_id == cid
    deleting = named(findings, "files.deleting-leftover")[cid]
    assert deleting.location == str(hidden) and "interrupted `convstore delete`" in deleting.problem
    fixed = verify(catalog_of(files.root), fix=True)
    assert {f.outcome for f in fixed if f.fixable} == {"repaired"}
    assert not stale.exists() and not hidden.exists() and fresh.exists()
    assert _path(files, cid).exists()


def test_fix_repairs_every_fixable_file_and_a_second_run_is_clean(files):
    broken = {}
    for check, fixable, breaks in FILE_TAMPERS.values():
        if fixable:
            cid = _good(files, user_id="alice")
            breaks(files, cid)
            broken[cid] = check
    unfixable = _good(files)
    _rewrite(files, unfixable, prompt_tokens="many")
    catalog = catalog_of(files.root)
    first = verify(catalog, fix=True)
    repaired = {f.conversation_id: f for f in first if f.outcome == "repaired"}
    assert set(repaired) == set(broken)
    assert all(f.outcome is None for f in first if not f.fixable)
    second = verify(catalog)
    assert [f.conversation_id for f in second] == [unfixable]
    for cid in broken:  # OpenHands' reader (the model) now accepts every repaired file
        assert catalog.files.get(cid).problems == [], cid


def test_fix_keeps_key_order_style_and_unknown_keys(files):
    cid = "0f83cf799c8c5a129939996ab6ae6908"
    original = (
        f'{{"conversation_id": "{cid}", "selected_repository": null, "title": "Old style", '
        '"last_updated_at": "2025-01-05T10:00:00Z", "custom": {"keep": [1, 2]}, '
        '"pr_number": null}'
    )
    path = files.write(cid, original.encode())
    os.utime(path, (OLD, OLD))
    verify(catalog_of(files.root), fix=True)
    data = json.loads(path.read_bytes())
    assert list(data) == [
        "conversation_id",
        "selected_repository",
        "title",
        "last_updated_at",
        "custom",
        "pr_number",
        "created_at",
    ]
    assert data["custom"] == {"keep": [1, 2]} and data["pr_number"] == []
    assert data["created_at"] == "2025-01-05T10:00:00Z"  # last_updated_at is older than mtime
    assert path.read_text().startswith('{"conversation_id": "')  # json.dumps' default style


def test_created_at_comes_from_the_mtime_when_nothing_is_older(files):
    cid = _good(files)
    _rewrite(files, cid, created_at=_DROP, last_updated_at=None)
    moment = datetime(2025, 2, 3, 4, 5, 6, tzinfo=UTC).timestamp()
    os.utime(_path(files, cid), (moment, moment))
    verify(catalog_of(files.root), fix=True)
    assert json.loads(_path(files, cid).read_bytes())["created_at"] == "2025-02-03T04:05:06Z"


def test_fix_refuses_a_file_that_changed_after_it_was_read(files):
    cid = _good(files)
    _rewrite(files, cid, pr_number=None)
    catalog = catalog_of(files.root)
    findings = verify(catalog)  # read, not fixed
    _rewrite(files, cid, title="edited meanwhile", pr_number=None)
    after = Fixer(None, stale_after=600, dry_run=False, files=catalog.files).apply(findings)
    (finding,) = [f for f in after if f.conversation_id == cid]
    assert finding.outcome == "not repaired" and "changed since verify read it" in finding.note
    assert json.loads(_path(files, cid).read_bytes())["title"] == "edited meanwhile"


def test_dry_run_lists_repairs_and_changes_no_byte(files):
    for _, fixable, breaks in FILE_TAMPERS.values():
        if fixable:
            breaks(files, _good(files))
    leftover = files.root / "sessions" / ".deleting-x-01234567"
    leftover.mkdir()
    os.utime(leftover, (OLD, OLD))
    before = snapshot(files.root)
    findings = verify(catalog_of(files.root), fix=True, dry_run=True)
    assert {f.outcome for f in findings if f.fixable} == {"would repair"}
    assert snapshot(files.root) == before
    result = cli("--file-store", files.root, "--fix", "--dry-run")
    assert result.exit_code == 1 and "would repair" in result.stdout
    assert snapshot(files.root) == before


# -- V0 event directories ---------------------------------------------------------------


def test_v0_events_without_metadata_in_either_layout(files):
    lonely = hexid()
    (files.root / "sessions" / lonely / "events").mkdir(parents=True)
    (files.root / "sessions" / lonely / "events" / "0.json").write_text("{}")
    orphan, kept = hexid(), _good(files, user_id="alice")
    for cid in (orphan, kept):
        (files.root / "users" / "alice" / "conversations" / cid / "events").mkdir(parents=True)
    findings = named(verify(catalog_of(files.root)), "events.v0-without-metadata")
    assert set(findings) == {lonely, orphan}
    assert findings[lonely].problem.startswith("1 event file but no metadata.json")
    assert "users/alice/conversations" in findings[orphan].location


# -- the SQL table ------------------------------------------------------------------------


COUNTERS = ("cache_read_tokens", "cache_write_tokens", "context_window", "per_turn_token")


def _v1(database: Database, **values: Any) -> str:
    """A V1 row every OpenHands release loads, with ``values`` overriding."""
    counters = {name: 0 for name in COUNTERS if name in database.table.columns}
    return str(database.insert(**{**counters, **values})["conversation_id"])


def test_v1_rules_on_a_2025_schema_each_have_a_check(make_database):
    database = make_database(revision="003")
    healthy = _v1(database)
    cases = {
        "sql.v1-null-sandbox": _v1(database, sandbox_id=None),
        "sql.v1-null-timestamp": _v1(database, created_at=None, last_updated_at=T0),
        "sql.v1-pr-number": _v1(database, pr_number=None),
        "sql.v1-null-usage": _v1(database, prompt_tokens=None, cache_read_tokens=None),
        "sql.unknown-value": _v1(database, trigger="automation"),  # 1.x only
        "sql.negative-usage": _v1(database, accumulated_cost=-0.5),
        "sql.v1-parent-not-uuid": _v1(database, parent_conversation_id="parent-x"),
        "sql.bad-version": _v1(database, conversation_version="v1"),
        "sql.token-total": _v1(database, total_tokens=99),
    }
    not_a_uuid = _v1(database, conversation_id="not-a-uuid")
    hexed = _v1(database, conversation_id=uuid.uuid4().hex)
    gone = str(uuid.uuid4())
    orphan = _v1(database, parent_conversation_id=gone)
    findings = verify(catalog_of(database=database))
    for check, cid in cases.items():
        assert check in checks_of(findings, cid), (check, checks_of(findings, cid))
    assert checks_of(findings, healthy) == set()
    assert named(findings, "sql.v1-invalid-id").keys() >= {not_a_uuid, hexed}
    assert "dashed form" in named(findings, "sql.v1-invalid-id")[hexed].problem
    assert gone in named(findings, "sql.parent-missing")[orphan].problem
    automation = named(findings, "sql.unknown-value")[cases["sql.unknown-value"]]
    assert "exists only in OpenHands 1.x" in automation.problem
    assert named(findings, "sql.bad-version")[cases["sql.bad-version"]].remedy == "set it to 'V1'"


def test_2025_repairs_apply_in_one_batch_and_a_second_run_is_clean(make_database):
    database = make_database(revision="001")
    fixable = {
        _v1(database, created_at=None, last_updated_at=T0): "created_at",
        _v1(database, pr_number=None): "pr_number",
        _v1(database, prompt_tokens=None, cache_write_tokens=None): "prompt_tokens",
    }
    both_null = _v1(database, created_at=None, last_updated_at=None)
    before = table_rows(database)
    catalog = catalog_of(database=database)
    dry = verify(catalog, fix=True, dry_run=True)
    assert {f.conversation_id for f in dry if f.outcome == "would repair"} == set(fixable)
    assert table_rows(database) == before
    done = verify(catalog, fix=True)
    assert {f.conversation_id for f in done if f.outcome == "repaired"} == set(fixable)
    again = verify(catalog, include=("sql",))
    assert {f.conversation_id for f in again if f.check.startswith("sql.v1")} == {both_null}
    for cid in fixable:
        record = catalog.sql.get(cid)
        assert record.problems == [], record.problems
    record = catalog.sql.get(next(iter(fixable)))
    assert record.created_at == record.last_updated_at == T0


def test_a_row_changed_since_it_was_read_is_not_repaired(make_database):
    database = make_database(revision="001")
    cid = _v1(database, pr_number=None)
    catalog = catalog_of(database=database)
    findings = verify(catalog)
    with database.engine.begin() as connection:
        connection.execute(
            database.table.update()
            .where(database.table.c.conversation_id == cid)
            .values(pr_number=[7])
        )
    after = Fixer(catalog.sql, stale_after=600, dry_run=False).apply(findings)
    (finding,) = [f for f in after if f.conversation_id == cid]
    assert finding.outcome == "not repaired" and "row changed" in finding.note
    assert catalog.sql.get(cid).pr_number == [7]


def test_sqlite_timestamp_text_out_of_order_is_found_and_rewritten(tmp_path):
    """Rows written by hand (ISO 'T', a zone) sort by their text among OpenHands' own."""
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    written = {
        _v1(database, created_at=T0): None,
        _v1(database, created_at=T0 + timedelta(hours=1)): None,
        _v1(database, created_at=T0 + timedelta(hours=2)): "2026-03-01T14:00:00Z",
        _v1(database, created_at=T0 + timedelta(hours=3)): "2026-03-01 17:00:00+02:00",
        _v1(database, created_at=T0 + timedelta(hours=4)): "2026-03-01 16:00:00",
        _v1(database, created_at=T0 + timedelta(hours=5)): "2026-03-01 17:00:00.5",
    }
    with database.engine.begin() as connection:
        for cid, text in written.items():
            if text is not None:
                connection.exec_driver_sql(
                    "UPDATE conversation_metadata SET created_at = ? WHERE conversation_id = ?",
                    (text, cid),
                )
    ids = list(written)
    catalog = catalog_of(database=database)
    assert [r.conversation_id for r in catalog.sql.search(Query())] != ids[::-1]
    findings = named(verify(catalog), "sql.timestamp-text")
    assert set(findings) == {ids[2], ids[3]}
    assert "'2026-03-01 15:00:00.000000'" in findings[ids[3]].problem
    verify(catalog, fix=True)
    assert named(verify(catalog), "sql.timestamp-text") == {}
    newest_first = [r.conversation_id for r in catalog.sql.search(Query())]
    assert newest_first == ids[::-1]
    database.dispose()


def test_a_1x_schema_relaxes_nulls_and_knows_1x_values(make_database):
    database = make_database(revision="014")
    null_pr = _v1(database, pr_number=None, prompt_tokens=None)
    automation = _v1(database, trigger="automation", git_provider="forgejo")
    no_time = _v1(database, last_updated_at=None)
    status = _v1(database, execution_status="sleeping")
    verification = job.Verification(catalog_of(database=database))
    findings = list(verification.run())
    assert checks_of(findings, null_pr) == set() and checks_of(findings, automation) == set()
    assert named(findings, "sql.v1-null-timestamp")[no_time].severity == "warning"
    assert "looks new on every listing" in named(findings, "sql.v1-null-timestamp")[no_time].problem
    assert "'sleeping'" in named(findings, "sql.unknown-value")[status].problem
    skipped = {check.id: reason for check, reason in verification.skipped}
    assert "1.x reads these nulls" in skipped["sql.v1-null-usage"]
    assert verification.schema.generation == "1.x" and verification.schema.revision == "014"
    assert "sql.no-created-at-index" in {f.check for f in findings}


def test_checks_of_columns_a_revision_lacks_do_not_run(make_database):
    database = make_database(revision="001")
    verification = job.Verification(catalog_of(database=database))
    skipped = {check.id: reason for check, reason in verification.skipped}
    assert (
        "no parent_conversation_id column (added in revision 003)" in skipped["sql.parent-missing"]
    )
    assert "sql.v1-missing-owner" in skipped
    assert verification.schema.generation == "2025"


def _enterprise_owner(database: Database) -> uuid.UUID:
    database.org = database.add_org()  # type: ignore[attr-defined]
    return database.add_user(database.org)  # type: ignore[attr-defined]


def _own(database: Database, cid: str, user: uuid.UUID) -> None:
    database.own(cid, user, database.org)  # type: ignore[attr-defined]


def test_enterprise_rows_need_an_owner_and_user_scope_goes_through_it(make_database):
    database = make_database(enterprise=True)
    alice = _enterprise_owner(database)
    bob = database.add_user(database.org)  # type: ignore[attr-defined]
    mine = _v1(database, user_id=None, sandbox_id=None)
    theirs = _v1(database, user_id=None, sandbox_id=None)
    unowned = _v1(database, user_id=None)
    _own(database, mine, alice)
    _own(database, theirs, bob)
    catalog = catalog_of(database=database)
    findings = verify(catalog)
    assert set(named(findings, "sql.v1-missing-owner")) == {unowned}
    assert set(named(findings, "sql.v1-null-sandbox")) == {mine, theirs}
    scoped = verify(catalog, user=str(alice))
    assert {f.conversation_id for f in scoped if f.conversation_id} == {mine}
    assert {f.conversation_id for f in verify(catalog, user=alice.hex)} - {None} == {mine}


def test_saas_v0_rows_without_user_and_their_v1_twins(make_database):
    database = make_database(saas_2025=True)
    nobody = database.insert(
        conversation_id=hexid(), conversation_version="V0", user_id="", sandbox_id=None
    )["conversation_id"]
    migrated = uuid.uuid4()
    database.insert(conversation_id=migrated.hex, conversation_version="V0", sandbox_id=None)
    database.insert(conversation_id=str(migrated), last_updated_at=T0)
    newer = uuid.uuid4()
    database.insert(
        conversation_id=newer.hex,
        conversation_version="V0",
        sandbox_id=None,
        last_updated_at=datetime(2026, 4, 1, tzinfo=UTC),
    )
    database.insert(conversation_id=str(newer), last_updated_at=T0)
    findings = verify(catalog_of(database=database))
    assert set(named(findings, "sql.v0-without-user")) == {nobody}
    assert "no one sees it" in named(findings, "sql.v0-without-user")[nobody].problem
    twin = named(findings, "cross.v0-and-v1")[migrated.hex]
    assert str(migrated) in twin.problem and "opens the V1 row" in twin.problem
    assert twin.severity == "info"
    later = named(findings, "cross.v0-newer-than-v1")[newer.hex]
    assert later.severity == "warning" and "--overwrite" in later.remedy
    assert set(named(findings, "cross.v0-not-migrated")) == {nobody}
    assert "sql.no-created-at-index" not in {f.check for f in findings}  # SaaS indexes it


def test_files_against_rows_which_one_openhands_shows(files, make_database):
    database = make_database()
    twin, lonely, odd, both = uuid.uuid4(), hexid(), "not-a-uuid-id", hexid()
    _good(files, conversation_id=twin.hex, last_updated_at="2026-01-01T00:00:00Z")
    database.insert(conversation_id=str(twin), last_updated_at=T0)
    _good(files, conversation_id=lonely)
    _good(files, conversation_id=odd)
    _good(files, conversation_id=both)
    database.insert(conversation_id=both, conversation_version="V0", sandbox_id=None)
    findings = verify(catalog_of(files.root, database))
    assert set(named(findings, "cross.v0-and-v1")) == {twin.hex}
    assert set(named(findings, "cross.v0-not-migrated")) == {lonely, odd, both}
    assert "--non-uuid remap" in named(findings, "cross.v0-not-migrated")[odd].remedy
    assert "the file first" in named(findings, "cross.v0-in-both-stores")[both].problem


def test_a_migrated_row_with_a_live_sandbox_id_is_repaired(files, make_database):
    database = make_database()
    migrated, native = uuid.uuid4(), uuid.uuid4()
    _good(files, conversation_id=migrated.hex)
    database.insert(conversation_id=str(migrated), sandbox_id="oh-agent-server-1a2b3c")
    database.insert(conversation_id=str(native), sandbox_id="oh-agent-server-4d5e6f")
    catalog = catalog_of(files.root, database)
    findings = named(verify(catalog, fix=True), "sql.v1-live-sandbox-id")
    assert set(findings) == {str(migrated)} and findings[str(migrated)].outcome == "repaired"
    assert catalog.sql.get(str(migrated)).sandbox_id == f"v0-migrated-{migrated.hex}"
    assert catalog.sql.get(str(native)).sandbox_id == "oh-agent-server-4d5e6f"
    assert "sql.v1-live-sandbox-id" not in {f.check for f in verify(catalog)}


def test_sqlite_columns_holding_the_wrong_type(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'typeless.db'}", revision="014")
    cid = _v1(database)
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE conversation_metadata SET prompt_tokens = 'many', pr_number = 'oops'")
        )
    findings = verify(catalog_of(database=database))
    assert "prompt_tokens is invalid" in named(findings, "sql.invalid-field")[cid].problem
    assert "'oops', not a JSON list" in named(findings, "sql.v1-pr-number")[cid].problem
    database.dispose()


# -- V1 event directories ---------------------------------------------------------------


def test_v1_event_directories_without_rows_and_unreadable_files(files, make_database):
    database = make_database()
    events = files.root / "v1_conversations"
    kept, deleted, interrupted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    database.insert(conversation_id=str(kept))
    _good(files, conversation_id=interrupted.hex)
    reference = json.loads(REFERENCE_EVENT.read_bytes())
    for conversation in (kept, deleted, interrupted):
        (events / conversation.hex).mkdir(parents=True)
        (events / conversation.hex / f"{uuid.UUID(reference['id']).hex}.json").write_bytes(
            REFERENCE_EVENT.read_bytes()
        )
    (events / kept.hex / "broken.json").write_text("{not json")
    (events / kept.hex / "0123.json").write_bytes(REFERENCE_EVENT.read_bytes())
    (events / "notes").mkdir()
    findings = verify(catalog_of(files.root, database))
    orphans = named(findings, "events.v1-without-row")
    assert set(orphans) == {str(deleted), str(interrupted), None}
    assert "left its directory" in orphans[str(deleted)].problem
    assert "migration was interrupted" in orphans[str(interrupted)].problem
    assert "'notes' is not a conversation's 32-digit hex id" in orphans[None].problem
    unreadable = [f for f in findings if f.check == "events.v1-unreadable"]
    assert [(f.conversation_id, Path(f.location).name) for f in unreadable] == [
        (str(kept), "broken.json")
    ]
    misplaced = [f for f in findings if f.check == "events.v1-misplaced"]
    assert [Path(f.location).name for f in misplaced] == ["0123.json"]


# -- scope and selection ------------------------------------------------------------------


def test_user_scope_never_reports_another_users_conversation(files, make_database):
    database = make_database(revision="001")
    alice_file = _good(files, user_id="alice")
    bob_file = _good(files, user_id="bob")
    for cid in (alice_file, bob_file):
        _rewrite(files, cid, pr_number=None)
    bob_row = _v1(database, user_id="bob", sandbox_id=None)
    alice_row = _v1(database, user_id="alice", sandbox_id=None)
    (files.root / "users" / "bob" / "conversations" / hexid() / "events").mkdir(parents=True)
    result = cli(
        "--file-store", files.root, "--db", database.url, "--user", "alice", "--format", "json"
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    seen = {f["conversation_id"] for f in report["findings"]} - {None}
    assert seen == {alice_file, alice_row}
    assert bob_file not in result.stdout and bob_row not in result.stdout
    assert "bob" not in result.stdout


def test_another_users_twin_is_neither_named_nor_counted(files, make_database):
    database = make_database()
    shared = uuid.uuid4()
    _good(files, conversation_id=shared.hex, user_id="alice")
    database.insert(conversation_id=str(shared), user_id="bob", sandbox_id="oh-agent-server-9")
    catalog = catalog_of(files.root, database)
    everyone = verify(catalog)
    assert set(named(everyone, "cross.v0-and-v1")) == {shared.hex}
    assert set(named(everyone, "sql.v1-live-sandbox-id")) == {str(shared)}
    alice = verify(catalog, user="alice", exclude=("sql.no-created-at-index",))
    assert [(f.check, f.conversation_id) for f in alice] == [("cross.v0-not-migrated", shared.hex)]
    bob = verify(catalog, user="bob")  # alice's V0 file is no evidence bob may see
    assert "sql.v1-live-sandbox-id" not in {f.check for f in bob}


def test_check_and_skip_select_by_id_and_group(files):
    cid = _good(files)
    _rewrite(files, cid, pr_number=None, accumulated_cost=-1.0)
    catalog = catalog_of(files.root)
    assert {f.check for f in verify(catalog, include=("files.negative-usage",))} == {
        "files.negative-usage"
    }
    assert {
        f.check for f in verify(catalog, include=("files",), exclude=("files.negative-usage",))
    } == {"files.required-field"}
    result = cli("--file-store", files.root, "--check", "files.negativ-usage")
    assert result.exit_code == 2 and "did you mean files.negative-usage?" in result.stderr


# -- the command line -------------------------------------------------------------------


def test_exit_statuses_follow_fail_on(files, tmp_path):
    clean = cli("--file-store", files.root)
    assert clean.exit_code == 0 and clean.stdout == "" and "0 errors" in clean.stderr
    cid = _good(files)
    _rewrite(files, cid, accumulated_cost=-2.0)  # a warning only
    assert cli("--file-store", files.root).exit_code == 0
    assert cli("--file-store", files.root, "--fail-on", "warning").exit_code == 1
    _rewrite(files, cid, accumulated_cost=0.0, pr_number=None)  # an error, fixable
    assert cli("--file-store", files.root).exit_code == 1
    fixed = cli("--file-store", files.root, "--fix")
    assert fixed.exit_code == 0 and "repaired  files.required-field" in fixed.stdout
    assert cli("--file-store", files.root).exit_code == 0
    assert cli("--file-store", files.root, "--db", tmp_path / "missing.db").exit_code == 3
    assert cli("--file-store", files.root, "--dry-run").exit_code == 2


def test_info_findings_fail_only_when_asked(files, make_database):
    database = make_database()
    _good(files)
    args = ("--file-store", files.root, "--db", database.url, "--check", "cross")
    assert cli(*args).exit_code == 0
    assert cli(*args, "--fail-on", "info").exit_code == 1


def test_table_groups_findings_by_check_with_counts(files):
    for _ in range(7):
        _rewrite(files, _good(files), created_at=_DROP)
    result = cli("--file-store", files.root)
    assert result.exit_code == 1
    header = next(line for line in result.stdout.splitlines() if "files.missing-created-at" in line)
    assert header.split()[:3] == ["error", "files.missing-created-at", "7"]
    assert result.stdout.count("created_at is missing, so OpenHands hides") == 5
    assert "… and 2 more: convstore verify --check files.missing-created-at" in result.stdout
    assert "7 errors" in result.stderr


def test_json_and_jsonl_carry_every_finding(files):
    for _ in range(3):
        _rewrite(files, _good(files), trigger="carrier_pigeon")
    lines = cli("--file-store", files.root, "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 3 and {json.loads(line)["check"] for line in lines} == {
        "files.unknown-value"
    }
    report = json.loads(cli("--file-store", files.root, "--format", "json").stdout)
    assert len(report["findings"]) == 3
    assert report["summary"]["findings"] == {"error": 3, "warning": 0, "info": 0}
    assert report["summary"]["examined"] == {"V0 files": 3}
    first = report["findings"][0]
    assert set(first) == {
        "check",
        "severity",
        "conversation_id",
        "location",
        "problem",
        "remedy",
        "fixable",
        "repair",
        "outcome",
        "note",
    }


def test_list_checks_names_the_whole_catalog():
    result = runner.invoke(app, ["verify", "--list-checks", "--format", "json"])
    listed = json.loads(result.stdout)
    assert [entry["check"] for entry in listed] == [check.id for check in job.CATALOG]
    assert len({entry["check"] for entry in listed}) == len(listed)
    assert {entry["severity"] for entry in listed} == {"error", "warning", "info"}


# -- the cheap screen never hides what the checks would find ------------------------------

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-2, max_value=2, allow_nan=False),
    st.sampled_from(["", "gui", "github", "carrier_pigeon", "2025-01-06T10:00:00", "x"]),
    st.sampled_from(["2025-01-06T10:00:00Z", "0001-01-01T00:00:00+01:00", "not a time"]),
    st.lists(st.integers(min_value=-1, max_value=3), max_size=2),
    st.lists(st.text(max_size=2), max_size=1),
    st.dictionaries(st.text(max_size=2), st.text(max_size=2), max_size=1),
)
_FIELDS = (
    "selected_repository",
    "user_id",
    "git_provider",
    "title",
    "last_updated_at",
    "trigger",
    "pr_number",
    "created_at",
    "accumulated_cost",
    "prompt_tokens",
    "total_tokens",
    "is_public",
    "shared_at",
    "tags",
    "github_user_id",
)
CID = "0f83cf799c8c5a129939996ab6ae6908"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=8))
def test_screen_and_checks_agree_with_the_model(changes):
    data: dict[str, Any] = {
        "conversation_id": CID,
        "selected_repository": None,
        "created_at": "2025-06-01T00:00:00Z",
    }
    data.update(changes)
    raw = json.dumps(data).encode()
    with tempfile.TemporaryDirectory() as directory:
        Path(directory, "metadata.json").write_bytes(raw)
        item = file_checks.FileItem(CID, directory, ["metadata.json"], raw)
        item.decoded = metadata_json.decode(raw)
        item.healthy = file_checks.healthy(item)
        context = Context(None, time.time(), 600, None, None, None)
        issues = [issue for check in file_checks.CHECKS for issue in check.inspect(item, context)]
    if item.healthy:
        assert issues == []
    model = ConversationMetadata.from_source(
        data, store="files", version="V0", location="-", address=CID
    )
    # The model also validates github_user_id, which OpenHands drops unread; verify, like
    # OpenHands, also requires the selected_repository key.
    problems = [problem for problem in model.problems if "github_user_id" not in problem]
    flagged = [issue for issue in issues if "selected_repository is missing" not in issue.problem]
    assert bool(problems) == bool(flagged), (model.problems, [i.problem for i in issues])


# -- memory -----------------------------------------------------------------------------


def _peak_while_verifying(root: Path) -> int:
    catalog = catalog_of(root)
    tally = job.Tally()
    tracemalloc.start()
    try:
        for _ in tally.count(job.Verification(catalog).run()):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_memory_stays_flat_as_the_store_grows(tmp_path):
    def build(root: Path, count: int) -> None:
        files = FileStoreBuilder(root)
        for index in range(count):
            cid = files.generation("2025-12")[0]
            if index % 10 == 0:
                _rewrite(files, cid, created_at=_DROP)

    build(tmp_path / "small", 1000)
    build(tmp_path / "large", 5000)
    small = _peak_while_verifying(tmp_path / "small")
    large = _peak_while_verifying(tmp_path / "large")
    # One batch in memory, whatever the store: 5x the files may not cost more than a
    # fraction of a batch more (the findings are streamed, only a few examples kept).
    assert large < small * 1.25 + 256_000, (small, large)
    shutil.rmtree(tmp_path / "small")


def test_an_index_on_created_at_counts_only_when_it_serves_the_listing(make_database):
    """The check goes by the listing's own rule (stores.sql_indexes): a partial index on
    created_at, or one that leads with another column, reads no listing in order."""
    database = make_database(revision="014")
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "CREATE INDEX ix_partial ON conversation_metadata (created_at) "
                "WHERE conversation_version = 'V1'"
            )
        )
        connection.execute(
            text("CREATE INDEX ix_second ON conversation_metadata (user_id, created_at)")
        )
    findings = verify(catalog_of(database=database))
    assert "sql.no-created-at-index" in {f.check for f in findings}
    with database.engine.begin() as connection:
        connection.execute(text("CREATE INDEX ix_served ON conversation_metadata (created_at)"))
    findings = verify(catalog_of(database=database))
    assert "sql.no-created-at-index" not in {f.check for f in findings}
