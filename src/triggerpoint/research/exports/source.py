"""The de-identified rows of every research table, streamed from SQL in Arrow batches.

Each table is one SQL query (window functions number visits, episodes and drawings per
patient, so no database id leaves), read `yield_per` rows at a time: memory stays bounded by
the batch, not the table. Dates are shifted column-wise with Arrow compute, one offset per
patient (`Deidentifier`). Every query keeps to the patients whose research consent is in
force (`research.consent.consented_patient_ids`) and, given one, to the clinic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import (
    BigInteger,
    Integer,
    Select,
    cast,
    extract,
    func,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
)
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


def _episode_numbers(session: Session, scope: Scope) -> tuple[pa.Array, pa.Array]:
    """(episode ids, the patient's episode number of each), for the scope."""
    en = _numbered(scope, Episode, [Episode.created_at], "episode_no")
    ids: list[int] = []
    numbers: list[int] = []
    for eid, n in session.execute(select(en.c.id, en.c.episode_no)):
        ids.append(eid)
        numbers.append(n)
    return pa.array(ids, pa.int64()), pa.array(numbers, pa.int64())


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


def _query(name: str, scope: Scope, *, ordered: bool, project: Project | None = None) -> Query:
    """patient_id, then the table's columns after research_id, in schema order.

    Ordered (by patient, then the table's own order), the query is materialized first and
    sorted after: left to choose, SQLite walks the patient index and re-reads the numbered
    subqueries once per row. `project` rewrites the output columns (not the order), as the
    PostgreSQL COPY path does to send dates and times as plain numbers.
    """
    vn = _numbered(scope, Visit, [Visit.visit_at], "visit_no")
    stmt, order = QUERIES[name](scope, vn)
    if not ordered:
        if project is None:
            return stmt
        u = stmt.subquery(f"{name}_rows")
        return select(*project(list(u.c)))
    q = stmt.cte(f"{name}_rows").prefix_with("MATERIALIZED")
    cols = list(q.c)
    out = project(cols) if project is not None else cols
    return select(*out).order_by(cols[0], *(q.c[c] for c in order))


# --- raw columns: what the database holds, as Arrow arrays --------------------------------
# Every fetch path gives the same raw batch: the owning patient's id (int64), then each
# column after research_id in its Arrow type, except dates as int32 days and times as int64
# microseconds since 1970-01-01 UTC (not yet shifted). De-identification then works on
# whole columns (`_deidentified`), whichever path read them.
Project = Callable[[list[Any]], list[Any]]
RAW: dict[Kind, pa.DataType] = {**ARROW, "date": pa.int32(), "datetime": pa.int64()}
COPY_BLOCK_BYTES = 8 << 20  # COPY text handed to the CSV parser at a time


def _raw_types(kinds: Sequence[Kind]) -> list[pa.DataType]:
    return [pa.int64(), *(RAW[k] for k in kinds)]


def _row_batches(session: Session, stmt: Query, kinds: Sequence[Kind]) -> Iterator[list[pa.Array]]:
    """Any engine: rows from the cursor, BATCH_ROWS at a time, turned into raw columns."""
    types = _raw_types(kinds)
    result = session.execute(stmt.execution_options(yield_per=BATCH_ROWS))
    for rows in result.partitions():
        cols = zip(*rows, strict=True)
        out = []
        for kind, typ, values in zip(["int", *kinds], types, cols, strict=True):
            if kind == "datetime":
                out.append(pc.cast(pa.array([_as_time(v) for v in values], ARROW[kind]), typ))
            elif kind == "date":
                out.append(pc.cast(pa.array(values, ARROW[kind]), typ))
            else:
                out.append(pa.array(values, typ))
        yield out


def _as_numbers(kinds: Sequence[Kind]) -> Project:
    """COPY's columns: dates as days and times as microseconds since the epoch (exact: the
    epoch of a timestamptz is numeric in PostgreSQL 14+), so the CSV parser reads integers."""

    def project(cols: list[Any]) -> list[Any]:
        out = [cols[0]]
        for kind, c in zip(kinds, cols[1:], strict=True):
            if kind == "datetime":
                us = cast(extract("epoch", c) * 1_000_000, BigInteger)
                out.append(us.label(c.key))
            elif kind == "date":
                days = type_coerce(c - literal_column("DATE '1970-01-01'"), Integer)
                out.append(days.label(c.key))
            else:
                out.append(c)
        return out

    return project


def _copy_blocks(session: Session, stmt: Query) -> Iterator[bytes]:
    """PostgreSQL: `COPY (stmt) TO STDOUT` as CSV in the session's own transaction (so the
    export's snapshot), in blocks of whole rows of about COPY_BLOCK_BYTES."""
    compiled = stmt.compile(
        dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True}
    )
    dbapi = session.connection().connection.driver_connection
    assert dbapi is not None  # a live connection: the session's transaction is open
    sql = f"COPY ({compiled.string}) TO STDOUT (FORMAT csv)"
    with dbapi.cursor() as cur, cur.copy(sql, compiled.params) as copy:
        parts: list[bytes] = []
        size = 0
        for data in copy:  # one row per message: a block always ends between rows
            parts.append(bytes(data))
            size += len(data)
            if size >= COPY_BLOCK_BYTES:
                yield b"".join(parts)
                parts, size = [], 0
        if parts:
            yield b"".join(parts)


def _copy_batches(session: Session, stmt: Query, kinds: Sequence[Kind]) -> Iterator[list[pa.Array]]:
    """PostgreSQL: the rows as COPY CSV, parsed by Arrow's CSV reader into raw columns."""
    types = _raw_types(kinds)
    names = [f"c{i}" for i in range(len(types))]
    read = pa_csv.ReadOptions(column_names=names, use_threads=True)
    # A quoted empty string is "", an unquoted empty field NULL (COPY's CSV convention);
    # nothing else is NULL (a code "NA" stays a string).
    convert = pa_csv.ConvertOptions(
        column_types=dict(zip(names, types, strict=True)),
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        true_values=["t"],
        false_values=["f"],
    )
    parse = pa_csv.ParseOptions(newlines_in_values=True)
    for block in _copy_blocks(session, stmt):
        got = pa_csv.read_csv(
            pa.BufferReader(block), read_options=read, parse_options=parse, convert_options=convert
        )
        yield [got.column(i).combine_chunks() for i in range(len(names))]


def _uses_copy(session: Session) -> bool:
    bind = session.get_bind()
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


def _raw_batches(
    session: Session, build: Callable[[Project | None], Query], kinds: Sequence[Kind]
) -> Iterator[list[pa.Array]]:
    """The raw columns of the query `build` makes (patient id, then `kinds`), by COPY on
    PostgreSQL and from the cursor elsewhere."""
    if _uses_copy(session):
        return _copy_batches(session, build(_as_numbers(kinds)), kinds)
    return _row_batches(session, build(None), kinds)


def _lookup(keys: pa.Array, known: pa.Array, values: pa.Array) -> pa.Array:
    """values[i] where known[i] == key, per key; null where the key is null or unknown."""
    return pc.take(values, pc.index_in(keys, value_set=known))


def _shifted(raw: pa.Array, kind: Kind, shift_days: pa.Array) -> pa.Array:
    """Move raw dates (days) or times (microseconds) by each row's patient offset."""
    if kind == "date":
        return pc.cast(pc.add(raw, pc.cast(shift_days, pa.int32())), pa.date32())
    moved = pc.add(raw, pc.multiply(shift_days, pa.scalar(US_PER_DAY, pa.int64())))
    return pc.cast(moved, ARROW["datetime"])


def _deidentified(
    raw: list[pa.Array], table: Table, schema: pa.Schema, deid: Deidentifier
) -> pa.RecordBatch:
    """Raw columns -> the table's batch: the patient id becomes the study id, every date and
    time moves by the patient's offset, column-wise."""
    pids, *cols = raw
    known, rids, shifts = deid.columns(pids)
    shift = _lookup(pids, known, shifts)
    arrays = [_lookup(pids, known, rids)]
    for col, values in zip(table.columns[1:], cols, strict=True):
        if col.kind in ("date", "datetime"):
            arrays.append(_shifted(values, col.kind, shift))
        else:
            arrays.append(values)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def table_batches(
    session: Session, *, table: Table, scope: Scope, deid: Deidentifier, ordered: bool = False
) -> Iterator[pa.RecordBatch]:
    """The de-identified rows of `table`, a batch at a time, in its explicit schema.

    On PostgreSQL (psycopg) the rows come as `COPY ... TO STDOUT` CSV parsed by Arrow, about
    COPY_BLOCK_BYTES at a time, with no Python object per value; elsewhere from the cursor,
    BATCH_ROWS rows at a time. Both give the same raw columns, de-identified column-wise.
    """
    if table.name == "patients":
        yield from _patient_batches(session, scope=scope, deid=deid, ordered=ordered)
        return
    schema = arrow_schema(table)
    kinds = [c.kind for c in table.columns[1:]]
    episodes = _episode_numbers(session, scope) if table.name == "visits" else None

    def build(project: Project | None) -> Query:
        return _query(table.name, scope, ordered=ordered, project=project)

    for raw in _raw_batches(session, build, kinds):
        if episodes is not None:  # visits: episode_id -> episode_no
            raw[2] = _lookup(raw[2], *episodes)
        yield _deidentified(raw, table, schema, deid)


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


PATIENT_KINDS: tuple[Kind, ...] = ("int", "str", "date", "datetime", "datetime", "float", "float")


def _patient_query(scope: Scope, *, ordered: bool, project: Project | None) -> Query:
    """id, clinic, sex, date of birth, created, first visit, height, weight (PATIENT_KINDS).

    The first visit by a correlated MIN (one index probe per patient): an outer join to a
    grouped subquery is what SQLite re-scans per row."""
    first_at = (
        select(func.min(Visit.visit_at))
        .where(Visit.patient_id == Patient.id)
        .correlate(Patient)
        .scalar_subquery()
        .label("first_at")
    )
    p = Patient
    cols: list[Any] = [p.id, p.clinic_id, p.sex, p.date_of_birth, p.created_at, first_at]
    cols += [p.height_cm, p.weight_kg]
    stmt: Query = scope.where_patient(select(*(project(cols) if project else cols)))
    return stmt.order_by(p.id) if ordered else stmt


def _patient_batches(
    session: Session, *, scope: Scope, deid: Deidentifier, ordered: bool
) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(BY_NAME["patients"])
    today = datetime.now(UTC).date()

    def build(project: Project | None) -> Query:
        return _patient_query(scope, ordered=ordered, project=project)

    for raw in _raw_batches(session, build, PATIENT_KINDS):
        pids, clinics, sex, born, created, first, height, weight = raw
        known, rids, _ = deid.columns(pids)
        baseline = pc.coalesce(_day(first), _day(created), pa.scalar(today, pa.date32()))
        births = pc.cast(born, pa.date32()).to_pylist()
        ages = [
            age_fields(b, baseline=d, today=today)
            for b, d in zip(births, baseline.to_pylist(), strict=True)
        ]
        years, bands, birth_years = (
            (list(v) for v in zip(*ages, strict=True)) if ages else ([], [], [])
        )
        sites = [deid.site(c) for c in clinics.to_pylist()]
        yield pa.RecordBatch.from_arrays(
            [
                _lookup(pids, known, rids),
                pa.array(sites, pa.string()),
                sex,
                pa.array(years, pa.int64()),
                pa.array(bands, pa.string()),
                pa.array(birth_years, pa.int64()),
                height,
                weight,
            ],
            schema=schema,
        )


def _day(raw_us: pa.Array) -> pa.Array:
    """Raw times (microseconds since the epoch) -> their UTC dates."""
    return pc.cast(pc.cast(raw_us, ARROW["datetime"]), pa.date32())


def _as_time(value: datetime | str | None) -> datetime | None:
    """A time as the cursor gives it: an aggregate's (the first visit) is text on SQLite."""
    if not isinstance(value, str):
        return value
    got = datetime.fromisoformat(value)
    return got if got.tzinfo is not None else got.replace(tzinfo=UTC)
