"""Values quoted in problem sentences and error lines, cut short the one way."""

from __future__ import annotations

from convstore.model import ConversationMetadata
from convstore.quoting import clip


def test_a_long_string_keeps_its_closing_quote() -> None:
    shown = clip("x" * 500, 20)
    assert len(shown) == 20 and shown.startswith("'x") and shown.endswith("…'")


def test_a_short_value_is_its_repr_and_a_long_non_string_ends_in_an_ellipsis() -> None:
    assert clip("short") == "'short'"
    assert clip(list(range(100)), 20) == repr(list(range(100)))[:19] + "…"


def test_a_problem_sentence_quotes_a_long_value_whole() -> None:
    record = ConversationMetadata.from_source(
        {"conversation_id": "y" * 90, "selected_repository": None, "created_at": None},
        store="files",
        version="V0",
        location="here",
        address="abc",
    )
    [sentence] = [p for p in record.problems if "not the directory name" in p]
    assert "…', not the directory name 'abc'" in sentence
