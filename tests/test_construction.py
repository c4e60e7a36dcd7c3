"""The fast ways of building a record build exactly what pydantic builds.

``from_source`` skips pydantic for values the screen recognizes, and ``packed`` /
``unpacked`` carry a record between processes without validating it again. On random
input, each must give the record the validating path gives: the same values of the
same types in the same order, the same problems, the same fields-set and private state.
"""

from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from convstore import model
from convstore.model import ConversationMetadata

FIELDS = [
    name
    for name in ConversationMetadata.model_fields
    if name not in {"store", "version", "location", "problems", "extra"}
]
stamps = st.one_of(
    st.datetimes(timezones=st.sampled_from([None, UTC])).map(lambda d: d.isoformat()),
    st.sampled_from(["2025-01-16T19:51:04.886331Z", "2025-01-06T10:00:00", "yesterday", ""]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.sampled_from([2**53, 2**53 + 1, -(2**53) - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    stamps,
)
values = st.one_of(
    scalars,
    st.lists(st.one_of(st.integers(-5, 5), st.booleans(), st.text(max_size=2)), max_size=3),
    st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2),
)
# Mostly values of the field's own type (the files that take the screened path), and
# now and then anything (the files that fall back to pydantic, wholly).
_TYPED: dict[Any, Any] = {
    str: st.text(max_size=8),
    str | None: st.one_of(st.none(), st.text(max_size=8)),
    int: st.integers(-(2**60), 2**60),
    int | None: st.one_of(st.none(), st.integers(-(2**60), 2**60)),
    float: st.one_of(st.floats(), st.integers(-(2**54), 2**54)),
    float | None: st.one_of(st.none(), st.floats(), st.integers(-(2**54), 2**54)),
    bool | None: st.one_of(st.none(), st.booleans()),
    list[int]: st.lists(st.integers(-5, 5), max_size=3),
    dict[str, str] | None: st.one_of(
        st.none(), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2)
    ),
}


def _field_values(name: str) -> Any:
    if name in model.DATETIME_FIELDS:
        moments = st.datetimes(
            min_value=datetime(2, 1, 1),
            max_value=datetime(9998, 12, 31),
            timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))]),
        )
        typed = st.one_of(st.none(), stamps, moments)
    elif name == "github_user_id":
        typed = st.one_of(st.none(), st.text(max_size=5), st.integers())
    else:
        typed = _TYPED.get(ConversationMetadata.model_fields[name].annotation, values)
    return st.one_of(typed, typed, typed, typed, typed, values)


documents = st.fixed_dictionaries(
    {}, optional={name: _field_values(name) for name in FIELDS} | {"zzz": values}
)


def validated(data: dict[str, Any], **place: Any) -> ConversationMetadata:
    with mock.patch.object(model, "_screened", return_value=None):
        return ConversationMetadata.from_source(data, **place)


def equal(left: Any, right: Any) -> bool:
    """``==`` of values as read, with NaN equal to NaN (a file may hold NaN in a key
    convstore keeps unread, and a NaN copied through pickle is not the same object)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, float) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, dict):
        return list(left) == list(right) and all(equal(left[k], right[k]) for k in left)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(map(equal, left, right))
    return bool(left == right)


def same(left: ConversationMetadata, right: ConversationMetadata) -> None:
    assert list(left.__dict__) == list(right.__dict__)
    for name, value in left.__dict__.items():
        other = right.__dict__[name]
        assert equal(value, other), (name, value, other)
    assert left.__pydantic_fields_set__ == right.__pydantic_fields_set__
    assert equal(left.__pydantic_private__, right.__pydantic_private__)
    assert left.model_dump(mode="json") == right.model_dump(mode="json")


@settings(max_examples=400, deadline=None)
@given(
    data=documents,
    address=st.one_of(st.none(), st.just("a" * 32)),
    version=st.sampled_from(["V0", "V1"]),
)
def test_the_screened_path_builds_what_pydantic_builds(data, address, version):
    if address is None:
        data = {**data, "conversation_id": "c" * 32}
    place = {"store": "files", "version": version, "location": "x", "address": address}
    same(ConversationMetadata.from_source(data, **place), validated(data, **place))


@settings(max_examples=200, deadline=None)
@given(data=documents)
def test_a_packed_record_unpacks_to_itself(data):
    record = ConversationMetadata.from_source(
        data, store="files", version="V0", location="x", address="b" * 32
    ).with_token("token")
    same(ConversationMetadata.unpacked(pickle.loads(pickle.dumps(record.packed()))), record)


def test_common_files_take_the_screened_path():
    data = {
        "conversation_id": "d" * 32,
        "selected_repository": "acme/webshop",
        "title": "Fix it",
        "created_at": "2025-01-16T19:51:04.886331Z",
        "last_updated_at": datetime(2025, 1, 17, tzinfo=UTC).isoformat(),
        "pr_number": [12],
        "accumulated_cost": 1,
        "prompt_tokens": 5,
        "github_user_id": 42,
    }
    with mock.patch.object(model, "_validate_dropping_bad_fields") as validate:
        record = ConversationMetadata.from_source(
            data, store="files", version="V0", location="x", address="d" * 32
        )
    validate.assert_not_called()
    assert record.accumulated_cost == 1.0 and type(record.accumulated_cost) is float
    assert record.github_user_id == "42" and record.problems == []
