"""convstore's commands on a V0 file store in an S3 bucket: requests and wall time.

    python benchmarks/buckets.py [--conversations 10000] [--events 2] [--listings-only]
                                 [--only NAME]

Starts moto's S3 server in a process of its own, filled as benchmarks/object_libraries.py
fills it (``sessions/<32 hex>/metadata.json`` of the sample's mixed generations, with
``--events`` V0 event objects each; the server answers listings from a sorted index,
with moto's pages, and counts requests by method). Then runs each command as an
operator does, a fresh ``convstore`` process (start-up included), and prints the
requests the server received and the wall time beside the floor: every metadata.json
fetched with the same concurrency (32 in flight) by obstore alone, after one delimiter
listing of ``sessions/``. Order: list (first page, cold index cache, then warm; then
warm sorted by -updated, a field that changes), list --all, verify, migrate-v0-to-v1
(which writes V1 event objects into the bucket: last). The server counts a listing page
as LIST and a conditional read as GET-IF.

On a shared machine the server takes much of the wall time, sharing the cores with
convstore: requests and the ratios measured side by side in one run are the figures
that carry to a real bucket.

Measured (2026-12-06, x86_64, 2 cores shared with other work, Python 3.11.7, load
average 4.7-8.3; README has the figures before this code beside them):

    10,000 conversations, 30,000 objects (2 events each) in moto's S3
                                            wall  x floor  requests
    floor: list + every metadata.json      24.6s     1.0x  10,000 GET, 10 LIST
    list, first page, cold cache           25.4s     1.0x  10,032 GET, 11 LIST
    list, first page, warm cache            0.9s     0.0x  32 GET, 11 LIST
    list --sort -updated, warm cache       27.5s     1.1x  21 GET, 10,000 GET-IF, 11 LIST
    list --all                             39.5s     1.6x  11,000 GET, 11 LIST
    verify                                 33.1s     1.3x  10,000 GET, 14 LIST
    migrate-v0-to-v1 (events too)         228.0s     9.3x  30,000 GET, 10,188 LIST, 20,000 PUT

(list --all: 10,000 GET since; the 1,000 more were records without created_at read again.)

    100,000 conversations, the whole set (2026-12-07, load average 5-8; migrate in a run
    of its own, --only migrate, after its floor of 292.8 s):
    floor: list + every metadata.json     382.2s     1.0x  100,000 GET, 100 LIST
    list, first page, cold cache          330.4s     0.9x  100,032 GET, 101 LIST
    list, first page, warm cache            4.1s     0.0x  32 GET, 101 LIST
    list --sort -updated, warm cache      315.4s     0.8x  21 GET, 100,000 GET-IF, 101 LIST
    list --all                            322.1s     0.8x  100,000 GET, 101 LIST
    verify                                292.5s     0.8x  100,000 GET, 104 LIST
    migrate-v0-to-v1 (events too)        2281.8s     7.8x  300,000 GET, 100,962 LIST, 200,000 PUT
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import object_libraries  # beside this file

HERE = Path(__file__).resolve().parent
CONVSTORE = [sys.executable, "-m", "convstore.cli"]
# What --listings-only runs, after the floor.
LISTINGS = ("list, first page, cold cache", "list, first page, warm cache", "list --all")


def environment(endpoint: str, cache: Path) -> dict[str, str]:
    return {
        **os.environ,
        **object_libraries.CREDENTIALS,
        "AWS_S3_ENDPOINT": endpoint.removeprefix("http://"),
        "AWS_S3_SECURE": "false",
        "AWS_REGION": "us-east-1",
        "XDG_CACHE_HOME": str(cache),
        "PYTHONPATH": str(HERE.parent / "src"),
    }


def measure(endpoint: str, args: list[str], env: dict[str, str]) -> tuple[float, dict[str, int]]:
    object_libraries.server_requests(endpoint)  # resets the counts
    started = time.perf_counter()
    done = subprocess.run([*CONVSTORE, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):  # 1: verify's findings, migrate's event problems
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return wall, object_libraries.server_requests(endpoint)


def floor(endpoint: str, in_flight: int) -> tuple[float, dict[str, int]]:
    """One delimiter listing of sessions/ and every metadata.json, by obstore alone."""
    object_libraries.server_requests(endpoint)
    started = time.perf_counter()
    client = object_libraries.Obstore(endpoint)
    names = client.child_prefixes("sessions/")
    client.fetch_all([f"{name.rstrip('/')}/metadata.json" for name in names], in_flight)
    return time.perf_counter() - started, object_libraries.server_requests(endpoint)


def requests(counts: dict[str, int]) -> str:
    return ", ".join(f"{counts[method]:,} {method}" for method in sorted(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=2, help="V0 event objects each")
    parser.add_argument(
        "--listings-only",
        action="store_true",
        help="only the floor, the first page (cold, warm) and list --all: a large store sooner",
    )
    parser.add_argument("--only", help="after the floor, only the commands whose name has this")
    arguments = parser.parse_args()
    count, events = arguments.conversations, arguments.events
    load = os.getloadavg()
    server, endpoint = object_libraries.start_server(count, events)
    url = f"s3://{object_libraries.BUCKET}"
    objects = count * (1 + events)
    # Each row as soon as it is measured: a run at 100,000 conversations takes hours.
    print(f"{count:,} conversations, {objects:,} objects ({events} events each) in moto's S3")
    print(f"{'':34} {'wall':>9} {'x floor':>8}  requests", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="convstore-bench-") as scratch:
            env = environment(endpoint, Path(scratch) / "cache")
            db = Path(scratch) / "openhands.db"
            base, counts = floor(endpoint, object_libraries_in_flight())
            show("floor: list + every metadata.json", base, base, counts)
            commands = [
                ("list, first page, cold cache", ["list", "--file-store", url]),
                ("list, first page, warm cache", ["list", "--file-store", url]),
                (
                    "list --sort -updated, warm cache",
                    ["list", "--sort", "-updated", "--file-store", url],
                ),
                ("list --all", ["list", "--all", "--format", "jsonl", "--file-store", url]),
                ("verify", ["verify", "--format", "json", "--file-store", url]),
                (
                    "migrate-v0-to-v1 (events too)",
                    ["migrate-v0-to-v1", "--file-store", url, "--db", str(db), "--create-table"],
                ),
            ]
            for name, args in commands:
                if arguments.listings_only and name not in LISTINGS:
                    continue
                if arguments.only and arguments.only not in name:
                    continue
                wall, counts = measure(endpoint, args, env)
                show(name, wall, base, counts)
    finally:
        assert server.stdin is not None
        server.stdin.close()
        server.wait()
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {machine}, Python {platform.python_version()}")
    print(f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}")


def show(name: str, wall: float, base: float, counts: dict[str, int]) -> None:
    print(f"{name:34} {wall:8.1f}s {wall / base:7.1f}x  {requests(counts)}", flush=True)


def object_libraries_in_flight() -> int:
    from convstore.objects.base import IN_FLIGHT

    return IN_FLIGHT


if __name__ == "__main__":
    main()
