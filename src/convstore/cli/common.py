"""What every command does first: resolve the settings and open the catalog."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec

import typer

if TYPE_CHECKING:
    from convstore.config import Settings
    from convstore.model import Version
    from convstore.stores.base import Query
    from convstore.stores.catalog import Catalog
    from convstore.stores.locations import EventsUse

P = ParamSpec("P")

# The status of a program that a closed stdout ends (128 + SIGPIPE), as `yes | head -1`
# reports it: a script under `set -o pipefail` tells it from "problems found" (1).
STDOUT_CLOSED = 141


def resolve_settings(
    file_store: str | None,
    db: str | None,
    config: Path | None,
    connect_timeout: float | None,
    events_dir: str | None = None,
) -> Settings:
    """The settings a command's store-location options give (see ``Settings.resolve``)."""
    from convstore.config import Settings

    return Settings.resolve(
        file_store=file_store,
        db=db,
        config=config,
        events_dir=events_dir,
        connect_timeout=connect_timeout,
    )


def open_catalog(
    file_store: str | None,
    db: str | None,
    config: Path | None,
    connect_timeout: float | None,
    *,
    events_dir: str | None = None,
    cache: bool = True,
    events: EventsUse = "read",
) -> Catalog:
    """The stores the flags name (or the environment and config.toml, as ``Settings``
    resolves them); a context manager that closes them."""
    from convstore.stores.catalog import open_catalog as open_stores

    settings = resolve_settings(file_store, db, config, connect_timeout, events_dir)
    return open_stores(settings, cache=cache, events=events)


def resolved_user(catalog: Catalog, user: str | None) -> str | None:
    """``--user`` as the owner id the stores match: on a 1.x enterprise database, a
    user's email or git user name names their id (``Catalog.resolve_user``); stderr
    says which user a name stood for."""
    if user is None:
        return None
    found = catalog.resolve_user(user)
    if found.by is not None:
        print(f"--user {user}: user {found.user} (by {found.by})", file=sys.stderr)
    return found.user


def filter_query(
    *,
    user: str | None,
    repo: str | None,
    trigger: str | None,
    title: str | None,
    since: str | None,
    until: str | None,
    updated_since: str | None,
    updated_until: str | None,
    version: Version | None,
    sub_conversations: bool,
    status: str | None,
    org: str | None,
) -> Query:
    """The filters of ``list`` (and ``stats``, which takes the same) as a ``Query``;
    times as ``--since`` reads them (an ISO date or time, or an age)."""
    from convstore.stores.base import Query
    from convstore.times import parse_optional_time as bound

    return Query(
        user=user,
        repo=repo,
        trigger=trigger,
        title=title,
        created_since=bound(since),
        created_until=bound(until),
        updated_since=bound(updated_since),
        updated_until=bound(updated_until),
        version=version,
        sub_conversations=sub_conversations,
        status=status,
        org=org,
    )


def interactive() -> bool:
    """True when a person is at the keyboard: stdin and stdout are terminals."""
    return sys.stdin.isatty() and sys.stdout.isatty()


def translated(function: Callable[P, None]) -> Callable[P, None]:
    """Run a command, turning a library error into one stderr line and its exit status.

    Applied to every command when it is registered, so the translation also holds for
    callers that invoke the Typer app directly (tests, other front ends). A reader that
    closed stdout (``| head -1``) ends the command there, quietly, with ``STDOUT_CLOSED``.
    """

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        from convstore.cli.app import state
        from convstore.config import scrubbed
        from convstore.errors import ConvstoreError

        try:
            function(*args, **kwargs)
            sys.stdout.flush()  # here, where a reader gone away can still end it quietly
        except BrokenPipeError:
            raise typer.Exit(stdout_closed()) from None
        except ConvstoreError as error:
            if state.debug:
                sys.stderr.write(scrubbed("".join(traceback.format_exception(error))))
            # Scrubbed whatever the message: no password reaches stderr (config.masked is
            # applied where locations are formatted; this is the last line of defence).
            print(f"convstore: {scrubbed(str(error))}", file=sys.stderr)
            raise typer.Exit(error.exit_status) from None

    return wrapper


def stdout_closed() -> int:
    """Stop writing to a stdout whose reader has gone; the status to exit with.

    Whatever is still buffered would fail again when the interpreter flushes it at exit
    (a warning on stderr, exit 120): stdout is pointed at /dev/null instead.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # not a file descriptor (a test's capture): nothing will flush it into a pipe
    return STDOUT_CLOSED
