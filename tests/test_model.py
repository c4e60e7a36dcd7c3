"""The model reads every generation of FORMATS.md and turns every defect into a sentence."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convstore.model import METADATA_JSON_FIELDS, ConversationMetadata
from convstore.sample import GENERATIONS
from convstore.stores.metadata_json import decode, encode_like


def read(data, **place):
    """A record from ``data``; selected_repository (required by OpenHands) is filled in."""
    place = {"store": "files", "version": "V0", "location": "x/metadata.json", **place}
    return ConversationMetadata.from_source({"selected_repository": None, **data}, **place)


@pytest.mark.parametrize("gen", GENERATIONS, ids=lambda gen: gen.name)
def test_every_generation_reads(files, gen):
    conversation_id, document = files.generation(gen.name)
    record = read(document, address=conversation_id)
    assert record.conversation_id == conversation_id
    assert record.title == document["title"]
    assert record.last_updated_at is not None and record.last_updated_at.tzinfo is UTC
    if "created_at" in gen.fields:
        assert record.created_at is not None and record.created_at.tzinfo is UTC
        numeric_user = isinstance(document.get("user_id"), int)
        assert [p for p in record.problems if "user_id" not in p] == []
        assert numeric_user == any("user_id is a number" in p for p in record.problems)
    else:
        assert record.problems == ["created_at is missing, so OpenHands hides this conversation"]


def test_naive_datetimes_are_utc():
    record = read({"conversation_id": "a", "created_at": "2025-01-06T10:11:12.5"}, address="a")
    assert record.created_at == datetime(2025, 1, 6, 10, 11, 12, 500000, tzinfo=UTC)


@pytest.mark.parametrize("value", [123456, "123456", None])
def test_github_user_id_as_int_or_str(value):
    record = read(
        {"conversation_id": "a", "created_at": "2025-01-13T00:00:00Z", "github_user_id": value}
    )
    assert record.github_user_id == (None if value is None else "123456")
    assert record.problems == []


def test_numeric_user_id_is_read_and_reported():
    record = read({"conversation_id": "a", "created_at": "2025-03-01T00:00:00Z", "user_id": 42})
    assert record.user_id == "42"
    assert record.problems == [
        "user_id is a number (42); OpenHands expects a string and skips this conversation"
    ]


def test_github_user_id_of_any_shape_is_no_problem_but_a_missing_repository_is():
    data = {"conversation_id": "a", "created_at": "2025-01-13T00:00:00Z", "github_user_id": [1]}
    record = ConversationMetadata.from_source(data, store="files", version="V0", location="x")
    assert record.github_user_id is None
    assert record.problems == [
        "selected_repository is missing, so OpenHands skips this conversation"
    ]


def test_unknown_keys_are_kept_apart():
    record = read(
        {"conversation_id": "a", "created_at": "2025-05-01T00:00:00Z", "future": {"x": 1}}
    )
    assert record.extra == {"future": {"x": 1}}
    assert "future" not in record.output_fields()


def test_invalid_fields_become_problems_and_the_rest_is_read():
    record = read(
        {
            "conversation_id": "a",
            "title": "kept",
            "created_at": "yesterday",
            "prompt_tokens": "many",
            "pr_number": None,
            "trigger": "carrier_pigeon",
            "accumulated_cost": -1.5,
        }
    )
    assert record.title == "kept"
    assert record.created_at is None and record.prompt_tokens == 0 and record.pr_number == []
    assert (
        "created_at is invalid (value error, not an ISO 8601 timestamp): 'yesterday'"
        in record.problems
    )
    assert any(p.startswith("prompt_tokens is invalid") and "'many'" in p for p in record.problems)
    assert "pr_number is null, so OpenHands skips this conversation" in record.problems
    assert "trigger 'carrier_pigeon' is not a value OpenHands knows" in record.problems
    assert "accumulated_cost is negative (-1.5)" in record.problems


def test_id_inside_the_file_differs_from_the_directory():
    record = read(
        {"conversation_id": "elsewhere", "created_at": "2025-05-01T00:00:00Z"}, address="here"
    )
    assert record.conversation_id == "here"
    assert record.problems == [
        "conversation_id inside the file is 'elsewhere', not the directory name 'here'"
    ]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            b'{"conversation_id": "a", "title": "x"',
            "metadata.json is not valid JSON: line 1 column 38",
        ),
        (b"[1]", "metadata.json holds a JSON list, not an object"),
        (
            b"\xef\xbb\xbf{}",
            "metadata.json starts with a UTF-8 byte order mark; OpenHands cannot read it",
        ),
        (
            '{"a": 1}'.encode("utf-16"),
            "metadata.json is UTF-16, not UTF-8; OpenHands cannot read it",
        ),
        (
            b'{"title": "caf\xe9"}',
            "metadata.json is not valid UTF-8 (byte 14); OpenHands cannot read it",
        ),
        (b"[" * 100000 + b"]" * 100000, "metadata.json is nested too deeply to be metadata"),
    ],
)
def test_malformed_files_are_described(raw, problem):
    assert any(found.startswith(problem) for found in decode(raw).problems)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    document=st.dictionaries(st.sampled_from(METADATA_JSON_FIELDS) | st.text(), json_values),
    style=st.sampled_from(
        [{"separators": (",", ":"), "ensure_ascii": False}, {"ensure_ascii": True}, {"indent": 2}]
    ),
)
def test_rewriting_without_changes_keeps_the_bytes_and_with_changes_keeps_the_rest(document, style):
    original = json.dumps(document, **style).encode()
    assert encode_like(original, document, dict(document)) == original
    changed = {**document, "title": "new"}
    rewritten = json.loads(encode_like(original, document, changed))
    assert list(rewritten) == list(changed)
    assert rewritten == changed
