"""The export's rows as the formats get them (`source.table_batches`), checked cell by cell,
after sorting, against a reference built the slow way: each row read as Python objects,
the study id and the date offset applied per row with `timedelta`, as the export did before
it read PostgreSQL by COPY and de-identified whole columns. On PostgreSQL both fetch paths
(COPY parsed by Arrow, and the cursor's rows) are held to it; on SQLite the cursor's.

The seeded rows include what a CSV round trip could get wrong: an empty string beside a
NULL, a code "NA", a comma, a quote and a newline in a value, dates before 1970, a patient
over 89, and batches cut small so a table spans several."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.research.exports.conftest import seed
from triggerpoint.db import open_session
from triggerpoint.records.models import Diagnosis, Episode, Patient, Visit
from triggerpoint.research.exports import source
from triggerpoint.research.exports.deidentify import Deidentifier, age_fields
from triggerpoint.research.exports.schemas import BY_NAME, TABLES
from triggerpoint.treatment.models import NeedlingSession


def _reference_patients(s, scope: source.Scope, deid: Deidentifier) -> list[tuple]:
    today = datetime.now(UTC).date()
    out = []
    for p in s.scalars(scope.where_patient(select(Patient))):
        first = s.scalar(
            select(Visit.visit_at).where(Visit.patient_id == p.id).order_by(Visit.visit_at)
        )
        baseline = first.date() if first is not None else p.created_at.date()
        years, band, birth = age_fields(p.date_of_birth, baseline=baseline, today=today)
        row = (deid.id_of(p.id), deid.site(p.clinic_id), p.sex, years, band, birth)
        out.append((*row, p.height_cm, p.weight_kg))
    return out


def _reference(s, name: str, scope: source.Scope, deid: Deidentifier) -> list[tuple]:
    """The table row by row: Python values, the offset added to each date as a timedelta."""
    if name == "patients":
        return _reference_patients(s, scope, deid)
    table = BY_NAME[name]
    episode_no: dict[int, int] = {}
    if name == "visits":  # numbered per patient by (created_at, id), counted here
        mine: dict[int, list[Episode]] = defaultdict(list)
        for e in s.scalars(scope.where(select(Episode), Episode)):
            mine[e.patient_id].append(e)
        for episodes in mine.values():
            for n, e in enumerate(sorted(episodes, key=lambda e: (e.created_at, e.id)), 1):
                episode_no[e.id] = n
    out = []
    for pid, *values in s.execute(source._query(name, scope, ordered=False)):
        shift = timedelta(days=deid.shift_of(pid))
        row: list[Any] = [deid.id_of(pid)]
        for col, v in zip(table.columns[1:], values, strict=True):
            if name == "visits" and col.name == "episode_no":
                v = None if v is None else episode_no[v]
            elif col.kind in ("date", "datetime") and v is not None:
                v = v + shift
            row.append(v)
        out.append(tuple(row))
    return out


def _exported(s, name: str, scope: source.Scope, deid: Deidentifier) -> list[tuple]:
    table = BY_NAME[name]
    rows: list[tuple] = []
    for batch in source.table_batches(s, table=table, scope=scope, deid=deid):
        assert batch.schema == source.arrow_schema(table)
        assert batch.schema.metadata == source.arrow_schema(table).metadata
        cols = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows += zip(*cols, strict=True)
    return rows


def _edge_rows(s, patients: list[int], clinic_id: int) -> None:
    """Values a CSV round trip could mangle, written straight to the rows."""
    ep = s.scalars(select(Episode).where(Episode.patient_id == patients[0])).first()
    assert ep is not None
    ep.onset_date = date(1965, 5, 5)  # before the epoch: a negative day number
    for system, code in (("NA", 'a,"b"\nc'), ("ICD-10-CM", ""), ("X", "NULL")):
        s.add(Diagnosis(clinic_id=clinic_id, episode_id=ep.id, system=system, code=code))
    old = s.get(Patient, patients[1])
    assert old is not None
    old.date_of_birth = date(1930, 1, 1)  # 90+: age empty, birth year dropped
    session = s.scalars(
        select(NeedlingSession).where(NeedlingSession.patient_id == patients[1])
    ).first()
    assert session is not None
    session.signed_at = None  # a NULL time among set ones
    session.opened_at = datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    s.flush()


def test_every_table_matches_the_row_by_row_reference(app_client, alice, monkeypatch):
    people = [seed(app_client, alice, twitches=(n, 1)) for n in (3, 5, 8)]
    with open_session(clinic_id=alice.clinic_id) as s:
        copy = source._uses_copy(s)
        assert copy == (s.get_bind().dialect.name == "postgresql")  # COPY is psycopg's path
        _edge_rows(s, [p.patient_id for p in people], alice.clinic_id)
        # Batches of 2 rows (the cursor) and of about 64 bytes (COPY): tables span batches.
        monkeypatch.setattr(source, "BATCH_ROWS", 2)
        monkeypatch.setattr(source, "COPY_BLOCK_BYTES", 64)
        scope = source.Scope(clinic_id=alice.clinic_id)
        deid = Deidentifier(b"k" * 32)
        assert source.admit_all(s, scope=scope, deid=deid) == 3
        for path in ["copy"] * copy + ["rows"]:  # PostgreSQL checks both paths, SQLite its one
            if path == "rows":
                monkeypatch.setattr(source, "_uses_copy", lambda session: False)
            seen = set()
            for table in TABLES:
                got = _exported(s, table.name, scope, deid)
                want = _reference(s, table.name, scope, deid)
                assert got, (path, table.name)  # every table has rows here
                assert sorted(got, key=repr) == sorted(want, key=repr), (path, table.name)
                seen.update(v for row in got for v in row)
            # The edge values came through as values: none became NULL, no NULL became "".
            assert {'a,"b"\nc', "", "NA", "NULL", "90+"} <= seen, path
        s.rollback()
