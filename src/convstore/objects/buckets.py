"""S3 and Google Cloud Storage buckets, through obstore (the Python binding of Rust's
``object_store``; benchmarks/object_libraries.py says why this library).

Both clouds answer alike here; they differ in one token. A conditional write names the
object's state by its ETag on S3 (``If-Match``; ``If-None-Match: *`` to create) and by
its generation on GCS (``ifGenerationMatch``; ``0`` to create), so ``version`` is the one
or the other; listings carry only the ETag on both, which is the ``signature``.

A conditional delete is the one precondition object_store cannot send. Here it is a
HEAD, a comparison and an unconditional DELETE: a write that lands in the round trip
between the HEAD and the DELETE is deleted with the object. convstore only deletes what
the operator asked it to delete, metadata.json first (so the conversation leaves listings
in one step), and this is the window ``delete`` lives with on a bucket.

Errors come back from the library as long multi-line texts; an operator gets one line:
the bucket does not exist, the credentials were refused, the endpoint cannot be reached
(all StoreUnavailable, exit 3), within the connect timeout: the client waits that long
for a connection and for each request, and stops retrying after it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import obstore
from obstore.exceptions import AlreadyExistsError, BaseError, NotModifiedError, PreconditionError
from obstore.store import GCSStore, S3Store

from convstore.errors import ConvstoreError, StoreUnavailable
from convstore.objects.addresses import BucketAccess, BucketAddress
from convstore.objects.base import (
    UNCHANGED,
    Children,
    ObjectInfo,
    Objects,
    Read,
    TooLarge,
    Unchanged,
    Whole,
    changed,
    check_key,
    check_prefix,
    exists,
    name_of,
)

# S3 deletes up to 1,000 keys in one request.
DELETE_BATCH = 1000
_STATUS = re.compile(r"status code: (\d{3})")
_S3_CODE = re.compile(r"<Code>([^<]+)</Code>")
_GCS_REASON = re.compile(r'"(?:reason|message)"\s*:\s*"([^"]+)"')
_REFUSED = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidClientTokenId",
    "ExpiredToken",
    "InvalidToken",
    "AllAccessDisabled",
}


class BucketObjects(Objects):
    """One bucket (and a prefix inside it) of S3 or GCS."""

    def __init__(self, address: BucketAddress, access: BucketAccess, connect_seconds: float):
        self.address = address
        self.location = str(address)
        self.credentials = access.credentials_source
        self._endpoint = access.endpoint
        self._root = f"{address.prefix}/" if address.prefix else ""
        with self._translated():
            self._store = _client(address, access, connect_seconds)

    @property
    def identity(self) -> str:
        return self.location if not self._endpoint else f"{self.location} at {self._endpoint}"

    def describe(self, key: str) -> str:
        return f"{self.location}/{check_key(key)}"

    # Listing

    def children_of(self, prefix: str) -> Children:
        with self._translated():
            found = obstore.list_with_delimiter(self._store, self._listed(prefix))
        # object_store collects every page before it answers: one name per child held.
        names = [child.rsplit("/", 1)[-1] for child in found["common_prefixes"]]
        names.sort(key=lambda name: name + "/")
        return Children(names)

    def entries(self, prefix: str) -> list[str]:
        with self._translated():
            found = obstore.list_with_delimiter(self._store, self._listed(prefix))
        names = [meta["path"].rsplit("/", 1)[-1] for meta in found["objects"]]
        names += [child.rsplit("/", 1)[-1] for child in found["common_prefixes"]]
        return sorted(names)

    def walk(self, prefix: str) -> Iterator[ObjectInfo]:
        with self._translated():
            stream = obstore.list(self._store, self._listed(prefix), chunk_size=1000)
            for page in stream:
                for meta in page:
                    yield _info(meta["path"][len(self._root) :], meta)

    # Reading

    def read(
        self, key: str, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | None:
        """One GET; the size is known from its headers before the body is read, so an
        object over ``limit`` is refused unread. ``whole`` is not needed: a PUT replaces
        an object at once, no reader sees it half written."""
        found = self._get(key, limit, None)
        assert not isinstance(found, Unchanged)
        return found

    def read_if_changed(
        self, key: str, signature: bytes, *, limit: int | None = None, whole: Whole | None = None
    ) -> Read | Unchanged | None:
        """A conditional GET (``If-None-Match``): 304 and no body when unchanged."""
        return self._get(key, limit, signature.decode())

    def _get(self, key: str, limit: int | None, etag: str | None) -> Read | Unchanged | None:
        path = self._path(key)
        options: dict[str, Any] = {} if etag is None else {"if_none_match": f'"{etag}"'}
        with self._translated():
            try:
                result = obstore.get(self._store, path, options=options)  # type: ignore[arg-type]
                meta = result.meta
                if limit is not None and meta["size"] > limit:
                    raise TooLarge(
                        f"{name_of(key)} is {meta['size']:,} bytes, more than the {limit:,} "
                        "convstore reads"
                    )
                data = bytes(result.bytes())
            except NotModifiedError:
                return UNCHANGED
            except FileNotFoundError as error:
                self._absent(error)
                return None
        return Read(key, data, self._version(meta), _signature(meta), meta["last_modified"])

    def stat(self, key: str) -> ObjectInfo | None:
        meta = self._head(key)
        return None if meta is None else _info(key, meta)

    def head(self, key: str) -> tuple[str, bytes] | None:
        meta = self._head(key)
        return None if meta is None else (self._version(meta), _signature(meta))

    def _head(self, key: str) -> Any:
        with self._translated():
            try:
                return obstore.head(self._store, self._path(key))
            except FileNotFoundError as error:
                self._absent(error)
                return None

    # Writing

    def create_if_absent(self, key: str, data: bytes) -> str:
        with self._translated():
            try:
                result = obstore.put(
                    self._store, self._path(key), data, mode="create", use_multipart=False
                )
            except (AlreadyExistsError, PreconditionError) as error:
                raise exists(key, self.location) from error
        return self._version(result)

    def write_if_unchanged(self, key: str, data: bytes, version: str) -> str:
        expected: dict[str, str] = (
            {"e_tag": version} if self.address.scheme == "s3" else {"version": version}
        )
        with self._translated():
            try:
                result = obstore.put(
                    self._store,
                    self._path(key),
                    data,
                    mode=expected,  # type: ignore[arg-type]  # a TypedDict, total=False
                    use_multipart=False,
                )
            except (PreconditionError, AlreadyExistsError, FileNotFoundError) as error:
                # S3 answers If-Match on a missing key with 404, GCS with 412.
                raise changed(key, self.location) from error
        return self._version(result)

    def copy(self, key: str, destination: str) -> None:
        """A copy made by the store itself (no bytes pass through convstore)."""
        with self._translated():
            obstore.copy(self._store, self._path(key), self._path(destination))

    def delete(self, key: str, version: str | None = None) -> None:
        path = self._path(key)
        if version is not None:
            current = self.head(key)
            if current is None or current[0] != version:
                raise changed(key, self.location)
        with self._translated():
            try:
                obstore.delete(self._store, path)
            except FileNotFoundError as error:
                self._absent(error)  # GCS reports a missing object, S3 does not: it is gone

    def delete_all(self, keys: Iterable[str]) -> None:
        batch: list[str] = []
        for key in keys:
            batch.append(self._path(key))
            if len(batch) == DELETE_BATCH:
                self._delete_batch(batch)
                batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, paths: list[str]) -> None:
        with self._translated():
            try:
                obstore.delete(self._store, paths)
            except FileNotFoundError as error:
                # GCS deletes one by one and reports a missing one: the rest alone.
                self._absent(error)
                for path in paths:
                    try:
                        obstore.delete(self._store, path)
                    except FileNotFoundError as missing:
                        self._absent(missing)

    def probe(self) -> None:
        """One delimiter listing of the root (a missing bucket, a refused credential and
        an unreachable endpoint all fail it): a few prefixes (``sessions/``, ``users/``),
        where a plain listing would bring a page of 1,000 keys, events included."""
        with self._translated():
            obstore.list_with_delimiter(self._store, self._listed(""))

    # Helpers

    def _path(self, key: str) -> str:
        return self._root + check_key(key)

    def _listed(self, prefix: str) -> str | None:
        """The library's path for a listing of ``prefix`` (None: the whole bucket)."""
        path = self._root + check_prefix(prefix) if prefix else self._root.rstrip("/")
        return path or None

    def _version(self, meta: Any) -> str:
        """The token a conditional write of this object takes (module docstring)."""
        token = meta["e_tag"] if self.address.scheme == "s3" else meta["version"]
        if not token:
            raise StoreUnavailable(
                f"{self.location}: the store gave no "
                f"{'ETag' if self.address.scheme == 's3' else 'generation'} for an object; "
                "convstore cannot write it safely"
            )
        return str(token)

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The library's errors as convstore's, in one line (module docstring)."""
        try:
            yield
        except ConvstoreError:
            raise
        except (BaseError, OSError, ValueError) as error:
            raise StoreUnavailable(self._explain(error)) from error

    def _absent(self, error: FileNotFoundError) -> None:
        """A read of a missing key and a read in a missing bucket both come back as
        FileNotFoundError (404); only the first is an answer."""
        if _code(str(error)) == "NoSuchBucket":
            raise StoreUnavailable(self._explain(error)) from error

    def _explain(self, error: Exception) -> str:
        text = str(error)
        status = _status(error)
        code = _code(text)
        where = self.location
        if code == "NoSuchBucket" or (status == "404" and "list" in text.lower()):
            return f"{where}: bucket {self.address.bucket!r} does not exist"
        if status in ("401", "403") or code in _REFUSED:
            detail = f" ({code})" if code else ""
            return f"{where}: the store refused the credentials{detail}"
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed") or status == "301":
            return f"{where}: the bucket is in another region; set AWS_REGION to its region"
        if "error sending request" in text or "timed out" in text.lower() or "dns" in text:
            endpoint = self._endpoint or "the cloud's endpoint"
            return f"{where}: cannot reach {endpoint} ({_reason(text)})"
        first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
        # Up to the status, without the response body the library appends.
        first = first.split(": <", 1)[0].split(': {"', 1)[0]
        return f"{where}: {first[:300]}"


def _client(address: BucketAddress, access: BucketAccess, connect_seconds: float) -> Any:
    """An obstore client for the bucket: timeouts from the connect timeout, retries (of
    throttling and passing faults) only within it."""
    client_options: dict[str, Any] = {
        "connect_timeout": timedelta(seconds=connect_seconds),
        "timeout": timedelta(seconds=connect_seconds),
        "allow_http": access.allow_http,
    }
    retry_config: dict[str, Any] = {
        "max_retries": 3,
        "retry_timeout": timedelta(seconds=connect_seconds),
    }
    if address.scheme == "s3":
        return _s3(address, access, client_options, retry_config)
    return _gcs(address, access, client_options, retry_config)


def _s3(
    address: BucketAddress, access: BucketAccess, client: dict[str, Any], retry: dict[str, Any]
) -> S3Store:
    config: dict[str, Any] = {"conditional_put": "etag"}
    if access.endpoint:
        config["endpoint"] = access.endpoint
        # An S3-compatible server names buckets in the path, not the host.
        config["virtual_hosted_style_request"] = False
    if access.region:
        config["region"] = access.region
    if access.access_key_id and access.secret_access_key:
        config["access_key_id"] = access.access_key_id
        config["secret_access_key"] = access.secret_access_key
        if access.session_token:
            config["session_token"] = access.session_token
    return S3Store(address.bucket, config=config, client_options=client, retry_config=retry)  # type: ignore[arg-type]


def _gcs(
    address: BucketAddress, access: BucketAccess, client: dict[str, Any], retry: dict[str, Any]
) -> GCSStore:
    config: dict[str, Any] = {}
    if access.anonymous:
        # object_store's way to an emulator: a service account that names the endpoint and
        # turns OAuth off (what its own tests use).
        config["service_account_key"] = json.dumps(
            {
                "gcs_base_url": access.endpoint,
                "disable_oauth": True,
                "client_email": "",
                "private_key": "",
                "private_key_id": "",
            }
        )
    elif access.credentials_file:
        config["application_credentials"] = access.credentials_file
    return GCSStore(address.bucket, config=config, client_options=client, retry_config=retry)  # type: ignore[arg-type]


def _signature(meta: Any) -> bytes:
    """The ETag without its quotes (listings of GCS give it bare, reads quoted)."""
    tag = meta["e_tag"] or ""
    return str(tag).removeprefix("W/").strip('"').encode()


def _info(key: str, meta: Any) -> ObjectInfo:
    return ObjectInfo(key, meta["size"], meta["last_modified"], _signature(meta))


def _status(error: Exception) -> str | None:
    found = _STATUS.search(str(error))
    return found.group(1) if found else None


def _code(text: str) -> str | None:
    found = _S3_CODE.search(text) or _GCS_REASON.search(text)
    return found.group(1) if found else None


def _reason(text: str) -> str:
    lowered = text.lower()
    for needle, reason in (
        ("connection refused", "connection refused"),
        ("timed out", "timed out"),
        ("timeout", "timed out"),
        ("dns error", "name not found"),
        ("certificate", "TLS certificate not accepted"),
        ("connection reset", "connection reset"),
    ):
        if needle in lowered:
            return reason
    return "no answer"
