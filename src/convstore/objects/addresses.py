"""Where a store is: ``s3://bucket/prefix``, ``gs://bucket/prefix`` or a path, and how to
reach a bucket: OpenHands' own variables first, then the clouds' standard chains.

OpenHands names its bucket and endpoint in variables of its own (shared/FORMATS.md, "File
store backends"); the credentials come from the variables and files every AWS and Google
tool reads. Nothing here holds a secret in a form that prints: a ``BucketAccess`` says
*where* its credentials come from, and keeps their values out of its repr.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from convstore.errors import UsageError

Scheme = Literal["s3", "gs"]
SCHEMES: tuple[Scheme, ...] = ("s3", "gs")
# OpenHands' names for the two clouds, in FILE_STORE and SHARED_EVENT_STORAGE_PROVIDER.
_OPENHANDS_KINDS: dict[str, Scheme] = {
    "s3": "s3",
    "aws": "s3",
    "google_cloud": "gs",
    "gcp": "gs",
}


@dataclass(frozen=True)
class BucketAddress:
    """A bucket and a prefix inside it, under which keys are relative."""

    scheme: Scheme
    bucket: str
    prefix: str = ""  # no leading or trailing "/"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")


def is_bucket_url(value: str | os.PathLike[str]) -> bool:
    return isinstance(value, str) and value.split("://", 1)[0] in SCHEMES and "://" in value


def parse_location(value: str | os.PathLike[str]) -> BucketAddress | Path:
    """A bucket address for ``s3://`` and ``gs://`` URLs, else a local path.

    Any other ``scheme://`` is refused rather than taken for a directory of that name.
    """
    if not isinstance(value, str):
        return Path(value).expanduser()
    if "://" not in value:
        return Path(value).expanduser()
    scheme, rest = value.split("://", 1)
    if scheme not in SCHEMES:
        raise UsageError(
            f"unsupported store location {value!r}: use s3://bucket/prefix, "
            "gs://bucket/prefix or a path"
        )
    bucket, _, prefix = rest.partition("/")
    prefix = prefix.strip("/")
    if not bucket or any(part in ("", ".", "..") for part in prefix.split("/") if prefix):
        raise UsageError(f"not a bucket address: {value!r} (expected {scheme}://bucket/prefix)")
    return BucketAddress("s3" if scheme == "s3" else "gs", bucket, prefix)


# OpenHands' variables


def openhands_file_store(env: Mapping[str, str]) -> tuple[str, str] | None:
    """The V0 file store OpenHands uses when it keeps it in a bucket, as (URL, source):
    ``FILE_STORE=s3|google_cloud``; the bucket ``FILE_STORE_PATH``, else
    ``AWS_S3_BUCKET`` / ``GOOGLE_CLOUD_BUCKET_NAME``. None for local disk."""
    scheme = _OPENHANDS_KINDS.get(env.get("FILE_STORE", "").strip().lower())
    if scheme is None:
        return None
    fallback = "AWS_S3_BUCKET" if scheme == "s3" else "GOOGLE_CLOUD_BUCKET_NAME"
    for name in ("FILE_STORE_PATH", fallback):
        bucket = env.get(name, "").strip().strip("/")
        if bucket:
            return f"{scheme}://{bucket}", f"env FILE_STORE, {name}"
    return None


def openhands_events(env: Mapping[str, str]) -> tuple[str, str] | None:
    """Where OpenHands 1.x keeps V1 event files when it keeps them in a bucket, as (URL,
    source): ``SHARED_EVENT_STORAGE_PROVIDER`` (else ``FILE_STORE``) names the cloud,
    ``FILE_STORE_PATH`` the bucket; the keys are ``users/[<user_id>/]v1_conversations/...``
    from the bucket's root. None when they are on local disk."""
    for variable in ("SHARED_EVENT_STORAGE_PROVIDER", "FILE_STORE"):
        kind = env.get(variable, "").strip().lower()
        if kind:
            break
    scheme = _OPENHANDS_KINDS.get(kind)
    bucket = env.get("FILE_STORE_PATH", "").strip().strip("/")
    if scheme is None or not bucket:
        return None
    return f"{scheme}://{bucket}", f"env {variable}, FILE_STORE_PATH"


# How to reach a bucket


@dataclass(frozen=True)
class BucketAccess:
    """The settings a bucket client is built from, and where each came from."""

    endpoint: str | None = None  # None: the cloud's own
    allow_http: bool = False
    region: str | None = None
    # Static S3 keys when they were given (else the client's own chain finds them).
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    # GCS: a service account or authorized-user file (else application default credentials).
    credentials_file: str | None = None
    # GCS: no credentials at all (a local emulator, a public bucket).
    anonymous: bool = False
    # Where the credentials come from, fit to print ("env AWS_ACCESS_KEY_ID", ...).
    credentials_source: str = "the client's default chain"


def s3_access(env: Mapping[str, str], home: Path | None = None) -> BucketAccess:
    """S3 settings: OpenHands' ``AWS_S3_ENDPOINT`` and ``AWS_S3_SECURE`` (default true)
    name an S3-compatible endpoint; keys from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
    else the profile (``AWS_PROFILE``, default ``default``) in ``~/.aws/credentials`` and
    ``~/.aws/config``; else the client looks further itself (web identity, container and
    instance credentials). Region: ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile's."""
    secure = env.get("AWS_S3_SECURE", "true").strip().lower() == "true"
    endpoint = env.get("AWS_S3_ENDPOINT", "").strip() or env.get("AWS_ENDPOINT_URL", "").strip()
    if endpoint:
        # As OpenHands does: the scheme follows AWS_S3_SECURE whatever the value says.
        bare = endpoint.removeprefix("https://").removeprefix("http://")
        endpoint = f"{'https' if secure else 'http'}://{bare}"
    profile_name = env.get("AWS_PROFILE", "").strip() or "default"
    profile = _aws_profile(env, profile_name, home or Path.home())
    region = (
        env.get("AWS_REGION", "").strip()
        or env.get("AWS_DEFAULT_REGION", "").strip()
        or profile.get("region")
        or None
    )
    key, secret = env.get("AWS_ACCESS_KEY_ID", ""), env.get("AWS_SECRET_ACCESS_KEY", "")
    if key and secret:
        return BucketAccess(
            endpoint,
            not secure,
            region,
            key,
            secret,
            env.get("AWS_SESSION_TOKEN") or None,
            credentials_source="env AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
        )
    if profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
        return BucketAccess(
            endpoint,
            not secure,
            region,
            profile["aws_access_key_id"],
            profile["aws_secret_access_key"],
            profile.get("aws_session_token"),
            credentials_source=f"AWS profile {profile_name!r}",
        )
    return BucketAccess(endpoint, not secure, region)


def gcs_access(env: Mapping[str, str]) -> BucketAccess:
    """GCS settings: application default credentials (``GOOGLE_APPLICATION_CREDENTIALS``,
    else gcloud's well-known file, else the metadata server), as OpenHands uses them;
    ``STORAGE_EMULATOR_HOST`` (the variable Google's clients honour) points at an emulator
    and needs no credentials."""
    emulator = env.get("STORAGE_EMULATOR_HOST", "").strip()
    if emulator:
        endpoint = emulator if "://" in emulator else f"http://{emulator}"
        return BucketAccess(
            endpoint.rstrip("/"),
            endpoint.startswith("http://"),
            anonymous=True,
            credentials_source="none (env STORAGE_EMULATOR_HOST)",
        )
    path = env.get("GOOGLE_APPLICATION_CREDENTIALS", "").strip()
    if path:
        return BucketAccess(
            credentials_file=path, credentials_source="env GOOGLE_APPLICATION_CREDENTIALS"
        )
    return BucketAccess(credentials_source="application default credentials")


def _aws_profile(env: Mapping[str, str], name: str, home: Path) -> dict[str, str]:
    """The profile's settings from the shared credentials and config files (the config
    file names it ``profile NAME``, except ``default``)."""
    found: dict[str, str] = {}
    files = (
        (env.get("AWS_CONFIG_FILE") or str(home / ".aws" / "config"), f"profile {name}"),
        (env.get("AWS_SHARED_CREDENTIALS_FILE") or str(home / ".aws" / "credentials"), name),
    )
    for path, section in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as error:
            raise UsageError(f"cannot read AWS settings {path}: {error}") from error
        for candidate in (section, name) if name == "default" else (section,):
            if parser.has_section(candidate):
                found.update(parser.items(candidate))
    return found
