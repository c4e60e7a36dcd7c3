"""What every command does first: resolve the settings and open the catalog."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convstore.stores.catalog import Catalog


def open_catalog(file_store: Path | None, db: str | None, config: Path | None) -> Catalog:
    from convstore.config import Settings
    from convstore.stores.catalog import open_catalog as open_stores

    return open_stores(Settings.resolve(file_store=file_store, db=db, config=config))


def interactive() -> bool:
    """True when a person is at the keyboard: stdin and stdout are terminals."""
    return sys.stdin.isatty() and sys.stdout.isatty()
