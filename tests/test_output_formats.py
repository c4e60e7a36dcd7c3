"""Machine formats: one documented key set, always all of it, each value as the store holds it.

`list --format json|jsonl|csv`, `show --format json` and `export --format json` give the
keys of ``OUTPUT_FIELDS`` whatever stores are configured, null where the source lacks a
field, and the stored value where the model coerced or dropped one: a numeric user_id
is a number there, the very problem `problems` reports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from convstore.model import METADATA_JSON_FIELDS, OUTPUT_FIELDS, SQL_ONLY_FIELDS
from convstore.record_text import csv_cell, csv_row
from tests.conftest import Database, FileStoreBuilder
from tests.faults import cli

README = Path(__file__).parent.parent / "README.md"


def machine_outputs(options: list[str], conversation_id: str) -> dict[str, dict[str, Any]]:
    """One conversation as every machine format gives it, by format (CSV cells as text)."""
    found: dict[str, dict[str, Any]] = {}
    for fmt in ("json", "jsonl", "csv"):
        result = cli("list", *options, "--all", "--format", fmt)
        assert result.exit_code == 0, result.output
        if fmt == "json":
            items = json.loads(result.stdout)
        elif fmt == "jsonl":
            items = [json.loads(line) for line in result.stdout.splitlines()]
        else:
            items = list(csv.DictReader(io.StringIO(result.stdout)))
        [found[fmt]] = [item for item in items if item["conversation_id"] == conversation_id]
    shown = cli("show", *options, conversation_id, "--format", "json")
    assert shown.exit_code == 0, shown.output
    found["show"] = json.loads(shown.stdout)
    exported = cli("export", *options, conversation_id, "--format", "json")
    assert exported.exit_code == 0, exported.output
    found["export"] = json.loads(exported.stdout)["metadata"]
    return found


def test_a_numeric_user_id_is_a_number_in_every_machine_format(files: FileStoreBuilder) -> None:
    conversation_id, _ = files.generation("2025-12", user_id=42, github_user_id=7)
    outputs = machine_outputs(["--file-store", str(files.root)], conversation_id)
    for fmt in ("json", "jsonl", "show", "export"):
        entry = outputs[fmt]
        assert entry["user_id"] == 42 and type(entry["user_id"]) is int, fmt
        assert any("user_id is a number (42)" in problem for problem in entry["problems"])
    assert outputs["csv"]["user_id"] == "42"


def test_values_dropped_or_coerced_are_given_as_stored(files: FileStoreBuilder) -> None:
    conversation_id, _ = files.generation(
        "2025-12",
        github_user_id=123456,  # an int in January 2025 files; the model keeps a string
        created_at="yesterday",  # not a time: dropped
        prompt_tokens="12",  # pydantic reads 12, as OpenHands does; the file says "12"
        completion_tokens="many",  # dropped
        pr_number=["7"],  # read as [7]
        is_public=1,  # read as true
        accumulated_cost=3,  # a whole number in a float field is the same JSON number
    )
    entry = machine_outputs(["--file-store", str(files.root)], conversation_id)["jsonl"]
    assert entry["github_user_id"] == 123456
    assert entry["created_at"] == "yesterday"
    assert entry["prompt_tokens"] == "12" and entry["completion_tokens"] == "many"
    assert entry["pr_number"] == ["7"] and entry["is_public"] == 1
    assert entry["accumulated_cost"] == 3
    assert any(problem.startswith("created_at is invalid") for problem in entry["problems"])


def test_a_github_user_id_of_any_shape_is_given_as_stored(files: FileStoreBuilder) -> None:
    conversation_id, _ = files.generation("2025-01-02", github_user_id={"login": "octo"})
    entry = machine_outputs(["--file-store", str(files.root)], conversation_id)["json"]
    assert entry["github_user_id"] == {"login": "octo"}


def test_what_a_source_lacks_is_null_not_a_default(files: FileStoreBuilder) -> None:
    # The first generation of metadata.json: no created_at, no cost, no tokens, no pr_number.
    conversation_id, document = files.generation("2025-01-02")
    entry = machine_outputs(["--file-store", str(files.root)], conversation_id)["json"]
    for name in OUTPUT_FIELDS:
        if name not in (*document, "store", "version", "location", "problems"):
            assert entry[name] is None, name
    assert entry["title"] == document["title"]
    assert entry["last_updated_at"].endswith("Z")


def test_an_unreadable_file_has_nothing_but_where_it_is(files: FileStoreBuilder) -> None:
    conversation_id = "a" * 32
    files.write(conversation_id, b"{not json")
    entry = machine_outputs(["--file-store", str(files.root)], conversation_id)["json"]
    assert entry["conversation_id"] == conversation_id and entry["problems"]
    assert entry["location"].endswith("metadata.json")
    assert {name for name, value in entry.items() if value is not None} == {
        "conversation_id",
        "store",
        "version",
        "location",
        "problems",
    }


def test_a_null_where_the_model_holds_a_default_is_null(make_database: Callable[..., Database]):
    database = make_database()
    row = database.insert(accumulated_cost=None, prompt_tokens=None)
    entry = machine_outputs(["--db", database.url], row["conversation_id"])["json"]
    assert entry["accumulated_cost"] is None and entry["prompt_tokens"] is None
    assert entry["completion_tokens"] == 5  # the row's own values, where it has them


def test_text_in_a_sqlite_number_column_is_given_as_stored(tmp_path: Path) -> None:
    # SQLite keeps text that does not look like a number as text, whatever the column's type.
    database = Database(f"sqlite:///{tmp_path / 'openhands.db'}")
    row = database.insert()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE conversation_metadata SET prompt_tokens = 'many', "
                "accumulated_cost = 'free' WHERE conversation_id = :id"
            ),
            {"id": row["conversation_id"]},
        )
    database.dispose()
    entry = machine_outputs(["--db", database.url], row["conversation_id"])["jsonl"]
    assert entry["prompt_tokens"] == "many" and entry["accumulated_cost"] == "free"
    assert any(problem.startswith("prompt_tokens is invalid") for problem in entry["problems"])


@pytest.mark.parametrize(
    "schema",
    [None, {"revision": "001"}, {"saas_2025": True}, {}, {"enterprise": True}],
    ids=["files-only", "revision-001", "saas-2025", "latest", "enterprise"],
)
def test_the_keys_and_columns_are_the_same_whatever_stores_are_configured(
    files: FileStoreBuilder, make_database: Callable[..., Database], schema: dict[str, Any] | None
) -> None:
    files.generation("2025-12")
    options = ["--file-store", str(files.root)]
    if schema is not None:
        database = make_database(**schema)
        database.insert()
        options += ["--db", database.url]
    result = cli("list", *options, "--all", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == list(OUTPUT_FIELDS)
    assert all(len(row) == len(OUTPUT_FIELDS) for row in rows)
    for fmt in ("json", "jsonl"):
        result = cli("list", *options, "--all", "--format", fmt)
        items = (
            json.loads(result.stdout)
            if fmt == "json"
            else [json.loads(line) for line in result.stdout.splitlines()]
        )
        assert items and all(list(item) == list(OUTPUT_FIELDS) for item in items)


def test_every_field_json_has_is_a_csv_column() -> None:
    assert set(METADATA_JSON_FIELDS) | set(SQL_ONLY_FIELDS) | {"github_user_id"} <= set(
        OUTPUT_FIELDS
    )
    assert len(set(OUTPUT_FIELDS)) == len(OUTPUT_FIELDS)


def test_csv_cells_keep_lists_objects_and_problems_apart(files: FileStoreBuilder) -> None:
    # A problem sentence may hold "; " itself: problems are a JSON list, like pr_number.
    conversation_id, _ = files.generation("2025-12", pr_number=[3, 4], user_id=42)
    cells = machine_outputs(["--file-store", str(files.root)], conversation_id)["csv"]
    assert json.loads(cells["pr_number"]) == [3, 4]
    problems = json.loads(cells["problems"])
    assert problems and all(isinstance(problem, str) for problem in problems)
    assert cells["is_public"] in ("true", "false", "")


CELLS = (None, True, False, 0, -7, 2**40, 1.5, 0.1, 1e16, -0.0, "", "plain", "a,b", 'say "hi"')
CELLS += ("two\nlines", "ünïcode ☕", [], [3, "a,b"], {}, {"k": None, "l": [True]})


def test_a_csv_row_holds_each_value_as_its_csv_cell() -> None:
    """csv_row hands the csv module the values it writes as csv_cell would, unconverted
    (a call per cell was a third of a row): the two ways give the same row."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([csv_cell(value) for value in CELLS])
    assert csv_row(CELLS) == buffer.getvalue()
    assert next(csv.reader(io.StringIO(csv_row(CELLS))))[:4] == ["", "true", "false", "0"]


def test_readme_and_list_help_document_the_keys_in_order() -> None:
    readme = " ".join(README.read_text().split())
    assert ", ".join(f"`{name}`" for name in OUTPUT_FIELDS) in readme
    result = cli("list", "--help")
    assert result.exit_code == 0
    flat = " ".join(result.stdout.split())
    assert "all of them, in this order, whatever stores are configured" in flat
    assert " ".join(OUTPUT_FIELDS) in flat
