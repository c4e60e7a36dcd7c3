"""Where the stores are: flags, then ``CONVSTORE_*``, then config.toml, then OpenHands' own
environment, then ``~/.openhands``. Each resolved setting remembers where it came from,
so ``convstore config`` can say why convstore looks where it looks.

A file store or events location is a path or a bucket URL (``s3://bucket/prefix``,
``gs://bucket/prefix``) wherever it is given. OpenHands' own variables name a bucket
when ``FILE_STORE`` (or, for V1 events, ``SHARED_EVENT_STORAGE_PROVIDER``) says s3 or
google_cloud: then ``FILE_STORE_PATH`` is the bucket's name, not a directory
(``objects.addresses``).

Giving a store location as a flag scopes the run to the stores named by flags: an
operator who types ``--db URL`` means that database, not that database plus whatever
files happen to sit in ``~/.openhands``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote, unquote

from convstore.errors import StoreUnavailable, UsageError
from convstore.objects.addresses import is_bucket_url, openhands_events, openhands_file_store

CONFIG_KEYS = ("file_store", "db", "events_dir", "connect_timeout")
V1_EVENTS = "v1_conversations"
DEFAULT_CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Setting:
    """One resolved value and the place it came from (``flag``, ``env CONVSTORE_DB``, ...)."""

    value: str
    source: str
    explicit: bool  # False when it is only the default location, which may not exist


@dataclass(frozen=True)
class Settings:
    file_store: Setting | None
    db: Setting | None
    config_file: Path | None
    # Where V1 event files live (``<persistence_dir>/v1_conversations``); always resolved,
    # since a conversation's history is needed wherever its metadata comes from.
    events_dir: Setting | None = None
    # Seconds to wait for a database server before giving up (exit 3).
    connect_timeout: Setting = Setting(f"{DEFAULT_CONNECT_TIMEOUT:g}", "default", False)

    @property
    def events_root(self) -> Path | None:
        """The V1 events directory on local disk; None when none is set or it is a
        bucket (then ``Catalog.events_bucket``)."""
        if self.events_dir is None or is_bucket_url(self.events_dir.value):
            return None
        return Path(self.events_dir.value).expanduser()

    @property
    def connect_seconds(self) -> float:
        return _seconds(self.connect_timeout)

    @classmethod
    def resolve(
        cls,
        *,
        file_store: str | Path | None = None,
        db: str | None = None,
        config: Path | None = None,
        events_dir: str | Path | None = None,
        connect_timeout: float | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if environ is None else environ
        config_path = config if config is not None else default_config_path()
        from_file = _read_config(config_path, required=config is not None)
        config_source = f"config {config_path}"
        if file_store is not None or db is not None:
            settings = cls(
                file_store=None if file_store is None else Setting(str(file_store), "flag", True),
                db=None if db is None else Setting(db, "flag", True),
                config_file=config_path if from_file else None,
            )
        else:
            settings = cls(
                file_store=_first(
                    _env(env, "CONVSTORE_FILE_STORE"),
                    _configured(from_file, "file_store", config_source),
                    _openhands_file_store(env),
                    Setting(str(Path.home() / ".openhands"), "default", False),
                ),
                db=_first(
                    _env(env, "CONVSTORE_DB"),
                    _configured(from_file, "db", config_source),
                    _openhands_database(env),
                    _persistence_database(env),
                ),
                config_file=config_path if from_file else None,
            )
        events = _first(
            None if events_dir is None else Setting(str(events_dir), "flag", True),
            _env(env, "CONVSTORE_EVENTS_DIR"),
            _configured(from_file, "events_dir", config_source),
            _openhands_bucket(openhands_events(env)),
            _beside(_env(env, "OH_PERSISTENCE_DIR"), "env OH_PERSISTENCE_DIR"),
            _beside(settings.file_store, "the file store"),
            _beside(Setting(str(Path.home() / ".openhands"), "default", False), "~/.openhands"),
        )
        timeout = _first(
            None if connect_timeout is None else Setting(f"{connect_timeout:g}", "flag", True),
            _env(env, "CONVSTORE_CONNECT_TIMEOUT"),
            _configured(from_file, "connect_timeout", config_source),
        )
        resolved = replace(settings, events_dir=events)
        if timeout is not None:
            resolved = replace(resolved, connect_timeout=timeout)
        _seconds(resolved.connect_timeout)  # a bad value fails before any store opens
        if resolved.db is not None:
            remember_password(resolved.db.value)
        return resolved


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path("convstore") / "config.toml"


def _read_config(path: Path, required: bool) -> dict[str, str]:
    try:
        with path.open("rb") as stream:
            data = tomllib.load(stream)
    except FileNotFoundError as error:
        if required:
            raise UsageError(f"config file {path} does not exist") from error
        return {}
    except PermissionError as error:
        raise StoreUnavailable(f"cannot read config file {path}: permission denied") from error
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise UsageError(f"cannot read config file {path}: {error}") from error
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise UsageError(
            f"config file {path}: unknown key {unknown[0]!r} (known: {', '.join(CONFIG_KEYS)})"
        )
    return {key: str(value) for key, value in data.items()}


def _first(*candidates: Setting | None) -> Setting | None:
    return next((candidate for candidate in candidates if candidate is not None), None)


def _env(env: Mapping[str, str], name: str) -> Setting | None:
    value = env.get(name)
    return Setting(value, f"env {name}", True) if value else None


def _configured(values: dict[str, str], key: str, source: str) -> Setting | None:
    return Setting(values[key], source, True) if key in values else None


def _beside(root: Setting | None, name: str) -> Setting | None:
    """``<root>/v1_conversations``: where OpenHands 1.x keeps V1 events on one machine.

    Its source reads ``v1_conversations/ in the file store (env FILE_STORE_PATH)``; it is
    never explicit: OpenHands creates it only with the first V1 conversation. Beside a
    file store in a bucket, the bucket itself: 1.x keeps them there below ``users/``.
    """
    if root is None:
        return None
    origin = "" if root.source == name else f" ({root.source})"
    if is_bucket_url(root.value):
        return Setting(root.value, f"the bucket of {name}{origin}", False)
    source = f"{V1_EVENTS}/ in {name}{origin}"
    return Setting(str(Path(root.value) / V1_EVENTS), source, False)


def _openhands_file_store(env: Mapping[str, str]) -> Setting | None:
    """OpenHands' V0 file store: a bucket when ``FILE_STORE`` says s3 or google_cloud
    (``FILE_STORE_PATH`` is then the bucket's name), else the directory
    ``FILE_STORE_PATH`` (``FILE_STORE`` unset or local)."""
    bucket = _openhands_bucket(openhands_file_store(env))
    if bucket is not None:
        return bucket
    if env.get("FILE_STORE", "").strip().lower() in ("", "local"):
        return _env(env, "FILE_STORE_PATH")
    return None


def _openhands_bucket(found: tuple[str, str] | None) -> Setting | None:
    return None if found is None else Setting(found[0], found[1], True)


def _openhands_database(env: Mapping[str, str]) -> Setting | None:
    """OpenHands' PostgreSQL settings (``DB_HOST`` and friends, with its defaults)."""
    host = env.get("DB_HOST")
    if not host:
        return None
    user = quote(env.get("DB_USER", "postgres"), safe="")
    password = env.get("DB_PASS", "postgres")
    auth = f"{user}:{quote(password, safe='')}" if password else user
    port = env.get("DB_PORT", "5432")
    name = env.get("DB_NAME", "openhands")
    if host.startswith("/"):
        # A Unix socket directory: libpq takes it as a query parameter, not a host name.
        url = f"postgresql://{auth}@/{name}?host={quote(host)}&port={port}"
    else:
        url = f"postgresql://{auth}@{host}:{port}/{name}"
    return Setting(url, "env DB_HOST, DB_*", True)


def _persistence_database(env: Mapping[str, str]) -> Setting:
    directory = env.get("OH_PERSISTENCE_DIR")
    if directory:
        return Setting(str(Path(directory) / "openhands.db"), "env OH_PERSISTENCE_DIR", True)
    return Setting(str(Path.home() / ".openhands" / "openhands.db"), "default", False)


def database_url(value: str) -> str:
    """A SQLAlchemy URL for ``--db``: a URL as given, or a path to a SQLite file.

    SQLite files are opened with ``mode=rw`` so a mistyped path is an error instead
    of a new empty database; ``postgresql://`` means psycopg 3.
    """
    if "://" not in value:
        return sqlite_url(Path(value))
    scheme, rest = value.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    if scheme in ("sqlite", "sqlite+pysqlite") and rest.startswith("/") and "?" not in rest:
        return sqlite_url(Path(rest[1:]))
    return value


def sqlite_url(path: Path) -> str:
    return f"sqlite:///file:{quote(str(path.expanduser().absolute()))}?mode=rw&uri=true"


def sqlite_path(url: str) -> Path | None:
    """The file of a URL ``database_url`` made for SQLite; None for any other URL."""
    prefix = "sqlite:///file:"
    if not url.startswith(prefix):
        return None
    return Path(unquote(url[len(prefix) :].split("?", 1)[0]))


# The password of a URL (``scheme://user:password@``, up to the last ``@`` of the
# word) in free text, and a ``password=`` parameter (a URL's query, a libpq string).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)\S*@")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:")
_PARAMETER_PASSWORD = re.compile(r"(?i)(?P<head>\bpassword\s*=\s*)(?:'[^']*'|[^&\s]+)")
# Shorter passwords are masked only where they appear in a URL: replacing them
# anywhere in a message would mangle it.
SHORTEST_REMEMBERED = 4
_secrets: set[str] = set()


def masked(text: str) -> str:
    """A store location (or any text naming one) fit to print: every password in a URL
    or a ``password=`` parameter replaced by ``***``. The one masking rule.

    A location that is a URL is masked up to its last ``@``, so a password holding a
    space or an ``@`` that was not percent-encoded is masked whole.
    """
    span = _password_span(text)
    if span is not None:
        text = f"{text[: span[0]]}***{text[span[1] :]}"
    else:
        text = _URL_PASSWORD.sub(r"\g<head>***@", text)
    return _PARAMETER_PASSWORD.sub(r"\g<head>***", text)


def _password_span(value: str) -> tuple[int, int] | None:
    """Where the password of a URL that is the whole of ``value`` is, if it has one."""
    start = _URL_START.match(value)
    if start is None:
        return None
    end = value.rfind("@", start.end())
    return None if end < 0 else (start.end(), end)


def scrubbed(text: str) -> str:
    """``masked``, and every password a resolved setting held replaced wherever it
    appears: the last line of defence where messages are printed, for a driver that
    quotes a password outside a URL."""
    text = masked(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = re.sub(rf"(?<![\w%]){re.escape(secret)}(?![\w%])", "***", text)
    return text


def remember_password(value: str) -> None:
    """Note the password a setting holds (encoded and decoded), for ``scrubbed``."""
    found = [match.group(0).split("=", 1)[1] for match in _PARAMETER_PASSWORD.finditer(value)]
    span = _password_span(value)
    if span is not None:
        found.append(value[span[0] : span[1]])
    for candidate in found:
        candidate = candidate.strip().strip("'")
        for form in (candidate, unquote(candidate)):
            if len(form) >= SHORTEST_REMEMBERED:
                _secrets.add(form)


def _seconds(setting: Setting) -> float:
    try:
        seconds = float(setting.value)
    except ValueError:
        seconds = 0
    if not seconds >= 1:  # also refuses NaN
        raise UsageError(
            f"connect timeout {setting.value!r} ({setting.source}) is not a number of seconds >= 1"
        )
    return seconds
