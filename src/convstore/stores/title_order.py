"""The order of ``--sort title``, defined once for Python, SQLite and PostgreSQL.

Titles compare case-insensitively: each is *folded*, its 26 ASCII capitals A-Z lowered
to a-z and every other character kept as it is, and folded titles compare by code
point. That fold is the one case mapping every store computes byte for byte alike,
with a built-in an index can be built on:

- Python: ``str.lower`` folds all of Unicode, so ``fold`` maps only A-Z;
- SQLite: the built-in ``lower()`` folds ASCII only (an ICU build would fold more,
  and is refused: ``require_ascii_lower``);
- PostgreSQL: ``lower()`` follows the column's collation (ASCII only under "C",
  Unicode under most others), so the fold is ``translate()`` of the 26 letters,
  which means the same under every collation.

Code point order is Python's ``str`` order, SQLite's BINARY collation and
PostgreSQL's "C" collation alike (they compare UTF-8 bytes, whose order is code point
order). Non-ASCII letters keep their case: "Ärger" and "ärger" are two titles.
Titles equal once folded ("Apple", "apple") are ordered by id, like equal timestamps.
"""

from __future__ import annotations

import sqlite3
import string
from functools import cache

from convstore.errors import StoreUnavailable

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# What the SQL forms are built with: constants in the text, never bound parameters, so
# that a query's expression is the indexed one, as both databases require to use it.
_POSTGRESQL = f"translate({{}}, '{string.ascii_uppercase}', '{string.ascii_lowercase}')"
_SQLITE = "lower({})"


def fold(title: str) -> str:
    """The title as ``--sort title`` compares it."""
    # str.lower of ASCII text is exactly the fold, and several times faster than translate.
    return title.lower() if title.isascii() else title.translate(_ASCII_LOWER)


def fold_sql(column: str, *, sqlite: bool) -> str:
    """SQL for ``fold`` of ``column`` (an SQL expression): in queries and in indexes."""
    return (_SQLITE if sqlite else _POSTGRESQL).format(column)


@cache
def sqlite_lower_is_ascii() -> bool:
    """True when this process's SQLite library has its built-in, ASCII-only ``lower()``.

    A library built with ICU replaces it with one that folds all of Unicode; the V0
    cache and SQLite databases are read through the same library, so one probe tells.
    """
    connection = sqlite3.connect(":memory:")
    try:
        (lowered,) = connection.execute("SELECT lower('ÄÖÜ')").fetchone()
    finally:
        connection.close()
    return bool(lowered == "ÄÖÜ")


def require_ascii_lower(where: str) -> None:
    """Refuse to order titles in SQL with a ``lower()`` that is not ``fold``."""
    if not sqlite_lower_is_ascii():
        raise StoreUnavailable(
            f"{where}: this SQLite library's lower() folds letters beyond ASCII (it was "
            "built with ICU), so it cannot order titles as the other stores do; "
            "use another --sort"
        )
