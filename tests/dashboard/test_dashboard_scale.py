"""The dashboard's summary tables stay equal to the raw tables through every write path.

A mixed workload (API services, FHIR re-import, the demo clinic, the bulk registry, and ORM
edits and deletions) runs on each engine; then, for every clinic in the database, the stored
summaries must equal a from-scratch recomputation, and the dashboard read from them must
equal the one computed from the raw tables.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import product

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import Person, as_person
from tests.reports.conftest import build_course
from triggerpoint.accounts.models import Clinic, User
from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.config import get_settings
from triggerpoint.dashboard import tallies
from triggerpoint.dashboard.models import DashboardTally, OutcomeSeries
from triggerpoint.dashboard.service import clinic_dashboard
from triggerpoint.db import get_engine, make_engine, open_session
from triggerpoint.demo.generator import seed
from triggerpoint.demo.registry import generate
from triggerpoint.migrate import upgrade
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.models import Measurement
from triggerpoint.outcomes.thresholds import classify_measure
from triggerpoint.treatment.models import NeedlingSession


def _same(a, b) -> bool:
    """Equal, with floats compared to 1e-9 (sums of changes are added in another order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a == pytest.approx(b, abs=1e-9)
    return a == b


def _numbers(d: dict) -> dict:
    return {
        "counts": (d["patients"], d["sessions"], d["signed"], d["unsigned_total"]),
        "responders": [
            (r["instrument"], r["n"], r["responders"], r["non_responders"], r["worsened"])
            for r in d["responders"]
        ],
        "unclassified": [(u["instrument"], u["n"]) for u in d["unclassified"]],
        "muscles": [(m["muscle_id"], m["sessions"], m["needles"]) for m in d["muscles"]],
        "twitches": [(t["label"], t["n"], t["mean_change"], t["ci95_half"]) for t in d["twitches"]],
    }


def _staff(clinic_name: str, username: str) -> tuple[int, Person]:
    """A clinic with one clinician; returns the clinic id and an API token."""
    system = Actor.system("tests")
    with open_session(clinic_id=None) as s:
        clinic = create_clinic(s, name=clinic_name, actor=system).id
        user, _ = create_user(
            s,
            clinic_id=clinic,
            username=username,
            full_name=username,
            role="clinician",
            actor=system,
            password="correct horse battery staple",
        )
        user.must_change_password = False
        token = create_api_token(s, user_id=user.id, label="tests", actor=system)
        s.commit()
        person = Person(Principal(user.id, clinic, user.username, "clinician"), token, "")
    return clinic, person


def _import_course(client: TestClient, person: Person) -> None:
    """Services (a course over the API), then a FHIR re-import into a clinic of its own."""
    course = build_course(client, person, given="Scala", family="Mixed")
    bundle = client.get(
        f"/api/patients/{course.patient_id}/fhir", headers=as_person(client, person)
    ).json()
    _, importer = _staff("Scale import clinic", "scale.importer")
    r = client.post("/api/fhir/import", json=bundle, headers=as_person(client, importer))
    assert r.status_code == 201, r.text


# Series whose rule depends on their context: ROM per joint and movement (one without a
# sourced threshold), NPRS for neck pain. (context, first, last) per patient of the course.
CONTEXT_SERIES = [
    ("rom", "ankle dorsiflexion right", 30.0, 34.7),  # MDC 4.7: responder at the boundary
    ("rom", "ankle dorsiflexion left", 30.0, 34.6),  # just under: non-responder
    ("rom", "cervical spine rotation left", 60.0, 68.0),  # MDC 9.6: non-responder
    ("rom", "elbow flexion", 100.0, 130.0),  # no sourced MDC: not classified
    ("nprs", "neck", 6.0, 4.7),  # 1.3 for neck pain: responder
    ("nprs", "low back", 6.0, 4.7),  # 2 points or 30% elsewhere: non-responder
]


def _context_series(clinic_id: int) -> None:
    with open_session(clinic_id=clinic_id) as s:
        pid = s.scalars(select(Measurement.patient_id).order_by(Measurement.id)).first()
        t0 = datetime(2026, 10, 1, 9, tzinfo=UTC)
        for instrument, context, first, last in CONTEXT_SERIES:
            for day, score in ((0, first), (14, last)):
                s.add(
                    Measurement(
                        patient_id=pid,
                        instrument=instrument,
                        context=context,
                        data={},
                        score=score,
                        complete=True,
                        answered=1,
                        measured_at=t0 + timedelta(days=day),
                    )
                )
        s.commit()


def _edit_and_delete(clinic_id: int) -> None:
    """ORM edits no service makes today: the hooks must still follow them."""
    with open_session(clinic_id=clinic_id) as s:
        ms = s.scalars(select(Measurement).order_by(Measurement.id)).all()
        nprs = [m for m in ms if m.instrument == "nprs" and m.timing == "post"]
        nprs[0].score = 0.0  # a post score changes: twitch totals and the series move
        odi = next(m for m in ms if m.instrument == "odi")
        odi.context = "moved"  # one series loses a row, a new one appears
        s.delete(nprs[-1])  # a measurement disappears
        ns = s.scalars(select(NeedlingSession).order_by(NeedlingSession.id)).first()
        ns.entries.remove(ns.entries[-1])  # a needle entry disappears (delete-orphan)
        s.commit()


@pytest.fixture(scope="module")
def own_db(db_url, tmp_path_factory, request) -> Iterator[str]:
    """A database of this module's own on the same engine: the demo and registry clinics it
    fills are shared by name, and tests/demo counts their rows."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('scale')}/scale.sqlite3"
    else:
        url = request.getfixturevalue("pg_server").create_database("tp_scale")
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    os.environ["TRIGGERPOINT_DATABASE_URL"] = url
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield url
    get_engine().dispose()
    os.environ["TRIGGERPOINT_DATABASE_URL"] = db_url
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture(scope="module")
def mixed_workload(own_db) -> Iterator[tuple[list[int], int]]:
    from triggerpoint.web.app import create_app

    clinic, person = _staff("Scale clinic", "scale.clinician")
    with TestClient(create_app(migrate=False)) as client:
        _import_course(client, person)
    with open_session(clinic_id=None) as s:
        seed(s, patients=6, seed=11)
        s.commit()
    generate(get_engine(), sessions=60, seed=12, batch_patients=5)
    _context_series(clinic)
    _edit_and_delete(clinic)
    with open_session(clinic_id=None) as s:
        clinics = list(s.scalars(select(Clinic.id)))
    yield clinics, clinic


def test_summaries_equal_a_recomputation_from_raw_tables(mixed_workload):
    with get_engine().connect() as conn:
        checked = 0
        for clinic_id in mixed_workload[0]:
            kept, fresh = tallies.stored(conn, clinic_id), tallies.compute_from_raw(conn, clinic_id)
            assert _same(kept.series, fresh.series), f"clinic {clinic_id}: outcome_series"
            assert _same(kept.sessions, fresh.sessions), f"clinic {clinic_id}: session_tally"
            assert _same(kept.tallies, fresh.tallies), f"clinic {clinic_id}: dashboard_tally"
            checked += len(fresh.sessions) + len(fresh.series)
    assert checked > 100  # the workload really produced rows to check


def test_fast_dashboard_equals_the_raw_table_dashboard_in_every_clinic(mixed_workload):
    compared = 0
    for clinic_id in mixed_workload[0]:
        with open_session(clinic_id=None) as s:
            user = s.scalar(select(User).where(User.clinic_id == clinic_id).limit(1))
        if user is None:  # the registry clinic has no staff: give it a reader
            with open_session(clinic_id=None) as s:
                user, _ = create_user(
                    s,
                    clinic_id=clinic_id,
                    username=f"reader{clinic_id}",
                    full_name="Reader",
                    role="clinician",
                    actor=Actor.system("tests"),
                    password="reads only 123456",
                )
                s.commit()
        principal = Principal(user.id, clinic_id, user.username, "clinician")
        with open_session(clinic_id=clinic_id) as s:
            fast = _numbers(clinic_dashboard(s, principal=principal))
            naive = _numbers(clinic_dashboard(s, principal=principal, naive=True))
            s.rollback()
        assert _same(fast, naive), f"clinic {clinic_id}: {fast} != {naive}"
        compared += fast["counts"][1]
    assert compared >= 60


def test_edits_moved_the_series_they_touched(mixed_workload):
    with open_session(clinic_id=mixed_workload[1]) as s:
        moved = s.scalar(select(OutcomeSeries).where(OutcomeSeries.context == "moved"))
        assert moved is not None and moved.n == 1 and moved.status is None


def test_rebuild_repairs_a_damaged_tally(mixed_workload):
    engine, clinic = get_engine(), mixed_workload[1]
    with engine.begin() as conn:
        conn.execute(
            DashboardTally.__table__.update()
            .where(DashboardTally.__table__.c.clinic_id == clinic)
            .values(n=DashboardTally.__table__.c.n + 7)
        )
        damaged = tallies.stored(conn, clinic).tallies
        assert not _same(damaged, tallies.compute_from_raw(conn, clinic).tallies)
        tallies.rebuild(conn, [clinic])
        assert _same(
            tallies.stored(conn, clinic).tallies,
            tallies.compute_from_raw(conn, clinic).tallies,
        )


def test_upgrade_fills_summaries_a_migration_left_empty(mixed_workload):
    """The summary tables' migration creates them empty (it must not call app code);
    migrate.upgrade fills them from the raw rows once the schema is at head."""
    engine = get_engine()
    with engine.begin() as conn:
        before = {c: tallies.stored(conn, c) for c in mixed_workload[0]}
        for table in (tallies.DT, tallies.ST, tallies.S):
            conn.execute(table.delete())
        assert tallies.missing(conn)
    upgrade(engine)
    with engine.connect() as conn:
        assert not tallies.missing(conn)
        for clinic_id, kept in before.items():
            again = tallies.stored(conn, clinic_id)
            assert _same(again.series, kept.series) and _same(again.sessions, kept.sessions)
            assert _same(again.tallies, kept.tallies), f"clinic {clinic_id}"


CONTEXTS = {
    "nprs": ["", "neck", "Neck pain"],
    "rom": ["ankle dorsiflexion", "knee flexion", "elbow flexion", ""],
}


@pytest.mark.parametrize("instrument", sorted(definitions()))
def test_series_classification_is_the_patient_report_rule(instrument):
    """The dashboard classes series with exactly the rule the patient report uses."""
    values = [0, 0.5, 1, 1.2, 1.3, 2, 3, 4, 4.7, 5, 7, 9.6, 10, 14, 16, 24, 40, 50, -5, -4, -1]
    for context in CONTEXTS.get(instrument, [""]):
        for base, last in product(values, values):
            expected = classify_measure(instrument, context, base, last) or "unclassified"
            got = tallies.classify_series(instrument, base, last, context)
            assert got == expected, (context, base, last)


def test_context_series_are_classed_by_their_own_rule(mixed_workload):
    with open_session(clinic_id=mixed_workload[1]) as s:
        status = dict(
            s.execute(
                select(OutcomeSeries.context, OutcomeSeries.status).where(
                    OutcomeSeries.context.in_([c for _, c, _, _ in CONTEXT_SERIES])
                )
            ).all()
        )
    assert status == {
        "ankle dorsiflexion right": "responder",
        "ankle dorsiflexion left": "non-responder",
        "cervical spine rotation left": "non-responder",
        "elbow flexion": "unclassified",
        "neck": "responder",
        "low back": "non-responder",
    }


def test_series_first_and_last_follow_time_then_id():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        (5, t0 + timedelta(days=2), 3.0),
        (9, t0, 8.0),
        (2, t0, 7.0),
        (7, t0 + timedelta(days=2), 4.0),
    ]
    state = tallies.series_state("nprs", rows)
    assert (state["n"], state["first_score"], state["last_score"]) == (4, 7.0, 4.0)
    assert state["status"] == "responder"
    assert tallies.series_state("odi", rows[:1])["status"] is None  # one score: not classified
    assert tallies.series_state("groc", [(1, t0, 5.0)])["status"] == "responder"
