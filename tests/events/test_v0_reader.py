"""Reading V0 event files: both layouts, id order, gaps, unreadable files, cache pages."""

from __future__ import annotations

from pathlib import Path

from convstore.events import Problem, event_ids, find_events_dir, iter_events
from tests.events.conftest import CONVERSATION, OLD_CONVERSATION, OLD_USER, STORE, V0Conversation

SHOWN = " (V0 showed the page)"  # the end of every cache page problem


def read_all(events_dir: Path) -> tuple[list[int], list[str]]:
    problems: list[Problem] = []
    ids = [event.id for event in iter_events(events_dir, problems.append)]
    return ids, [
        f"{problem.path.name}: {problem.message}".replace(SHOWN, "") for problem in problems
    ]


def test_finds_both_layouts() -> None:
    assert find_events_dir(STORE, CONVERSATION) == STORE / "sessions" / CONVERSATION / "events"
    per_user = STORE / "users" / OLD_USER / "conversations" / OLD_CONVERSATION / "events"
    assert find_events_dir(STORE, OLD_CONVERSATION, OLD_USER) == per_user
    assert find_events_dir(STORE, OLD_CONVERSATION) is None  # its user is needed
    assert (
        find_events_dir(STORE, CONVERSATION, OLD_USER)
        == STORE / "sessions" / CONVERSATION / "events"
    )
    assert find_events_dir(STORE, "../sessions") is None
    assert find_events_dir(STORE, "0" * 32) is None


def test_the_user_layout_wins_when_both_exist(tmp_path: Path) -> None:
    for directory in (
        tmp_path / "sessions" / "c1" / "events",
        tmp_path / "users" / "u1" / "conversations" / "c1" / "events",
    ):
        directory.mkdir(parents=True)
    assert find_events_dir(tmp_path, "c1", "u1") == tmp_path / "users/u1/conversations/c1/events"
    assert find_events_dir(tmp_path, "c1") == tmp_path / "sessions/c1/events"


def test_ids_are_sorted_as_ints_and_other_names_ignored(v0: V0Conversation) -> None:
    for n in (10, 2, 0, 1, 100):
        v0.action(n, "message", {"content": str(n)})
    for name in ("notes.txt", "012.json", "3.json.bak", "-1.json", "4.JSON", "1e3.json", ".5.json"):
        (v0.events_dir / name).write_text("{}")
    assert event_ids(v0.events_dir) == [0, 1, 2, 10, 100]
    assert read_all(v0.events_dir) == ([0, 1, 2, 10, 100], [])
    assert event_ids(v0.events_dir / "missing") == []


def test_fixture_store_reports_what_v0_could_not_read_and_what_its_pages_hid() -> None:
    ids, problems = read_all(STORE / "sessions" / CONVERSATION / "events")
    assert ids == [*range(0, 43), *range(45, 51)]  # 43 and 44 never existed
    assert problems == [
        "25-50.json: cache page holds event 30, but events/30.json differs from it",
        "25-50.json: cache page holds event 44, but events/44.json does not exist",
    ]
    old = find_events_dir(STORE, OLD_CONVERSATION, OLD_USER)
    assert old is not None
    ids, problems = read_all(old)
    assert ids == [1, 2, 3, 4, 5, 7, 8, 9, 10]
    assert problems[0] == (
        "0.json: has neither `action` nor `observation`: not an event V0 could read"
    )
    assert problems[1].startswith("6.json: not JSON:")
    assert len(problems) == 2


def test_unreadable_files_are_skipped_and_reported(v0: V0Conversation) -> None:
    v0.action(1, "message", {"content": "ok"})
    (v0.events_dir / "0.json").write_text('{"id": 0, "source": "user", "message": "hi"}')
    (v0.events_dir / "2.json").write_bytes(
        b'{"id": 2, "action": "message", "args": {"content": "\xff"}}'
    )
    (v0.events_dir / "3.json").write_text("[1, 2]")
    (v0.events_dir / "4.json").write_text('{"id": 4, "action": null, "observation": 7}')
    (v0.events_dir / "5.json").mkdir()
    (v0.events_dir / "6.json").write_text("[" * 100_000)
    ids, problems = read_all(v0.events_dir)
    assert ids == [1]
    assert [problem.split(":")[0] for problem in problems] == [
        "0.json",
        "2.json",
        "3.json",
        "4.json",
        "5.json",
        "6.json",
    ]
    assert "neither `action` nor `observation`" in problems[0]
    assert "not JSON" in problems[1]
    assert "not a JSON object" in problems[2]
    assert "cannot be read" in problems[4]


def test_an_id_field_that_disagrees_with_the_name_is_reported(v0: V0Conversation) -> None:
    (v0.events_dir / "3.json").write_text('{"id": 9, "action": "message", "args": {}}')
    problems: list[Problem] = []
    events = [event.id for event in iter_events(v0.events_dir, problems.append)]
    assert events == [3]
    assert [problem.message for problem in problems] == ["its id field is 9; read as event 3"]


def test_v0_quirks_are_read(v0: V0Conversation) -> None:
    """NaN and half a surrogate pair: V0's json.dumps wrote both; strict parsers refuse them."""
    (v0.events_dir / "0.json").write_text(
        '{"id": 0, "action": "message", "args": {"content": "\\ud83d cut", "n": NaN}}'
    )
    [event] = iter_events(v0.events_dir)
    assert event.args == {"content": "\ud83d cut", "n": None}
    assert event.kind == "action:message"


def test_older_keys_are_read_as_v0_read_them(v0: V0Conversation) -> None:
    code = "print(file_editor(**{'command': 'str_replace', 'path': '/a.py', 'old_str': 'x'}))"
    v0.action(
        0, "message", {"content": "see", "images_urls": ["data:x"], "is_confirmed": "confirmed"}
    )
    v0.action(1, "edit", {"path": "", "translated_ipython_code": code, "keep_prompt": True})
    v0.action(2, "edit", {"path": "/b", "translated_ipython_code": "print(file_editor(**{oops}))"})
    extras = {
        "command": "ls",
        "exit_code": 3,
        "command_id": 9,
        "metadata": {"exit_code": 0, "x": 1},
    }
    v0.observation(3, "run", "", extras, cause=0)
    v0.observation(4, "run", "", {"exit_code": 1, "metadata": None}, cause=0)
    first, edit, broken, observation, bare = iter_events(v0.events_dir)
    assert first.args == {
        "content": "see",
        "image_urls": ["data:x"],
        "confirmation_state": "confirmed",
    }
    assert (edit.args["command"], edit.args["path"], edit.args["old_str"]) == (
        "str_replace",
        "/a.py",
        "x",
    )
    assert broken.args["path"] == "/b"
    assert observation.args["metadata"] == {"exit_code": 3, "x": 1, "pid": 9}
    assert bare.args["metadata"] == {"exit_code": 1}
    assert first.data["args"]["images_urls"] == ["data:x"]  # the file's content is kept as is


def test_pages_that_match_their_files_are_not_reported(v0: V0Conversation) -> None:
    events = [v0.action(n, "message", {"content": f"event {n}"}) for n in range(60)]
    v0.page(0, events[0:25])
    v0.page(25, events[25:50])
    (v0.events_dir.parent / "event_cache" / "50-60.json").write_text("not a page name V0 wrote")
    assert read_all(v0.events_dir) == (list(range(60)), [])
    # Without a listener, pages are not even read.
    v0.page(0, [{"id": n} for n in range(25)])
    assert [event.id for event in iter_events(v0.events_dir)] == list(range(60))


def test_pages_that_differ_are_reported(v0: V0Conversation) -> None:
    events = [v0.action(n, "message", {"content": f"event {n}"}) for n in range(75)]
    changed = [dict(event) for event in events[25:50]]
    changed[3] = changed[3] | {"args": {"content": "what V0 showed"}}
    v0.page(25, changed)
    (v0.events_dir / "30.json").write_text("{torn")  # unreadable, but its page copy is fine
    v0.page(50, [*events[50:75], {"id": 80, "action": "message", "args": {}}])
    (v0.events_dir.parent / "event_cache" / "0-25.json").write_text("{torn")
    ids, problems = read_all(v0.events_dir)
    assert ids == [n for n in range(75) if n != 30]
    assert [problem.split(" (char")[0].split(": Expecting")[0] for problem in problems] == [
        "0-25.json: cache page cannot be read",
        "25-50.json: cache page holds event 28, but events/28.json differs from it",
        "30.json: not JSON",
        "25-50.json: cache page holds event 30, but events/30.json is unreadable",
        "50-75.json: cache page holds event 80, but events/80.json does not exist",
    ]
