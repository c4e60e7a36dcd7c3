"""`convstore stats` on the SQL listing's databases (sql_listing), against the bare GROUP BY.

The floor is the query a DBA would write for the same figures (plain sums, no care for
values of the wrong kind) over the rows stats counts (no sub-conversations), run with
the database's own client, sqlite3 or psql, timed from its start to its exit. `stats`
is timed in process after its imports: the catalog opened (the table reflected), the
report counted and written as JSON; and once as the whole command.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from typing import Any

from sql_listing import _libpq, _url, process  # beside this file

FIGURES = (
    "count(*), sum(accumulated_cost), sum(prompt_tokens), sum(completion_tokens), "
    "sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), "
    "sum(json_array_length(pr_number)), min(created_at), max(created_at)"
)
GROUPS = {
    ("sqlite", "month"): "strftime('%Y-%m', created_at)",
    ("sqlite", "user"): "user_id",
    ("pg", "month"): "date_trunc('month', created_at AT TIME ZONE 'UTC')",
    ("pg", "user"): "user_id",
}


def bare_group_by(key: str, by: str) -> str:
    return (
        f"SELECT {GROUPS[(key, by)]} AS grouped, {FIGURES} "
        "FROM conversation_metadata WHERE parent_conversation_id IS NULL GROUP BY 1"
    )


def floor(context: dict[str, Any], key: str, by: str) -> tuple[str, float]:
    """The bare GROUP BY with the database's own client, start-up included."""
    if key == "sqlite":
        command = ["sqlite3", str(context[key]), bare_group_by(key, by)]
    else:
        command = ["psql", "-X", "-q", "-A", "-t", "-d", _libpq(context[key])]
        command += ["-c", bare_group_by(key, by)]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - started
    return f"{len(finished.stdout.splitlines())} groups", elapsed


def in_process(context: dict[str, Any], key: str, by: str) -> tuple[str, float]:
    from sqlalchemy import create_engine

    from convstore.cli import render
    from convstore.jobs import stats
    from convstore.stores.catalog import Catalog
    from convstore.stores.sql import SqlStore

    started = time.perf_counter()
    catalog = Catalog(sql=SqlStore(create_engine(_url(context, key))))
    report = stats.run(catalog, stats.Request(by=(by,)))
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        render.stats(report, "json")
    catalog.close()
    elapsed = time.perf_counter() - started
    return f"{len(report.rows)} groups, {report.totals.conversations:,} conversations", elapsed


def whole_command(context: dict[str, Any], key: str, by: str) -> tuple[str, float]:
    arguments = ["stats", "--config", os.devnull, "--db", str(context[key]), "--by", by]
    return process([*arguments, "--format", "json"])
