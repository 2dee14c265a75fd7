"""The de-identified rows of every research table, streamed from SQL in Arrow batches.

Each table is one SQL query (window functions number visits, episodes and drawings per
patient, so no database id leaves), read `yield_per` rows at a time: memory stays bounded by
the batch, not the table. Dates are shifted column-wise with Arrow compute, one offset per
patient (`Deidentifier`). Every query keeps to the patients whose research consent is in
force (`research.consent.consented_patient_ids`) and, given one, to the clinic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, func, null, select, union_all
from sqlalchemy.orm import Session

from triggerpoint.examination.models import PalpationFinding
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Diagnosis, Episode, PainDrawing, PainMark, Patient, Visit
from triggerpoint.research.consent import consented_patient_ids
from triggerpoint.research.exports.deidentify import Deidentifier, age_fields
from triggerpoint.research.exports.schemas import BY_NAME, Kind, Table
from triggerpoint.treatment.models import AdverseEvent, NeedleEntry, NeedlingSession

BATCH_ROWS = 50_000
Query = Select[*tuple[Any, ...]]  # a select of any columns
US_PER_DAY = 86_400 * 1_000_000
ARROW: dict[Kind, pa.DataType] = {
    "int": pa.int64(),
    "float": pa.float64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(table: Table) -> pa.Schema:
    """The explicit Arrow schema of a table, with each column's description as metadata."""
    return pa.schema(
        [
            pa.field(
                c.name,
                ARROW[c.kind],
                nullable=not c.required,
                metadata={"description": c.description, "unit": c.unit},
            )
            for c in table.columns
        ],
        metadata={"table": table.name, "description": table.description},
    )


class Scope:
    """Which patients an export covers: one clinic (or all), consent in force, maybe a chunk."""

    def __init__(self, *, clinic_id: int | None, patients: Sequence[int] | None = None) -> None:
        self.clinic_id = clinic_id
        self.patients = patients
        self.consented = consented_patient_ids(clinic_id=clinic_id)

    def narrow(self, patients: Sequence[int]) -> Scope:
        return Scope(clinic_id=self.clinic_id, patients=patients)

    def where_patient(self, stmt: Query) -> Query:
        """Keep a query of the patient table to the scope."""
        stmt = stmt.where(Patient.id.in_(self.consented))
        if self.clinic_id is not None:
            stmt = stmt.where(Patient.clinic_id == self.clinic_id)
        if self.patients is not None:
            stmt = stmt.where(Patient.id.in_(list(self.patients)))
        return stmt

    def where(self, stmt: Query, owner: Any) -> Query:
        """Keep `stmt` to the scope, by the owning model's patient and clinic columns."""
        stmt = stmt.where(owner.patient_id.in_(self.consented))
        if self.clinic_id is not None:
            stmt = stmt.where(owner.clinic_id == self.clinic_id)
        if self.patients is not None:
            stmt = stmt.where(owner.patient_id.in_(list(self.patients)))
        return stmt


def _numbered(scope: Scope, model: Any, order: Sequence[Any], label: str) -> Any:
    """(id, n) with n the row's number within its patient, in `order`."""
    n = func.row_number().over(partition_by=model.patient_id, order_by=[*order, model.id])
    return scope.where(select(model.id.label("id"), n.label(label)), model).subquery()


# A table's query with the scope applied, and the output columns that order its rows within
# a patient. Numbered subqueries are only ever INNER-joined: SQLite scans a materialized
# subquery once per row on the right of a LEFT JOIN, so rows that may lack a visit are read
# as two parts (with a visit, and without one) joined by UNION ALL.
Built = tuple[Query, list[str]]


def _episodes(scope: Scope, vn: Any) -> Built:
    en = _numbered(scope, Episode, [Episode.created_at], "episode_no")
    e = Episode
    stmt = select(e.patient_id, en.c.episode_no, e.status, e.onset_date, e.created_at)
    return scope.where(stmt.join(en, en.c.id == e.id), e), ["episode_no"]


def _diagnoses(scope: Scope, vn: Any) -> Built:
    en = _numbered(scope, Episode, [Episode.created_at], "episode_no")
    d, e = Diagnosis, Episode
    stmt = select(e.patient_id, en.c.episode_no, d.system, d.code).join(e, e.id == d.episode_id)
    return scope.where(stmt.join(en, en.c.id == e.id), e), ["episode_no", "code"]


def _visits(scope: Scope, vn: Any) -> Built:
    # episode_id here, turned into episode_no through `_episode_numbers` (a second
    # numbered subquery, outer-joined, is what SQLite handles badly).
    v = Visit
    stmt = select(v.patient_id, vn.c.visit_no, v.episode_id, v.visit_at)
    return scope.where(stmt.join(vn, vn.c.id == v.id), v), ["visit_no"]


def _episode_numbers(session: Session, scope: Scope) -> dict[int, int]:
    """episode id -> the patient's episode number, for the scope (one row per episode)."""
    en = _numbered(scope, Episode, [Episode.created_at], "episode_no")
    return {eid: n for eid, n in session.execute(select(en.c.id, en.c.episode_no))}


def _pain_drawings(scope: Scope, vn: Any) -> Built:
    dn = _numbered(scope, PainDrawing, [PainDrawing.drawn_at], "drawing_no")
    pd = PainDrawing

    def part(visit_no: Any) -> Query:
        stmt = select(pd.patient_id, dn.c.drawing_no, visit_no, pd.complete, pd.source)
        return stmt.add_columns(pd.drawn_at).join(dn, dn.c.id == pd.id)

    with_visit = part(vn.c.visit_no).join(vn, vn.c.id == pd.visit_id)
    without = part(null().label("visit_no")).where(pd.visit_id.is_(None))
    return _union(scope, pd, with_visit, without), ["drawing_no"]


def _pain_marks(scope: Scope, vn: Any) -> Built:
    dn = _numbered(scope, PainDrawing, [PainDrawing.drawn_at], "drawing_no")
    pd, m = PainDrawing, PainMark
    stmt = select(pd.patient_id, dn.c.drawing_no, m.region_id, m.intensity)
    stmt = stmt.join(pd, pd.id == m.drawing_id).join(dn, dn.c.id == pd.id)
    return scope.where(stmt, pd), ["drawing_no", "region_id"]


def _needling_sessions(scope: Scope, vn: Any) -> Built:
    ns = NeedlingSession
    stmt = select(ns.patient_id, vn.c.visit_no, ns.status, ns.opened_at, ns.signed_at)
    stmt = stmt.add_columns(ns.needles_out, ns.imported).join(vn, vn.c.id == ns.visit_id)
    return scope.where(stmt, ns), ["visit_no"]


def _needle_entries(scope: Scope, vn: Any) -> Built:
    ns, ne = NeedlingSession, NeedleEntry
    cols = [getattr(ne, c) for c in BY_NAME["needle_entries"].names[3:]]
    stmt = select(ns.patient_id, vn.c.visit_no, ne.seq, *cols)
    stmt = stmt.join(ns, ns.id == ne.needling_id).join(vn, vn.c.id == ns.visit_id)
    return scope.where(stmt, ns), ["visit_no", "seq"]


def _measurements(scope: Scope, vn: Any) -> Built:
    m = Measurement

    def part(visit_no: Any) -> Query:
        stmt = select(m.patient_id, visit_no, m.instrument, m.timing, m.score, m.complete)
        return stmt.add_columns(m.answered, m.source, m.measured_at)

    with_visit = part(vn.c.visit_no).join(vn, vn.c.id == m.visit_id)
    without = part(null().label("visit_no")).where(m.visit_id.is_(None))
    return _union(scope, m, with_visit, without), ["measured_at", "instrument", "timing"]


def _palpation_findings(scope: Scope, vn: Any) -> Built:
    f, v = PalpationFinding, Visit
    stmt = select(v.patient_id, vn.c.visit_no, f.muscle_id, f.side, f.trigger_point_id)
    stmt = stmt.add_columns(f.finding, f.twitch, f.referral, f.recorded_at)
    stmt = stmt.join(v, v.id == f.visit_id).join(vn, vn.c.id == v.id)
    return scope.where(stmt, v), ["visit_no", "muscle_id", "side", "trigger_point_id"]


def _adverse_events(scope: Scope, vn: Any) -> Built:
    a, ns = AdverseEvent, NeedlingSession
    stmt = select(a.patient_id, vn.c.visit_no, a.type, a.severity, a.needles_unaccounted)
    stmt = stmt.add_columns(a.reported_at).join(ns, ns.id == a.needling_id)
    return scope.where(stmt.join(vn, vn.c.id == ns.visit_id), a), ["reported_at", "type"]


def _union(scope: Scope, owner: Any, *parts: Query) -> Query:
    """UNION ALL of the scoped parts, as one select to stream or order."""
    u = union_all(*(scope.where(p, owner) for p in parts)).subquery()
    return select(*u.c)


QUERIES: dict[str, Callable[[Scope, Any], Built]] = {
    "episodes": _episodes,
    "diagnoses": _diagnoses,
    "visits": _visits,
    "pain_drawings": _pain_drawings,
    "pain_marks": _pain_marks,
    "needling_sessions": _needling_sessions,
    "needle_entries": _needle_entries,
    "measurements": _measurements,
    "palpation_findings": _palpation_findings,
    "adverse_events": _adverse_events,
}


def _query(name: str, scope: Scope, *, ordered: bool) -> Query:
    """patient_id, then the table's columns after research_id, in schema order.

    Ordered (by patient, then the table's own order), the query is materialized first and
    sorted after: left to choose, SQLite walks the patient index and re-reads the numbered
    subqueries once per row.
    """
    vn = _numbered(scope, Visit, [Visit.visit_at], "visit_no")
    stmt, order = QUERIES[name](scope, vn)
    if not ordered:
        return stmt
    q = stmt.cte(f"{name}_rows").prefix_with("MATERIALIZED")
    cols = list(q.c)
    return select(*cols).order_by(cols[0], *(q.c[c] for c in order))


def _shifted(values: list[Any], kind: Kind, shift_days: pa.Array) -> pa.Array:
    """Move dates and times by each row's patient offset, column-wise."""
    if kind == "date":
        days = pc.cast(pa.array(values, pa.date32()), pa.int32())
        return pc.cast(pc.add(days, pc.cast(shift_days, pa.int32())), pa.date32())
    stamps = pc.cast(pa.array(values, ARROW["datetime"]), pa.int64())
    moved = pc.add(stamps, pc.multiply(shift_days, pa.scalar(US_PER_DAY, pa.int64())))
    return pc.cast(moved, ARROW["datetime"])


def table_batches(
    session: Session, *, table: Table, scope: Scope, deid: Deidentifier, ordered: bool = False
) -> Iterator[pa.RecordBatch]:
    """The de-identified rows of `table`, BATCH_ROWS at a time, in its explicit schema."""
    if table.name == "patients":
        yield from _patient_batches(session, scope=scope, deid=deid, ordered=ordered)
        return
    schema = arrow_schema(table)
    stmt = _query(table.name, scope, ordered=ordered)
    episodes = _episode_numbers(session, scope) if table.name == "visits" else None
    result = session.execute(stmt.execution_options(yield_per=BATCH_ROWS))
    for rows in result.partitions():
        pids, *cols = zip(*rows, strict=True)
        if episodes is not None:  # visits: episode_id -> episode_no
            cols[1] = tuple(None if e is None else episodes.get(e) for e in cols[1])
        shift = pa.array([deid.shift_of(p) for p in pids], pa.int64())
        arrays = [pa.array([deid.id_of(p) for p in pids], pa.string())]
        for col, values in zip(table.columns[1:], cols, strict=True):
            if col.kind in ("date", "datetime"):
                arrays.append(_shifted(list(values), col.kind, shift))
            else:
                arrays.append(pa.array(values, ARROW[col.kind]))
        yield pa.RecordBatch.from_arrays(arrays, schema=schema)


def patient_ids(session: Session, *, scope: Scope) -> list[int]:
    """The exported patients' ids, in order (for chunked formats such as ODM)."""
    stmt = scope.where_patient(select(Patient.id)).order_by(Patient.id)
    return list(session.scalars(stmt))


def admit_all(session: Session, *, scope: Scope, deid: Deidentifier) -> int:
    """Give every patient in scope a study id and offset before any table is streamed."""
    n = 0
    stmt = scope.where_patient(select(Patient.id))
    for (pid,) in session.execute(stmt.execution_options(yield_per=BATCH_ROWS)):
        deid.admit(pid)
        n += 1
    return n


def patients_in_clinic(session: Session, *, clinic_id: int | None) -> int:
    """Every patient of the scope, consented or not (to report how many were left out)."""
    stmt = select(func.count(Patient.id))
    if clinic_id is not None:
        stmt = stmt.where(Patient.clinic_id == clinic_id)
    return int(session.scalar(stmt) or 0)


def _patient_batches(
    session: Session, *, scope: Scope, deid: Deidentifier, ordered: bool
) -> Iterator[pa.RecordBatch]:
    # The first visit by a correlated MIN (one index probe per patient): an outer join to a
    # grouped subquery is what SQLite re-scans per row.
    first_at = (
        select(func.min(Visit.visit_at))
        .where(Visit.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
    )
    p = Patient
    cols = (p.id, p.clinic_id, p.sex, p.date_of_birth, p.created_at, first_at, p.height_cm)
    stmt: Query = select(*cols, p.weight_kg)
    stmt = scope.where_patient(stmt)
    if ordered:
        stmt = stmt.order_by(p.id)
    schema = arrow_schema(BY_NAME["patients"])
    today = datetime.now(UTC).date()
    for rows in session.execute(stmt.execution_options(yield_per=BATCH_ROWS)).partitions():
        out: list[dict[str, Any]] = []
        for pid, clinic, sex, born, created, first, height, weight in rows:
            baseline = _as_date(first) or _as_date(created) or today
            years, band, birth_year = age_fields(born, baseline=baseline, today=today)
            out.append(
                {
                    "research_id": deid.id_of(pid),
                    "site": deid.site(clinic),
                    "sex": sex,
                    "age_years": years,
                    "age_band": band,
                    "birth_year": birth_year,
                    "height_cm": height,
                    "weight_kg": weight,
                }
            )
        yield pa.RecordBatch.from_pylist(out, schema=schema)


def _as_date(value: datetime | date | str | None) -> date | None:
    """first_at comes back from an aggregate, which SQLite returns as text."""
    if value is None:
        return None
    if isinstance(value, str):
        return datetime.fromisoformat(value).date()
    return value.date() if isinstance(value, datetime) else value
