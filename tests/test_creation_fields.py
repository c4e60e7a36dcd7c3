"""The one rule of which fields a listing may take from the V0 index cache unchecked."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from convstore.stores import creation_fields
from convstore.stores.base import Query, Sort
from convstore.stores.creation_fields import only_creation_fields

# What a V0 file never matches or always matches (``v0_order.can_match``), the order,
# and the cursor: not filters on a file's fields.
NOT_FILE_FILTERS = {"version", "sub_conversations", "status", "org", "parent", "sort", "after"}


def test_every_filter_a_file_can_match_is_classified() -> None:
    """A filter added to Query must be placed on one side of the rule."""
    filters = {field.name for field in dataclasses.fields(Query)} - NOT_FILE_FILTERS
    assert filters == set(creation_fields._FILTERS)


def test_sorts_and_filters_on_creation_fields_only_qualify() -> None:
    when = datetime(2025, 6, 1, tzinfo=UTC)
    assert only_creation_fields(Query())  # -created, the default
    assert only_creation_fields(
        Query(
            user="alice",
            repo="acme",
            trigger="gui",
            created_since=when,
            created_until=when,
            sort=Sort("created", descending=False),
        )
    )
    for changing in (
        Query(sort=Sort("updated")),
        Query(sort=Sort("title", descending=False)),
        Query(title="x"),
        Query(updated_since=when),
        Query(user="alice", updated_until=when),
    ):
        assert not only_creation_fields(changing), changing
