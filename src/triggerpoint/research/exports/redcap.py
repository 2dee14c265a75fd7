"""REDCap: a data dictionary and a records file in REDCap's flat CSV import format.

The dictionary has REDCap's 18 documented columns, A to R, in order (REDCap's own
"Data Dictionary" demonstration file; the column reference is summarised in REDCap knowledge
bases, e.g. "Data Dictionary: Column Reference", RC-FD-08). `patients` is the first,
non-repeating instrument whose first field is `record_id`; every other table is a repeating
instrument, its rows marked by `redcap_repeat_instrument` and `redcap_repeat_instance`
(enable "Repeating instruments" for them in the project before importing the records).
Field names are lower case, unique across instruments (`<prefix>_<column>`) and at most 26
characters; numbers carry REDCap's `integer` / `number` validation, dates `date_ymd` and
times `datetime_ymd` (YYYY-MM-DD HH:MM, UTC); yes/no values are "1, Yes | 0, No".
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.schemas import PATIENTS, TABLES, Column, Progress, Table
from triggerpoint.research.exports.source import Scope, table_batches

DICTIONARY_HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
RECORD_ID = "record_id"
REPEAT = ("redcap_repeat_instrument", "redcap_repeat_instance")
YES_NO = "1, Yes | 0, No"
VALIDATION = {"int": "integer", "float": "number", "date": "date_ymd", "datetime": "datetime_ymd"}
MAX_NAME = 26


def field_name(table: Table, column: Column) -> str:
    return RECORD_ID if column.name == "research_id" else f"{table.prefix}_{column.name}"


def fields(table: Table) -> list[tuple[str, Column]]:
    """The table's REDCap fields (record_id only on the first instrument)."""
    return [
        (field_name(table, c), c)
        for c in table.columns
        if c.name != "research_id" or table is PATIENTS
    ]


def _dictionary_row(table: Table, name: str, column: Column) -> dict[str, str]:
    row = dict.fromkeys(DICTIONARY_HEADER, "")
    row |= {
        "Variable / Field Name": name,
        "Form Name": table.name,
        "Field Label": column.description,
        "Field Note": column.unit,
        "Field Type": "text",
    }
    if column.kind == "bool":
        row |= {"Field Type": "radio", "Choices, Calculations, OR Slider Labels": YES_NO}
    elif column.choices:
        choices = " | ".join(f"{code}, {label}" for code, label in column.choices)
        row |= {"Field Type": "dropdown", "Choices, Calculations, OR Slider Labels": choices}
    else:
        row["Text Validation Type OR Show Slider Number"] = VALIDATION.get(column.kind, "")
    if column.required:
        row["Required Field?"] = "y"
    return row


def dictionary_rows() -> list[dict[str, str]]:
    return [_dictionary_row(t, name, c) for t in TABLES for name, c in fields(t)]


def value(v: Any) -> str:
    """A value as REDCap imports it."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def write(
    session: Session,
    *,
    directory: Path,
    scope: Scope,
    deid: Deidentifier,
    progress: Progress | None = None,
) -> tuple[list[Path], dict[str, int]]:
    """data_dictionary.csv and records.csv; rows per table (instrument) written;
    `progress` after each table."""
    header_rows = dictionary_rows()
    dict_path, records_path = directory / "data_dictionary.csv", directory / "records.csv"
    with dict_path.open("w", newline="", encoding="utf-8") as out:
        w = csv.DictWriter(out, fieldnames=DICTIONARY_HEADER)
        w.writeheader()
        w.writerows(header_rows)
    names = [r["Variable / Field Name"] for r in header_rows]
    columns = [RECORD_ID, *REPEAT, *[n for n in names if n != RECORD_ID]]
    rows: dict[str, int] = {}
    with records_path.open("w", newline="", encoding="utf-8") as out:
        w = csv.DictWriter(out, fieldnames=columns, restval="")
        w.writeheader()
        for n, table in enumerate(TABLES, 1):
            rows[table.name] = _write_table(session, w, table, scope=scope, deid=deid)
            if progress is not None:
                progress(n, len(TABLES), sum(rows.values()))
    return [dict_path, records_path], rows


def _write_table(
    session: Session, w: csv.DictWriter[str], table: Table, *, scope: Scope, deid: Deidentifier
) -> int:
    repeating = table is not PATIENTS
    instance: dict[str, int] = {}
    n = 0
    fs = fields(table)
    for batch in table_batches(session, table=table, scope=scope, deid=deid, ordered=True):
        for src in batch.to_pylist():
            rid = src["research_id"]
            row = {RECORD_ID: rid} | {
                name: value(src[c.name]) for name, c in fs if name != RECORD_ID
            }
            if repeating:
                instance[rid] = instance.get(rid, 0) + 1
                row |= {REPEAT[0]: table.name, REPEAT[1]: str(instance[rid])}
            w.writerow(row)
            n += 1
    return n
