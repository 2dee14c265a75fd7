"""The dashboard's data-layer hooks: installed explicitly at start-up, never by an import; the
ORM unit of work keeps the tallies right; a write around it is refused, or (the bulk registry
inside `tallies.new_rows`) keeps them right itself."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import visitors
from sqlalchemy.sql.schema import Column

from tests.personas import new_clinic, new_person
from tests.reports.conftest import build_course
from triggerpoint.dashboard import listeners, tallies
from triggerpoint.db import get_engine, open_session
from triggerpoint.demo.registry import generate
from triggerpoint.outcomes.models import Measurement
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

M, NE, NS = Measurement.__table__, NeedleEntry.__table__, NeedlingSession.__table__


@pytest.fixture
def hooks_restored() -> Iterator[None]:
    """For tests that take the hooks away: they are back afterwards, as start-up left them."""
    yield
    listeners.register()


def test_importing_the_models_installs_no_hook():
    """In a fresh interpreter: every model and the tallies imported, nothing listens yet."""
    code = (
        "import triggerpoint.models, triggerpoint.dashboard.tallies\n"
        "from sqlalchemy.orm import Session\n"
        "from triggerpoint.dashboard import listeners\n"
        "assert not listeners.registered()\n"
        "assert len(Session().dispatch.after_flush) == 0, 'an after_flush hook at import'\n"
        "listeners.register(); listeners.register()\n"
        "assert listeners.registered() and len(Session().dispatch.after_flush) == 1\n"
        "listeners.unregister()\n"
        "assert len(Session().dispatch.after_flush) == 0\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_app_and_cli_start_up_install_the_hooks(cli, hooks_restored):
    from triggerpoint.web.app import create_app

    listeners.unregister()
    assert not listeners.registered()
    create_app(migrate=False)
    assert listeners.registered()
    listeners.unregister()
    result = cli("regions", "find", "right temple", "--json")
    assert result.exit_code == 0, result.output
    assert listeners.registered()


# --- the ORM path ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tallied_clinic(app_client, db_url) -> tuple[int, Any, Any]:
    """A course of care through the services, in a clinic of its own."""
    clinic = new_clinic("Listener clinic")
    person = new_person(clinic, "clinician", prefix="listener")
    return clinic, person, build_course(app_client, person, given="Lis", family="Tener")


def _right(clinic: int) -> bool:
    with get_engine().connect() as conn:
        kept, fresh = tallies.stored(conn, clinic), tallies.compute_from_raw(conn, clinic)
    return (kept.series, kept.sessions, kept.tallies) == (
        fresh.series,
        fresh.sessions,
        fresh.tallies,
    )


def _counts(clinic: int) -> tuple[int, ...]:
    with open_session(clinic_id=clinic) as s:
        return tuple(
            s.scalar(select(func.count()).select_from(m)) for m in (Measurement, NeedleEntry)
        )


def test_writes_through_the_unit_of_work_keep_the_tallies_right(tallied_clinic):
    clinic, _, course = tallied_clinic
    with get_engine().connect() as conn:
        before = tallies.stored(conn, clinic)
    with open_session(clinic_id=clinic) as s:
        ms = s.scalars(select(Measurement).order_by(Measurement.id)).all()
        ms[0].score = 1.0  # the NPRS baseline
        s.add(
            Measurement(
                patient_id=course.patient_id,
                instrument="odi",
                context="",
                data={},
                score=12.0,
                complete=True,
                answered=10,
                measured_at=datetime(2026, 10, 20, tzinfo=UTC),
            )
        )
        s.delete(ms[-1])
        ns = s.get(NeedlingSession, course.sessions[0])
        ns.entries.remove(ns.entries[-1])
        s.commit()
    with get_engine().connect() as conn:
        after = tallies.stored(conn, clinic)
    assert after.series != before.series and after.sessions != before.sessions
    assert _right(clinic)


# --- writes around it -----------------------------------------------------------------------


def _row(course: Any, **kw: Any) -> dict[str, Any]:
    return {
        "patient_id": course.patient_id,
        "instrument": "nprs",
        "context": "",
        "timing": "",
        "data": {},
        "score": 0.0,
        "complete": True,
        "answered": 1,
        "measured_at": datetime(2026, 11, 1, tzinfo=UTC),
        **kw,
    }


BYPASSES: dict[str, Callable[[Any, Any, Any], Any]] = {
    # the records/service.py pattern (a bulk INSERT of PainMark), on a tallied table
    "ORM bulk insert": lambda s, _, course: s.execute(insert(Measurement), [_row(course)]),
    "ORM bulk update of a score": lambda s, _, course: s.execute(
        update(Measurement).where(Measurement.patient_id == course.patient_id).values(score=0)
    ),
    "ORM bulk update by primary key": lambda s, _, course: s.execute(
        update(Measurement),
        [
            {"id": i, "score": 0.0}
            for i in s.scalars(
                select(Measurement.id).where(Measurement.patient_id == course.patient_id)
            )
        ],
    ),
    "ORM bulk delete": lambda s, _, course: s.execute(
        delete(NeedleEntry).where(NeedleEntry.needling_id == course.sessions[0])
    ),
    "legacy bulk_insert_mappings": lambda s, clinic, course: s.bulk_insert_mappings(
        Measurement, [_row(course, clinic_id=clinic)]
    ),
    "Core insert on the session's connection": lambda s, clinic, course: s.connection().execute(
        insert(M), [_row(course, clinic_id=clinic)]
    ),
    "Core update of a session's visit": lambda s, _, course: s.connection().execute(
        update(NS).where(NS.c.id == course.sessions[0]).values(visit_id=course.visits[1])
    ),
    "Core delete of needle entries": lambda s, _, course: s.connection().execute(
        delete(NE).where(NE.c.session_id == course.sessions[1])
    ),
}


@pytest.mark.parametrize("how", list(BYPASSES))
def test_a_write_around_the_unit_of_work_is_refused_and_writes_nothing(tallied_clinic, how):
    clinic, _, course = tallied_clinic
    counts = _counts(clinic)
    with open_session(clinic_id=clinic) as s:
        with pytest.raises(listeners.TallyBypass, match="outside the ORM unit of work"):
            BYPASSES[how](s, clinic, course)
        s.rollback()
    assert _counts(clinic) == counts
    assert _right(clinic)


def test_a_core_write_on_an_engine_connection_is_refused(tallied_clinic):
    clinic, _, course = tallied_clinic
    with get_engine().begin() as conn:
        with pytest.raises(listeners.TallyBypass, match=r"UPDATE of measurement\.score"):
            conn.execute(update(M).where(M.c.patient_id == course.patient_id).values(score=0))
        with pytest.raises(listeners.TallyBypass, match="INSERT into measurement"):
            conn.execute(insert(M), [_row(course, clinic_id=clinic)])
    assert _right(clinic)


def test_writes_that_change_no_tally_pass(tallied_clinic):
    """An untallied column (when a session was opened, a measurement's raw answers) may be
    written in bulk: the tallies do not read it."""
    clinic, _, course = tallied_clinic
    aged = datetime.now(UTC) - timedelta(hours=25)
    with get_engine().begin() as conn:
        conn.execute(update(NS).where(NS.c.id == course.sessions[0]).values(opened_at=aged))
    with open_session(clinic_id=clinic) as s:
        s.execute(
            update(Measurement)
            .where(Measurement.patient_id == course.patient_id)
            .values(data={"note": "bulk"})
        )
        s.commit()
        assert s.get(NeedlingSession, course.sessions[0]).opened_at == aged
    assert _right(clinic)


def test_a_failed_flush_leaves_no_permission_behind(tallied_clinic):
    """The flush marks its connection while it runs. A session joined to a connection of the
    caller's (as the rolled-back test database does) hands that connection back after a
    flush that failed (here on a foreign key): it must not keep the mark."""
    clinic, _, course = tallied_clinic
    with get_engine().connect() as conn:
        conn.begin()
        s = Session(bind=conn, join_transaction_mode="create_savepoint")
        s.info["clinic_id"] = clinic
        s.add(Measurement(**_row(course, patient_id=2_000_000_000)))
        with pytest.raises(IntegrityError):
            s.flush()
        s.rollback()
        s.close()
        assert not conn.get_execution_options().get(listeners.FLUSHING)
        with pytest.raises(listeners.TallyBypass):
            conn.execute(insert(M), [_row(course, clinic_id=clinic)])
        conn.rollback()
    assert _right(clinic)


def test_bulk_new_patients_keep_the_tallies_right_inside_new_rows(fresh_db):
    """The registry's Core inserts run inside `tallies.new_rows`, which adds their summaries;
    the same insert outside it is refused."""
    generate(fresh_db, sessions=6, seed=3, batch_patients=2)
    with fresh_db.connect() as conn:
        clinics = conn.scalars(select(M.c.clinic_id).distinct()).all()
        assert clinics
        for clinic in clinics:
            kept, fresh = tallies.stored(conn, clinic), tallies.compute_from_raw(conn, clinic)
            assert (kept.series, kept.sessions, kept.tallies) == (
                fresh.series,
                fresh.sessions,
                fresh.tallies,
            )
            assert kept.sessions
        row = dict(conn.execute(select(M).limit(1)).one()._mapping)
    row.pop("id")
    with fresh_db.begin() as conn, pytest.raises(listeners.TallyBypass):
        conn.execute(insert(M), [row])


def test_without_the_hooks_a_write_leaves_the_tallies_behind(tallied_clinic, hooks_restored):
    """What the hooks do is what keeps the tallies: taken away, an ORM edit is not followed
    (and the rebuild repairs it)."""
    clinic = tallied_clinic[0]
    listeners.unregister()
    with open_session(clinic_id=clinic) as s:
        m = s.scalars(
            select(Measurement).where(Measurement.instrument == "nprs", Measurement.timing == "pre")
        ).first()
        m.score = 10.0
        s.commit()
    assert not _right(clinic)
    listeners.register()
    with get_engine().begin() as conn:
        tallies.rebuild(conn, [clinic])
    assert _right(clinic)


def test_the_guard_covers_every_column_the_tallies_read(tallied_clinic):
    """Every column of a raw table that the tallies' queries read is in `tallies.TALLIED`,
    so an UPDATE of it around the unit of work is refused."""
    clinic, _, course = tallied_clinic
    read: set[tuple[str, str]] = set()

    def spy(_conn: Connection, stmt: Any, *_: Any) -> None:
        for el in visitors.iterate(stmt):
            if isinstance(el, Column) and el.table is not None and el.table.name in tallies.TALLIED:
                read.add((el.table.name, el.name))

    engine = get_engine()
    event.listen(engine, "before_execute", spy)
    try:
        with engine.connect() as conn:
            deltas: tallies.Deltas = {}
            tallies.compute_from_raw(conn, clinic)
            tallies.refresh_series(conn, (clinic, course.patient_id, "nprs", ""), deltas)
            for sid in course.sessions:
                tallies.refresh_session(conn, sid, deltas)
            conn.rollback()
    finally:
        event.remove(engine, "before_execute", spy)
    assert {t for t, _ in read} == set(tallies.TALLIED)
    missing = {(t, c) for t, c in read if c not in tallies.TALLIED[t]}
    assert not missing
