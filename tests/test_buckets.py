"""Every command but the event handling, on an S3 bucket: moto's real S3 server.

The same store is built on local disk and mirrored into a bucket below a prefix; each
command runs on both and must answer alike (locations aside). Writes (rename, verify
--fix, delete, sample) run on the bucket, and the lost-update tests change an object
between convstore's read and its conditional write with an ``Interceptor`` in front of
moto (tests/object_servers.py): the change lands right before the write request, so the
interleaving is forced, not timed.

GCS: the reading commands run against fake-gcs-server too (it takes no writes through
the API convstore uses); tests/test_objects.py says which GCS behaviours only the
library covers.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convstore.cli.app import app
from tests.conftest import FileStoreBuilder, aged
from tests.faults import one_line_error
from tests.object_servers import (
    FakeGcs,
    Interceptor,
    Request,
    authenticating_moto_server,
    create_s3_bucket,
    fake_gcs_server,
    intercepting_moto_server,
    s3_client,
    s3_environment,
)

CONFLICT = 5
UNAVAILABLE = 3
USAGE = 2


@dataclass
class S3:
    endpoint: str
    interceptor: Interceptor

    @property
    def env(self) -> dict[str, str]:
        return s3_environment(self.endpoint)

    def new_bucket(self) -> str:
        bucket = f"convstore-{uuid.uuid4().hex[:20]}"
        create_s3_bucket(self.endpoint, bucket)
        return bucket

    def put(self, bucket: str, key: str, data: bytes) -> None:
        s3_client(self.endpoint).put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, bucket: str, key: str) -> bytes | None:
        client = s3_client(self.endpoint)
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None

    def keys(self, bucket: str) -> list[str]:
        pages = s3_client(self.endpoint).get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with intercepting_moto_server() as (endpoint, interceptor):
        yield S3(endpoint, interceptor)


@dataclass
class Run:
    status: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str] | None = None) -> Run:
    result = CliRunner().invoke(app, list(args), env=env)
    crash = result.exception
    assert crash is None or isinstance(crash, SystemExit), repr(crash)
    return Run(result.exit_code, result.stdout, result.stderr)


@dataclass
class Twins:
    """One store on local disk and the same objects in a bucket below a prefix."""

    root: Path
    url: str
    bucket: str
    prefix: str
    env: dict[str, str]
    ids: dict[str, str]

    def on_both(self, *args: str) -> tuple[Run, Run]:
        local = cli(*args, "--file-store", str(self.root), env=self.env)
        remote = cli(*args, "--file-store", self.url, env=self.env)
        return local, remote

    def same(self, text: str) -> str:
        """Local text with the store's paths as the bucket's URLs."""
        return text.replace(str(self.root), self.url)


def build_store(root: Path) -> dict[str, str]:
    """Every shape list, show and verify care about: generations, users, broken files,
    events in both layouts, and remains of a conversation without metadata.json."""
    files = FileStoreBuilder(root)
    ids: dict[str, str] = {}
    for index, generation in enumerate(
        ("2025-01-02", "2025-01-14", "2025-04", "2025-06", "2025-12")
    ):
        for user in ("alice", "bob", None):
            name = f"{generation}-{user}"
            values: dict[str, Any] = {"title": f"{name} conversation {index}"}
            if user is not None:
                values["user_id"] = user
            ids[name], _ = files.generation(generation, **values)
    ids["no-created"], document = files.generation("2025-12", user_id="alice", title="undated")
    del document["created_at"]
    files.write(ids["no-created"], document)
    ids["broken"] = uuid.UUID(int=1).hex
    files.write(ids["broken"], b'{"conversation_id": "' + ids["broken"].encode() + b'", ')
    ids["null-pr"], _ = files.generation("2025-12", user_id="bob", pr_number=None)
    events = root / "sessions" / ids["2025-12-alice"] / "events"
    events.mkdir()
    for number in range(3):
        (events / f"{number}.json").write_text(json.dumps({"id": number, "message": "hi"}))
    owned = root / "users" / "bob" / "conversations" / ids["2025-12-bob"] / "events"
    owned.mkdir(parents=True)
    (owned / "0.json").write_text(json.dumps({"id": 0}))
    ids["remains"] = uuid.UUID(int=2).hex
    leftover = root / "sessions" / ids["remains"] / "events"
    leftover.mkdir(parents=True)
    (leftover / "0.json").write_text("{}")
    aged(root)  # on disk, not in use (objects uploaded now are: delete takes --force)
    return ids


@pytest.fixture
def twins(s3: S3, tmp_path: Path) -> Twins:
    root = tmp_path / "store"
    ids = build_store(root)
    bucket = s3.new_bucket()
    prefix = "deploy/openhands"
    for path in sorted(root.rglob("*")):
        if path.is_file():
            s3.put(bucket, f"{prefix}/{path.relative_to(root).as_posix()}", path.read_bytes())
    return Twins(root, f"s3://{bucket}/{prefix}", bucket, prefix, s3.env, ids)


def cursor_of(run: Run) -> str:
    found = re.search(r"--cursor (\S+)", run.stderr)
    assert found is not None, run.stderr
    return found.group(1)


# Reading: the same answers as on local disk


LISTINGS = [
    [],
    ["--sort", "title"],
    ["--sort", "-updated", "--user", "alice"],
    ["--since", "2025-01-01", "--sort", "created"],
    ["--repo", "acme", "--title", "conversation"],
    ["--version", "V0", "--limit", "4"],
    ["--all"],
]


@pytest.mark.parametrize("output_format", ["table", "json", "jsonl", "csv"])
def test_list_on_a_bucket_is_list_on_disk(twins: Twins, output_format: str) -> None:
    for arguments in LISTINGS:
        for _cache in ("cold", "warm"):  # the second run validates the index cache
            local, remote = twins.on_both("list", "--format", output_format, *arguments)
            assert local.status == remote.status == 0, (arguments, remote.stderr)
            assert remote.stdout == twins.same(local.stdout), arguments
            assert remote.stdout.strip(), arguments


def test_paging_through_a_bucket_with_cursors_is_paging_on_disk(twins: Twins) -> None:
    local, remote = twins.on_both("list", "--limit", "5", "--format", "jsonl")
    seen = []
    while True:
        assert remote.stdout == twins.same(local.stdout)
        seen += [json.loads(line)["conversation_id"] for line in remote.stdout.splitlines()]
        if "--cursor" not in remote.stderr:
            assert "--cursor" not in local.stderr
            break
        assert cursor_of(remote) == cursor_of(local)
        local, remote = twins.on_both(
            "list", "--limit", "5", "--format", "jsonl", "--cursor", cursor_of(local)
        )
    assert len(seen) == len(set(seen)) == len(twins.ids) - 1  # the remains are no conversation


def test_the_cache_sees_an_object_changed_in_the_bucket(s3: S3, twins: Twins) -> None:
    """The V0 index cache validates by ETag: a rewrite by another client shows up."""
    first = cli("list", "--file-store", twins.url, "--format", "json", env=twins.env)
    assert "renamed behind" not in first.stdout
    key = f"{twins.prefix}/sessions/{twins.ids['2025-01-14-bob']}/metadata.json"
    document = json.loads(s3.get(twins.bucket, key) or b"")
    s3.put(twins.bucket, key, json.dumps({**document, "title": "renamed behind"}).encode())
    again = cli("list", "--file-store", twins.url, "--format", "json", env=twins.env)
    titles = {item["conversation_id"]: item["title"] for item in json.loads(again.stdout)}
    assert titles[twins.ids["2025-01-14-bob"]] == "renamed behind"


def test_stats_on_a_bucket_is_stats_on_disk_through_the_cache(s3: S3, twins: Twins) -> None:
    """Cold, warm, after a listing stored entries without figures, and after another
    client rewrote an object: the figures of the bucket are those of the disk."""
    key = f"{twins.prefix}/sessions/{twins.ids['2025-12-alice']}/metadata.json"
    document = json.loads(s3.get(twins.bucket, key) or b"")
    path = twins.root / "sessions" / twins.ids["2025-12-alice"] / "metadata.json"
    for step in ("cold", "warm", "listed", "rewritten", "warm again"):
        if step == "listed":
            assert cli("list", "--file-store", twins.url, env=twins.env).status == 0
        if step == "rewritten":
            changed = json.dumps({**document, "accumulated_cost": 123.25}).encode()
            s3.put(twins.bucket, key, changed)
            path.write_bytes(changed)
        local, remote = twins.on_both("stats", "--by", "user,month", "--format", "json")
        assert local.status == remote.status == 0, (step, remote.stderr)
        assert json.loads(remote.stdout) == json.loads(local.stdout), step
        no_cache = cli(
            "stats",
            "--by",
            "user,month",
            "--format",
            "json",
            "--no-cache",
            "--file-store",
            twins.url,
            env=twins.env,
        )
        assert json.loads(no_cache.stdout) == json.loads(local.stdout), step
        if step == "rewritten":
            total = json.loads(remote.stdout)["totals"]["cost"]
            assert total >= 123.25, total


def test_show_on_a_bucket_is_show_on_disk(twins: Twins) -> None:
    for name in ("2025-12-alice", "2025-12-bob", "2025-01-02-None", "broken", "no-created"):
        local, remote = twins.on_both("show", twins.ids[name], "--format", "json")
        assert local.status == remote.status, (name, remote.stderr)
        mine, theirs = json.loads(twins.same(local.stdout)), json.loads(remote.stdout)
        assert theirs == mine, name
        assert theirs["size_on_disk"] > 0
    shown = json.loads(
        twins.on_both("show", twins.ids["2025-12-alice"], "--format", "json")[1].stdout
    )
    assert shown["events"]["count"] == 3
    assert (
        shown["events"]["directory"] == f"{twins.url}/sessions/{twins.ids['2025-12-alice']}/events"
    )


def test_show_sums_the_objects_of_both_layouts(twins: Twins) -> None:
    _, remote = twins.on_both("show", twins.ids["2025-12-bob"], "--format", "json")
    expected = sum(
        path.stat().st_size
        for part in (
            twins.root / "sessions" / twins.ids["2025-12-bob"],
            twins.root / "users" / "bob" / "conversations" / twins.ids["2025-12-bob"],
        )
        for path in part.rglob("*")
        if path.is_file()
    )
    assert json.loads(remote.stdout)["size_on_disk"] == expected
    table = cli("show", twins.ids["2025-12-bob"], "--file-store", twins.url, env=twins.env)
    where = f"{twins.url}/users/bob/conversations/{twins.ids['2025-12-bob']}/events"
    assert f"1 V0 events, 9 bytes in {where}" in " ".join(table.stdout.split())


@pytest.mark.parametrize("checks", [["--check", "files"], ["--check", "events"], []])
def test_verify_on_a_bucket_finds_what_it_finds_on_disk(twins: Twins, checks: list[str]) -> None:
    local, remote = twins.on_both("verify", "--format", "json", *checks)
    assert local.status == remote.status == (0 if checks == ["--check", "events"] else 1), (
        remote.stderr
    )
    mine, theirs = json.loads(twins.same(local.stdout)), json.loads(remote.stdout)
    assert theirs["findings"] == mine["findings"]
    assert theirs["summary"]["not_applicable"] == mine["summary"]["not_applicable"]
    found = {finding["check"] for finding in mine["findings"]}
    if checks != ["--check", "events"]:
        assert {"files.invalid-json", "files.missing-created-at", "files.required-field"} <= found
    if checks != ["--check", "files"]:
        # The remains (events, no metadata.json): an orphaned events prefix.
        orphans = [f for f in theirs["findings"] if f["check"] == "events.v0-without-metadata"]
        assert [f["conversation_id"] for f in orphans] == [twins.ids["remains"]]
        assert orphans[0]["location"] == f"{twins.url}/sessions/{twins.ids['remains']}"


def test_export_of_a_conversation_without_events_names_the_bucket(twins: Twins) -> None:
    without = cli(
        "export",
        twins.ids["2025-01-02-None"],
        "--format",
        "json",
        "--file-store",
        twins.url,
        env=twins.env,
    )
    assert without.status == 0, without.stderr
    exported = json.loads(without.stdout)
    assert exported["metadata"]["conversation_id"] == twins.ids["2025-01-02-None"]
    searched = f"{twins.url}/sessions/{twins.ids['2025-01-02-None']}/events"
    assert exported["events_searched"] == [searched]  # looked there, found none


# Writing, with a compare-and-swap against what was read


def test_rename_on_a_bucket(s3: S3, twins: Twins) -> None:
    conversation = twins.ids["2025-06-alice"]
    run = cli("rename", conversation, "A new title", "--file-store", twins.url, env=twins.env)
    assert run.status == 0, run.stderr
    key = f"{twins.prefix}/sessions/{conversation}/metadata.json"
    assert json.loads(s3.get(twins.bucket, key) or b"")["title"] == "A new title"


def test_a_change_between_read_and_write_is_never_overwritten(s3: S3, twins: Twins) -> None:
    """OpenHands writes the cost while convstore renames: If-Match refuses the PUT."""
    conversation = twins.ids["2025-06-bob"]
    key = f"{twins.prefix}/sessions/{conversation}/metadata.json"
    document = json.loads(s3.get(twins.bucket, key) or b"")
    behind = json.dumps({**document, "accumulated_cost": 99.5}).encode()
    s3.interceptor.before_next("PUT", key, lambda: s3.put(twins.bucket, key, behind))
    run = cli("rename", conversation, "mine", "--file-store", twins.url, env=twins.env)
    assert s3.interceptor.fired == [f"PUT /{twins.bucket}/{key}"]
    assert run.status == CONFLICT, run.stderr
    assert "changed or disappeared since it was read" in one_line_error(run.stderr)
    assert s3.get(twins.bucket, key) == behind
    s3.interceptor.fired.clear()


def test_verify_fix_on_a_bucket_repairs_and_never_overwrites_a_change(s3: S3, twins: Twins) -> None:
    fixed, raced = twins.ids["null-pr"], twins.ids["no-created"]
    raced_key = f"{twins.prefix}/sessions/{raced}/metadata.json"
    document = json.loads(s3.get(twins.bucket, raced_key) or b"")
    behind = json.dumps({**document, "title": "written by OpenHands"}).encode()
    s3.interceptor.before_next("PUT", raced_key, lambda: s3.put(twins.bucket, raced_key, behind))
    run = cli("verify", "--fix", "--check", "files", "--file-store", twins.url, env=twins.env)
    assert s3.interceptor.fired == [f"PUT /{twins.bucket}/{raced_key}"]
    s3.interceptor.fired.clear()
    # As on disk: a batch reports the repair it could not make and goes on (exit 1).
    assert run.status == 1, (run.stdout, run.stderr)
    assert "changed since verify read it" in run.stdout
    assert s3.get(twins.bucket, raced_key) == behind  # not overwritten
    fixed_key = f"{twins.prefix}/sessions/{fixed}/metadata.json"
    assert json.loads(s3.get(twins.bucket, fixed_key) or b"")["pr_number"] == []


def test_delete_removes_every_object_metadata_first(s3: S3, twins: Twins) -> None:
    conversation = twins.ids["2025-12-bob"]
    mine = [
        key
        for key in s3.keys(twins.bucket)
        if f"/sessions/{conversation}/" in key or f"/conversations/{conversation}/" in key
    ]
    assert len(mine) == 2
    dry = cli(
        "delete", conversation, "--dry-run", "--force", "--file-store", twins.url, env=twins.env
    )
    assert dry.status == 0, dry.stderr
    for key in mine:
        assert f"remove object s3://{twins.bucket}/{key}" in dry.stdout
    assert sorted(mine) == sorted(k for k in s3.keys(twins.bucket) if k in mine)
    # S3 deletes go out as bulk requests (POST /<bucket>?delete): what the bucket holds
    # right before each shows the order, metadata.json first, alone.
    seen: list[list[str]] = []
    for _ in range(2):
        s3.interceptor.before_next(
            "POST", f"/{twins.bucket}", lambda: seen.append(s3.keys(twins.bucket))
        )
    run = cli("delete", conversation, "--yes", "--force", "--file-store", twins.url, env=twins.env)
    assert run.status == 0, run.stderr
    s3.interceptor.fired.clear()
    metadata = f"{twins.prefix}/sessions/{conversation}/metadata.json"
    assert len(seen) == 2
    assert set(mine) <= set(seen[0])
    assert set(seen[0]) - set(seen[1]) == {metadata}
    assert not [key for key in s3.keys(twins.bucket) if key in mine]
    listed = cli("list", "--all", "--format", "jsonl", "--file-store", twins.url, env=twins.env)
    assert conversation not in listed.stdout


def test_delete_finishes_what_a_cut_short_delete_left(s3: S3, twins: Twins) -> None:
    remains = twins.ids["remains"]
    run = cli("delete", remains, "--yes", "--force", "--file-store", twins.url, env=twins.env)
    assert run.status == 0, run.stderr
    assert not [key for key in s3.keys(twins.bucket) if remains in key]


def test_a_delete_of_a_conversation_changed_meanwhile_deletes_nothing(s3: S3, twins: Twins) -> None:
    conversation = twins.ids["2025-04-alice"]
    key = f"{twins.prefix}/sessions/{conversation}/metadata.json"
    behind = (s3.get(twins.bucket, key) or b"").replace(b"}", b', "x": 1}', 1)
    s3.interceptor.before_next("HEAD", key, lambda: s3.put(twins.bucket, key, behind))
    run = cli("delete", conversation, "--yes", "--force", "--file-store", twins.url, env=twins.env)
    s3.interceptor.fired.clear()
    assert run.status == CONFLICT, run.stderr
    assert s3.get(twins.bucket, key) == behind


def test_sample_into_a_bucket_lists_as_the_sample_on_disk(s3: S3, tmp_path: Path) -> None:
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/demo"
    made = cli("sample", str(tmp_path / "b"), "--files", "40", "--file-store", url, env=s3.env)
    assert made.status == 0, made.stderr
    assert made.stdout.strip() == f"--file-store {url} --db {tmp_path / 'b' / 'openhands.db'}"
    assert not (tmp_path / "b" / "sessions").exists()
    on_disk = cli("sample", str(tmp_path / "a"), "--files", "40", env=s3.env)
    assert on_disk.status == 0
    local = cli("list", "--all", "--format", "csv", "--file-store", str(tmp_path / "a"), env=s3.env)
    remote = cli("list", "--all", "--format", "csv", "--file-store", url, env=s3.env)
    assert remote.stdout == local.stdout.replace(str(tmp_path / "a"), url)
    again = cli("sample", str(tmp_path / "c"), "--file-store", url, env=s3.env)
    assert again.status == USAGE and "is not empty" in one_line_error(again.stderr)


# Reaching the bucket


def test_a_missing_bucket_is_exit_3_in_one_line(s3: S3) -> None:
    run = cli("list", "--file-store", "s3://no-such-bucket-here/x", env=s3.env)
    assert run.status == UNAVAILABLE
    assert "bucket 'no-such-bucket-here' does not exist" in one_line_error(run.stderr)


def test_refused_credentials_are_exit_3_in_one_line() -> None:
    with authenticating_moto_server() as endpoint:
        run = cli("list", "--file-store", "s3://any-bucket", env=s3_environment(endpoint))
    assert run.status == UNAVAILABLE
    line = one_line_error(run.stderr)
    assert "refused the credentials" in line
    assert "testing-secret" not in run.stderr + run.stdout


def test_an_unreachable_endpoint_is_exit_3_in_one_line(refusing_port: int) -> None:
    env = s3_environment(f"http://127.0.0.1:{refusing_port}")
    run = cli("show", "0" * 32, "--file-store", "s3://a-bucket", "--connect-timeout", "2", env=env)
    assert run.status == UNAVAILABLE
    assert "cannot reach" in one_line_error(run.stderr)


@pytest.fixture
def refusing_port() -> int:
    """A port nothing listens on (bound, never listening, then closed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# Settings: OpenHands' variables, and no secret printed


def test_openhands_variables_point_at_the_bucket_without_flags(twins: Twins) -> None:
    env = {**twins.env, "FILE_STORE": "s3", "FILE_STORE_PATH": twins.bucket}
    # The prefix is ours (OpenHands keeps sessions/ at the root of its bucket): moved there.
    run = cli("config", env=env)
    assert run.status == 0, run.stderr
    line = next(line for line in run.stdout.splitlines() if line.startswith("file_store"))
    assert f"s3://{twins.bucket}" in line and "env FILE_STORE, FILE_STORE_PATH" in line
    assert "credentials: env AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY" in line
    assert "testing-secret" not in run.stdout + run.stderr
    assert "testing" not in line.replace("testing-secret", "")
    env_first = cli("config", env={**env, "CONVSTORE_FILE_STORE": twins.url})
    first = next(line for line in env_first.stdout.splitlines() if line.startswith("file_store"))
    assert twins.url in first and "env CONVSTORE_FILE_STORE" in first
    flag = cli("config", "--file-store", str(twins.root), env=env)
    flagged = next(line for line in flag.stdout.splitlines() if line.startswith("file_store"))
    assert str(twins.root) in flagged and "(flag" in flagged


def test_config_toml_comes_before_openhands_variables(twins: Twins, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'file_store = "{twins.root}"\n')
    env = {**twins.env, "FILE_STORE": "s3", "FILE_STORE_PATH": twins.bucket}
    run = cli("config", "--config", str(config), env=env)
    line = next(line for line in run.stdout.splitlines() if line.startswith("file_store"))
    assert str(twins.root) in line and "s3://" not in line, line


def test_openhands_bucket_name_fallback(twins: Twins) -> None:
    env = {**twins.env, "FILE_STORE": "s3", "AWS_S3_BUCKET": twins.bucket}
    run = cli("config", env=env)
    line = next(line for line in run.stdout.splitlines() if line.startswith("file_store"))
    assert f"s3://{twins.bucket}" in line and "AWS_S3_BUCKET" in line


def test_config_toml_takes_a_bucket_url(twins: Twins, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'file_store = "{twins.url}"\n')
    local = cli("list", "--all", "--format", "csv", "--file-store", str(twins.root), env=twins.env)
    remote = cli("list", "--all", "--format", "csv", "--config", str(config), env=twins.env)
    assert remote.status == 0, remote.stderr
    assert remote.stdout == twins.same(local.stdout)


# Requests: a delimiter listing, metadata reads in flight, conditional reads when cached


def many_events_store(
    s3: S3, tmp_path: Path, count: int, events: int
) -> tuple[str, str, list[str]]:
    """A bucket of ``count`` conversations with ``events`` event objects each: more keys
    than one listing page, so a walk of sessions/ would show in the requests."""
    bucket, root = s3.new_bucket(), "oh"
    builder = FileStoreBuilder(tmp_path / "source")
    client = s3_client(s3.endpoint)
    ids = []
    for index in range(count):
        conversation_id, _ = builder.generation("2025-12", title=f"c{index}")
        ids.append(conversation_id)
        prefix = f"{root}/sessions/{conversation_id}"
        metadata = builder.root / "sessions" / conversation_id / "metadata.json"
        client.put_object(Bucket=bucket, Key=f"{prefix}/metadata.json", Body=metadata.read_bytes())
        for number in range(events):
            client.put_object(Bucket=bucket, Key=f"{prefix}/events/{number}.json", Body=b"{}")
    return bucket, f"s3://{bucket}/{root}", ids


def recorded(s3: S3, *args: str) -> tuple[Run, list[Request]]:
    """A command's run and every request moto received for it."""
    interceptor = s3.interceptor
    interceptor.requests.clear()
    interceptor.recording = True
    try:
        run = cli(*args, env=s3.env)
    finally:
        interceptor.recording = False
    assert run.status == 0, run.stderr
    return run, list(interceptor.requests)


def test_list_lists_by_delimiter_reads_in_flight_and_revalidates_by_etag(
    s3: S3, tmp_path: Path
) -> None:
    """A sort on a field that changes (last_updated_at): every entry of the cache is
    revalidated, by a conditional read."""
    bucket, url, ids = many_events_store(s3, tmp_path, count=24, events=45)  # 1,104 keys
    barrier = s3.interceptor.hold("/metadata.json", parties=8, timeout=30)
    listing = ("list", "--all", "--sort", "-updated", "--format", "jsonl", "--file-store", url)
    cold, cold_requests = recorded(s3, *listing)
    warm, warm_requests = recorded(s3, *listing)
    assert not barrier.broken  # 8 metadata reads were in flight at once
    assert cold.status == warm.status == 0, cold.stderr + warm.stderr
    assert cold.stdout == warm.stdout and len(cold.stdout.splitlines()) == len(ids)
    for requests in (cold_requests, warm_requests):
        listings = [r for r in requests if r.path == f"/{bucket}"]
        # The probe (the root) and sessions/, both by delimiter: no event key listed.
        assert all(r.query.get("delimiter") == ["/"] for r in listings), listings
        assert [r.query["prefix"] for r in listings] == [["oh/"], ["oh/sessions/"]]
        assert not [r for r in requests if "/events/" in r.path]
    reads = [r for r in warm_requests if r.path.endswith("/metadata.json")]
    revalidated = [r for r in reads if r.conditional]
    assert len(revalidated) == len(ids)
    assert {r.status for r in revalidated} == {304}  # no body: unchanged since the cache
    # The records listed are read in full (one GET each), as on disk.
    assert len(reads) - len(revalidated) == len(ids)


def created_store(s3: S3, tmp_path: Path, count: int) -> tuple[str, str, list[str]]:
    """A bucket of ``count`` conversations (below ``oh/``) created a minute apart, owned
    by alice and bob in turn; their ids, newest first."""
    bucket = s3.new_bucket()
    builder = FileStoreBuilder(tmp_path / "created")
    client = s3_client(s3.endpoint)
    ids = []
    for index in range(count):
        created = f"2025-12-01T{index // 60:02d}:{index % 60:02d}:00Z"
        conversation_id, document = builder.generation(
            "2025-12",
            title=f"c{index}",
            created_at=created,
            user_id=("alice", "bob")[index % 2],
        )
        client.put_object(
            Bucket=bucket,
            Key=f"oh/sessions/{conversation_id}/metadata.json",
            Body=json.dumps(document).encode(),
        )
        ids.append(conversation_id)
    return bucket, f"s3://{bucket}/oh", ids[::-1]


def metadata_reads(requests: list[Request]) -> list[Request]:
    return [r for r in requests if r.method == "GET" and r.path.endswith("/metadata.json")]


def listings(requests: list[Request], bucket: str) -> list[Request]:
    return [r for r in requests if r.path == f"/{bucket}"]


def page_ids(run: Run) -> list[str]:
    return [json.loads(line)["conversation_id"] for line in run.stdout.splitlines()]


def test_a_warm_first_page_reads_only_the_records_it_shows(s3: S3, tmp_path: Path) -> None:
    """Sorted by created_at, set at creation (stores.creation_fields): the page is chosen
    from the cache, and only one window of candidates (32 reads in flight) is read."""
    from convstore.objects.base import IN_FLIGHT

    bucket, url, newest_first = created_store(s3, tmp_path, 120)
    page = ("list", "--format", "jsonl", "--file-store", url)
    cold, cold_requests = recorded(s3, *page)
    assert page_ids(cold) == newest_first[:20]
    # Cold: every object read into the cache, then the window of the page's candidates.
    assert len(metadata_reads(cold_requests)) == 120 + IN_FLIGHT
    warm, warm_requests = recorded(s3, *page)
    assert warm.stdout == cold.stdout
    assert len(listings(warm_requests, bucket)) == 2  # the probe, one page of sessions/
    reads = metadata_reads(warm_requests)
    assert len(reads) == IN_FLIGHT == len(warm_requests) - 2
    assert not [r for r in reads if r.conditional]  # nothing revalidated
    assert {r.path.split("/")[-2] for r in reads} == set(newest_first[:IN_FLIGHT])
    # A longer page: as many windows as it takes.
    longer, longer_requests = recorded(s3, *page, "--limit", "40")
    assert page_ids(longer) == newest_first[:40]
    assert len(metadata_reads(longer_requests)) == 2 * IN_FLIGHT
    # A filter on the owner is a creation field too; the title is not.
    alice, alice_requests = recorded(s3, *page, "--user", "alice")
    assert page_ids(alice) == newest_first[1::2][:20]  # the newest is bob's
    assert len(metadata_reads(alice_requests)) == IN_FLIGHT
    titled, titled_requests = recorded(s3, *page, "--title", "c1")
    revalidated = [r for r in metadata_reads(titled_requests) if r.conditional]
    assert len(revalidated) == 120 and {r.status for r in revalidated} == {304}
    assert page_ids(titled)


def test_a_warm_first_page_never_shows_a_changed_or_deleted_conversation(
    s3: S3, tmp_path: Path
) -> None:
    """Behind a warm cache: the newest conversation deleted, one renamed, one created,
    one whose created_at was edited by hand (placed again where it belongs), one that
    left alice's (owner changed). Each page is the page read without the cache."""
    from convstore.objects.base import IN_FLIGHT

    bucket, url, newest_first = created_store(s3, tmp_path, 100)
    deleted, renamed, moved, left, cut_short = newest_first[:5]
    # Its delete will be cut short: an event object stays, so sessions/ still lists it.
    s3.put(bucket, f"oh/sessions/{cut_short}/events/0.json", b"{}")
    page = ("list", "--format", "jsonl", "--file-store", url)
    warm_up, _ = recorded(s3, *page)
    assert page_ids(warm_up) == newest_first[:20]
    recorded(s3, *page, "--user", "alice")

    def key(conversation_id: str) -> str:
        return f"oh/sessions/{conversation_id}/metadata.json"

    def edit(conversation_id: str, **values: Any) -> None:
        document = json.loads(s3.get(bucket, key(conversation_id)) or b"")
        s3.put(bucket, key(conversation_id), json.dumps({**document, **values}).encode())

    for gone in (deleted, cut_short):
        s3_client(s3.endpoint).delete_object(Bucket=bucket, Key=key(gone))
    edit(renamed, title="renamed behind the cache")
    edit(moved, created_at="2025-12-01T01:29:30Z")  # between the 10th and 11th newest
    edit(left, user_id="carol")
    _, created = FileStoreBuilder(tmp_path / "new").generation(
        "2025-12", conversation_id=uuid.uuid4().hex, created_at="2025-12-02T00:00:00Z"
    )
    s3.put(bucket, key(created["conversation_id"]), json.dumps(created).encode())

    run, requests = recorded(s3, *page)
    truth = cli(*page, "--no-cache", env=s3.env)
    assert run.stdout == truth.stdout
    shown = page_ids(run)
    assert shown[0] == created["conversation_id"]
    assert deleted not in shown and cut_short not in shown
    assert shown.index(moved) == 8  # after the new one and 7 of the 10 newest
    titles = {
        item["conversation_id"]: item["title"] for item in map(json.loads, run.stdout.splitlines())
    }
    assert titles[renamed] == "renamed behind the cache"
    # The new one read into the cache (the deleted one left the listing), then one
    # window, where the one cut short is a 404.
    reads = metadata_reads(requests)
    assert len(reads) == 1 + IN_FLIGHT
    assert [r.path.split("/")[-2] for r in reads if r.status == 404] == [cut_short]
    # What moved or went is corrected in the cache: the next page reads one window (and
    # the remains, as every listing does: they are no entry).
    again, again_requests = recorded(s3, *page)
    assert again.stdout == run.stdout
    reads = metadata_reads(again_requests)
    assert len(reads) == 1 + IN_FLIGHT
    assert [r.path.split("/")[-2] for r in reads if r.status == 404] == [cut_short]
    alice, _ = recorded(s3, *page, "--user", "alice")
    assert alice.stdout == cli(*page, "--user", "alice", "--no-cache", env=s3.env).stdout
    assert left not in page_ids(alice) and page_ids(alice)


def test_a_repair_by_convstore_is_listed_where_it_now_belongs(s3: S3, tmp_path: Path) -> None:
    """`verify --fix` gives a file without created_at one (a field a warm listing takes
    from the cache): the rewrite drops its cache entry, so the next page places it."""
    bucket, url, newest_first = created_store(s3, tmp_path, 40)
    undated = newest_first[-1]
    key = f"oh/sessions/{undated}/metadata.json"
    document = json.loads(s3.get(bucket, key) or b"")
    del document["created_at"]
    s3.put(bucket, key, json.dumps(document).encode())
    page = ("list", "--format", "jsonl", "--file-store", url)
    everything, _ = recorded(s3, *page, "--all")
    assert page_ids(everything)[-1] == undated  # no created_at: listed last
    fixed = cli("verify", "--fix", "--check", "files", "--file-store", url, env=s3.env)
    assert fixed.status in (0, 1), fixed.stderr
    repaired = json.loads(s3.get(bucket, key) or b"")["created_at"]
    assert repaired > "2025-12-01T01"  # from last_updated_at: newer than every other
    run, _ = recorded(s3, *page)
    assert page_ids(run)[0] == undated
    assert run.stdout == cli(*page, "--no-cache", env=s3.env).stdout


def test_list_all_of_a_warm_bucket_reads_each_record_once(s3: S3, tmp_path: Path) -> None:
    """``list --all`` sorted by created_at: one GET per record, no revalidation first,
    and none again for a record without created_at (its V1 twin is a row, if anything)."""
    bucket, url, newest_first = created_store(s3, tmp_path, 70)
    undated = newest_first[3]
    key = f"oh/sessions/{undated}/metadata.json"
    document = json.loads(s3.get(bucket, key) or b"")
    s3.put(bucket, key, json.dumps({**document, "created_at": None}).encode())
    everything = ("list", "--all", "--format", "jsonl", "--file-store", url)
    recorded(s3, *everything)  # cold: fills the cache
    warm, requests = recorded(s3, *everything)
    assert page_ids(warm) == [i for i in newest_first if i != undated] + [undated]
    reads = metadata_reads(requests)
    assert len(reads) == 70 == len({r.path for r in reads})
    assert not [r for r in reads if r.conditional]
    assert len(listings(requests, bucket)) == 2 == len(requests) - 70  # the probe, sessions/


def test_a_warm_whole_listing_by_a_changing_field_gets_no_unchanged_record(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``list --all --sort -updated`` revalidates every object (304, no body) and takes
    the records of the unchanged ones from those the last whole listing kept
    (``v0_cache.Kept``); one rewritten by another client is read again and shown as it
    is now."""
    from convstore.stores import files as files_module

    monkeypatch.setattr(files_module, "READ_HERE", 0)  # a whole listing from the first
    bucket, url, newest_first = created_store(s3, tmp_path, 12)
    listing = ("list", "--all", "--sort", "-updated", "--format", "jsonl", "--file-store", url)
    cold, cold_requests = recorded(s3, *listing)
    assert len(metadata_reads(cold_requests)) == 24  # entries into the cache, then records
    warm, requests = recorded(s3, *listing)
    assert warm.stdout == cold.stdout
    reads = metadata_reads(requests)
    assert len(reads) == 12 and {(r.conditional, r.status) for r in reads} == {(True, 304)}

    rewritten = newest_first[5]
    key = f"oh/sessions/{rewritten}/metadata.json"
    document = json.loads(s3.get(bucket, key) or b"")
    s3.put(bucket, key, json.dumps({**document, "title": "rewritten"}).encode())
    again, requests = recorded(s3, *listing)
    assert again.stdout == cli(*listing, "--no-cache", env=s3.env).stdout
    assert '"title": "rewritten"' in again.stdout
    bodies = [r for r in metadata_reads(requests) if r.status != 304]
    # Its revalidation gives its entry, then its record is read: the kept one is stale.
    assert [(r.path.split("/")[-2], r.conditional) for r in bodies] == [
        (rewritten, True),
        (rewritten, False),
    ]


def test_stats_on_a_bucket_reads_each_changed_object_once(s3: S3, tmp_path: Path) -> None:
    """Cold, every object is read once, for its entry and its figures together; warm,
    each is revalidated (304, no body); one rewritten by another client is read once."""
    bucket, url, newest_first = created_store(s3, tmp_path, 12)
    command = ("stats", "--by", "user", "--format", "json", "--file-store", url)
    cold, cold_requests = recorded(s3, *command)
    reads = metadata_reads(cold_requests)
    assert len(reads) == 12 == len({r.path for r in reads})
    assert not [r for r in reads if r.conditional]
    warm, warm_requests = recorded(s3, *command)
    assert warm.stdout == cold.stdout
    reads = metadata_reads(warm_requests)
    assert len(reads) == 12 and all(r.conditional and r.status == 304 for r in reads)
    key = f"oh/sessions/{newest_first[5]}/metadata.json"
    document = json.loads(s3.get(bucket, key) or b"")
    s3.put(bucket, key, json.dumps({**document, "accumulated_cost": 5.5}).encode())
    changed, changed_requests = recorded(s3, *command)
    reads = metadata_reads(changed_requests)
    assert len(reads) == 12 and all(r.conditional for r in reads)
    assert [r.path.split("/")[-2] for r in reads if r.status != 304] == [newest_first[5]]
    assert json.loads(changed.stdout)["totals"] != json.loads(cold.stdout)["totals"]
    assert changed.stdout == cli(*command, "--no-cache", env=s3.env).stdout


# Google Cloud Storage: the reading commands on fake-gcs-server


@pytest.fixture(scope="module")
def gcs() -> Iterator[FakeGcs]:
    with fake_gcs_server() as server:
        yield server


def test_list_show_and_verify_on_gcs_are_as_on_disk(gcs: FakeGcs, tmp_path: Path) -> None:
    root = tmp_path / "store"
    ids = build_store(root)
    bucket = f"convstore-{uuid.uuid4().hex[:20]}"
    gcs.create_bucket(bucket)
    for path in sorted(root.rglob("*")):
        if path.is_file():
            gcs.upload(bucket, f"oh/{path.relative_to(root).as_posix()}", path.read_bytes())
    env = {"STORAGE_EMULATOR_HOST": gcs.endpoint}
    twins = Twins(root, f"gs://{bucket}/oh", bucket, "oh", env, ids)
    for output_format in ("table", "json", "csv"):
        for arguments in LISTINGS:
            local, remote = twins.on_both("list", "--format", output_format, *arguments)
            assert local.status == remote.status == 0, (arguments, remote.stderr)
            assert remote.stdout == twins.same(local.stdout), arguments
    local, remote = twins.on_both("show", ids["2025-04-alice"], "--format", "json")
    assert json.loads(remote.stdout) == json.loads(twins.same(local.stdout))
    local, remote = twins.on_both("verify", "--format", "json")
    assert json.loads(remote.stdout)["findings"] == json.loads(twins.same(local.stdout))["findings"]


def test_migrate_from_a_bucket_without_events_writes_the_rows(twins: Twins, tmp_path: Path) -> None:
    """The metadata half of migrate-v0-to-v1 reads the bucket as a directory; the V1
    rows are those the same store on disk gives."""
    from tests.conftest import Database

    rows = {}
    for name, store in (("local", str(twins.root)), ("bucket", twins.url)):
        db = tmp_path / f"{name}.db"
        Database(f"sqlite:///{db}").dispose()
        run = cli(
            "migrate-v0-to-v1",
            "--no-events",
            "--file-store",
            store,
            "--db",
            str(db),
            env=twins.env,
        )
        assert run.status in (0, 1), run.stderr  # 1: the broken files are reported
        listed = cli("list", "--all", "--format", "csv", "--db", str(db), env=twins.env)
        rows[name] = listed.stdout.replace(str(db), "DATABASE")
    assert rows["bucket"] == rows["local"]
    assert len(rows["local"].splitlines()) > 10


# Events in a bucket: read, exported, counted and deleted as on disk

EVENTS_DATA = Path(__file__).parent / "data" / "events" / "v0"
EVENTS_V0 = "7c1d3f0e2b9a4c5d8e6f0a1b2c3d4e5f"  # every kind of event, cache pages, a bad file
EVENTS_V1 = "7c1d3f0e-2b9a-4c5d-8e6f-0a1b2c3d4e5f"


@dataclass
class EventTwins(Twins):
    """The events test store (V0 events, and the V1 events migrate wrote for it) on
    disk, and in a bucket where 1.x keeps them: ``users/v1_conversations/<hex>``."""

    db: Path

    @property
    def v1_dir(self) -> Path:
        return self.root / "v1_conversations"

    def same(self, text: str) -> str:
        text = text.replace(str(self.v1_dir), f"{self.url}/users/v1_conversations")
        return super().same(text)

    def on_both_v1(self, *args: str) -> tuple[Run, Run]:
        empty = self.root.parent / "empty"  # a file store without conversations
        empty.mkdir(exist_ok=True)
        common = [*args, "--db", str(self.db), "--file-store", str(empty)]
        local = cli(*common, "--events-dir", str(self.v1_dir), env=self.env)
        remote = cli(*common, "--events-dir", self.url, env=self.env)
        return local, remote


def upload(s3: S3, bucket: str, prefix: str, root: Path) -> None:
    """Every file below ``root`` into the bucket below ``prefix``, V1 events where 1.x
    keeps them in a bucket."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            key = path.relative_to(root).as_posix()
            if key.startswith("v1_conversations/"):
                key = f"users/{key}"
            s3.put(bucket, f"{prefix}/{key}", path.read_bytes())


@pytest.fixture
def event_twins(s3: S3, tmp_path: Path) -> EventTwins:
    import shutil

    root = tmp_path / "store"
    shutil.copytree(EVENTS_DATA, root)
    # Not beside the store: verify would take the store for a user's directory beside it.
    (tmp_path / "database").mkdir()
    db = tmp_path / "database" / "openhands.db"
    migrated = cli("migrate-v0-to-v1", "--file-store", str(root), "--db", str(db), "--create-table")
    assert migrated.status == 0, migrated.stderr
    assert (root / "v1_conversations" / EVENTS_V0).is_dir()
    aged(root)
    bucket = s3.new_bucket()
    prefix = "oh"
    upload(s3, bucket, prefix, root)
    url = f"s3://{bucket}/{prefix}"
    return EventTwins(root, url, bucket, prefix, s3.env, {}, db)


@pytest.mark.parametrize("output_format", ["json", "markdown"])
def test_export_of_v0_events_in_a_bucket_is_the_export_on_disk(
    event_twins: EventTwins, output_format: str
) -> None:
    local, remote = event_twins.on_both("export", EVENTS_V0, "--format", output_format)
    assert local.status == remote.status == 0, remote.stderr
    assert remote.stdout == event_twins.same(local.stdout)
    if output_format == "json":
        exported = json.loads(remote.stdout)
        assert exported["events_format"] == "v0"
        assert len(exported["events"]) > 25  # past the first cache page
        assert exported["problems"]  # the bad file and a differing cache page, by URL
        assert all(event_twins.url in problem for problem in exported["problems"])


@pytest.mark.parametrize("output_format", ["json", "markdown"])
def test_export_of_v1_events_in_a_bucket_is_the_export_on_disk(
    event_twins: EventTwins, output_format: str
) -> None:
    local, remote = event_twins.on_both_v1("export", EVENTS_V1, "--format", output_format)
    assert local.status == remote.status == 0, remote.stderr
    assert remote.stdout == event_twins.same(local.stdout)
    if output_format == "json":
        exported = json.loads(remote.stdout)
        assert exported["events_format"] == "v1"
        expected = len(list(event_twins.v1_dir.joinpath(EVENTS_V0).iterdir()))
        assert len(exported["events"]) == expected > 25


def test_show_counts_v0_and_v1_events_in_a_bucket_as_on_disk(event_twins: EventTwins) -> None:
    local, remote = event_twins.on_both("show", EVENTS_V0, "--format", "json")
    assert local.status == remote.status == 0, remote.stderr
    assert json.loads(remote.stdout) == json.loads(event_twins.same(local.stdout))
    local, remote = event_twins.on_both_v1("show", EVENTS_V1, "--format", "json")
    assert local.status == remote.status == 0, remote.stderr
    shown = json.loads(remote.stdout)
    assert shown == json.loads(event_twins.same(local.stdout))
    assert shown["events"]["format"] == "v1"
    assert shown["events"]["count"] == len(list(event_twins.v1_dir.joinpath(EVENTS_V0).iterdir()))


def test_events_past_a_thousand_keys_are_all_read(s3: S3, tmp_path: Path) -> None:
    """A listing of an events prefix pages (S3 hands out 1,000 keys a page)."""
    bucket = s3.new_bucket()
    conversation = uuid.uuid4().hex
    _, document = FileStoreBuilder(tmp_path).generation("2025-12", conversation_id=conversation)
    s3.put(bucket, f"sessions/{conversation}/metadata.json", json.dumps(document).encode())
    client = s3_client(s3.endpoint)
    for number in range(1_010):
        event = {"id": number, "source": "user", "action": "message", "args": {"content": "x"}}
        client.put_object(
            Bucket=bucket,
            Key=f"sessions/{conversation}/events/{number}.json",
            Body=json.dumps(event).encode(),
        )
    url = f"s3://{bucket}"
    shown = cli("show", conversation, "--format", "json", "--file-store", url, env=s3.env)
    assert shown.status == 0, shown.stderr
    assert json.loads(shown.stdout)["events"]["count"] == 1_010
    exported = cli("export", conversation, "--format", "json", "--file-store", url, env=s3.env)
    assert [event["id"] for event in json.loads(exported.stdout)["events"]] == list(range(1_010))


def test_delete_of_a_v1_row_removes_its_event_objects(s3: S3, event_twins: EventTwins) -> None:
    prefix = f"{event_twins.prefix}/users/v1_conversations/{EVENTS_V0}/"
    events = [key for key in s3.keys(event_twins.bucket) if key.startswith(prefix)]
    assert len(events) > 25
    common = ["--db", str(event_twins.db), "--events-dir", event_twins.url, "--force"]
    dry = cli("delete", EVENTS_V1, "--dry-run", *common, env=event_twins.env)
    assert dry.status == 0, dry.stderr
    for key in events:
        assert f"remove object s3://{event_twins.bucket}/{key}" in dry.stdout
    assert [key for key in s3.keys(event_twins.bucket) if key.startswith(prefix)] == events
    run = cli("delete", EVENTS_V1, "--yes", *common, env=event_twins.env)
    assert run.status == 0, run.stderr
    assert not [key for key in s3.keys(event_twins.bucket) if key.startswith(prefix)]
    listed = cli("list", "--all", "--format", "jsonl", "--db", str(event_twins.db), env=s3.env)
    assert EVENTS_V1 not in listed.stdout


def test_verify_reads_v1_events_in_a_bucket_as_on_disk(s3: S3, event_twins: EventTwins) -> None:
    """events.v1-*: a broken event object and an events prefix without a row are found
    in the bucket as in the directory."""
    conversation = event_twins.v1_dir / EVENTS_V0
    broken = sorted(conversation.iterdir())[0]
    broken.write_text("{not json")
    s3.put(
        event_twins.bucket,
        f"{event_twins.prefix}/users/v1_conversations/{EVENTS_V0}/{broken.name}",
        b"{not json",
    )
    orphan = uuid.uuid4().hex
    (event_twins.v1_dir / orphan).mkdir()
    (event_twins.v1_dir / orphan / "x.json").write_text("{}")
    s3.put(
        event_twins.bucket, f"{event_twins.prefix}/users/v1_conversations/{orphan}/x.json", b"{}"
    )
    local, remote = event_twins.on_both_v1("verify", "--format", "json", "--check", "events")
    assert local.status == remote.status == 1, remote.stderr
    mine = json.loads(event_twins.same(local.stdout))
    theirs = json.loads(remote.stdout)

    def ordered(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(findings, key=lambda f: (f["check"], f["location"]))  # disk: scandir's

    assert ordered(theirs["findings"]) == ordered(mine["findings"])
    assert {f["check"] for f in theirs["findings"]} == {
        "events.v1-unreadable",
        "events.v1-without-row",
    }


# migrate-v0-to-v1 with events in a bucket


@pytest.fixture
def v0_twins(s3: S3, tmp_path: Path) -> Twins:
    """The events test store, V0 only, on disk and in a bucket."""
    import shutil

    root = tmp_path / "store"
    shutil.copytree(EVENTS_DATA, root)
    aged(root)
    bucket = s3.new_bucket()
    upload(s3, bucket, "oh", root)
    return Twins(root, f"s3://{bucket}/oh", bucket, "oh", s3.env, {})


def migrate(twins: Twins, store: str, db: Path, *extra: str) -> Run:
    from tests.conftest import Database

    if not db.exists():
        Database(f"sqlite:///{db}").dispose()
    return cli("migrate-v0-to-v1", "--file-store", store, "--db", str(db), *extra, env=twins.env)


def rows_of(twins: Twins, db: Path) -> str:
    listed = cli("list", "--all", "--format", "csv", "--db", str(db), env=twins.env)
    return listed.stdout.replace(str(db), "DATABASE")


def test_migrate_from_a_bucket_writes_the_v1_events_disk_writes(
    s3: S3, v0_twins: Twins, tmp_path: Path
) -> None:
    """V1 event objects where 1.x reads them (users/v1_conversations/<hex>: the
    conversation has no user), byte for byte the files the same store on disk gets;
    the rows equal too."""
    (tmp_path / "local").mkdir()
    (tmp_path / "bucket").mkdir()
    local_db, bucket_db = tmp_path / "local" / "x.db", tmp_path / "bucket" / "x.db"
    local = migrate(v0_twins, str(v0_twins.root), local_db)
    remote = migrate(v0_twins, v0_twins.url, bucket_db)
    assert local.status == remote.status == 0, remote.stderr
    assert rows_of(v0_twins, bucket_db) == rows_of(v0_twins, local_db)
    written = v0_twins.root / "v1_conversations" / EVENTS_V0
    expected = {path.name: path.read_bytes() for path in written.iterdir()}
    assert len(expected) > 25
    prefix = f"oh/users/v1_conversations/{EVENTS_V0}/"
    keys = [key for key in s3.keys(v0_twins.bucket) if key.startswith(prefix)]
    assert {key[len(prefix) :]: s3.get(v0_twins.bucket, key) for key in keys} == expected
    assert not [
        key for key in s3.keys(v0_twins.bucket) if "v1_conversations" in key and key not in keys
    ]
    # What 1.x shows for the V1 row is what it shows on disk.
    exported = cli(
        "export",
        EVENTS_V1,
        "--format",
        "json",
        "--db",
        str(bucket_db),
        "--file-store",
        v0_twins.url,
        env=v0_twins.env,
    )
    assert exported.status == 0, exported.stderr
    assert len(json.loads(exported.stdout)["events"]) == len(expected)


def test_a_rerun_of_migrate_on_a_bucket_writes_nothing(
    s3: S3, v0_twins: Twins, tmp_path: Path
) -> None:
    db = tmp_path / "x.db"
    first = migrate(v0_twins, v0_twins.url, db)
    assert first.status == 0, first.stderr
    before = {key: s3.get(v0_twins.bucket, key) for key in s3.keys(v0_twins.bucket)}
    s3.interceptor.requests.clear()
    s3.interceptor.recording = True
    try:
        again = migrate(v0_twins, v0_twins.url, db)
    finally:
        s3.interceptor.recording = False
    assert again.status == 0, again.stderr
    puts = [r for r in s3.interceptor.requests if r.method == "PUT"]
    assert len(puts) == len(before) - len(list(v0_twins.root.rglob("*.*")))  # one per event
    assert {r.status for r in puts} == {412}  # If-None-Match: * refused each: nothing written
    assert {key: s3.get(v0_twins.bucket, key) for key in s3.keys(v0_twins.bucket)} == before


def test_migrate_never_overwrites_an_existing_v1_event_object(
    s3: S3, v0_twins: Twins, tmp_path: Path
) -> None:
    (tmp_path / "disk").mkdir()
    disk = migrate(v0_twins, str(v0_twins.root), tmp_path / "disk" / "x.db")
    assert disk.status == 0, disk.stderr
    name = sorted(p.name for p in (v0_twins.root / "v1_conversations" / EVENTS_V0).iterdir())[3]
    key = f"oh/users/v1_conversations/{EVENTS_V0}/{name}"
    planted = b'{"written": "by someone else"}'
    s3.put(v0_twins.bucket, key, planted)
    report = tmp_path / "report.jsonl"
    run = migrate(v0_twins, v0_twins.url, tmp_path / "x.db", "--report", str(report))
    assert run.status in (0, 1), run.stderr
    assert s3.get(v0_twins.bucket, key) == planted
    left = f"s3://{v0_twins.bucket}/{key}: exists with other content; left alone"
    assert left in report.read_text()


def test_migrate_from_a_bucket_to_an_events_directory(v0_twins: Twins, tmp_path: Path) -> None:
    (tmp_path / "disk").mkdir()
    local = migrate(v0_twins, str(v0_twins.root), tmp_path / "disk" / "x.db")
    assert local.status == 0, local.stderr
    events = tmp_path / "events" / "v1_conversations"
    events.mkdir(parents=True)  # an explicit directory must exist
    remote = migrate(v0_twins, v0_twins.url, tmp_path / "x.db", "--events-dir", str(events))
    assert remote.status == 0, remote.stderr
    expected = v0_twins.root / "v1_conversations" / EVENTS_V0
    written = events / EVENTS_V0
    assert {p.name: p.read_bytes() for p in written.iterdir()} == {
        p.name: p.read_bytes() for p in expected.iterdir()
    }


def test_migrate_after_archive_moves_the_v0_objects_as_on_disk(
    s3: S3, v0_twins: Twins, tmp_path: Path
) -> None:
    """``--after archive`` from a bucket moves each migrated conversation's objects below
    ``sessions-migrated/``, as it moves the directory on disk: the same names, the same
    bytes, nothing left below ``sessions/<id>/``."""
    archive = ("--after", "archive", "--active-within", "0s")  # uploaded just now: idle
    (tmp_path / "disk").mkdir()
    before = {k: s3.get(v0_twins.bucket, k) for k in s3.keys(v0_twins.bucket)}
    local = migrate(v0_twins, str(v0_twins.root), tmp_path / "disk" / "x.db", *archive)
    report = tmp_path / "report.json"
    remote = migrate(v0_twins, v0_twins.url, tmp_path / "x.db", *archive, "--report", str(report))
    assert local.status == remote.status == 0, remote.stderr
    summary = json.loads(report.read_text())["summary"]
    assert summary["sources"] == {"archived": 1}
    assert summary["archive"] == f"{v0_twins.url}/sessions-migrated"
    on_disk = {
        path.relative_to(v0_twins.root).as_posix(): path.read_bytes()
        for part in ("sessions", "sessions-migrated")
        for path in (v0_twins.root / part).rglob("*")
        if path.is_file()
    }
    in_bucket = {
        key.removeprefix("oh/"): s3.get(v0_twins.bucket, key)
        for key in s3.keys(v0_twins.bucket)
        if key.startswith(("oh/sessions/", "oh/sessions-migrated/"))
    }
    assert in_bucket == on_disk
    moved = {k for k in before if k.startswith(f"oh/sessions/{EVENTS_V0}/")}
    assert len(moved) > 25 and not [k for k in in_bucket if k.startswith("sessions/")]
    for key in moved:
        archived = key.replace("oh/sessions/", "sessions-migrated/", 1)
        assert in_bucket[archived] == before[key]


def test_migrate_from_a_bucket_lists_each_prefix_once(s3: S3, tmp_path: Path) -> None:
    """Requests of `migrate-v0-to-v1` from a bucket: sessions/ listed once (counting and
    reading share it), each user's conversations in the user layout once, each
    conversation's prefix once (its events, and its event_cache pages, found in that one
    listing), then one GET per object read and one conditional PUT per V1 event."""
    bucket, builder = s3.new_bucket(), FileStoreBuilder(tmp_path / "m")
    client = s3_client(s3.endpoint)
    event = {"source": "user", "action": "message", "args": {"content": "hi"}}
    # The probe (of both stores), sessions/, and alice's conversations in the user layout.
    expected = ["oh/", "oh/sessions/", "oh/users/alice/conversations/"]
    for index in range(10):
        user = "alice" if index % 2 else None
        conversation_id, document = builder.generation("2025-12", title=f"m{index}", user_id=user)
        metadata = f"oh/sessions/{conversation_id}/metadata.json"
        client.put_object(Bucket=bucket, Key=metadata, Body=json.dumps(document).encode())
        owned = f"oh/users/alice/conversations/{conversation_id}/"
        place = owned if index == 9 else f"oh/sessions/{conversation_id}/"
        for number in range(2):
            body = json.dumps({**event, "id": number, "timestamp": "2025-06-01T12:00:00"})
            client.put_object(Bucket=bucket, Key=f"{place}events/{number}.json", Body=body.encode())
        # OpenHands looks in the user's layout first: here only where alice has a prefix.
        expected.append(owned if index == 9 else f"oh/sessions/{conversation_id}/")
    db = tmp_path / "x.db"
    run, requests = recorded(
        s3,
        "migrate-v0-to-v1",
        "--file-store",
        f"s3://{bucket}/oh",
        "--db",
        str(db),
        "--create-table",
    )
    assert "migrated 10" in " ".join(run.stdout.split()), run.stdout
    listed = [r.query["prefix"][0] for r in listings(requests, bucket)]
    assert sorted(listed) == sorted(expected)
    reads = [r for r in requests if r.method == "GET" and r.path != f"/{bucket}"]
    assert len([r for r in reads if r.path.endswith("/metadata.json")]) == 10
    assert len([r for r in reads if "/events/" in r.path]) == 20 == len(reads) - 10
    puts = [r for r in requests if r.method == "PUT"]
    assert len(puts) == 20 and {r.status for r in puts} == {200}
    assert len(requests) == len(listed) + len(reads) + len(puts)
