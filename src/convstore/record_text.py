"""A record as one line of each machine format: the JSON object that ``list --format
json|jsonl`` prints and the row of ``--format csv``, both made of ``output_fields``.

Plain functions, without Rich or pydantic: the model keeps what they make (once per
record, ``ConversationMetadata.output_text``), worker processes make it for the records
a whole listing keeps in the V0 cache, and ``cli.render`` prints it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# One encoder for every record: json.dumps with options builds one per call.
json_text = json.JSONEncoder(ensure_ascii=False).encode


# Cells written as JSON: the csv module itself writes None as an empty cell, and text
# and numbers as ``str`` does (floats by ``repr``, the same text).
_JSON_CELLS = frozenset({bool, list, dict})


def csv_cell(value: Any) -> str:
    """Null as an empty cell; lists, objects and booleans as JSON (problems too: a
    sentence may hold any separator); text and numbers as they are."""
    if value is None:
        return ""
    return json_text(value) if type(value) in _JSON_CELLS else str(value)


def csv_row(values: Iterable[Any]) -> str:
    """One CSV row of ``values`` (cells as ``csv_cell`` makes them), its line end included.
    Only the cells the csv module would write otherwise are converted: a call per cell
    was a third of a row's cost, and ``list --all --format csv`` makes one per record."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [json_text(value) if type(value) in _JSON_CELLS else value for value in values]
    )
    return buffer.getvalue()


# How each machine format writes one record's output fields.
FORMATS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "json": json_text,
    "csv": lambda fields: csv_row(fields.values()),
}
