"""`--user` is the exact owner id, never a substring, on every path that filters by it:
listings from the files, from the V0 index cache and from SQL, `show`, `verify`'s scope
and `delete --user`. Early-generation files (January 2025) and SaaS rows of that time
carry only ``github_user_id``: they are found by that id."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from convstore.owners import owner_of
from tests.conftest import Database, FileStoreBuilder, aged
from tests.faults import cli


def listed_ids(*args: object) -> set[str]:
    result = cli("list", *args, "--all", "--format", "json")
    assert result.exit_code == 0, result.output
    return {item["conversation_id"] for item in json.loads(result.stdout)}


@pytest.fixture
def early_files(files: FileStoreBuilder) -> tuple[list[str], dict[str, str]]:
    """A January 2025 file with only github_user_id (a number), one with it as text, a
    current file of alice's, and a 2025-03 file with both ids (user_id wins). Each has
    a negative token count, for `verify` to report."""
    bad = {"prompt_tokens": -5}
    ids = {
        "numeric": files.generation("2025-01-13", github_user_id=1181979, **bad)[0],
        "text": files.generation("2025-01-14", github_user_id="1181979", **bad)[0],
        "alice": files.generation("2025-12", user_id="alice", **bad)[0],
        "both": files.generation("2025-03", user_id="carol", github_user_id="1181979", **bad)[0],
    }
    aged(files.root)
    return ["--file-store", str(files.root)], ids


@pytest.mark.parametrize("cache", ["--no-cache", None])
def test_a_file_with_only_github_user_id_is_found_by_that_id(early_files, cache):
    options, ids = early_files
    flags = [*options, *([cache] if cache else [])]
    for _ in range(2):  # the second listing answers from the cache, where there is one
        assert listed_ids(*flags, "--user", "1181979") == {ids["numeric"], ids["text"]}
        assert listed_ids(*flags, "--user", "carol") == {ids["both"]}


def test_user_is_an_exact_match_never_a_substring(early_files, make_database):
    options, ids = early_files
    database = make_database()
    alices = database.insert(user_id="alice")
    store = [*options, "--db", database.url]
    assert listed_ids(*store, "--user", "alice") == {ids["alice"], alices["conversation_id"]}
    for partial in ("al", "ALICE", "lic", "118197"):
        assert listed_ids(*store, "--user", partial) == set()
        refused = cli("delete", *store, "--user", partial, "--older-than", "0d", "--yes")
        assert refused.exit_code == 0 and "nothing to delete" in refused.stderr
    assert listed_ids(*store) >= {ids["alice"], alices["conversation_id"]}


def test_show_verify_and_delete_scope_by_github_user_id(early_files):
    options, ids = early_files
    user = ["--user", "1181979"]
    assert cli("show", *options, *user, ids["numeric"]).exit_code == 0
    assert cli("show", *options, *user, ids["alice"]).exit_code == 4
    report = cli("verify", *options, *user, "--format", "jsonl")
    assert report.exit_code in (0, 1), report.output
    scoped = {json.loads(line)["conversation_id"] for line in report.stdout.splitlines()}
    assert {ids["numeric"], ids["text"]} <= scoped and not {ids["alice"], ids["both"]} & scoped
    deleted = cli("delete", *options, *user, "--older-than", "0d", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert listed_ids(*options) == {ids["alice"], ids["both"]}


def test_a_saas_row_with_only_github_user_id_is_found_by_that_id(make_database):
    database: Database = make_database(saas_2025=True)
    bad = {"conversation_version": "V0", "github_user_id": "1181979", "prompt_tokens": -5}
    early = database.insert(**bad, user_id=None)
    later = database.insert(**bad, user_id="bob")
    with database.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT user_id FROM conversation_metadata WHERE conversation_id = :id"),
            {"id": early["conversation_id"]},
        ).scalar_one()
    assert stored is None
    store = ["--db", database.url]
    assert listed_ids(*store, "--user", "1181979") == {early["conversation_id"]}
    assert listed_ids(*store, "--user", "bob") == {later["conversation_id"]}
    assert cli("show", *store, "--user", "1181979", early["conversation_id"]).exit_code == 0
    report = cli("verify", *store, "--user", "1181979", "--format", "jsonl")
    scoped = {json.loads(line)["conversation_id"] for line in report.stdout.splitlines()}
    assert early["conversation_id"] in scoped and later["conversation_id"] not in scoped
    deleted = cli("delete", *store, "--user", "1181979", "--older-than", "0d", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert listed_ids(*store) == {later["conversation_id"]}


def test_the_owner_rule():
    assert owner_of("alice", "1181979") == "alice"
    assert owner_of(None, 1181979) == "1181979"
    assert owner_of(None, "1181979") == "1181979"
    assert owner_of(42, None) == "42"  # a numeric user_id, as the model reads it
    assert owner_of(["x"], "7") == "7"  # a user_id the model drops
    assert owner_of(None, True) is None and owner_of(None, None) is None


def test_help_says_user_is_exact():
    for command in ("list", "delete", "verify", "show"):
        shown = cli(command, "--help")
        assert "never a substring" in " ".join(shown.stdout.split()), command
