"""The V0 file store on real files: reading, rewriting atomically, deleting, refusing."""

import json
import os
import stat

import pytest

from convstore.errors import Conflict, ConvstoreError
from convstore.stores.base import Query, Sort
from convstore.stores.files import FileStore
from tests.unprivileged import make_traversable, run_unprivileged


def test_lists_newest_first_and_ignores_hidden_and_empty_directories(files):
    a, _ = files.generation("2025-12", created_at="2025-12-02T00:00:00Z")
    b, _ = files.generation("2025-06", created_at="2025-06-02T00:00:00Z")
    c, _ = files.generation("2025-01-02")  # no created_at: last
    (files.root / "sessions" / ".hidden").mkdir()
    (files.root / "sessions" / "no-metadata" / "events").mkdir(parents=True)
    store = FileStore(files.root)
    assert [r.conversation_id for r in store.search(Query())] == [a, b, c]
    assert [r.conversation_id for r in store.search(Query(sort=Sort("created", False)))] == [
        b,
        a,
        c,
    ]


def test_unreadable_file_is_a_record_with_problems(files):
    files.write("broken", b'{"conversation_id": "broken", "title": ')
    record = FileStore(files.root).get("broken")
    assert record is not None
    assert record.problems[0].startswith("metadata.json is not valid JSON: line 1 column")


def test_too_large_file_is_a_bounded_error(files):
    path = files.write("huge", b"")
    with path.open("wb") as stream:
        stream.write(b'{"title": "' + b"x" * (50 << 20) + b'"}')
    record = FileStore(files.root).get("huge")
    assert record is not None
    assert record.problems == [
        "metadata.json is 52,428,813 bytes, more than the 1,048,576 convstore reads; "
        "it is not metadata"
    ]


def test_rename_keeps_unknown_keys_order_format_and_mode(files):
    original = (
        b'{"conversation_id": "abc", "github_user_id": 7, "title": "old", '
        b'"last_updated_at": "2025-01-02T00:00:00Z", "zzz": [1, 2]}'
    )
    path = files.write("abc", original)
    os.chmod(path, 0o640)
    store = FileStore(files.root)
    record = store.get("abc")
    updated = store.update(record, {"title": "new"})
    assert updated.title == "new"
    text = path.read_bytes()
    assert text == original.replace(b'"old"', b'"new"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["metadata.json"]


def test_rename_refuses_when_the_file_changed_since_read(files):
    conversation_id, document = files.generation("2025-12")
    store = FileStore(files.root)
    record = store.get(conversation_id)
    files.write(conversation_id, {**document, "title": "changed by OpenHands"})
    with pytest.raises(Conflict):
        store.update(record, {"title": "mine"})
    assert (
        json.loads((files.root / "sessions" / conversation_id / "metadata.json").read_bytes())[
            "title"
        ]
        == "changed by OpenHands"
    )


def test_rename_refuses_a_file_it_cannot_read(files):
    files.write("bom", b"\xef\xbb\xbf{}")
    store = FileStore(files.root)
    with pytest.raises(ConvstoreError, match="refusing to rewrite"):
        store.update(store.get("bom"), {"title": "x"})
    assert (files.root / "sessions" / "bom" / "metadata.json").read_bytes() == b"\xef\xbb\xbf{}"


def test_delete_removes_session_and_user_directories(files):
    conversation_id, _ = files.generation("2025-12", user_id="alice")
    events = files.root / "users" / "alice" / "conversations" / conversation_id / "events"
    events.mkdir(parents=True)
    (events / "0.json").write_text("{}")
    store = FileStore(files.root)
    plan = store.plan_removal(store.get(conversation_id))
    assert plan.bytes_on_disk > 0 and len(plan.places) == len(plan.prefixes) == 2
    store.remove(plan)
    assert not (files.root / "sessions" / conversation_id).exists()
    assert not events.parent.exists()
    assert list((files.root / "sessions").iterdir()) == []


def test_symlink_out_of_the_store_is_never_followed(files, tmp_path):
    outside = tmp_path / "outside" / "secret"
    outside.mkdir(parents=True)
    (outside / "metadata.json").write_text('{"conversation_id": "secret", "title": "private"}')
    (files.root / "sessions" / "secret").symlink_to(outside)
    store = FileStore(files.root)
    record = store.get("secret")
    assert record.title is None and "symbolic link out of the file store" in record.problems[0]
    plan = store.plan_removal(record)
    assert plan.blockers and not plan.paths
    with pytest.raises(ConvstoreError):
        store.update(record, {"title": "x"})
    assert (outside / "metadata.json").exists()


def test_unreadable_permission_is_a_problem(files):
    path = files.write("locked", b"{}")
    path.chmod(0)
    make_traversable(files.root / "sessions" / "locked")
    problems = run_unprivileged(lambda: FileStore(files.root).get("locked").problems)
    assert problems == ["metadata.json is not readable (permission denied)"]
