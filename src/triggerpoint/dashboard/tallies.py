"""The dashboard's derived tables, kept equal to what the raw tables imply.

At a million sessions, aggregating `measurement` and `needle_entry` on every dashboard view
takes seconds. Instead, two levels of derived rows are kept in step with every write:

* level 1, one row per key: `outcome_series` (patient x instrument x context) and
  `session_tally` (needling session). A row is never patched: whenever a flush touches a
  key, its row is *recomputed from the raw rows* by the pure functions below.
* level 2, `dashboard_tally`: per-clinic totals. When a level-1 row changes, its old
  contribution is subtracted and its new one added, as atomic increments.

So the invariant is simple to state and to test: level 1 equals `compute_from_raw`, and
level 2 equals the sum of level 1 (tests/dashboard/test_dashboard_scale.py checks both after
a mixed workload). ORM writes (services, demo clinic, FHIR import) are followed by the flush
hooks that `dashboard.listeners.register()` installs (through
`triggerpoint.listeners.register_listeners()`) at app, CLI, worker and test start-up; the bulk
registry writes inside `new_rows`, which adds their summaries. Any other write to a table the
tallies derive from (`TALLIED`) that bypasses the unit of work is refused by the listeners.

On PostgreSQL the patient and needling-session rows are locked (FOR UPDATE) before their keys
are recomputed, so two transactions touching the same key cannot both write a stale row.

Which measurements make a series (and when it is judged) comes from `outcomes.series`, and a
series' class from `outcomes.thresholds`: the rules the patient page and the progress report
use. Stored classes outlive a change of thresholds, so `missing` also reports classes that
the current rule would not give, and migrate.upgrade then rebuilds the summaries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, case, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session, attributes

from triggerpoint.dashboard.models import DashboardTally, OutcomeSeries, SessionTally
from triggerpoint.db import upsert_add
from triggerpoint.outcomes import series as series_rule
from triggerpoint.outcomes import thresholds
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Patient
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

SeriesKey = tuple[int, int, str, str]  # clinic, patient, instrument, context
TallyKey = tuple[int, str, str]  # clinic, kind, key
Deltas = dict[TallyKey, list[float]]  # n, total, total_sq

M = Measurement.__table__
S = OutcomeSeries.__table__
NS = NeedlingSession.__table__
NE = NeedleEntry.__table__
ST = SessionTally.__table__
DT = DashboardTally.__table__
PT = Patient.__table__

# The raw columns the tallies are derived from, per table. A write that inserts or deletes
# rows of these tables, or updates one of these columns, outside the ORM unit of work would
# leave the tallies wrong: `dashboard.listeners` refuses it (unless inside `new_rows`).
TALLIED: dict[str, frozenset[str]] = {
    "measurement": frozenset(
        {"id", "clinic_id", "patient_id", "visit_id", "instrument", "context", "timing"}
        | {"score", "complete", "measured_at"}
    ),
    "needle_entry": frozenset({"id", "clinic_id", "session_id", "muscle_id", "twitch_count"}),
    "needling_session": frozenset({"id", "clinic_id", "visit_id"}),
}


# --- pure state functions (shared by the flush hooks, the registry and the rebuild) -------


UNCLASSIFIED = "unclassified"  # a baseline and a follow-up, but no sourced threshold


def classify_series(instrument: str, base: float, last: float, context: str = "") -> str:
    """The series' class by the one rule every view uses (`outcomes.thresholds`); a series
    whose rule has no threshold (a ROM joint without a sourced MDC) is "unclassified"."""
    return thresholds.classify_measure(instrument, context, base, last) or UNCLASSIFIED


def series_state(
    instrument: str, rows: Iterable[tuple[int, datetime, float]], context: str = ""
) -> dict[str, Any] | None:
    """A series from its course (`outcomes.series.in_course`): (id, measured_at, score)."""
    ordered = sorted(rows, key=lambda r: (r[1], r[0]))
    if not ordered:
        return None
    (_, first_at, first), (_, last_at, last) = ordered[0], ordered[-1]
    classified = series_rule.judged(instrument, len(ordered))
    return {
        "n": len(ordered),
        "first_at": first_at,
        "first_score": float(first),
        "last_at": last_at,
        "last_score": float(last),
        "status": classify_series(instrument, first, last, context) if classified else None,
    }


def session_state(
    entries: Iterable[tuple[str, int]], nprs: Iterable[tuple[str, float]]
) -> dict[str, Any]:
    """A session from its entries (muscle, twitches) and its visit's NPRS (timing, score).

    Every pre x post pair of the visit counts once, as the raw-table join does.
    """
    muscles: dict[str, int] = defaultdict(int)
    count = twitches = 0
    for muscle, tw in entries:
        muscles[muscle] += 1
        count += 1
        twitches += int(tw)
    pre = [float(s) for t, s in nprs if t == "pre"]
    post = [float(s) for t, s in nprs if t == "post"]
    changes = [b - a for a in pre for b in post]
    return {
        "entries": count,
        "twitches": twitches,
        "muscles": dict(sorted(muscles.items())),
        "pairs": len(changes),
        "change_sum": float(sum(changes)),
        "change_sq": float(sum(c * c for c in changes)),
    }


def series_contribution(clinic_id: int, instrument: str, state: Mapping | None) -> Deltas:
    if not state or state["status"] is None:
        return {}
    return {(clinic_id, "responder", f"{instrument}:{state['status']}"): [1, 0.0, 0.0]}


def session_contribution(clinic_id: int, state: Mapping | None) -> Deltas:
    if not state:
        return {}
    out: Deltas = {
        (clinic_id, "muscle", m): [1, float(needles), 0.0]
        for m, needles in state["muscles"].items()
    }
    if state["entries"] and state["pairs"]:
        out[(clinic_id, "twitch", str(state["twitches"]))] = [
            state["pairs"],
            state["change_sum"],
            state["change_sq"],
        ]
    return out


def _add(into: Deltas, part: Deltas, sign: int = 1) -> None:
    for k, (n, total, sq) in part.items():
        acc = into.setdefault(k, [0, 0.0, 0.0])
        acc[0] += sign * n
        acc[1] += sign * total
        acc[2] += sign * sq


# --- reading raw rows --------------------------------------------------------------------


def _series_raw(conn: Connection, key: SeriesKey) -> list[tuple[int, datetime, float]]:
    clinic_id, patient_id, instrument, context = key
    return [
        tuple(r)
        for r in conn.execute(
            select(M.c.id, M.c.measured_at, M.c.score).where(
                M.c.clinic_id == clinic_id,
                M.c.patient_id == patient_id,
                M.c.instrument == instrument,
                M.c.context == context,
                series_rule.in_course_sql(M.c),
            )
        )
    ]


def _nprs_filter() -> Any:
    """The NPRS scores that make a visit's immediate pre/post change."""
    return and_(M.c.instrument == "nprs", series_rule.around_needling_sql(M.c))


def _session_raw(conn: Connection, session_id: int) -> tuple[int, dict[str, Any]] | None:
    row = conn.execute(
        select(NS.c.clinic_id, NS.c.visit_id).where(NS.c.id == session_id)
    ).one_or_none()
    if row is None:
        return None
    clinic_id, visit_id = row
    entries = conn.execute(
        select(NE.c.muscle_id, NE.c.twitch_count).where(NE.c.session_id == session_id)
    ).all()
    nprs = conn.execute(
        select(M.c.timing, M.c.score).where(
            M.c.visit_id == visit_id, M.c.clinic_id == clinic_id, _nprs_filter()
        )
    ).all()
    return clinic_id, session_state(entries, nprs)


# --- writing level 1 and level 2 ---------------------------------------------------------

SERIES_FIELDS = ("n", "first_at", "first_score", "last_at", "last_score", "status")
SESSION_FIELDS = ("entries", "twitches", "muscles", "pairs", "change_sum", "change_sq")


def _stored_series(conn: Connection, key: SeriesKey) -> dict[str, Any] | None:
    _, patient_id, instrument, context = key
    row = conn.execute(
        select(*(S.c[f] for f in SERIES_FIELDS)).where(
            S.c.patient_id == patient_id, S.c.instrument == instrument, S.c.context == context
        )
    ).one_or_none()
    return dict(row._mapping) if row else None


def _stored_session(conn: Connection, session_id: int) -> tuple[int, dict[str, Any]] | None:
    row = conn.execute(
        select(ST.c.clinic_id, *(ST.c[f] for f in SESSION_FIELDS)).where(
            ST.c.session_id == session_id
        )
    ).one_or_none()
    if row is None:
        return None
    values = dict(row._mapping)
    return values.pop("clinic_id"), values


def refresh_series(conn: Connection, key: SeriesKey, deltas: Deltas) -> None:
    clinic_id, patient_id, instrument, context = key
    old = _stored_series(conn, key)
    new = series_state(instrument, _series_raw(conn, key), context)
    where = (S.c.patient_id == patient_id, S.c.instrument == instrument, S.c.context == context)
    if new is None and old is not None:
        conn.execute(delete(S).where(*where))
    elif new is not None and old is None:
        conn.execute(
            insert(S).values(
                clinic_id=clinic_id,
                patient_id=patient_id,
                instrument=instrument,
                context=context,
                **new,
            )
        )
    elif new is not None and new != old:
        conn.execute(update(S).where(*where).values(**new))
    _add(deltas, series_contribution(clinic_id, instrument, old), -1)
    _add(deltas, series_contribution(clinic_id, instrument, new))


def refresh_session(conn: Connection, session_id: int, deltas: Deltas) -> None:
    old = _stored_session(conn, session_id)
    raw = _session_raw(conn, session_id)
    if raw is None and old is not None:
        conn.execute(delete(ST).where(ST.c.session_id == session_id))
    elif raw is not None and old is None:
        conn.execute(insert(ST).values(session_id=session_id, clinic_id=raw[0], **raw[1]))
    elif raw is not None and old is not None and raw[1] != old[1]:
        conn.execute(update(ST).where(ST.c.session_id == session_id).values(**raw[1]))
    if old is not None:
        _add(deltas, session_contribution(*old), -1)
    if raw is not None:
        _add(deltas, session_contribution(*raw))


def apply_deltas(conn: Connection, deltas: Deltas) -> None:
    """Atomic increments (INSERT ... ON CONFLICT DO UPDATE) so concurrent writers both count."""
    rows = [
        {"clinic_id": c, "kind": kind, "key": key, "n": int(n), "total": t, "total_sq": sq}
        for (c, kind, key), (n, t, sq) in sorted(deltas.items())
        if n or t or sq
    ]
    upsert_add(conn, DT, rows, keys=("clinic_id", "kind", "key"), add=("n", "total", "total_sq"))


# --- flush hooks ---------------------------------------------------------------------------


@dataclass
class _Touched:
    series: set[SeriesKey] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)
    visits: set[int] = field(default_factory=set)


def _values(obj: Any, name: str) -> list[Any]:
    """Current and (for an edited row) previous values of an attribute."""
    hist = attributes.get_history(obj, name)
    return [v for v in (*hist.added, *hist.unchanged, *hist.deleted) if v is not None]


def _touched(session: Session) -> _Touched:
    t = _Touched()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, Measurement):
            for clinic in _values(obj, "clinic_id"):
                for patient in _values(obj, "patient_id"):
                    for instrument in _values(obj, "instrument"):
                        for context in _values(obj, "context") or [""]:
                            t.series.add((clinic, patient, instrument, context))
            if "nprs" in _values(obj, "instrument"):
                t.visits.update(_values(obj, "visit_id"))
        elif isinstance(obj, NeedleEntry):
            t.sessions.update(_values(obj, "needling_id"))
        elif isinstance(obj, NeedlingSession) and obj.id:
            # Dirty too: an entry removed from `entries` is deleted as an orphan *during* the
            # flush, so it never shows in session.deleted; its parent is the only trace.
            t.sessions.add(obj.id)
    return t


def before_flush(session: Session) -> None:
    """Lock the rows this flush will recompute, before it inserts anything; and a needling
    session about to be deleted takes its summary row (and totals) with it.

    The lock comes first because inserting a measurement takes a KEY SHARE lock on its
    patient (the foreign key): two transactions that both insert for one patient and only
    then lock it FOR UPDATE would each wait for the other's KEY SHARE (PostgreSQL's
    "deadlock detected", seen as a 500 under load by bench/load.py)."""
    t = _touched(session)
    # A new measurement's clinic may be filled in later in this flush: its patient is enough.
    patients = {
        p
        for obj in (*session.new, *session.dirty, *session.deleted)
        if isinstance(obj, Measurement)
        for p in _values(obj, "patient_id")
    }
    if patients or t.sessions or t.visits:
        _lock(session.connection(), t, patients)
    doomed = [o.id for o in session.deleted if isinstance(o, NeedlingSession) and o.id]
    if not doomed:
        return
    conn = session.connection()
    deltas: Deltas = {}
    for sid in doomed:
        old = _stored_session(conn, sid)
        if old is not None:
            _add(deltas, session_contribution(*old), -1)
            conn.execute(delete(ST).where(ST.c.session_id == sid))
    apply_deltas(conn, deltas)


def _lock(conn: Connection, t: _Touched, patients: Iterable[int] = ()) -> None:
    """Lock the touched patients, then the touched needling sessions, each ascending: one
    order for every writer, so writers of the same rows queue instead of deadlocking.
    Adds the sessions of touched visits to `t.sessions`."""
    if t.visits:
        t.sessions.update(conn.scalars(select(NS.c.id).where(NS.c.visit_id.in_(t.visits))))
    ids = sorted({*patients, *(k[1] for k in t.series)})
    if ids:
        conn.execute(select(PT.c.id).where(PT.c.id.in_(ids)).order_by(PT.c.id).with_for_update())
    if t.sessions:
        conn.execute(
            select(NS.c.id)
            .where(NS.c.id.in_(sorted(t.sessions)))
            .order_by(NS.c.id)
            .with_for_update()
        )


def after_flush(session: Session) -> None:
    """Recompute every key this flush touched, then move the clinic totals by the difference."""
    t = _touched(session)
    if not (t.series or t.sessions or t.visits):
        return
    conn = session.connection()
    _lock(conn, t)  # held since before_flush, except rows only the flush gave an id
    deltas: Deltas = {}
    for key in sorted(t.series):
        refresh_series(conn, key, deltas)
    for sid in sorted(t.sessions):
        refresh_session(conn, sid, deltas)
    apply_deltas(conn, deltas)


# --- bulk paths ----------------------------------------------------------------------------

NEW_ROWS = "triggerpoint_new_rows"  # the execution option `new_rows` sets on its connection


@contextmanager
def new_rows(conn: Connection, rows: Mapping[str, list[dict[str, Any]]]) -> Iterator[None]:
    """Core bulk inserts of whole new patients inside this block are allowed on `conn`; when
    it ends, the summaries of `rows` (what the block inserted) are added (`add_new_rows`).
    The one sanctioned way to write tallied tables without the ORM unit of work."""
    conn.execution_options(**{NEW_ROWS: True})
    try:
        yield
    finally:
        conn.execution_options(**{NEW_ROWS: False})
    add_new_rows(conn, rows)


def new_states(
    rows: Mapping[str, list[dict[str, Any]]],
) -> tuple[dict[SeriesKey, dict[str, Any]], dict[int, tuple[int, dict[str, Any]]]]:
    """The series and session rows that bulk-inserted raw rows imply, from the rows alone:
    {series key: state} and {session id: (clinic id, state)}."""
    series: dict[SeriesKey, list[tuple[int, datetime, float]]] = defaultdict(list)
    by_visit: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for m in rows.get("measurement", []):
        if series_rule.in_course(m):
            key = (m["clinic_id"], m["patient_id"], m["instrument"], m.get("context", ""))
            series[key].append((m["id"], m["measured_at"], m["score"]))
        if m["instrument"] == "nprs" and series_rule.around_needling(m):
            by_visit[m["visit_id"]].append((m["timing"], m["score"]))
    by_session: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for e in rows.get("needle_entry", []):
        by_session[e["session_id"]].append((e["muscle_id"], e["twitch_count"]))
    states = {
        key: state
        for key, raw in series.items()
        if (state := series_state(key[2], raw, key[3])) is not None
    }
    sessions = {
        ns["id"]: (
            ns["clinic_id"],
            session_state(by_session.get(ns["id"], []), by_visit.get(ns["visit_id"], [])),
        )
        for ns in rows.get("needling_session", [])
    }
    return states, sessions


def add_new_rows(conn: Connection, rows: Mapping[str, list[dict[str, Any]]]) -> None:
    """Summaries for a bulk insert of *new* patients with all their sessions and measurements.

    The caller guarantees that no series or session in `rows` existed before (the registry
    writes whole new patients), so level 1 is computed from these rows alone.
    """
    states, sessions = new_states(rows)
    deltas: Deltas = {}
    series_rows = []
    for (clinic_id, patient_id, instrument, context), state in states.items():
        series_rows.append(
            {
                "clinic_id": clinic_id,
                "patient_id": patient_id,
                "instrument": instrument,
                "context": context,
                **state,
            }
        )
        _add(deltas, series_contribution(clinic_id, instrument, state))
    session_rows = []
    for sid, (clinic_id, state) in sessions.items():
        session_rows.append({"session_id": sid, "clinic_id": clinic_id, **state})
        _add(deltas, session_contribution(clinic_id, state))
    if series_rows:
        conn.execute(insert(S), series_rows)
    if session_rows:
        conn.execute(insert(ST), session_rows)
    apply_deltas(conn, deltas)


# --- from scratch: the reference the tests compare against, and the migration backfill ----


@dataclass
class Summaries:
    series: dict[tuple[int, str, str], dict[str, Any]]
    sessions: dict[int, dict[str, Any]]
    tallies: dict[TallyKey, tuple[int, float, float]]


def compute_from_raw(conn: Connection, clinic_id: int) -> Summaries:
    """Every summary row of one clinic, derived from the raw tables alone."""
    series: dict[tuple[int, str, str], list[tuple[int, datetime, float]]] = defaultdict(list)
    for mid, pid, ins, ctx, at, score in conn.execute(
        select(
            M.c.id, M.c.patient_id, M.c.instrument, M.c.context, M.c.measured_at, M.c.score
        ).where(M.c.clinic_id == clinic_id, series_rule.in_course_sql(M.c))
    ):
        series[(pid, ins, ctx)].append((mid, at, score))
    by_visit: dict[int, list[tuple[str, float]]] = defaultdict(list)
    for vid, timing, score in conn.execute(
        select(M.c.visit_id, M.c.timing, M.c.score).where(
            M.c.clinic_id == clinic_id, _nprs_filter()
        )
    ):
        by_visit[vid].append((timing, score))
    by_session: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for sid, muscle, tw in conn.execute(
        select(NE.c.session_id, NE.c.muscle_id, NE.c.twitch_count).where(
            NE.c.clinic_id == clinic_id
        )
    ):
        by_session[sid].append((muscle, tw))
    out = Summaries({}, {}, {})
    deltas: Deltas = {}
    for (pid, ins, ctx), raw in series.items():
        state = series_state(ins, raw, ctx)
        assert state is not None  # a series here has at least one measurement
        out.series[(pid, ins, ctx)] = state
        _add(deltas, series_contribution(clinic_id, ins, state))
    for sid, vid in conn.execute(select(NS.c.id, NS.c.visit_id).where(NS.c.clinic_id == clinic_id)):
        state = session_state(by_session.get(sid, []), by_visit.get(vid, []))
        out.sessions[sid] = state
        _add(deltas, session_contribution(clinic_id, state))
    out.tallies = {k: (int(n), t, sq) for k, (n, t, sq) in deltas.items() if n or t or sq}
    return out


def stored(conn: Connection, clinic_id: int) -> Summaries:
    """The summary rows of one clinic as they are in the database."""
    series = {
        (r.patient_id, r.instrument, r.context): {f: getattr(r, f) for f in SERIES_FIELDS}
        for r in conn.execute(select(S).where(S.c.clinic_id == clinic_id))
    }
    sessions = {
        r.session_id: {f: getattr(r, f) for f in SESSION_FIELDS}
        for r in conn.execute(select(ST).where(ST.c.clinic_id == clinic_id))
    }
    tallies = {
        (clinic_id, r.kind, r.key): (r.n, r.total, r.total_sq)
        for r in conn.execute(select(DT).where(DT.c.clinic_id == clinic_id))
        if r.n or r.total or r.total_sq
    }
    return Summaries(series, sessions, tallies)


def missing(conn: Connection) -> bool:
    """The summaries need a rebuild: raw rows exist but no summaries do (the state right after
    the migration that created the tables, which leaves them empty), or the stored series
    classes are not what the current thresholds give (a threshold in `outcomes/data` changed
    since they were computed). migrate.upgrade calls this once the schema is at head."""
    raw = _has_rows(conn, NS) or _has_rows(conn, M)
    if raw and not any(_has_rows(conn, t) for t in (S, ST, DT)):
        return True
    return stale(conn)


def stale(conn: Connection) -> bool:
    """Whether any stored series class differs from the current rule, in one query: the rule
    as SQL (`thresholds.classification_sql`) over the stored first and last scores."""
    pairs = conn.execute(select(S.c.instrument, S.c.context).distinct()).all()
    if not pairs:
        return False
    verdict = thresholds.classification_sql(
        S.c.instrument, S.c.context, S.c.first_score, S.c.last_score, pairs
    )
    judged = series_rule.judged_sql(S.c.instrument, S.c.n)
    expected = case((judged, func.coalesce(verdict, literal(UNCLASSIFIED))), else_=literal(None))
    differs = select(S.c.id).where(S.c.status.is_distinct_from(expected)).limit(1)
    return conn.execute(differs).first() is not None


def _has_rows(conn: Connection, table: Any) -> bool:
    return conn.execute(select(1).select_from(table).limit(1)).first() is not None


def rebuild(conn: Connection, clinic_ids: Iterable[int] | None = None) -> None:
    """Replace the summaries of some clinics (default: all) with ones computed from scratch."""
    if clinic_ids is None:
        clinic_ids = conn.scalars(select(NS.c.clinic_id).union(select(M.c.clinic_id))).all()
    for clinic_id in clinic_ids:
        for table in (DT, ST, S):
            conn.execute(delete(table).where(table.c.clinic_id == clinic_id))
        fresh = compute_from_raw(conn, clinic_id)
        if fresh.series:
            conn.execute(
                insert(S),
                [
                    {"clinic_id": clinic_id, "patient_id": p, "instrument": i, "context": c, **v}
                    for (p, i, c), v in fresh.series.items()
                ],
            )
        if fresh.sessions:
            conn.execute(
                insert(ST),
                [
                    {"session_id": sid, "clinic_id": clinic_id, **v}
                    for sid, v in fresh.sessions.items()
                ],
            )
        apply_deltas(conn, {k: [n, t, sq] for k, (n, t, sq) in fresh.tallies.items()})
