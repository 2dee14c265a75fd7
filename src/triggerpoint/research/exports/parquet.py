"""Parquet: one file per table with its explicit Arrow schema, and a data dictionary.

Batches go straight from the SQL cursor to `pyarrow.parquet.ParquetWriter`, so no table is
ever held whole in memory. DuckDB, pandas and R (arrow) read the files as they are.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session

from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.schemas import TABLES, Progress
from triggerpoint.research.exports.source import ARROW, Scope, arrow_schema, table_batches

DICTIONARY_COLUMNS = ("table", "column", "type", "description", "unit")


def dictionary_rows() -> list[dict[str, str]]:
    """One row per exported column: its table, Arrow type, meaning and unit."""
    return [
        {
            "table": t.name,
            "column": c.name,
            "type": str(ARROW[c.kind]),
            "description": c.description,
            "unit": c.unit,
        }
        for t in TABLES
        for c in t.columns
    ]


def write(
    session: Session,
    *,
    directory: Path,
    scope: Scope,
    deid: Deidentifier,
    progress: Progress | None = None,
) -> tuple[list[Path], dict[str, int]]:
    """Every table as <name>.parquet, then data_dictionary.parquet and .csv; `progress`
    after each table."""
    files: list[Path] = []
    rows: dict[str, int] = {}
    for table in TABLES:
        path = directory / f"{table.name}.parquet"
        schema = arrow_schema(table)
        n = 0
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for batch in table_batches(session, table=table, scope=scope, deid=deid):
                writer.write_batch(batch)
                n += batch.num_rows
        rows[table.name] = n
        files.append(path)
        if progress is not None:
            progress(len(files), len(TABLES), sum(rows.values()))
    entries = dictionary_rows()
    dictionary = pa.Table.from_pylist(
        entries, schema=pa.schema([(k, pa.string()) for k in DICTIONARY_COLUMNS])
    )
    pq.write_table(dictionary, directory / "data_dictionary.parquet")
    with (directory / "data_dictionary.csv").open("w", newline="", encoding="utf-8") as out:
        w = csv.DictWriter(out, fieldnames=DICTIONARY_COLUMNS)
        w.writeheader()
        w.writerows(entries)
    files += [directory / "data_dictionary.parquet", directory / "data_dictionary.csv"]
    return files, rows
