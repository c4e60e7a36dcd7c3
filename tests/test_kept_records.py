"""Records a whole-store listing keeps in the V0 cache (``v0_cache.Kept``): the next one
shows a file the scan finds unchanged without reading it, and it never shows a kept
record of other bytes than the scan found, whoever kept it and whenever.

A listing keeps records only past ``READ_HERE`` (a page never does): tests set it to 0.
Files a test writes are younger than the racy window and never stored; tests move the
clock forward (``aged``) and let the file system's clock tick before an edit (``_tick``),
as in tests/test_v0_cache.py.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from convstore.cli.app import app
from convstore.model import CREATED_AT_MISSING
from convstore.stores import files as files_module
from convstore.stores import v0_cache
from convstore.stores.base import Query, Sort
from convstore.stores.files import FileStore
from convstore.stores.v0_cache import V0Cache
from tests.conftest import Database, FileStoreBuilder
from tests.test_v0_cache import (
    _tick,
    aged,
    document,
    mutate,
    random_query,
    random_store,
    record_calls,
    write,
)

__all__ = ["aged"]  # a fixture, used by name


@pytest.fixture
def whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every listing is a whole-store one past its first record, in chunks of 5."""
    monkeypatch.setattr(files_module, "READ_HERE", 0)
    monkeypatch.setattr(files_module, "STREAM_CHUNK", 5)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The conversations whose records were made by reading their file."""
    return record_calls(monkeypatch, files_module, "_record_from")


def shown(root: Path, cache: V0Cache | None, query: Query | None = None) -> list[Any]:
    """What a listing prints of each record (JSON, CSV), and the token a rename checks."""
    store = FileStore(root, cache=cache, workers=1)
    return [
        (record.output_text("json"), record.output_text("csv"), record.token)
        for record in store.search(query or Query())
    ]


def kept(cache: V0Cache) -> dict[str, bytes]:
    """The kept records' signatures, by address."""
    with sqlite3.connect(cache.path) as connection:
        return dict(connection.execute("SELECT address, signature FROM shown"))


def store_of(root: Path, count: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    names = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(count)]
    for name in names:
        write(root, name, document(rng, name))
    return names


def test_the_next_whole_listing_reads_only_what_changed(
    tmp_path: Path, aged: None, whole: None, made: list[str]
) -> None:
    root = tmp_path / "store"
    names = store_of(root, 12)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, None)
    made.clear()
    assert shown(root, cache) == expected
    assert sorted(made) == sorted(names)  # each read once, for its record
    assert sorted(kept(cache)) == sorted(names)
    made.clear()
    assert shown(root, cache) == expected
    assert made == []

    _tick()
    edited, deleted = names[3], names[7]
    path = root / "sessions" / edited / "metadata.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "title": "edited"}))
    (root / "sessions" / deleted / "metadata.json").unlink()
    (root / "sessions" / deleted).rmdir()
    added = store_of(root, 1, seed=2)
    expected = shown(root, None)
    made.clear()
    assert shown(root, cache) == expected
    assert sorted(made) == sorted([edited, *added])
    assert any('"title": "edited"' in line for line, _, _ in expected)
    assert sorted(kept(cache)) == sorted({*names, *added} - {deleted})


def test_a_page_keeps_no_record(tmp_path: Path, aged: None) -> None:
    root = tmp_path / "store"
    store_of(root, 6)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    assert shown(root, cache) == shown(root, None)  # under READ_HERE: read one by one
    assert kept(cache) == {}


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), rounds=st.integers(1, 4))
def test_a_whole_listing_with_kept_records_is_the_listing_without_them(
    seed: int, rounds: int, aged: None, whole: None
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        root, cache = random_store(scratch, rng, 15)
        for _ in range(rounds):
            everything = list(FileStore(root).search(Query()))
            for _ in range(3):
                query = random_query(rng, everything)
                assert shown(root, cache, query) == shown(root, None, query), query
            _tick()
            for _ in range(rng.randrange(1, 5)):
                operations = ("add", "edit", "edit", "delete", "break", "remove metadata")
                mutate(root, rng, rng.choice(operations))
        assert shown(root, cache) == shown(root, None)


def test_a_kept_record_of_other_bytes_is_never_shown(
    tmp_path: Path, aged: None, whole: None, made: list[str]
) -> None:
    root = tmp_path / "store"
    names = store_of(root, 4)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, cache)
    forged = _record_titled("forged")
    with sqlite3.connect(cache.path) as connection:  # as if kept of other bytes
        connection.execute(
            "UPDATE shown SET signature = x'00', record = ? WHERE address = ?", (forged, names[0])
        )
    made.clear()
    assert shown(root, cache) == expected
    assert made == [names[0]]


def test_a_record_replaced_after_the_scan_is_read_from_its_file(
    tmp_path: Path, aged: None, whole: None, made: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another run keeps a record of newer bytes between this run's choice of what to
    take from the cache and its fetch: this run reads that file itself."""
    root = tmp_path / "store"
    names = store_of(root, 4)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, cache)
    real = v0_cache.Kept.usable

    def replaced_meanwhile(self: v0_cache.Kept) -> set[str]:
        usable = real(self)
        with sqlite3.connect(cache.path) as other:
            other.execute(
                "UPDATE shown SET signature = x'01', record = ? WHERE address = ?",
                (_record_titled("newer"), names[2]),
            )
        return usable

    monkeypatch.setattr(v0_cache.Kept, "usable", replaced_meanwhile)
    made.clear()
    assert shown(root, cache) == expected
    assert made == [names[2]]


def test_a_cache_busy_with_another_run_keeps_nothing_and_lists_everything(
    tmp_path: Path, aged: None, whole: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "store"
    store_of(root, 7)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, None)
    writers: list[sqlite3.Connection] = []
    real = v0_cache.Kept.usable

    def writer_arrives(self: v0_cache.Kept) -> set[str]:
        writer = sqlite3.connect(cache.path, isolation_level=None)
        writer.execute("BEGIN IMMEDIATE")  # held until the listing is over
        writers.append(writer)
        return real(self)

    monkeypatch.setattr(v0_cache.Kept, "usable", writer_arrives)
    assert shown(root, cache) == expected
    (writer,) = writers
    writer.execute("ROLLBACK")
    writer.close()
    assert kept(cache) == {}
    monkeypatch.setattr(v0_cache.Kept, "usable", real)
    assert shown(root, cache) == expected
    assert len(kept(cache)) == 7


def test_records_of_another_shape_are_dropped(
    tmp_path: Path, aged: None, whole: None, made: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pack of another release or model is never unpacked: the next listing reads the
    files again and keeps records of its own shape."""
    root = tmp_path / "store"
    names = store_of(root, 5)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, cache)
    monkeypatch.setattr(files_module, "PACKED_SHAPE", "another release")
    made.clear()
    assert shown(root, cache) == expected
    assert sorted(made) == sorted(names)
    with sqlite3.connect(cache.path) as connection:
        shape = connection.execute("SELECT value FROM meta WHERE name = 'shape'").fetchone()
    assert shape == ("another release",)
    made.clear()
    assert shown(root, cache) == expected
    assert made == []


def test_a_cache_file_of_another_user_is_not_used(
    tmp_path: Path, aged: None, whole: None, made: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kept records are unpickled: a cache file this user does not own (one in another
    user's home, under sudo) is never read."""
    root = tmp_path / "store"
    names = store_of(root, 3)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    expected = shown(root, cache)
    before = cache.path.read_bytes()
    owner = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)  # this run is someone else
    made.clear()
    assert shown(root, cache) == expected
    assert sorted(made) == sorted(names)
    assert cache.path.read_bytes() == before


def test_a_kept_undated_record_hides_nothing_once_its_v1_twin_exists(
    files: FileStoreBuilder,
    make_database: Any,
    aged: None,
    whole: None,
    made: list[str],
) -> None:
    """The catalog drops the problem from a kept record as from one read now, and the
    JSON printed is made again without it."""
    database: Database = make_database()
    twin = uuid.uuid4()
    cid, data = files.generation("2025-12", conversation_id=twin.hex, user_id="alice")
    del data["created_at"]
    files.write(cid, data)
    arguments = ["list", "--file-store", files.root, "--db", database.url]
    arguments += ["--version", "V0", "--all", "--format", "jsonl"]

    def problems() -> list[str]:
        result = CliRunner().invoke(app, [str(argument) for argument in arguments])
        assert result.exit_code == 0, result.output
        (item,) = [json.loads(line) for line in result.stdout.splitlines()]
        return list(item["problems"])

    assert problems() == [CREATED_AT_MISSING]
    assert problems() == [CREATED_AT_MISSING]  # from the kept record
    database.insert(conversation_id=str(twin), user_id="alice")
    made.clear()
    assert problems() == []
    assert made == []  # the kept record, shown as OpenHands shows it now


def test_every_sort_of_a_whole_listing_takes_kept_records(
    tmp_path: Path, aged: None, whole: None, made: list[str]
) -> None:
    root = tmp_path / "store"
    store_of(root, 9)
    cache = V0Cache.for_store(root, tmp_path / "cache")
    shown(root, cache)
    for sort in ("created", "-updated", "title", "-title"):
        query = Query(sort=Sort.parse(sort))
        made.clear()
        assert shown(root, cache, query) == shown(root, None, query)
        assert len(made) == 9  # all of them by the listing without the cache


def _record_titled(title: str) -> bytes:
    from convstore.model import ConversationMetadata

    record = ConversationMetadata.from_source(
        {"conversation_id": "0" * 32, "title": title},
        store="files",
        version="V0",
        location="nowhere",
        address="0" * 32,
    )
    return pickle.dumps(record.packed())
