"""The pain maps' derived rows (`painmap_drawing`, `painmap_tally`), kept equal to what the raw
tables imply, in the style of `dashboard.tallies`.

Everything a drawing's row holds depends only on its patient's own rows: their drawings and
marks, the episodes of their visits, their needling sessions and their research consent. So
the key is the patient. Whenever a write touches a patient (a drawing added, edited or
deleted, its marks, a research consent recorded or withdrawn, a needling session opened,
signed, moved or deleted, a visit moved to another episode or deleted), the patient's rows are
*recomputed from the raw rows* by `patient_state` and written where they differ, and the
clinic's heat-map totals move by the difference of the patient's old and new contribution
(atomic increments, as the dashboard's totals do).

Three hooks keep them (`painmap.listeners.register()`, installed by
`triggerpoint.listeners.register_listeners()` at app, CLI, worker and test start-up):

* before each flush, the touched patients are locked FOR UPDATE (PostgreSQL), ascending,
  *before* the flush inserts children that take a KEY SHARE lock on them (the order fix of
  `dashboard.tallies`: two writers would otherwise deadlock);
* after each flush, the touched patients are recomputed;
* a bulk INSERT, UPDATE or DELETE of drawings or marks through a session (as
  `records.service` stores a drawing's marks: `session.execute(insert(PainMark), rows)`)
  recomputes the patients it touched once it has run (an UPDATE or DELETE reads them from its
  WHERE clause first).

Core writes straight to the raw tables (the bench's bulk load) must call `rebuild` for their
clinic; `migrate.upgrade` rebuilds when drawings exist without derived rows (`missing`).
The invariant the tests check after every write path: `stored` equals `compute_from_raw`.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.orm import ORMExecuteState, Session, attributes
from sqlalchemy.sql.dml import Delete, Insert, Update

from triggerpoint.db import upsert_add
from triggerpoint.records.models import Consent, PainDrawing, PainMark, Patient, Visit
from triggerpoint.records.service import RESEARCH
from triggerpoint.reports.extent import region_areas
from triggerpoint.research.painmap.models import PainmapDrawing, PainmapTally
from triggerpoint.treatment.models import NeedlingSession

PD = PainmapDrawing.__table__
PT = PainmapTally.__table__
D = PainDrawing.__table__
MK = PainMark.__table__
V = Visit.__table__
C = Consent.__table__
NS = NeedlingSession.__table__
PAT = Patient.__table__

FIELDS = (
    "patient_id",
    "episode_id",
    "drawn_at",
    "complete",
    "research",
    "marks",
    "regions",
    "extent",
    "first",
    "after_signed",
    "followup",
    "before_extent",
    "prev_id",
    "prev_at",
    "gap_days",
    "retest",
    "prev_regions",
    "shared",
)
TallyKey = tuple[int, str, str]  # clinic, view, region ("" = the totals)
Deltas = dict[TallyKey, list[int]]  # patients, drawings


# --- the pure state of one patient -------------------------------------------------------


@dataclass(frozen=True)
class RawDrawing:
    id: int
    episode_id: int | None
    drawn_at: datetime
    complete: bool
    marks: frozenset[str]


@dataclass(frozen=True)
class RawSession:
    opened_at: datetime
    status: str
    episode_id: int | None


def extent_of(regions: Iterable[str]) -> float:
    """Painted share of the whole chart (%), unrounded: `reports.extent.pain_extent` before
    its rounding to one decimal."""
    areas = region_areas()
    total = sum(areas.values())
    return 100.0 * sum(areas.get(r, 0.0) for r in set(regions)) / total if total else 0.0


def patient_state(
    patient_id: int,
    research: bool,
    drawings: Iterable[RawDrawing],
    sessions: Iterable[RawSession],
) -> dict[int, dict[str, Any]]:
    """{drawing id: its derived row} from the patient's raw rows (definitions: models)."""
    ordered = sorted(drawings, key=lambda d: (d.drawn_at, d.id))
    sessions = list(sessions)
    rows: dict[int, dict[str, Any]] = {}
    for d in ordered:
        rows[d.id] = {
            "patient_id": patient_id,
            "episode_id": d.episode_id,
            "drawn_at": d.drawn_at,
            "complete": bool(d.complete),
            "research": research,
            "marks": sorted(d.marks),
            "regions": len(d.marks),
            "extent": extent_of(d.marks),
            "first": False,
            "after_signed": False,
            "followup": False,
            "before_extent": None,
            "prev_id": None,
            "prev_at": None,
            "gap_days": None,
            "retest": False,
            "prev_regions": None,
            "shared": None,
        }
    signed: dict[int, datetime] = {}
    for s in sessions:
        if s.status == "signed" and s.episode_id is not None:
            signed[s.episode_id] = min(s.opened_at, signed.get(s.episode_id, s.opened_at))
    by_episode: dict[int, list[RawDrawing]] = defaultdict(list)
    for d in ordered:
        if d.episode_id is not None:
            by_episode[d.episode_id].append(d)
    for episode_id, items in by_episode.items():
        first = items[0]
        rows[first.id]["first"] = True
        at = signed.get(episode_id)
        after = [d for d in items if at is not None and d.drawn_at > at]
        for d in after:
            rows[d.id]["after_signed"] = True
        if after and after[-1].id != first.id:
            rows[after[-1].id]["followup"] = True
            rows[after[-1].id]["before_extent"] = rows[first.id]["extent"]
    opened = [s.opened_at for s in sessions]
    for prev, cur in itertools.pairwise(ordered):
        row = rows[cur.id]
        row["prev_id"], row["prev_at"] = prev.id, prev.drawn_at
        row["gap_days"] = (cur.drawn_at - prev.drawn_at).total_seconds() / 86400.0
        row["prev_regions"] = len(prev.marks)
        row["shared"] = len(prev.marks & cur.marks)
        row["retest"] = bool(prev.complete and cur.complete) and not any(
            prev.drawn_at <= t < cur.drawn_at for t in opened
        )
    return rows


def contribution(clinic_id: int, rows: Iterable[Mapping[str, Any]]) -> Deltas:
    """What one patient's rows add to the clinic's heat-map totals: nothing without consent."""
    rows = [r for r in rows if r["research"]]
    out: Deltas = {}
    for view, counted in (("all", rows), ("first", [r for r in rows if r["first"]])):
        if not counted:
            continue
        out[(clinic_id, view, "")] = [1, len(counted)]
        for region in sorted({m for r in counted for m in r["marks"]}):
            out[(clinic_id, view, region)] = [1, 0]
    return out


def _add(into: Deltas, part: Deltas, sign: int = 1) -> None:
    for key, (patients, drawings) in part.items():
        acc = into.setdefault(key, [0, 0])
        acc[0] += sign * patients
        acc[1] += sign * drawings


# --- reading raw rows --------------------------------------------------------------------


def _raw(
    conn: Connection, patient_ids: Sequence[int]
) -> dict[int, tuple[int, bool, list[RawDrawing], list[RawSession]]]:
    """{patient: (clinic, research, drawings, sessions)} for some patients, in four reads."""
    if not patient_ids:
        return {}
    ids = list(patient_ids)
    out: dict[int, tuple[int, bool, list[RawDrawing], list[RawSession]]] = {}
    consented = set(
        conn.scalars(
            select(C.c.patient_id).where(
                C.c.patient_id.in_(ids), C.c.kind == RESEARCH, C.c.status == "active"
            )
        )
    )
    for pid, clinic_id in conn.execute(select(PAT.c.id, PAT.c.clinic_id).where(PAT.c.id.in_(ids))):
        out[pid] = (clinic_id, pid in consented, [], [])
    marks: dict[int, set[str]] = defaultdict(set)
    for did, region in conn.execute(
        select(MK.c.drawing_id, MK.c.region_id)
        .join(D, D.c.id == MK.c.drawing_id)
        .where(D.c.patient_id.in_(ids))
    ):
        marks[did].add(region)
    for did, pid, episode_id, at, complete in conn.execute(
        select(D.c.id, D.c.patient_id, V.c.episode_id, D.c.drawn_at, D.c.complete)
        .select_from(D)
        .outerjoin(V, V.c.id == D.c.visit_id)
        .where(D.c.patient_id.in_(ids))
    ):
        if pid in out:
            out[pid][2].append(RawDrawing(did, episode_id, at, complete, frozenset(marks[did])))
    for pid, at, status, episode_id in conn.execute(
        select(NS.c.patient_id, NS.c.opened_at, NS.c.status, V.c.episode_id)
        .select_from(NS)
        .outerjoin(V, V.c.id == NS.c.visit_id)
        .where(NS.c.patient_id.in_(ids))
    ):
        if pid in out:
            out[pid][3].append(RawSession(at, status, episode_id))
    return out


def _stored_rows(conn: Connection, patient_id: int) -> tuple[int | None, dict[int, dict]]:
    """(clinic, {drawing id: row}) of one patient as stored."""
    clinic_id, rows = None, {}
    for r in conn.execute(select(PD).where(PD.c.patient_id == patient_id)):
        clinic_id = r.clinic_id
        rows[r.drawing_id] = {f: getattr(r, f) for f in FIELDS}
    return clinic_id, rows


def _clean(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as compared: floats to 9 decimals (a stored float is read back exactly on both
    engines, but a sum in another order may differ in the last bit)."""
    return {k: round(v, 9) if isinstance(v, float) else v for k, v in row.items() if k in FIELDS}


# --- writing -----------------------------------------------------------------------------


def refresh_patients(conn: Connection, patient_ids: Iterable[int]) -> None:
    """Recompute the rows of these patients from the raw rows, then move the totals."""
    ids = sorted(set(patient_ids))
    if not ids:
        return
    raw = _raw(conn, ids)
    deltas: Deltas = {}
    for pid in ids:
        old_clinic, old = _stored_rows(conn, pid)
        clinic_id = raw[pid][0] if pid in raw else old_clinic
        new = patient_state(pid, *raw[pid][1:]) if pid in raw else {}
        for did in old.keys() - new.keys():
            conn.execute(delete(PD).where(PD.c.drawing_id == did))
        for did, row in new.items():
            if did not in old:
                conn.execute(insert(PD).values(drawing_id=did, clinic_id=clinic_id, **row))
            elif _clean(row) != _clean(old[did]):
                conn.execute(update(PD).where(PD.c.drawing_id == did).values(**row))
        if old_clinic is not None:
            _add(deltas, contribution(old_clinic, old.values()), -1)
        if clinic_id is not None:
            _add(deltas, contribution(clinic_id, new.values()))
    apply_deltas(conn, deltas)


def apply_deltas(conn: Connection, deltas: Deltas) -> None:
    """INSERT ... ON CONFLICT DO UPDATE, in key order, so concurrent writers both count."""
    rows = [
        {"clinic_id": c, "view": v, "region_id": r, "patients": p, "drawings": d}
        for (c, v, r), (p, d) in sorted(deltas.items())
        if p or d
    ]
    upsert_add(
        conn, PT, rows, keys=("clinic_id", "view", "region_id"), add=("patients", "drawings")
    )


# --- the hooks -----------------------------------------------------------------------------

SESSION_FIELDS = ("patient_id", "visit_id", "opened_at", "status")


def _values(obj: Any, name: str) -> list[Any]:
    """Current and (for an edited row) previous values of an attribute."""
    hist = attributes.get_history(obj, name)
    return [v for v in (*hist.added, *hist.unchanged, *hist.deleted) if v is not None]


def _changed(obj: Any, names: Iterable[str]) -> bool:
    return any(attributes.get_history(obj, n).has_changes() for n in names)


def touched(session: Session) -> tuple[set[int], set[int]]:
    """(patients, drawings whose patient to look up) that the pending flush changes."""
    patients: set[int] = set()
    drawings: set[int] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        new_or_gone = obj in session.new or obj in session.deleted
        if isinstance(obj, PainDrawing):
            patients.update(_values(obj, "patient_id"))
        elif isinstance(obj, PainMark):
            drawings.update(_values(obj, "drawing_id"))
        elif isinstance(obj, Consent):
            if RESEARCH in _values(obj, "kind"):
                patients.update(_values(obj, "patient_id"))
        elif isinstance(obj, NeedlingSession):
            if new_or_gone or _changed(obj, SESSION_FIELDS):
                patients.update(_values(obj, "patient_id"))
        elif isinstance(obj, Visit) and (
            obj in session.deleted or _changed(obj, ("episode_id", "patient_id"))
        ):
            patients.update(_values(obj, "patient_id"))
    return patients, drawings


def _patients_of(conn: Connection, drawing_ids: Iterable[int]) -> set[int]:
    ids = sorted(set(drawing_ids))
    if not ids:
        return set()
    return set(conn.scalars(select(D.c.patient_id).where(D.c.id.in_(ids))))


def lock(conn: Connection, patient_ids: Iterable[int]) -> None:
    """Lock the patients ascending (PostgreSQL FOR UPDATE; SQLite has one writer anyway)."""
    ids = sorted(set(patient_ids))
    if ids:
        conn.execute(select(PAT.c.id).where(PAT.c.id.in_(ids)).order_by(PAT.c.id).with_for_update())


def before_flush(session: Session) -> None:
    """Lock the patients this flush will recompute, before it inserts their children."""
    patients, drawings = touched(session)
    if not (patients or drawings):
        return
    conn = session.connection()
    lock(conn, patients | _patients_of(conn, drawings))


def after_flush(session: Session) -> None:
    """Recompute every patient this flush touched."""
    patients, drawings = touched(session)
    if not (patients or drawings):
        return
    conn = session.connection()
    patients |= _patients_of(conn, drawings)
    lock(conn, patients)  # held since before_flush, except for rows given an id by the flush
    refresh_patients(conn, patients)


WATCHED = frozenset({D.name, MK.name})


def _bulk_patients(state: ORMExecuteState, stmt: Insert | Update | Delete, name: str) -> set[int]:
    """The patients whose drawings or marks a bulk statement through the session touches:
    an INSERT names them in its rows; for an UPDATE or DELETE, the rows its WHERE clause
    matches are read first (through the session, so with the same clinic confinement)."""
    if isinstance(stmt, Insert):
        params = state.parameters
        rows = cast(
            "list[Mapping[str, Any]]", params if isinstance(params, list) else [params or {}]
        )
        if name == MK.name:
            ids = {r["drawing_id"] for r in rows if "drawing_id" in r}
            return _patients_of(state.session.connection(), ids)
        return {r["patient_id"] for r in rows if "patient_id" in r}
    q = select(PainDrawing.patient_id)
    if name == MK.name:
        q = q.join(PainMark, PainMark.drawing_id == PainDrawing.id)
    if stmt.whereclause is not None:
        q = q.where(stmt.whereclause)
    return set(state.session.scalars(q.distinct()))


def do_orm_execute(state: ORMExecuteState) -> Any:
    """A bulk INSERT, UPDATE or DELETE of drawings or marks through the session (how
    `records.service` stores marks): find its patients, lock them, run it, recompute them."""
    stmt = state.statement
    if not isinstance(stmt, Insert | Update | Delete):
        return None
    name = getattr(stmt.table, "name", None)
    if name not in WATCHED:
        return None
    before = set() if isinstance(stmt, Insert) else _bulk_patients(state, stmt, name)
    conn = state.session.connection()
    lock(conn, before)
    result = state.invoke_statement()
    patients = before | (_bulk_patients(state, stmt, name) if isinstance(stmt, Insert) else set())
    lock(conn, patients)
    refresh_patients(conn, patients)
    return result


# --- from scratch: the reference the tests compare against, and the backfill ------------


CHUNK = 2000  # patients per read when rebuilding


def _patient_ids(conn: Connection, clinic_id: int) -> list[int]:
    return list(
        conn.scalars(
            select(D.c.patient_id)
            .where(D.c.clinic_id == clinic_id)
            .distinct()
            .order_by(D.c.patient_id)
        )
    )


def compute_from_raw(
    conn: Connection, clinic_id: int
) -> tuple[dict[int, dict], dict[TallyKey, tuple[int, int]]]:
    """Every derived row of one clinic and its totals, from the raw tables alone."""
    rows: dict[int, dict[str, Any]] = {}
    deltas: Deltas = {}
    ids = _patient_ids(conn, clinic_id)
    for start in range(0, len(ids), CHUNK):
        for pid, (_, research, drawings, sessions) in _raw(
            conn, ids[start : start + CHUNK]
        ).items():
            state = patient_state(pid, research, drawings, sessions)
            rows.update(state)
            _add(deltas, contribution(clinic_id, state.values()))
    return rows, {k: (p, d) for k, (p, d) in deltas.items() if p or d}


def stored(
    conn: Connection, clinic_id: int
) -> tuple[dict[int, dict], dict[TallyKey, tuple[int, int]]]:
    """The derived rows of one clinic as they are in the database."""
    rows = {
        r.drawing_id: {f: getattr(r, f) for f in FIELDS}
        for r in conn.execute(select(PD).where(PD.c.clinic_id == clinic_id))
    }
    tallies = {
        (clinic_id, r.view, r.region_id): (r.patients, r.drawings)
        for r in conn.execute(select(PT).where(PT.c.clinic_id == clinic_id))
        if r.patients or r.drawings
    }
    return rows, tallies


def same(a: Mapping[int, Mapping[str, Any]], b: Mapping[int, Mapping[str, Any]]) -> bool:
    return a.keys() == b.keys() and all(_clean(a[k]) == _clean(b[k]) for k in a)


def rebuild(conn: Connection, clinic_ids: Iterable[int] | None = None) -> int:
    """Replace the derived rows of some clinics (default: every clinic with drawings) with
    ones computed from scratch, in chunks of patients; returns the rows written."""
    if clinic_ids is None:
        clinic_ids = conn.scalars(select(D.c.clinic_id).distinct()).all()
    written = 0
    for clinic_id in clinic_ids:
        conn.execute(delete(PT).where(PT.c.clinic_id == clinic_id))
        conn.execute(delete(PD).where(PD.c.clinic_id == clinic_id))
        deltas: Deltas = {}
        ids = _patient_ids(conn, clinic_id)
        for start in range(0, len(ids), CHUNK):
            batch: list[dict[str, Any]] = []
            for pid, (_, research, drawings, sessions) in _raw(
                conn, ids[start : start + CHUNK]
            ).items():
                state = patient_state(pid, research, drawings, sessions)
                batch.extend(
                    {"drawing_id": did, "clinic_id": clinic_id, **r} for did, r in state.items()
                )
                _add(deltas, contribution(clinic_id, state.values()))
            if batch:
                conn.execute(insert(PD), batch)
                written += len(batch)
        apply_deltas(conn, deltas)
    return written


def missing(conn: Connection) -> bool:
    """Drawings exist but no derived rows do (right after the migration that made the tables)."""
    has_raw = conn.execute(select(1).select_from(D).limit(1)).first() is not None
    return has_raw and conn.execute(select(1).select_from(PD).limit(1)).first() is None
