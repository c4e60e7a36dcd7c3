"""Where conversation files live: local disk, S3 or Google Cloud Storage, one interface.

``open_objects("s3://bucket/prefix" | "gs://bucket/prefix" | "/a/path")`` gives an
``Objects``: list a prefix's children (one delimiter listing) or every object below it
with signatures (page by page), read with a version, create if absent, write if
unchanged, delete (optionally if unchanged), many reads in flight. ``base`` says what
the two tokens, ``signature`` and ``version``, are on each store; ``buckets`` how the
clouds are reached (obstore, imported only when a bucket is opened: the local-disk path
never imports it) and how their errors become one line; ``local`` how a directory
answers as a bucket does; ``addresses`` the URLs and OpenHands' variables.

Phase B: the stores on top of this (issue 15)
=============================================

Key layouts (relative to the root of the store's URL):

- V0 file store: ``sessions/<id>/metadata.json``, ``sessions/<id>/events/<n>.json``,
  ``sessions/<id>/event_cache/<start>-<end>.json``, ``agent_state.pkl`` and others; with
  a user (enterprise) the same below ``users/<user_id>/conversations/<id>/``.
- V1 events (1.x): ``users/<user_id>/v1_conversations/<hex>/<event hex>.json``, and
  ``users/v1_conversations/<hex>/...`` for a conversation without a user (so a user named
  ``v1_conversations`` is ambiguous in OpenHands' own layout; convstore should report,
  not guess). On local disk 1.x writes ``<persistence>/[<user_id>/]v1_conversations/``.

V0 file store (stores/files.py) on ``Objects``: the conversations are
``children("sessions")``, one delimiter listing (1 request per 1,000 conversations),
never a walk of event keys (OpenHands' own listing, one unpaged ``list_objects_v2``, loses
conversations past 1,000 keys: OpenHands issue #9565). A record is ``read(sessions/<id>/
metadata.json)``; its token is ``Read.version``. Listings read metadata with
``read_many`` (32 in flight, memory bounded by the window); enterprise stores list
``children("users")`` then ``children(f"users/{u}/conversations")``.

V0 index cache (stores/v0_cache.py): on a bucket its signatures are ``ObjectInfo.signature``
(the ETag) from ``walk("sessions")`` filtered to ``*/metadata.json``. That walk lists
event keys too (the store has no suffix filter), so it pays where events are few; where
they are many, ``children("sessions")`` plus a HEAD per conversation not in the cache,
or a cache that trusts its entries for a TTL, are the alternatives to measure. A read
gives the signature of what it read (``Read.signature``), so the cache never records
a signature newer than the content it parsed (the racy-read rule of v0_scan is not
needed: an ETag names content, not a time).

rename, verify --fix: ``read`` -> change -> ``write_if_unchanged(key, data,
read.version)``; Conflict (exit 5) when OpenHands wrote in between. S3 ``If-Match``, GCS
``ifGenerationMatch``; on local disk the digest under flock (files.py keeps its own path
until it moves here).

delete: ``delete(metadata.json, version=record token)`` first, so the conversation leaves
every listing in one step; then ``delete_all(walk(...) keys)`` of the rest (S3: 1,000
keys per request) and of ``users/<user>/conversations/<id>/``. On a bucket the first
step is HEAD, compare, DELETE (object_store cannot send a conditional DELETE: see
``buckets``). A crash after the first step leaves objects without metadata.json:
``verify`` reports them as orphaned prefixes (``children("sessions")`` minus those with
a metadata.json) and a rerun of ``delete <id>`` removes them. ``--dry-run`` lists the walk.

V0/V1 event readers: ``walk(<conversation>/events)`` gives the keys with sizes (``show``
adds sizes without reading); events are fetched with ``read_many``. V1 event writer
(migrate): ``create_if_absent`` per event (S3 ``If-None-Match: *``, GCS
``ifGenerationMatch=0``), so a rerun never overwrites; Conflict on an existing key with
the same bytes is success (compare with a read), with other bytes a finding.

Requests per command on a bucket (N conversations, E event keys each, P = page of 20):

- ``list`` (first page, sorted): N/1000 listing + N metadata reads (32 in flight); with a
  warm cache N*(1+E)/1000 listing + reads of the changed ones + P.
- ``list --all``: the same reads, streamed out in order.
- ``show``: 1 read + 1 walk page per 1,000 event keys (sizes from the listing).
- ``rename``: 1 read + 1 conditional write (+ 1 read back).
- ``delete``: 1 read + 1 HEAD + 1 DELETE + walks + 1 bulk DELETE per 1,000 keys.
- ``verify``: N/1000 children + N reads + per conversation walks where events are checked.
- ``export``: N/1000 + N reads. ``migrate-v0-to-v1``: N reads + walks + E reads + E
  conditional creates per conversation (in flight, bounded).

Settings (phase B, config.py): ``--file-store``/``--events-dir`` and config.toml take the
URLs; OpenHands' variables via ``addresses.openhands_file_store`` and
``openhands_events`` in their place in the precedence. Today config.py reads
``FILE_STORE_PATH`` as a directory even when ``FILE_STORE=s3``, where it is the bucket:
that must change with the wiring.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from convstore.config import DEFAULT_CONNECT_TIMEOUT
from convstore.errors import StoreUnavailable
from convstore.objects.addresses import BucketAddress, is_bucket_url, parse_location
from convstore.objects.base import IN_FLIGHT, ObjectInfo, Objects, Read

__all__ = [
    "IN_FLIGHT",
    "ObjectInfo",
    "Objects",
    "Read",
    "is_bucket_url",
    "open_objects",
]

CLOUD_EXTRA = "pip install 'convstore[cloud]'"


def open_objects(
    location: str | os.PathLike[str],
    *,
    connect_seconds: float = DEFAULT_CONNECT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    probe: bool = True,
) -> Objects:
    """The store at ``location``: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or a path.

    ``probe``: make one request now, so a missing bucket, a refused credential or an
    unreachable endpoint is StoreUnavailable here (within ``connect_seconds``), in one
    line, rather than in the middle of a command.
    """
    address = parse_location(location)
    if isinstance(address, Path):
        from convstore.objects.local import LocalObjects

        objects: Objects = LocalObjects(address)
    else:
        objects = _bucket(address, connect_seconds, os.environ if environ is None else environ)
    if probe:
        objects.probe()
    return objects


def _bucket(address: BucketAddress, connect_seconds: float, env: Mapping[str, str]) -> Objects:
    try:
        from convstore.objects.buckets import BucketObjects
    except ImportError as error:
        raise StoreUnavailable(
            f"{address}: convstore was installed without cloud support ({CLOUD_EXTRA})"
        ) from error
    from convstore.objects.addresses import gcs_access, s3_access

    access = s3_access(env) if address.scheme == "s3" else gcs_access(env)
    return BucketObjects(address, access, connect_seconds)
