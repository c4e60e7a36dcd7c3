"""Property: metadata.json -> model -> file keeps every field and unknown key, their order
and the file's JSON style, whatever generation and hand edits produced it.

A file is drawn as any subset of OpenHands' fields (in declaration order, each with a
value of its type), unknown keys at any position with any JSON value, in one of the
styles real files come in (OpenHands' compact dump, ``json.dumps`` defaults, indented
with or without a final newline). It is read through FileStore into the model, then
renamed through FileStore.update: the model must carry every value, and the rewritten
file must be the original with only the title changed.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convstore.model import (
    DATETIME_FIELDS,
    GIT_PROVIDERS,
    METADATA_JSON_FIELDS,
    TRIGGERS,
    ConversationMetadata,
    parse_timestamp,
)
from convstore.stores.files import FileStore

MODEL_FIELDS = set(ConversationMetadata.model_fields)

# Styles real files come in, and the text that may follow the JSON (editors add "\n").
STYLES: list[dict[str, Any]] = [
    {"separators": (",", ":"), "ensure_ascii": False},
    {"separators": (",", ":"), "ensure_ascii": True},
    {"separators": (", ", ": "), "ensure_ascii": True},
    {"separators": (", ", ": "), "ensure_ascii": False},
    {"indent": 2, "ensure_ascii": False},
    {"indent": 2, "ensure_ascii": True},
]
ENDINGS = ["", "\n"]

text = st.text(max_size=40)
optional_text = st.none() | text
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.none()
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """A datetime as some generation wrote it: UTC with Z, naive local, or an offset."""
    moment = draw(moments)
    form = draw(st.sampled_from(["z", "naive", "offset"]))
    if form == "naive":
        return moment.isoformat()
    if form == "offset":
        offset = timedelta(minutes=draw(st.integers(-12 * 60, 14 * 60)))
        return moment.replace(tzinfo=UTC).astimezone(_zone(offset)).isoformat()
    return moment.isoformat() + "Z"


def _zone(offset: timedelta) -> Any:
    from datetime import timezone

    return timezone(offset)


FIELD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "selected_repository": optional_text,
    "user_id": optional_text,
    "selected_branch": optional_text,
    "git_provider": st.none() | st.sampled_from(sorted(GIT_PROVIDERS)),
    "title": optional_text,
    "last_updated_at": st.none() | timestamps(),
    "trigger": st.none() | st.sampled_from(sorted(TRIGGERS)),
    "pr_number": st.lists(st.integers(0, 10**6), max_size=4),
    "created_at": timestamps(),
    "llm_model": optional_text,
    "accumulated_cost": st.floats(0, 1e6, allow_nan=False) | st.integers(0, 10**6),
    "prompt_tokens": st.integers(0, 10**9),
    "completion_tokens": st.integers(0, 10**9),
    "total_tokens": st.integers(0, 10**9),
    "sandbox_id": optional_text,
    "conversation_version": st.none() | st.sampled_from(["V0", "V1"]),
    "is_public": st.booleans(),
    "public_share_token": optional_text,
    "shared_at": st.none() | timestamps(),
}
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
unknown_keys = st.text(min_size=1, max_size=20).filter(lambda key: key not in MODEL_FIELDS)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A metadata.json object: known fields in OpenHands' order, unknown keys anywhere."""
    document: dict[str, Any] = {"conversation_id": "c0ffee"}
    known = [name for name in METADATA_JSON_FIELDS[1:] if draw(st.booleans())]
    unknown = draw(st.dictionaries(unknown_keys, json_values, max_size=4))
    slots = [*known, *unknown]
    order = draw(st.permutations(range(len(known), len(slots))))
    positions = sorted(
        draw(st.lists(st.integers(0, len(known)), min_size=len(order), max_size=len(order)))
    )
    merged: list[str] = list(known)
    for offset, (index, at) in enumerate(zip(order, positions, strict=True)):
        merged.insert(at + offset, slots[index])
    for name in merged:
        document[name] = draw(FIELD_VALUES[name]) if name in FIELD_VALUES else unknown[name]
    return document


def _dump(document: dict[str, Any], style: dict[str, Any], ending: str) -> bytes:
    return (json.dumps(document, **style) + ending).encode("utf-8")


def _expected_value(name: str, value: Any) -> Any:
    if name in DATETIME_FIELDS and value is not None:
        return parse_timestamp(value)
    return value


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    document=documents(),
    style=st.sampled_from(STYLES),
    ending=st.sampled_from(ENDINGS),
    new_title=text,
)
def test_metadata_json_to_model_to_file_keeps_everything(
    document: dict[str, Any], style: dict[str, Any], ending: str, new_title: str
) -> None:
    original = _dump(document, style, ending)
    with tempfile.TemporaryDirectory() as root:
        directory = Path(root) / "sessions" / "c0ffee"
        directory.mkdir(parents=True)
        path = directory / "metadata.json"
        path.write_bytes(original)
        store = FileStore(Path(root))

        record = store.get("c0ffee")
        assert record is not None
        # The model carries every known value and keeps the unknown keys, in order.
        for name, value in document.items():
            if name in MODEL_FIELDS:
                assert getattr(record, name) == _expected_value(name, value), name
        unknown = {name: value for name, value in document.items() if name not in MODEL_FIELDS}
        assert record.extra == unknown
        assert list(record.extra) == list(unknown)
        assert not [p for p in record.problems if "invalid" in p], record.problems

        updated = store.update(record, {"title": new_title})
        assert updated.title == new_title
        rewritten = path.read_bytes()

    expected = {**document, "title": new_title}
    assert json.loads(rewritten) == expected
    assert list(json.loads(rewritten)) == list(expected)
    # Byte for byte in the file's own style (when several styles reproduce the original,
    # any of them is the file's style).
    styles = [candidate for candidate in STYLES if _dump(document, candidate, ending) == original]
    assert rewritten in {_dump(expected, candidate, ending) for candidate in styles}
