"""convstore.objects against real stores: a directory, moto's S3 server, fake-gcs-server.

Every operation runs on every backend that can run it. GCS coverage, precisely
(tests/object_servers.py says why the emulator limits it):

- tested against fake-gcs-server: addressing an endpoint without credentials
  (``STORAGE_EMULATOR_HOST``); delimiter listings; recursive listings with signatures
  (the ETag, normalised: the emulator lists it bare and returns it quoted on reads); reads
  with the generation as version; HEAD; many reads in flight; delete and bulk delete;
  a conditional read of a changed object (one of an unchanged object comes back whole:
  the emulator ignores If-None-Match, so the 304 is left to GCS and the library);
  the conditional delete (ours: HEAD, compare, DELETE) refusing an object another client
  rewrote; a missing bucket and an unreachable endpoint as one line.
- left to the library (object_store's own tests and real GCS), because the emulator's
  XML API takes no plain PUT, pages no listing and checks no credential:
  ``create_if_absent`` (``x-goog-if-generation-match: 0``), ``write_if_unchanged``
  (``x-goog-if-generation-match: <generation>``) and their 412s, listing pages past
  1,000 keys, refused credentials. ``test_gcs_emulator_still_takes_no_xml_put`` fails
  the day the emulator learns PUT, so these tests can move here.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from convstore.errors import Conflict, StoreUnavailable, UsageError
from convstore.objects import Objects, Read, open_objects
from convstore.objects.addresses import (
    BucketAddress,
    gcs_access,
    openhands_events,
    openhands_file_store,
    parse_location,
    s3_access,
)
from convstore.objects.base import UNCHANGED
from convstore.objects.local import LocalObjects
from tests.object_servers import (
    MOTO_CREDENTIALS,
    FakeGcs,
    authenticating_moto_server,
    create_s3_bucket,
    fake_gcs_server,
    moto_server,
    s3_client,
    s3_environment,
)

# The bound on "within the connect timeout" that cannot fail from load: the library's
# default retries would take minutes.
PATIENCE = 60.0


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs() -> Iterator[FakeGcs]:
    with fake_gcs_server() as server:
        yield server


@dataclass
class Backend:
    """A store as convstore sees it, and a way to write to it as another client would."""

    name: str
    objects: Objects
    put: Callable[[str, bytes], None]

    def seed(self, keys: list[str], data: Callable[[str], bytes] = str.encode) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda key: self.put(key, data(key)), keys))


def bucket_name() -> str:
    return f"convstore-{uuid.uuid4().hex[:20]}"


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if name == "local":
        root = tmp_path / "store"

        def put_file(key: str, data: bytes) -> None:
            path = root.joinpath(*key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)  # in place, as OpenHands' local file store writes

        return Backend(name, open_objects(root), put_file)
    bucket = bucket_name()
    if name == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        create_s3_bucket(endpoint, bucket)
        objects = open_objects(f"s3://{bucket}", environ=s3_environment(endpoint))
        client = s3_client(endpoint)
        return Backend(
            name, objects, lambda key, data: client.put_object(Bucket=bucket, Key=key, Body=data)
        )
    server: FakeGcs = request.getfixturevalue("gcs")
    server.create_bucket(bucket)
    objects = open_objects(f"gs://{bucket}", environ={"STORAGE_EMULATOR_HOST": server.endpoint})
    return Backend(name, objects, lambda key, data: server.upload(bucket, key, data) and None)


@pytest.fixture(params=["local", "s3", "gs"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


@pytest.fixture(params=["local", "s3"])
def writable(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backends convstore's writes can be tested on (GCS: module docstring)."""
    return make_backend(request.param, request, tmp_path)


def conversation(index: int) -> str:
    return uuid.UUID(int=index).hex


# Listing


def test_children_are_the_next_segment_sorted_as_keys_sort(backend: Backend) -> None:
    backend.seed(
        [
            "sessions/b/metadata.json",
            "sessions/b/events/0.json",
            "sessions/a/metadata.json",
            "sessions/a-b/metadata.json",  # "a-b/" sorts before "a/" in a bucket
            "sessions/a/events/0.json",
            "sessions-old/x/metadata.json",  # same leading letters, another prefix
            "users/u1/conversations/c/metadata.json",
        ]
    )
    assert list(backend.objects.children("sessions")) == ["a-b", "a", "b"]
    assert list(backend.objects.children("")) == ["sessions-old", "sessions", "users"]
    assert list(backend.objects.children("users/u1/conversations")) == ["c"]
    assert list(backend.objects.children("sessions/a/events")) == []
    assert list(backend.objects.children("nothing-here")) == []


def test_walk_gives_every_key_below_in_bucket_order_with_signatures(backend: Backend) -> None:
    keys = [
        "sessions/a/metadata.json",
        "sessions/a/events/0.json",
        "sessions/a/events/10.json",
        "sessions/a-b/metadata.json",
        "sessions-old/x",
    ]
    backend.seed(keys, lambda key: key.encode() * 2)
    found = list(backend.objects.walk("sessions"))
    assert [info.key for info in found] == sorted(k for k in keys if k.startswith("sessions/"))
    assert all(info.size == 2 * len(info.key) for info in found)
    assert all(info.signature for info in found)
    assert all(info.modified is not None and info.modified.tzinfo for info in found)
    assert len({info.signature for info in found}) == len(found)  # contents differ
    assert [i.key for i in backend.objects.walk("sessions/a/events")] == [
        "sessions/a/events/0.json",
        "sessions/a/events/10.json",
    ]
    assert list(backend.objects.walk("sessions/none")) == []


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_a_prefix_in_the_url_is_the_root_of_every_key(
    scheme: str, request: pytest.FixtureRequest
) -> None:
    bucket = bucket_name()
    if scheme == "s3":
        endpoint = request.getfixturevalue("s3_endpoint")
        create_s3_bucket(endpoint, bucket)
        client = s3_client(endpoint)
        for key in ("deploy/a/sessions/x/metadata.json", "deploy/ab/sessions/y/metadata.json"):
            client.put_object(Bucket=bucket, Key=key, Body=b"{}")
        environ = s3_environment(endpoint)
    else:
        server: FakeGcs = request.getfixturevalue("gcs")
        server.create_bucket(bucket)
        for key in ("deploy/a/sessions/x/metadata.json", "deploy/ab/sessions/y/metadata.json"):
            server.upload(bucket, key, b"{}")
        environ = {"STORAGE_EMULATOR_HOST": server.endpoint}
    objects = open_objects(f"{scheme}://{bucket}/deploy/a/", environ=environ)
    assert list(objects.children("")) == ["sessions"]
    assert list(objects.children("sessions")) == ["x"]
    assert [info.key for info in objects.walk("")] == ["sessions/x/metadata.json"]
    assert objects.read("sessions/x/metadata.json") is not None
    assert objects.read("sessions/y/metadata.json") is None  # below deploy/ab, not ours
    objects.delete("sessions/x/metadata.json")
    assert list(objects.walk("")) == []


ODD_NAMES = ["a b+c%20d", "ünïcödé", "x#y?z", "q:*", "t~!@$&'()=;,"]


def test_hand_made_ids_round_trip_through_keys(backend: Backend) -> None:
    """V0 ids can be any string OpenHands accepted: no character may be encoded twice
    or lost between a listing, a read and the key another client wrote."""
    keys = [f"sessions/{name}/metadata.json" for name in ODD_NAMES]
    backend.seed(keys)
    assert list(backend.objects.children("sessions")) == sorted(ODD_NAMES, key=lambda n: n + "/")
    assert [info.key for info in backend.objects.walk("sessions")] == sorted(keys)
    assert [r and r.data for r in backend.objects.read_many(keys)] == [k.encode() for k in keys]


@pytest.mark.slow
def test_listings_go_past_a_thousand_keys(backend: Backend) -> None:
    """1,205 conversations with an event each: more than one page of children and of
    keys on S3 (moto pages at 1,000, as S3 does; fake-gcs-server answers in one page)."""
    ids = [conversation(n) for n in range(1205)]
    backend.seed([f"sessions/{i}/{name}" for i in ids for name in ("metadata.json", "e/0")])
    assert list(backend.objects.children("sessions")) == sorted(ids)
    assert sum(1 for _ in backend.objects.walk("sessions")) == 2410


def test_moto_pages_listings_at_a_thousand_keys(s3_endpoint: str) -> None:
    """What the test above relies on: one page of moto's listing holds 1,000 keys."""
    bucket = bucket_name()
    create_s3_bucket(s3_endpoint, bucket)
    client = s3_client(s3_endpoint)
    backend_keys = [f"k/{n:04}" for n in range(1001)]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=b""), backend_keys)
        )
    page = client.list_objects_v2(Bucket=bucket, Prefix="k/")
    assert (page["KeyCount"], page["IsTruncated"]) == (1000, True)


# Reading


def test_a_read_gives_content_version_and_the_signature_listings_give(backend: Backend) -> None:
    backend.seed(["sessions/a/metadata.json"], lambda key: b'{"title": "one"}')
    found = backend.objects.read("sessions/a/metadata.json")
    assert found is not None
    assert found.data == b'{"title": "one"}'
    assert found.version
    [listed] = backend.objects.walk("sessions/a")
    assert listed.signature == found.signature  # what a cache compares
    assert backend.objects.head("sessions/a/metadata.json") == (found.version, found.signature)
    assert backend.objects.read("sessions/missing/metadata.json") is None
    assert backend.objects.head("sessions/missing/metadata.json") is None


def test_a_rewrite_changes_version_and_signature(backend: Backend) -> None:
    key = "sessions/a/metadata.json"
    backend.seed([key], lambda _: b"first")
    before = backend.objects.read(key)
    backend.put(key, b"second")
    after = backend.objects.read(key)
    assert before is not None and after is not None
    assert after.data == b"second"
    assert after.version != before.version
    assert after.signature != before.signature


def test_a_conditional_read_answers_unchanged_until_the_object_changes(
    backend: Backend,
) -> None:
    """What the V0 index cache revalidates with (buckets: If-None-Match, a 304)."""
    key = "sessions/a/metadata.json"
    backend.seed([key], lambda _: b"first")
    before = backend.objects.read(key)
    assert before is not None
    unchanged = backend.objects.read_if_changed(key, before.signature)
    if backend.name == "gs":
        # fake-gcs-server ignores If-None-Match on its XML API and sends the object whole:
        # still a right answer, only not the cheap one (GCS itself answers 304).
        assert isinstance(unchanged, Read) and unchanged.signature == before.signature
    else:
        assert unchanged is UNCHANGED
    backend.put(key, b"the second")
    after = backend.objects.read_if_changed(key, before.signature)
    assert isinstance(after, Read) and after.data == b"the second"
    assert after.signature != before.signature
    assert backend.objects.read_if_changed("sessions/b/metadata.json", before.signature) is None


def test_many_reads_in_flight_come_back_in_the_order_asked(backend: Backend) -> None:
    keys = [f"sessions/{conversation(n)}/metadata.json" for n in range(40)]
    backend.seed(keys)
    asked = [*keys[::-1], "sessions/missing/metadata.json", keys[0]]
    found = list(backend.objects.read_many(asked, in_flight=6))
    assert [None if r is None else r.data.decode() for r in found] == [*keys[::-1], None, keys[0]]


def test_read_many_holds_no_more_than_its_window(tmp_path: Path) -> None:
    """Reads start only as the caller takes results: memory is bounded by the window."""
    started: list[str] = []
    lock = threading.Lock()

    class Counting(LocalObjects):
        def read(self, key: str) -> None:
            with lock:
                started.append(key)

    objects = Counting(tmp_path)
    results = objects.read_many((f"k{n}" for n in range(100)), in_flight=5)
    next(results)
    with lock:
        assert len(started) <= 5
    assert sum(1 for _ in results) == 99


# Writing


def test_create_if_absent_creates_once(writable: Backend) -> None:
    key = "users/u/v1_conversations/abc/0001.json"
    version = writable.objects.create_if_absent(key, b"event")
    found = writable.objects.read(key)
    assert found is not None and (found.data, found.version) == (b"event", version)
    with pytest.raises(Conflict, match="already exists"):
        writable.objects.create_if_absent(key, b"other")
    assert writable.objects.read(key).data == b"event"  # type: ignore[union-attr]


def test_a_write_with_the_version_read_replaces(writable: Backend) -> None:
    key = "sessions/a/metadata.json"
    writable.seed([key], lambda _: b"old")
    read = writable.objects.read(key)
    assert read is not None
    version = writable.objects.write_if_unchanged(key, b"new", read.version)
    again = writable.objects.read(key)
    assert again is not None and (again.data, again.version) == (b"new", version)


def test_a_write_behind_our_back_is_never_overwritten(writable: Backend) -> None:
    """The lost-update test: another client rewrites between our read and our write."""
    key = "sessions/a/metadata.json"
    writable.seed([key], lambda _: b"read by convstore")
    read = writable.objects.read(key)
    assert read is not None
    writable.put(key, b"written by OpenHands")
    with pytest.raises(Conflict, match="changed since it was read"):
        writable.objects.write_if_unchanged(key, b"convstore's change", read.version)
    assert writable.objects.read(key).data == b"written by OpenHands"  # type: ignore[union-attr]


def test_a_write_to_an_object_deleted_meanwhile_is_a_conflict(writable: Backend) -> None:
    key = "sessions/a/metadata.json"
    writable.seed([key])
    read = writable.objects.read(key)
    assert read is not None
    writable.objects.delete(key)
    with pytest.raises(Conflict):
        writable.objects.write_if_unchanged(key, b"x", read.version)
    assert writable.objects.read(key) is None


def test_delete_removes_and_is_done_when_nothing_is_there(backend: Backend) -> None:
    backend.seed(["sessions/a/metadata.json", "sessions/a/events/0.json"])
    backend.objects.delete("sessions/a/metadata.json")
    backend.objects.delete("sessions/a/metadata.json")
    backend.objects.delete("sessions/never/metadata.json")
    assert [i.key for i in backend.objects.walk("sessions")] == ["sessions/a/events/0.json"]
    backend.objects.delete("sessions/a/events/0.json")
    assert list(backend.objects.children("sessions")) == []  # no empty "directory" left


def test_a_conditional_delete_refuses_what_changed(backend: Backend) -> None:
    key = "sessions/a/metadata.json"
    backend.seed([key], lambda _: b"seen")
    read = backend.objects.read(key)
    assert read is not None
    backend.put(key, b"changed since")
    with pytest.raises(Conflict):
        backend.objects.delete(key, version=read.version)
    assert backend.objects.read(key).data == b"changed since"  # type: ignore[union-attr]
    current = backend.objects.read(key)
    assert current is not None
    backend.objects.delete(key, version=current.version)
    assert backend.objects.read(key) is None
    with pytest.raises(Conflict):
        backend.objects.delete(key, version=current.version)  # gone is changed too


def test_delete_all_removes_every_key_given(backend: Backend) -> None:
    keys = [f"sessions/c/events/{n}.json" for n in range(1005)]  # two S3 bulk requests
    backend.seed([*keys, "sessions/c/metadata.json"])
    backend.objects.delete_all([*keys, "sessions/c/events/missing.json"])
    assert [i.key for i in backend.objects.walk("sessions")] == ["sessions/c/metadata.json"]


def test_gcs_emulator_still_takes_no_xml_put(gcs: FakeGcs) -> None:
    """Why convstore's GCS writes are not tested here (module docstring): the day this
    fails, fake-gcs-server takes PUTs and the write tests should run on GCS too."""
    bucket = bucket_name()
    gcs.create_bucket(bucket)
    objects = open_objects(f"gs://{bucket}", environ={"STORAGE_EMULATOR_HOST": gcs.endpoint})
    with pytest.raises(StoreUnavailable, match=r"400 Bad Request$"):
        objects.create_if_absent("k", b"x")


# Local disk only


def test_local_keys_never_leave_the_root(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"no")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    objects = open_objects(root)
    assert list(objects.children("")) == []  # a link is not a child
    assert list(objects.walk("")) == []
    with pytest.raises(Exception, match="symbolic link"):
        objects.read("link/secret")
    for key in ("../outside/secret", "/etc/passwd", "a//b", "a/./b", ""):
        with pytest.raises(UsageError):
            objects.read(key)


def test_a_local_create_is_whole_or_nothing(tmp_path: Path) -> None:
    """The object appears complete (linked into place) and no temporary stays behind."""
    objects = open_objects(tmp_path)
    objects.create_if_absent("a/b/c.json", b"x" * 100_000)
    assert [(i.key, i.size) for i in objects.walk("")] == [("a/b/c.json", 100_000)]
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["c.json"]


def test_a_local_store_that_does_not_exist_yet_is_empty(tmp_path: Path) -> None:
    objects = open_objects(tmp_path / "not-yet")
    assert list(objects.children("sessions")) == []
    assert list(objects.walk("")) == []


def test_an_unreadable_local_store_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="not a directory"):
        open_objects(tmp_path / "file")


# Errors of a bucket: one line, exit 3, within the connect timeout


def one_line(error: pytest.ExceptionInfo[StoreUnavailable]) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 400
    assert error.value.exit_status == 3
    return message


def test_a_missing_s3_bucket(s3_endpoint: str) -> None:
    with pytest.raises(StoreUnavailable) as error:
        open_objects("s3://no-such-bucket/prefix", environ=s3_environment(s3_endpoint))
    assert one_line(error) == "s3://no-such-bucket/prefix: bucket 'no-such-bucket' does not exist"


def test_a_missing_gcs_bucket(gcs: FakeGcs) -> None:
    with pytest.raises(StoreUnavailable) as error:
        open_objects("gs://nosuchbucket", environ={"STORAGE_EMULATOR_HOST": gcs.endpoint})
    assert one_line(error).startswith("gs://nosuchbucket: ")


def test_refused_s3_credentials() -> None:
    secret = "very-secret-value-0123456789"
    with authenticating_moto_server() as endpoint:
        environ = {**s3_environment(endpoint), "AWS_SECRET_ACCESS_KEY": secret}
        with pytest.raises(StoreUnavailable) as error:
            open_objects("s3://some-bucket", environ=environ)
    message = one_line(error)
    assert message == "s3://some-bucket: the store refused the credentials (InvalidAccessKeyId)"
    assert secret not in message


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound by us, never listening."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(16)
        yield held.getsockname()[1]


@pytest.mark.parametrize("scheme", ["s3", "gs"])
def test_an_unreachable_endpoint(scheme: str, refusing_port: int) -> None:
    endpoint = f"127.0.0.1:{refusing_port}"
    environ = (
        {**MOTO_CREDENTIALS, "AWS_S3_ENDPOINT": endpoint, "AWS_S3_SECURE": "false"}
        if scheme == "s3"
        else {"STORAGE_EMULATOR_HOST": endpoint}
    )
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as error:
        open_objects(f"{scheme}://bucket", connect_seconds=1, environ=environ)
    assert time.monotonic() - started < PATIENCE
    assert one_line(error) == (
        f"{scheme}://bucket: cannot reach http://{endpoint} (connection refused)"
    )


def test_an_endpoint_that_never_answers(silent_port: int) -> None:
    endpoint = f"127.0.0.1:{silent_port}"
    environ = {**MOTO_CREDENTIALS, "AWS_S3_ENDPOINT": endpoint, "AWS_S3_SECURE": "false"}
    started = time.monotonic()
    with pytest.raises(StoreUnavailable) as error:
        open_objects("s3://bucket", connect_seconds=1, environ=environ)
    assert time.monotonic() - started < PATIENCE
    assert one_line(error) == f"s3://bucket: cannot reach http://{endpoint} (timed out)"


# Addresses and settings


def test_locations_parse_to_buckets_or_paths(tmp_path: Path) -> None:
    assert parse_location("s3://b/some/prefix/") == BucketAddress("s3", "b", "some/prefix")
    assert parse_location("gs://b") == BucketAddress("gs", "b", "")
    assert parse_location(str(tmp_path)) == tmp_path
    assert parse_location("~/x") == Path.home() / "x"
    assert str(BucketAddress("s3", "b", "p")) == "s3://b/p"
    for bad in ("ftp://host/x", "s3://", "s3:///x", "gs://b/a/../c"):
        with pytest.raises(UsageError):
            parse_location(bad)


def test_openhands_variables_name_the_bucket() -> None:
    assert openhands_file_store({"FILE_STORE": "s3", "FILE_STORE_PATH": "oh"}) == (
        "s3://oh",
        "env FILE_STORE, FILE_STORE_PATH",
    )
    assert openhands_file_store({"FILE_STORE": "s3", "AWS_S3_BUCKET": "b"}) == (
        "s3://b",
        "env FILE_STORE, AWS_S3_BUCKET",
    )
    assert openhands_file_store(
        {"FILE_STORE": "google_cloud", "GOOGLE_CLOUD_BUCKET_NAME": "g"}
    ) == ("gs://g", "env FILE_STORE, GOOGLE_CLOUD_BUCKET_NAME")
    assert openhands_file_store({"FILE_STORE": "local", "FILE_STORE_PATH": "/x"}) is None
    assert openhands_file_store({"FILE_STORE": "s3"}) is None
    assert openhands_events(
        {"SHARED_EVENT_STORAGE_PROVIDER": "gcp", "FILE_STORE": "s3", "FILE_STORE_PATH": "b"}
    ) == ("gs://b", "env SHARED_EVENT_STORAGE_PROVIDER, FILE_STORE_PATH")
    assert openhands_events({"FILE_STORE": "aws", "FILE_STORE_PATH": "b"}) == (
        "s3://b",
        "env FILE_STORE, FILE_STORE_PATH",
    )
    assert openhands_events({"FILE_STORE": "local", "FILE_STORE_PATH": "/x"}) is None


def test_s3_settings_follow_openhands_and_never_show_a_secret(tmp_path: Path) -> None:
    secure = s3_access({"AWS_S3_ENDPOINT": "minio:9000"}, home=tmp_path)
    assert (secure.endpoint, secure.allow_http) == ("https://minio:9000", False)
    plain = s3_access(
        {"AWS_S3_ENDPOINT": "https://minio:9000", "AWS_S3_SECURE": "False"}, home=tmp_path
    )
    assert (plain.endpoint, plain.allow_http) == ("http://minio:9000", True)
    from_env = s3_access(
        {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_REGION": "eu-west-1"},
        home=tmp_path,
    )
    assert from_env.credentials_source == "env AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"
    assert from_env.region == "eu-west-1"
    assert "s3cr3t" not in repr(from_env) and "AKID" not in repr(from_env)
    aws = tmp_path / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = D\naws_secret_access_key = dsecret\n"
        "[work]\naws_access_key_id = W\naws_secret_access_key = wsecret\n"
    )
    (aws / "config").write_text("[profile work]\nregion = ap-south-1\n")
    work = s3_access({"AWS_PROFILE": "work"}, home=tmp_path)
    assert (work.access_key_id, work.region) == ("W", "ap-south-1")
    assert work.credentials_source == "AWS profile 'work'"
    assert s3_access({}, home=tmp_path).access_key_id == "D"
    assert s3_access({"AWS_PROFILE": "none"}, home=tmp_path).access_key_id is None


def test_gcs_settings() -> None:
    assert gcs_access({}).credentials_source == "application default credentials"
    adc = gcs_access({"GOOGLE_APPLICATION_CREDENTIALS": "/k.json"})
    assert adc.credentials_file == "/k.json"
    emulator = gcs_access({"STORAGE_EMULATOR_HOST": "localhost:4443"})
    assert (emulator.endpoint, emulator.anonymous) == ("http://localhost:4443", True)


def test_an_unreadable_gcs_credentials_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(StoreUnavailable) as error:
        open_objects("gs://bucket", environ={"GOOGLE_APPLICATION_CREDENTIALS": str(missing)})
    assert one_line(error).startswith("gs://bucket: ")


# Imports: the local path stays free of the cloud library


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_local_path_does_not_import_the_cloud_library(tmp_path: Path) -> None:
    done = run_python(
        "import sys\n"
        "from convstore.objects import open_objects\n"
        f"o = open_objects({str(tmp_path)!r})\n"
        "o.create_if_absent('a/b', b'x'); list(o.walk('')); o.read('a/b')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('obstore', 'convstore.objects'))))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "['convstore.objects', 'convstore.objects.addresses', "
        "'convstore.objects.base', 'convstore.objects.local', 'convstore.objects.swap']"
    )


def test_without_the_cloud_extra_a_bucket_says_what_to_install() -> None:
    done = run_python(
        "import sys\n"
        "sys.modules['obstore'] = None  # as if convstore[cloud] were not installed\n"
        "from convstore.objects import open_objects\n"
        "try:\n"
        "    open_objects('s3://bucket')\n"
        "except Exception as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    assert done.stdout.strip() == (
        "StoreUnavailable s3://bucket: convstore was installed without cloud support "
        "(pip install 'convstore[cloud]')"
    )
