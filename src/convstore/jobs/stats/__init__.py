"""``convstore stats``: what conversations cost and who runs them, from every store.

Every conversation that matches the query (the filters of ``list``) is counted once,
as OpenHands shows it: a V0 conversation whose migrated V1 row exists counts as that
row, and a V0 row that a V0 file of the same id shadows counts as the file. The V0
file store contributes its conversations (``v0_files``); the database adds
up its groups itself (``sql``), and so does the V0 index cache for the files whose
figures it holds; all go into one ``Tally``, which becomes a ``Report``.

Usage from Python::

    report = stats.run(catalog, stats.Request(by=("user", "month")))
    for row in report.rows:
        print(row.key, row.figures.conversations, row.figures.dollars)
"""

from __future__ import annotations

from convstore.fields import STATS_FIGURES as FIGURES
from convstore.ids import v1_form
from convstore.jobs.stats import v0_files
from convstore.jobs.stats.figures import DIMENSIONS, TIME_DIMENSIONS, Figures
from convstore.jobs.stats.report import COST_BY, SORT_NAMES, CostBy, Report, Request, Row, build
from convstore.jobs.stats.sql import Aggregation, lookup_versions
from convstore.jobs.stats.tally import Tally
from convstore.jobs.stats.v0_files import batched
from convstore.stores import filters
from convstore.stores.base import Query
from convstore.stores.catalog import Catalog

__all__ = [
    "COST_BY",
    "DIMENSIONS",
    "FIGURES",
    "SORT_NAMES",
    "TIME_DIMENSIONS",
    "CostBy",
    "Figures",
    "Report",
    "Request",
    "Row",
    "run",
]

# V0 conversations looked up in the database at a time, for their twins.
LOOKUP_BATCH = 1000
EVENTS = "conversation_cost_events"


def run(catalog: Catalog, request: Request) -> Report:
    """Count every store's conversations that ``request.query`` selects, by
    ``request.by``; a filter that can never match is a usage error (as in ``list``)."""
    request = request.checked()
    filters.check(request.query, catalog.sql)
    tally = Tally(request.by)
    notes: list[str] = []
    shadowed = _count_files(catalog, request.query, tally) if catalog.files is not None else []
    cost_by = request.cost_by
    if catalog.sql is not None:
        aggregation = Aggregation(catalog.sql, request.query, tally, shadowed)
        aggregation.run()
        if cost_by == "incurred" and not aggregation.has_events():
            notes.append(
                f"{catalog.sql.display} has no {EVENTS} table (OpenHands 1.x enterprise "
                "records them): cost is counted by creation (--cost-by created)"
            )
            cost_by = "created"
        elif cost_by == "incurred" and any(name in TIME_DIMENSIONS for name in request.by):
            aggregation.incur()
    elif cost_by == "incurred":
        notes.append(
            f"no database, so no {EVENTS}: cost is counted by creation (--cost-by created)"
        )
        cost_by = "created"
    return build(tally, request, cost_by, notes, catalog.user_emails)


def _count_files(catalog: Catalog, query: Query, tally: Tally) -> list[str]:
    """Add the V0 files' conversations; the ids of the V0 rows they shadow.

    Which files are twins of a V1 row, and which V0 rows a file shadows, does not depend
    on the filters (a conversation is one, whatever its forms say): every directory is
    looked up, by name, in batches of one query each.
    """
    files = catalog.files
    assert files is not None
    twins: set[str] = set()
    shadowed: list[str] = []
    if catalog.sql is not None:
        addresses = (address for address, _ in files.located())
        for batch in batched(addresses, LOOKUP_BATCH):
            forms = {address: v1_form(address) for address in batch}
            ids = {*batch, *(dashed for dashed in forms.values() if dashed is not None)}
            versions = lookup_versions(catalog.sql, sorted(ids))
            for address, dashed in forms.items():
                if dashed is not None and versions.get(dashed) == "V1":
                    twins.add(address)
                elif address in versions and versions[address] != "V1":
                    shadowed.append(address)
    v0_files.add(files, query, tally, twins)
    return shadowed
