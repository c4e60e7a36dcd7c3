"""`convstore sample` writes what it promises: every generation, broken files, V0 and V1 rows."""

import contextlib
import json
from pathlib import Path

from sqlalchemy import create_engine, text

from convstore.model import ConversationMetadata
from convstore.sample import GENERATIONS, write_sample
from convstore.stores.files import FileStore

BREAKAGES = (
    "is not valid JSON",
    "byte order mark",
    "not the directory name",
    "'carrier_pigeon' is not a value OpenHands knows",
    "pr_number is null",
    "holds a JSON list",
    "created_at is missing",
)


def test_sample_covers_every_generation_and_is_deterministic(tmp_path):
    first = write_sample(tmp_path / "a", files=50, rows=40)
    write_sample(tmp_path / "b", files=50, rows=40)
    names = sorted(p.name for p in (tmp_path / "a" / "sessions").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b" / "sessions").iterdir())
    key_sets = set()
    problems = []
    store = FileStore(Path(first.file_store))
    for name in names:
        raw = (tmp_path / "a" / "sessions" / name / "metadata.json").read_bytes()
        assert raw == (tmp_path / "b" / "sessions" / name / "metadata.json").read_bytes()
        with contextlib.suppress(ValueError):
            key_sets.add(tuple(json.loads(raw)))
        problems += store.get(name).problems
    assert {gen.fields for gen in GENERATIONS} <= key_sets
    for breakage in BREAKAGES:
        assert any(breakage in problem for problem in problems), breakage
    engine = create_engine(f"sqlite:///{first.database}")
    with engine.connect() as connection:
        versions = dict(
            connection.execute(
                text("SELECT conversation_version, count(*) FROM conversation_metadata GROUP BY 1")
            ).all()
        )
        children = connection.execute(
            text(
                "SELECT count(*) FROM conversation_metadata "
                "WHERE parent_conversation_id IS NOT NULL"
            )
        ).scalar()
        users = connection.execute(
            text("SELECT count(DISTINCT user_id) FROM conversation_metadata")
        ).scalar()
    assert versions == {"V0": first.v0_rows, "V1": first.v1_rows} and children > 0 and users >= 3
    assert isinstance(store.get(names[0]), ConversationMetadata)
