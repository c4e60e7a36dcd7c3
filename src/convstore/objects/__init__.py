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
  ``users/v1_conversations/<hex>/...`` for a conversation without a user. On local disk
  1.x writes ``<persistence>/[<user_id>/]v1_conversations/``.

V0 file store (stores/files.py) on ``Objects``: the conversations are
``children("sessions")``, one delimiter listing (1 request per 1,000 conversations),
never a walk of event keys (OpenHands' own listing, one unpaged ``list_objects_v2``, loses
conversations past 1,000 keys: OpenHands issue #9565). A record is ``read(sessions/<id>/
metadata.json)``; its token is ``Read.version``. Listings read metadata with
``read_many`` (32 in flight, memory bounded by the window). OpenHands writes
metadata.json below ``sessions/`` whatever the user; the files of a conversation with a
user (events of SaaS rows) are below ``users/``: ``children("users")``, then
``children(f"users/{u}/conversations")``, where verify looks for orphans.

V0 index cache (stores/v0_cache.py): on a bucket its signature is the ETag
(``ObjectInfo.signature`` / ``Read.signature``; a read gives the signature of exactly
the bytes it returned, so the cache never records a signature newer than what it
parsed, and v0_scan's racy window is not needed). A bucket has no cheap stat: listing
``walk("sessions")`` for the ETags of metadata.json also lists every event key (no
suffix filter), N*(1+E)/1000 sequential requests, and E is hundreds per conversation
in real stores; a HEAD per conversation costs what a GET does. So the cache validates
with conditional GETs (``If-None-Match: <ETag>``; obstore's ``if_none_match`` raises
NotModifiedError on 304): N requests in flight as without a cache, but no body and no
parse for the unchanged. Phase B adds ``read_if_changed(key, signature)`` to
``Objects`` for that (local disk: the stat signature, with v0_scan's racy rule). A sort
and filters on fields OpenHands sets at creation only (stores/creation_fields.py: the
default ``-created``, ``--user``, ``--repo``, ``--trigger``, ``--since``) validate
nothing: the delimiter listing gives the set (new names read, gone ones dropped), the
cache the order, and only the records a page shows are read (stores/v0_checked.py).

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

Requests per command on a bucket (N conversations, E event keys each, page P = 20;
"in flight": 32 at a time, memory bounded by the window):

- ``list`` (first page): N/1000 delimiter listing + N metadata GETs in flight (the
  floor the issue names) + the page's records. With a warm cache: sorted and filtered
  on creation fields, the listing + one window of 32 GETs (the candidates of a page
  of up to 31, read before any is shown); otherwise N conditional GETs (304s) + P.
- ``list --all``, ``export``: the same, records streamed out in order: with a warm
  cache and creation fields, one GET per record; otherwise two.
- ``show ID``: 1 GET + the conversation's walk, (1+E)/1000 pages (sizes from listings).
- ``rename``: 1 GET + 1 conditional PUT (+ 1 GET of the result).
- ``delete ID``: 1 GET + 1 HEAD + 1 DELETE (metadata.json) + walks of its prefixes +
  one bulk DELETE per 1,000 keys (S3; GCS deletes one by one, in flight).
- ``verify``: N/1000 + N GETs; orphan prefixes from the same delimiter listing; event
  checks add each conversation's walk.
- ``migrate-v0-to-v1``: N/1000 listing (once: counting and reading share it) + N GETs +
  per conversation one walk of its prefix (events and event_cache pages together) and
  E event GETs in flight, E conditional creates of V1 event files
  (``create_if_absent``); one delimiter listing per user tells which conversations
  have a prefix in the user layout (``events.locate.UserLayouts``).

Settings (phase B, config.py): ``--file-store``/``--events-dir`` and config.toml take the
URLs; OpenHands' variables via ``addresses.openhands_file_store`` and
``openhands_events`` in their place in the precedence. Today config.py reads
``FILE_STORE_PATH`` as a directory even when ``FILE_STORE=s3``, where it is the bucket:
that must change with the wiring. ``stores/locations.survey`` looks at a bucket with
``open_objects(...).probe()`` (one request; exit 3 in one line) where it stats a path,
and ``convstore config`` shows ``BucketAccess.credentials_source``, never a key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

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
    connect_seconds: float | None = None,
    environ: Mapping[str, str] | None = None,
    probe: bool = True,
) -> Objects:
    """The store at ``location``: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or a path.

    ``probe``: make one request now, so a missing bucket, a refused credential or an
    unreachable endpoint is StoreUnavailable here (within ``connect_seconds``), in one
    line, rather than in the middle of a command.
    """
    if connect_seconds is None:
        from convstore.config import DEFAULT_CONNECT_TIMEOUT

        connect_seconds = DEFAULT_CONNECT_TIMEOUT
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
