"""The research data version (`research.ltr.version`): bumped once per commit by each write
the twitch analysis reads, not by the others, per clinic; by the bulk registry too; and two
writers of one clinic at once both count, without deadlocking (both engines)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.personas import Person, add_clinic, add_person, new_patient, tag
from tests.research.ltr.conftest import withdraw_one
from triggerpoint.db import open_session, unit_of_work
from triggerpoint.demo.registry import generate
from triggerpoint.outcomes.models import Measurement
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.outcomes.service import record_measurement
from triggerpoint.records.models import Visit
from triggerpoint.research.ltr import version
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

AT = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _version(person: Person, engine=None) -> int:
    with open_session(clinic_id=person.clinic_id, engine=engine) as s:
        return version.current(s, person.clinic_id)[0]


def _measure(s, person: Person, patient_id: int, instrument: str = "nprs") -> Measurement:
    data = {"current": 5} if instrument == "nprs" else {"items": [1] * 10}
    return record_measurement(
        s,
        principal=person.principal,
        patient_id=patient_id,
        data=MeasurementIn(instrument=instrument, data=data, measured_at=AT),  # type: ignore[arg-type]
    )


def _a_patient(person: Person) -> int:
    with open_session(clinic_id=person.clinic_id) as s:
        pid = new_patient(s, person)
        s.commit()
    return pid


def test_a_measurement_bumps_once_per_commit_and_only_its_clinic(alice, erin):
    pid = _a_patient(alice)
    a0, b0 = _version(alice), _version(erin)
    with open_session(clinic_id=alice.clinic_id) as s:
        _measure(s, alice, pid)
        _measure(s, alice, pid)  # two writes, one transaction
        s.commit()
    assert (_version(alice), _version(erin)) == (a0 + 1, b0)
    with open_session(clinic_id=alice.clinic_id) as s:
        m = s.scalars(select(Measurement).where(Measurement.patient_id == pid).limit(1)).one()
        m.score = 3.0  # an edit
        s.commit()
    assert _version(alice) == a0 + 2
    with open_session(clinic_id=alice.clinic_id) as s:
        s.delete(s.scalars(select(Measurement).where(Measurement.patient_id == pid).limit(1)).one())
        s.commit()
    assert _version(alice) == a0 + 3


def test_the_commit_records_when_the_data_changed(alice):
    pid = _a_patient(alice)
    before = datetime.now(UTC)
    with open_session(clinic_id=alice.clinic_id) as s:
        _measure(s, alice, pid)
        s.commit()
        changed_at = version.current(s, alice.clinic_id)[1]
    assert changed_at is not None and before <= changed_at <= datetime.now(UTC)


def test_writes_the_analysis_does_not_read_leave_it(alice):
    pid = _a_patient(alice)  # a new patient (and its audit event)
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        _measure(s, alice, pid, "ndi")  # not an analysed instrument
        s.add(Visit(patient_id=pid, visit_at=AT))  # a new visit: nothing is measured there yet
        s.commit()
    assert _version(alice) == v0


def test_a_rolled_back_write_leaves_it(alice):
    pid = _a_patient(alice)
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        _measure(s, alice, pid)
        s.rollback()
        s.commit()  # nothing left to commit: no bump either
    assert _version(alice) == v0


def test_a_research_consent_withdrawn_bumps_it(alice, treated_a):
    v0 = _version(alice)
    withdraw_one(alice)
    assert _version(alice) == v0 + 1


def test_sessions_count_once_signed_and_their_entries_with_them(alice, treated_a):
    with open_session(clinic_id=alice.clinic_id) as s:
        signed = s.scalars(
            select(NeedlingSession).where(NeedlingSession.status == "signed").limit(1)
        ).one()
        template = signed.entries[0]
        ids = {"patient_id": signed.patient_id, "screening_id": signed.screening_id}
        consent_id = signed.consent_id
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:  # an open session and its needles
        visit = Visit(patient_id=ids["patient_id"], visit_at=AT + timedelta(days=400))
        s.add(visit)
        s.flush()
        draft = NeedlingSession(**ids, visit_id=visit.id, consent_id=consent_id, status="open")
        s.add(draft)
        s.flush()
        fields = {
            c: getattr(template, c)
            for c in (
                *("muscle_id", "side", "needle_diameter_mm", "needle_length_mm"),
                *("technique", "depth_mm", "familiar_pain", "duration_s"),
            )
        }
        s.add(NeedleEntry(needling_id=draft.id, seq=1, twitch_count=2, **fields))
        s.commit()
        draft_id = draft.id
    assert _version(alice) == v0  # nothing signed: the analysis reads none of it
    with open_session(clinic_id=alice.clinic_id) as s:
        s.get(NeedlingSession, draft_id).status = "signed"
        s.commit()
    assert _version(alice) == v0 + 1
    with open_session(clinic_id=alice.clinic_id) as s:  # an entry of a signed session
        entry = s.scalars(select(NeedleEntry).where(NeedleEntry.needling_id == draft_id)).one()
        entry.twitch_count = 0
        s.commit()
    assert _version(alice) == v0 + 2


def test_moving_a_visit_bumps_it(alice, treated_a):
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        visit = s.scalars(select(Visit).limit(1)).one()
        visit.visit_at = visit.visit_at + timedelta(days=1)  # the follow-up window moves
        s.commit()
    assert _version(alice) == v0 + 1


def test_the_bulk_registry_bumps_it(fresh_db):
    result = generate(fresh_db, sessions=50, seed=3, batch_patients=4)
    with open_session(clinic_id=result.clinic_id, engine=fresh_db) as s:
        v, at = version.current(s, result.clinic_id)
    assert v == 3 and at is not None  # 10 patients in batches of 4: three transactions


@pytest.fixture
def busy_clinic(fresh_db) -> tuple:
    with unit_of_work(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, f"Busy {tag()}")
        person = add_person(s, clinic_id=clinic, username=f"busy.{tag()}", role="clinician")
    with unit_of_work(clinic_id=clinic, engine=fresh_db) as s:
        patients = [new_patient(s, person) for _ in range(2)]
    return fresh_db, person, patients


def test_concurrent_writers_of_one_clinic_all_count(busy_clinic):
    """Separate connections committing at once (one patient each, then both the same one):
    every commit bumps exactly once, and the fixed lock order (the flush's rows, then the
    version row, then the audit chain) lets them queue instead of deadlocking."""
    engine, person, patients = busy_clinic
    v0 = _version(person, engine)
    errors: list[BaseException] = []
    per_thread = 6

    def write(pid: int) -> None:
        try:
            for _ in range(per_thread):
                with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
                    _measure(s, person, pid)
                with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
                    _measure(s, person, patients[0])  # the same patient for both
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in patients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _version(person, engine) == v0 + 2 * 2 * per_thread


def test_register_is_idempotent_and_unregister_removes_the_hooks(db):
    from sqlalchemy.orm import Session

    version.register()
    assert version.registered() and len(Session().dispatch.before_commit) >= 2
    first = next(iter(Session().dispatch.before_commit))
    assert first is version._before_commit  # ahead of the audit chain's hook
    try:
        version.unregister()
        assert not version.registered()
    finally:
        version.register()
    assert version.registered()


# --- deletes: through the unit of work (with its ORM cascades), in bulk through a session ----
# Every path that removes rows the analysis reads makes the persisted fit stale.

DERIVED = {"session_tally", "dashboard_tally", "outcome_series", "painmap_drawing", "painmap_tally"}


def _measured_visit(person: Person) -> int:
    """A new visit of a treated patient with an NPRS score and no needling session (RESTRICT
    would refuse the delete of a visit that has one), committed."""
    with open_session(clinic_id=person.clinic_id) as s:
        pid = s.scalars(select(NeedlingSession.patient_id).order_by(NeedlingSession.id)).first()
        visit = Visit(patient_id=pid, visit_at=AT + timedelta(days=500))
        s.add(visit)
        s.flush()
        _measure(s, person, pid).visit_id = visit.id
        s.commit()
        return visit.id


def test_a_signed_session_deleted_bumps_it_with_its_entries(alice, treated_a):
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        signed = s.scalars(
            select(NeedlingSession)
            .where(NeedlingSession.status == "signed", ~NeedlingSession.adverse_events.any())
            .where(~NeedlingSession.addenda.any())
            .limit(1)
        ).one()
        sid, n_entries = signed.id, len(signed.entries)
        s.delete(signed)  # the ORM cascade (delete-orphan) deletes its entries with it
        s.commit()
    assert n_entries > 0
    with open_session(clinic_id=alice.clinic_id) as s:
        left = s.scalars(select(NeedleEntry).where(NeedleEntry.needling_id == sid)).all()
    assert left == [] and _version(alice) == v0 + 1


def test_a_visit_deleted_bumps_it_its_measurements_set_loose_by_the_database(alice, treated_a):
    visit_id = _measured_visit(alice)
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        s.delete(s.get(Visit, visit_id))  # its drawings and findings go by ON DELETE CASCADE
        s.commit()
    with open_session(clinic_id=alice.clinic_id) as s:
        assert s.scalars(select(Measurement).where(Measurement.visit_id == visit_id)).all() == []
    assert _version(alice) == v0 + 1


def test_a_patient_erased_bumps_it(alice, treated_a):
    """Every row of one treated patient deleted through the unit of work, children first."""
    from triggerpoint.db import Base

    with open_session(clinic_id=alice.clinic_id) as s:
        pid = s.scalars(
            select(NeedlingSession.patient_id).where(NeedlingSession.status == "signed").limit(1)
        ).one()
    classes = {m.local_table.name: m.class_ for m in Base.registry.mappers}
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        for table in reversed(Base.metadata.sorted_tables):
            cls = classes.get(table.name)
            if cls is None or "patient_id" not in table.c or table.name in DERIVED:
                continue
            for row in s.scalars(select(cls).where(table.c.patient_id == pid)):
                s.delete(row)
            s.flush()
        from triggerpoint.records.models import Patient

        s.delete(s.get(Patient, pid))
        s.commit()
    assert _version(alice) == v0 + 1  # once: one transaction


def test_bulk_deletes_and_updates_through_a_session_bump_it(alice, erin, treated_a):
    from sqlalchemy import delete, insert, update

    from triggerpoint.records.models import Consent
    from triggerpoint.records.service import RESEARCH

    b0 = _version(erin)
    visit_id = _measured_visit(alice)
    v0 = _version(alice)
    with open_session(clinic_id=alice.clinic_id) as s:  # ORM-enabled bulk DELETE
        assert s.execute(delete(Visit).where(Visit.id == visit_id)).rowcount == 1
        s.commit()
    assert _version(alice) == v0 + 1
    with open_session(clinic_id=alice.clinic_id) as s:  # bulk UPDATE of the window's column
        s.execute(
            update(Visit).where(Visit.id.in_(select(Measurement.visit_id))).values(visit_at=AT)
        )
        s.commit()
    assert _version(alice) == v0 + 2
    with open_session(clinic_id=alice.clinic_id) as s:  # ... of a column it does not read
        s.execute(update(Visit).values(notes="bulk note"))
        s.commit()
    assert _version(alice) == v0 + 2
    with open_session(clinic_id=None) as s:  # unconfined: the clinics are read from its WHERE
        cid = s.scalars(
            select(Consent.id)
            .where(Consent.clinic_id == alice.clinic_id, Consent.kind == RESEARCH)
            .limit(1)
        ).one()
        s.execute(delete(Consent).where(Consent.id == cid))
        s.commit()
    assert (_version(alice), _version(erin)) == (v0 + 3, b0)
    with open_session(clinic_id=alice.clinic_id) as s:  # a statement that matches nothing
        s.execute(delete(Visit).where(Visit.id == -1))
        s.commit()
    assert _version(alice) == v0 + 3
    with open_session(clinic_id=alice.clinic_id) as s:  # an ORM bulk UPDATE by primary key
        vid, ver = s.execute(select(Visit.id, Visit.version).order_by(Visit.id).limit(1)).one()
        s.execute(update(Visit), [{"id": vid, "version": ver, "visit_at": AT + timedelta(days=3)}])
        s.commit()
    assert _version(alice) == v0 + 4
    with open_session(clinic_id=alice.clinic_id) as s:  # a bulk INSERT of a research consent
        pid = s.scalars(select(Visit.patient_id).limit(1)).one()
        consent = {"patient_id": pid, "risks_disclosed": [], "signed_by": "P", "signed_at": AT}
        s.execute(insert(Consent), [{**consent, "kind": RESEARCH}])
        s.commit()
    assert _version(alice) == v0 + 5
    with open_session(clinic_id=alice.clinic_id) as s:  # ... of another kind: not read
        s.execute(insert(Consent), [{**consent, "kind": "dry_needling"}])
        s.commit()
    assert (_version(alice), _version(erin)) == (v0 + 5, b0)
