"""Which library convstore reads buckets with: obstore, boto3 or s3fs, measured on one S3 server.

    python benchmarks/object_libraries.py [--conversations 10000 100000] [--events 2]
                                          [--in-flight 32] [--libraries obstore boto3 s3fs]

Starts moto's S3 server (``moto[server]``) in a process of its own, fills a bucket the way
OpenHands lays out a V0 file store (``sessions/<32 hex>/metadata.json`` of the sample's
mixed generations, plus ``--events`` event keys each), then runs each library in a fresh
process against it and prints, per store size: what importing the library costs; listing
``sessions/`` by delimiter (one child prefix per conversation); listing it recursively with
signatures (ETag, size, mtime of every key); fetching every metadata.json with
``--in-flight`` requests in flight; the requests the server counted for each; the client's
CPU time (all its threads: the server is the same for every library, the client is what
differs); its peak RSS; and which conditional operations the library can express and the
server enforces (If-None-Match: * create, If-Match write, If-Match delete -> 412).

moto sorts every key of the bucket for each listing page: a listing of 100,000
conversations would take it hours. The server here answers listings from a sorted index
instead, with the same pages, tokens and common prefixes (``--moto-listing`` runs moto's
own, to compare). Wall times are still mostly the server's, sharing the machine's cores;
request counts and the client's CPU time are the figures that carry to a real bucket.

Measured (2026-12, AMD EPYC, 2 cores shared with other work, load average 7-11; moto
5.2.6, obstore 0.12.1, boto3 1.43, s3fs 2026.9):

    client CPU time (imports: wall time)   obstore     boto3       s3fs
    import                                 0.02-0.05 s 0.23-0.62 s 0.84-0.97 s
    10,000 conversations, 30,000 objects
    children of sessions/ (10 requests)    0.02 s      0.10 s      0.25 s
    walk with signatures (30 requests)     0.15 s      2.33 s      4.49 s
    every metadata.json, 32 in flight      8.3 s       21.9 s      40.4 s (2 requests each)
    100,000 conversations, 300,000 objects
    children of sessions/ (100 requests)   0.20 s      1.04 s      -
    walk with signatures (300 requests)    1.63 s      24.7 s      -
    every metadata.json, 32 in flight      67 s        207 s       -
    (wall 376 s against 776 s; peak RSS 67 MB against 75 MB, 5 MB of growth fetching)

(google-cloud-storage imports in 0.46-1.0 s, gcsfs in 1.2-2.0 s.) Conditional operations
as the server enforced them: obstore and boto3 get 412 for If-None-Match: * and a stale
If-Match; boto3 also for a stale If-Match on DELETE, which obstore cannot send; s3fs can
express only the create.

Conclusion: convstore uses obstore.

- obstore imports in a few hundredths of a second (no runtime dependency), lists with a
  fifteenth of boto3's client CPU and fetches with a third (Rust does the HTTP and the
  XML; the GIL is released while it waits, so threads keep 32 requests in flight),
  expresses create-if-absent and write-if-unchanged on S3 (If-None-Match / If-Match)
  and on GCS (ifGenerationMatch) through one API, and pages every listing. Its limits:
  no conditional DELETE (convstore.objects.buckets says how delete lives with that), and
  a delimiter listing that returns when every page is in (one name per child in memory).
- boto3 (with google-cloud-storage for GCS) has every precondition, conditional delete
  included, and page-by-page listings; but two libraries with two APIs, ~0.5 s of imports
  each, and three to fifteen times obstore's client CPU.
- s3fs/gcsfs (fsspec): create-if-absent only (no If-Match write), a HEAD before every
  GET, listings cached in the filesystem object unless refreshed, and aiobotocore pins
  botocore (installing s3fs downgraded boto3 in the same environment).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
BUCKET = "convstore-bench"
LIBRARIES = ("obstore", "boto3", "s3fs")
# What importing each library costs, GCS clients too (they are not run against moto).
IMPORTS = {
    "obstore": "import obstore, obstore.store",
    "boto3": "import boto3",
    "s3fs": "import s3fs",
    "google-cloud-storage": "from google.cloud import storage",
    "gcsfs": "import gcsfs",
}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}

# The S3 server (a child process)

SERVER = """
import collections, json, logging, random, sys, threading, uuid
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
sys.path.insert(0, {src!r})
from convstore.sample import GENERATIONS, encode, v0_document
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

count, events, bucket = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
backend.create_bucket(bucket, "us-east-1")
rng = random.Random(count)
for index in range(count):
    conversation = uuid.UUID(int=rng.getrandbits(128)).hex
    document = v0_document(GENERATIONS[index % len(GENERATIONS)], rng, conversation)
    backend.put_object(bucket, f"sessions/{{conversation}}/metadata.json", encode(document))
    for event in range(events):
        # A message V0 reads (benchmarks/buckets.py migrates these).
        body = json.dumps({{"id": event, "source": "user", "action": "message",
                           "args": {{"content": "x" * 200}},
                           "timestamp": "2025-06-01T12:00:00"}}).encode()
        backend.put_object(bucket, f"sessions/{{conversation}}/events/{{event}}.json", body)

# moto sorts every key of the bucket for each page it lists: quadratic in the store, minutes
# per listing at 100,000 conversations. The same answers from a sorted index instead.
from bisect import bisect_left, bisect_right
from moto.utilities.utils import md5_hash
from moto.s3.models import S3Backend
index, child_tokens = {{}}, set()

def indexed_list_objects_v2(self, bucket, prefix, delimiter, continuation_token,
                            start_after, max_keys):
    names = index.get(bucket.name)
    if names is None or len(names) != len(bucket.keys):
        names = index[bucket.name] = sorted(bucket.keys.keys())
    prefix = prefix or ""
    after = self._pagination_tokens.get(continuation_token) if continuation_token else start_after
    position = bisect_left(names, prefix)
    if after:
        if continuation_token in child_tokens:  # the page ended on a child: skip below it
            after = after[:-1] + chr(ord(delimiter) + 1)
            position = max(position, bisect_left(names, after))
        else:
            position = max(position, bisect_right(names, after))
    found = []
    while position < len(names) and len(found) < max_keys:
        name = names[position]
        if not name.startswith(prefix):
            break
        rest = name[len(prefix):]
        if delimiter and delimiter in rest:
            child = prefix + rest.split(delimiter)[0] + delimiter
            found.append(child)
            position = bisect_left(names, child[:-1] + chr(ord(delimiter) + 1), position)
        else:
            found.append(bucket.keys[name])
            position += 1
    truncated = position < len(names) and names[position].startswith(prefix) and max_keys > 0
    token = None
    if truncated:
        last = found[-1] if isinstance(found[-1], str) else found[-1].name
        token = md5_hash(last.encode("utf-8")).hexdigest()
        self._pagination_tokens[token] = last
        if isinstance(found[-1], str):
            child_tokens.add(token)
    return found, truncated, token

# Kept in step with writes (migrate PUTs a V1 event object per event): sorting every key
# again after each write made a listing cost a sort of the bucket, hours for migrate.
real_put, real_delete = S3Backend.put_object, S3Backend.delete_object

def indexed_put(self, bucket_name, key_name, *args, **kwargs):
    key = real_put(self, bucket_name, key_name, *args, **kwargs)
    names = index.get(bucket_name)
    if names is not None:
        at = bisect_left(names, key_name)
        if at == len(names) or names[at] != key_name:
            names.insert(at, key_name)
    return key

def indexed_delete(self, bucket_name, key_name, *args, **kwargs):
    result = real_delete(self, bucket_name, key_name, *args, **kwargs)
    names = index.get(bucket_name)
    if names is not None and key_name not in self.get_bucket(bucket_name).keys:
        at = bisect_left(names, key_name)
        if at < len(names) and names[at] == key_name:
            del names[at]
    return result

if not {exact}:
    S3Backend.list_objects_v2 = indexed_list_objects_v2
    S3Backend.put_object, S3Backend.delete_object = indexed_put, indexed_delete

counts, lock = collections.Counter(), threading.Lock()
dispatch = DomainDispatcherApplication.__call__

def counting(self, environ, start_response):
    if environ["PATH_INFO"] == "/_requests":  # read and reset the counts
        with lock:
            body = json.dumps(dict(counts)).encode()
            counts.clear()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    method = environ["REQUEST_METHOD"]
    if method == "GET" and "list-type" in environ.get("QUERY_STRING", ""):
        method = "LIST"  # a listing page (GET on the bucket), apart from object reads
    elif method == "GET" and "HTTP_IF_NONE_MATCH" in environ:
        method = "GET-IF"  # a conditional read (304 when unchanged)
    with lock:
        counts[method] += 1
    return dispatch(self, environ, start_response)

DomainDispatcherApplication.__call__ = counting
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


def start_server(count: int, events: int, exact: bool = False) -> tuple[subprocess.Popen[str], str]:
    """moto's S3 server filled with ``count`` conversations; ``exact``: moto's own listing."""
    code = SERVER.format(src=str(HERE.parent.parent / "src"), exact=exact)
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(count), str(events), BUCKET],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    port = process.stdout.readline().strip()
    if not port:
        raise SystemExit("the S3 server did not start")
    return process, f"http://127.0.0.1:{port}"


def server_requests(endpoint: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/_requests") as response:
        counts: dict[str, int] = json.loads(response.read())
        return counts


# One library, in a process of its own


class Client:
    """What the benchmark asks of a library; each subclass answers with that library."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def child_prefixes(self, prefix: str) -> list[str]:
        raise NotImplementedError

    def signatures(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        raise NotImplementedError

    def fetch_all(self, keys: list[str], in_flight: int) -> int:
        raise NotImplementedError

    def conditional(self, key: str) -> dict[str, str]:
        raise NotImplementedError


class Obstore(Client):
    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        from obstore.store import S3Store

        self.store = S3Store(
            BUCKET,
            endpoint=endpoint,
            region="us-east-1",
            access_key_id="bench",
            secret_access_key="bench",
            client_options={"allow_http": True},
        )

    def child_prefixes(self, prefix: str) -> list[str]:
        import obstore

        return list(obstore.list_with_delimiter(self.store, prefix)["common_prefixes"])

    def signatures(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        import obstore

        for batch in obstore.list(self.store, prefix, chunk_size=1000):
            for meta in batch:
                yield meta["path"], meta["e_tag"] or "", meta["size"]

    def fetch_all(self, keys: list[str], in_flight: int) -> int:
        import asyncio

        import obstore

        async def run() -> int:
            pending = iter(keys)
            total = 0

            async def worker() -> None:
                nonlocal total
                for key in pending:
                    result = await obstore.get_async(self.store, key)
                    total += len(await result.bytes_async())

            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return total

        return asyncio.run(run())

    def conditional(self, key: str) -> dict[str, str]:
        import obstore
        from obstore.exceptions import AlreadyExistsError, PreconditionError

        first = obstore.put(self.store, key, b"1")
        found = {}
        try:
            obstore.put(self.store, key, b"2", mode="create")
            found["create"] = "overwrote"
        except AlreadyExistsError:
            found["create"] = "412"
        try:
            obstore.put(self.store, key, b"3", mode={"e_tag": '"stale"'})
            found["write"] = "overwrote"
        except PreconditionError:
            found["write"] = "412"
        obstore.put(self.store, key, b"4", mode={"e_tag": first["e_tag"]})
        found["delete"] = "not expressible"
        return found


class Boto3(Client):
    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        import boto3
        from botocore.config import Config

        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(max_pool_connections=64),
            **{name.lower(): value for name, value in CREDENTIALS.items()},
        )

    def _pages(self, **arguments: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        yield from paginator.paginate(Bucket=BUCKET, **arguments)

    def child_prefixes(self, prefix: str) -> list[str]:
        return [
            found["Prefix"]
            for page in self._pages(Prefix=prefix + "/", Delimiter="/")
            for found in page.get("CommonPrefixes", ())
        ]

    def signatures(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        for page in self._pages(Prefix=prefix + "/"):
            for found in page.get("Contents", ()):
                yield found["Key"], found["ETag"], found["Size"]

    def fetch_all(self, keys: list[str], in_flight: int) -> int:
        import threading
        from concurrent.futures import ThreadPoolExecutor

        pending, lock = iter(keys), threading.Lock()

        def worker() -> int:
            total = 0
            while True:
                with lock:
                    key = next(pending, None)
                if key is None:
                    return total
                response = self.client.get_object(Bucket=BUCKET, Key=key)
                total += len(response["Body"].read())

        with ThreadPoolExecutor(in_flight) as pool:
            return sum(pool.map(lambda _: worker(), range(in_flight)))

    def conditional(self, key: str) -> dict[str, str]:
        from botocore.exceptions import ClientError

        def outcome(call: Callable[[], object]) -> str:
            try:
                call()
            except ClientError as error:
                return str(error.response["ResponseMetadata"]["HTTPStatusCode"])
            return "overwrote"

        self.client.put_object(Bucket=BUCKET, Key=key, Body=b"1")
        return {
            "create": outcome(
                lambda: self.client.put_object(Bucket=BUCKET, Key=key, Body=b"2", IfNoneMatch="*")
            ),
            "write": outcome(
                lambda: self.client.put_object(Bucket=BUCKET, Key=key, Body=b"3", IfMatch='"stale"')
            ),
            "delete": outcome(
                lambda: self.client.delete_object(Bucket=BUCKET, Key=key, IfMatch='"stale"')
            ),
        }


class S3fs(Client):
    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
        import s3fs

        self.fs = s3fs.S3FileSystem(
            key="bench", secret="bench", endpoint_url=endpoint, use_listings_cache=False
        )

    def child_prefixes(self, prefix: str) -> list[str]:
        return [
            entry["name"]
            for entry in self.fs.ls(f"{BUCKET}/{prefix}", detail=True, refresh=True)
            if entry["type"] == "directory"
        ]

    def signatures(self, prefix: str) -> Iterator[tuple[str, str, int]]:
        found = self.fs.find(f"{BUCKET}/{prefix}", detail=True)
        for name, entry in found.items():
            yield name, entry.get("ETag", ""), entry["size"]

    def fetch_all(self, keys: list[str], in_flight: int) -> int:
        import asyncio

        from fsspec.asyn import sync

        async def run() -> int:
            pending = iter(keys)
            total = 0

            async def worker() -> None:
                nonlocal total
                for key in pending:
                    total += len(await self.fs._cat_file(f"{BUCKET}/{key}"))

            await asyncio.gather(*(worker() for _ in range(in_flight)))
            return total

        result: int = sync(self.fs.loop, run)
        return result

    def conditional(self, key: str) -> dict[str, str]:
        path = f"{BUCKET}/{key}"
        self.fs.pipe_file(path, b"1")
        try:
            self.fs.pipe_file(path, b"2", mode="create")
            create = "overwrote"
        except FileExistsError:
            create = "412"
        return {"create": create, "write": "not expressible", "delete": "not expressible"}


CLIENTS: dict[str, type[Client]] = {"obstore": Obstore, "boto3": Boto3, "s3fs": S3fs}


def measure(library: str, endpoint: str, in_flight: int) -> dict[str, Any]:
    """Run in a child process: every figure of one library, as JSON on stdout."""
    os.environ.update(CREDENTIALS)
    figures: dict[str, Any] = {}
    started = time.perf_counter()
    client = CLIENTS[library](endpoint)
    figures["setup_s"] = time.perf_counter() - started
    server_requests(endpoint)

    def timed(name: str, work: Callable[[], int]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        items = work()
        figures[name] = {
            "items": items,
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
            "requests": sum(server_requests(endpoint).values()),
        }

    prefixes: list[str] = []

    def list_prefixes() -> int:
        prefixes.extend(client.child_prefixes("sessions"))
        return len(prefixes)

    timed("delimiter", list_prefixes)
    timed("signatures", lambda: sum(1 for _ in client.signatures("sessions")))
    keys = [f"{prefix.rstrip('/').split(BUCKET + '/')[-1]}/metadata.json" for prefix in prefixes]
    before_fetch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    timed("fetch", lambda: len(keys) if client.fetch_all(keys, in_flight) else 0)
    figures["fetch"]["rss_growth_mb"] = (
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before_fetch
    ) / 1024
    figures["conditional"] = client.conditional(f"probe/{library}")
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def import_seconds(statement: str, runs: int = 3) -> float | None:
    """Best of ``runs`` fresh interpreters, less an interpreter that imports nothing."""

    def best(code: str) -> float | None:
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], capture_output=True)
            if done.returncode != 0:
                return None
            times.append(time.perf_counter() - started)
        return min(times)

    floor, subject = best("pass"), best(statement)
    return None if floor is None or subject is None else subject - floor


# Orchestration and the table


def run(arguments: argparse.Namespace) -> None:
    print(f"machine: {_cpu()}, {os.cpu_count()} cores, Python {platform.python_version()}, ")
    print(f"  {platform.platform()}; load average {os.getloadavg()[0]:.2f}")
    print(f"versions: {_versions()}")
    print("\nimport time (fresh interpreter, best of 3, less `python -c pass`):")
    for name, statement in IMPORTS.items():
        seconds = import_seconds(statement)
        print(f"  {name:22} {'not installed' if seconds is None else f'{seconds:.3f} s'}")
    for count in arguments.conversations:
        objects = count * (1 + arguments.events)
        started = time.perf_counter()
        server, endpoint = start_server(count, arguments.events, arguments.moto_listing)
        print(
            f"\n{count:,} conversations, {objects:,} objects "
            f"(filled in {time.perf_counter() - started:.0f} s); "
            f"{arguments.in_flight} requests in flight"
        )
        print(
            f"  {'library':9} {'operation':11} {'items':>8} {'requests':>8} "
            f"{'wall':>9} {'client CPU':>10} {'CPU/request':>11}"
        )
        try:
            for library in arguments.libraries:
                figures = _child(library, endpoint, arguments.in_flight)
                if figures is None:
                    print(f"  {library:9} not installed or failed")
                    continue
                for operation in ("delimiter", "signatures", "fetch"):
                    found = figures[operation]
                    per_request = found["cpu_s"] / max(1, found["requests"]) * 1000
                    print(
                        f"  {library:9} {operation:11} {found['items']:>8,} "
                        f"{found['requests']:>8,} {found['wall_s']:>8.2f}s "
                        f"{found['cpu_s']:>9.2f}s {per_request:>9.2f}ms"
                    )
                print(
                    f"  {library:9} fetch RSS growth {figures['fetch']['rss_growth_mb']:.0f} MB, "
                    f"peak RSS {figures['peak_rss_mb']:.0f} MB; conditional (412 = enforced): "
                    + ", ".join(f"{k} {v}" for k, v in figures["conditional"].items())
                )
        finally:
            assert server.stdin is not None
            server.stdin.close()
            server.wait()
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


def _child(library: str, endpoint: str, in_flight: int) -> dict[str, Any] | None:
    flight = ["--in-flight", str(in_flight)]
    done = subprocess.run(
        [sys.executable, str(HERE), "--measure", library, "--endpoint", endpoint, *flight],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-2000:])
        return None
    figures: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return figures


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for name in ("obstore", "boto3", "s3fs", "google-cloud-storage", "gcsfs", "moto"):
        try:
            found.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            found.append(f"{name} -")
    return ", ".join(found)


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--events", type=int, default=2, help="event keys per conversation")
    parser.add_argument("--in-flight", type=int, default=32)
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument(
        "--moto-listing", action="store_true", help="moto's own (quadratic) listing"
    )
    parser.add_argument("--measure", choices=LIBRARIES, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        figures = measure(arguments.measure, arguments.endpoint, arguments.in_flight)
        print(json.dumps(figures))
    else:
        random.seed(0)
        run(arguments)


if __name__ == "__main__":
    main()
