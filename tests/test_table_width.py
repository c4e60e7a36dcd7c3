"""The listing table on a narrow terminal: the title gives way first, then repository,
org and user; the problem marker, id and cost never do, and the other columns are
whole or (below 80 columns, and only after the user) left out.

Real records (the demo store, plus conversations with long titles, users and
repositories) rendered by `convstore list` into a real Rich console of a fixed width,
as a terminal of that width would show them.
"""

from __future__ import annotations

import io
import itertools
import json
import re
from typing import Any

import pytest
from rich.console import Console

from convstore.cli import render
from convstore.sample import write_sample
from tests.faults import cli

ALWAYS = ("id", "cost")  # and the problem marker
WHOLE = ("created", "version", "status")  # when they show: at 80 columns and more
GIVE_WAY = ("title", "repository", "user")  # the order in which they give way
NARROWEST = {"title": 12, "repository": 10, "user": 8}
WIDEST = {"title": 60, "repository": 40, "user": 24}  # even on the widest terminal


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    summary = write_sample(tmp_path_factory.mktemp("table") / "demo", files=40, rows=24)
    long_ones = summary.file_store / "sessions"
    for number, (title, user, repository) in enumerate(
        [
            ("Investigate " * 12, "a-very-long-user-name@example.com", "org/" + "r" * 60),
            ("Short", "bob", "acme/" + "x" * 30),
        ]
    ):
        directory = long_ones / f"{number:032x}"
        directory.mkdir()
        (directory / "metadata.json").write_text(
            json.dumps(
                {
                    "conversation_id": f"{number:032x}",
                    "selected_repository": repository,
                    "user_id": user,
                    "title": title,
                    "created_at": "2025-12-01T10:00:00Z",
                    "last_updated_at": "2025-12-01T10:00:00Z",
                    "accumulated_cost": 1234.5,
                }
            )
        )
    return ["--file-store", str(summary.file_store), "--db", summary.database]


def table_at(width: int, options: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    screen = io.StringIO()
    console = Console(width=width, file=screen, force_terminal=True, color_system=None)
    monkeypatch.setattr(render, "out", console)
    result = cli("list", *options, "--all", "--sub-conversations")
    assert result.exit_code == 0, result.output
    return [line.rstrip() for line in screen.getvalue().splitlines()]


def records(options: list[str]) -> list[dict[str, Any]]:
    result = cli("list", *options, "--all", "--sub-conversations", "--format", "jsonl")
    return [json.loads(line) for line in result.stdout.splitlines()]


def columns(header: str) -> dict[str, tuple[int, int]]:
    """Each heading's column: where it starts and how wide it is (the marker's heading is
    blank; the last column runs to the end of the line)."""
    found = [(match.group(), match.start()) for match in re.finditer(r"\S+", header)]
    spans = {}
    for (name, start), (_, end) in zip(found, [*found[1:], ("", 10_000 + 2)], strict=True):
        spans[name] = (start, end - 2 - start)
    return spans


def cost_cell(record: dict[str, Any]) -> str:
    cost = record["accumulated_cost"]
    return "-" if cost is None else f"${cost:.2f}"


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_table_fits_and_the_figures_are_whole(demo, monkeypatch, width):
    lines = table_at(width, demo, monkeypatch)
    header, rows = lines[0], lines[1:]
    listed = records(demo)
    assert len(rows) == len(listed)
    assert all(len(line) <= width for line in lines), width
    spans = columns(header)
    assert set(ALWAYS) <= set(spans) and spans["title"][1] >= NARROWEST["title"]
    if width >= 80:
        assert set(WHOLE) <= set(spans)
    for record, row in zip(listed, rows, strict=True):
        assert row.startswith("!") == bool(record["problems"]), row
        cells = {name: row[start : start + size].strip() for name, (start, size) in spans.items()}
        assert cells["id"] == record["conversation_id"][:8]
        assert cells["cost"] == cost_cell(record)
        if "version" in cells:
            assert cells["version"] == record["version"]
        if "status" in cells:
            assert cells["status"] == (record["execution_status"] or "")
        if "created" in cells:
            assert "…" not in cells["created"]


@pytest.mark.parametrize("width", [60, 80, 120])
def test_the_title_gives_way_first_then_repository_then_user(demo, monkeypatch, width):
    lines = table_at(width, demo, monkeypatch)
    spans = columns(lines[0])

    def cut(name: str) -> bool:
        start, size = spans[name]
        return any("…" in row[start : start + size] for row in lines[1:])

    def gave_way(name: str) -> bool:
        return name in spans and cut(name) and spans[name][1] < WIDEST[name]

    # A column gives way only once those before it are at their narrowest ...
    for earlier, later in itertools.pairwise(GIVE_WAY):
        if gave_way(later) and earlier in spans:
            assert spans[earlier][1] <= NARROWEST[earlier], (width, spans)
    # ... and left out in the same order, the title never.
    assert "title" in spans
    if "user" not in spans:
        assert "repository" not in spans
    if width == 120:
        assert set(GIVE_WAY) <= set(spans)
        assert spans["title"][1] == NARROWEST["title"]  # the long title gave way first
        assert gave_way("title") and gave_way("repository") and not gave_way("user")
    if width == 80:
        assert "repository" not in spans and "user" in spans
    if width == 60:
        assert not {"repository", "user"} & set(spans)


def test_a_wide_terminal_cuts_nothing_but_what_is_too_long_anyway(demo, monkeypatch):
    lines = table_at(200, demo, monkeypatch)
    text = "\n".join(lines)
    assert "Refactor payment module" in text  # a demo title, whole
    assert "…" in text  # the 144-character title, at most 60 wide even here
    assert max(len(line) for line in lines) < 200


def test_a_cost_the_source_does_not_hold_is_not_shown_as_zero(demo, monkeypatch):
    lines = table_at(120, demo, monkeypatch)
    listed = records(demo)
    unknown = [i for i, record in enumerate(listed) if record["accumulated_cost"] is None]
    assert unknown, "the demo store has files from before costs were recorded"
    spans = columns(lines[0])
    start, size = spans["cost"]
    for index in unknown:
        assert lines[1 + index][start : start + size].strip() == "-"
