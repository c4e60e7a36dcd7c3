"""The child process that reads completion values from the stores (see ``completion``).

    echo '{"kind": "ids", "prefix": "0f", ...}' | python -m convstore.cli.live_values

Reads one JSON request on stdin, resolves the stores as every command does (flags,
then ``CONVSTORE_*``, the config file, OpenHands' environment), and prints one
candidate per line, ``value<TAB>description``, flushed as it is found: a parent that
stops waiting keeps what has arrived. It runs without Typer, and a store it cannot
read ends it quietly with status 1; the parent discards its stderr either way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convstore.config import Settings
from convstore.errors import ConvstoreError
from convstore.ids import spelling_extending
from convstore.stores.base import Query, Sort
from convstore.stores.catalog import open_catalog

DESCRIPTION_WIDTH = 60


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        for value, description in candidates(request):
            sys.stdout.write(f"{value}\t{description}\n")
            sys.stdout.flush()
    except ConvstoreError:
        sys.exit(1)


def candidates(request: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Values of ``request["kind"]`` (``ids`` or ``users``) that start with its prefix."""
    config = request.get("config")
    settings = Settings.resolve(
        file_store=request.get("file_store"),
        db=request.get("db"),
        config=None if config is None else Path(config),
    )
    kind, prefix = request["kind"], request.get("prefix", "")
    seen = set(request.get("exclude", ()))
    room = int(request.get("limit", 200))
    with open_catalog(settings) as catalog:
        # Most recently updated first: what an operator is likely to be after.
        query = Query(
            user=request.get("user") if kind == "ids" else None,
            sub_conversations=True,
            sort=Sort(field="updated", descending=True),
        )
        for record in catalog.search(query):
            if kind == "ids":
                # Any spelling finds a conversation: offer its id in the one being typed.
                value = spelling_extending(record.conversation_id, prefix)
                description = record.title
            else:
                value, description = record.owner, None
            if not value or value in seen or not value.startswith(prefix) or _unprintable(value):
                continue
            seen.add(value)
            yield value, _one_line(description)
            room -= 1
            if room == 0:
                return


def _unprintable(value: str) -> bool:
    # A tab or newline would break the line protocol; a shell could not insert it anyway.
    return not value.isprintable()


def _one_line(text: str | None) -> str:
    words = " ".join((text or "").split())
    if len(words) > DESCRIPTION_WIDTH:
        return words[: DESCRIPTION_WIDTH - 1] + "…"
    return words


if __name__ == "__main__":
    main()
