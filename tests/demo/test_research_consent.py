"""Research consent in the demo data: most patients, not all, some withdrawn (issue 17)."""

from __future__ import annotations

from sqlalchemy import func, select

from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session
from triggerpoint.demo.generator import populate
from triggerpoint.demo.registry import generate
from triggerpoint.records.models import Consent, Patient
from triggerpoint.records.service import RESEARCH, active_consent


def _research(s, clinic_id: int) -> dict[str, int]:
    return dict(
        s.execute(
            select(Consent.status, func.count())
            .where(Consent.clinic_id == clinic_id, Consent.kind == RESEARCH)
            .group_by(Consent.status)
        ).all()
    )


def test_demo_patients_consent_through_the_consent_service(alice):
    with open_session(clinic_id=None) as s:
        populate(s, staff=alice.principal, patients=40, seed=3)
        s.commit()  # audit events are written at commit (rolled back with the test)
        counts = _research(s, alice.clinic_id)
        patients = s.scalars(select(Patient.id).where(Patient.clinic_id == alice.clinic_id)).all()
        in_force = [
            pid for pid in patients if active_consent(s, patient_id=pid, kind=RESEARCH) is not None
        ]
        created = s.scalars(
            select(AuditEvent).where(
                AuditEvent.clinic_id == alice.clinic_id,
                AuditEvent.entity == "consent",
                AuditEvent.action == "create",
            )
        ).all()
        withdrawn = s.scalars(
            select(AuditEvent).where(
                AuditEvent.clinic_id == alice.clinic_id,
                AuditEvent.entity == "consent",
                AuditEvent.action == "withdraw",
            )
        ).all()
    assert 25 <= counts.get("active", 0) < 40  # most, not all
    assert counts.get("withdrawn", 0) >= 1
    assert len(in_force) == counts["active"]
    research_created = [e for e in created if (e.detail or {}).get("kind") == RESEARCH]
    assert len(research_created) == counts["active"] + counts["withdrawn"]
    assert len(withdrawn) == counts["withdrawn"]


def test_the_consent_draws_leave_the_clinical_records_alone(alice):
    """The consents come from a stream of their own: with none recorded the patients and
    their care are the same for a seed."""
    names = []
    for research in (True, False):
        with open_session(clinic_id=None) as s:
            populate(s, staff=alice.principal, patients=5, seed=9, research_consents=research)
            names.append(
                s.execute(
                    select(Patient.given_name, Patient.family_name, Patient.date_of_birth)
                    .where(Patient.clinic_id == alice.clinic_id)
                    .order_by(Patient.id)
                ).all()[-5:]
            )
            s.rollback()
    assert names[0] == names[1]


def test_the_registry_writes_research_consents_for_most_patients(fresh_db):
    result = generate(fresh_db, sessions=1000, seed=4)
    with open_session(clinic_id=None, engine=fresh_db) as s:
        counts = _research(s, result.clinic_id)
        per_patient = s.execute(
            select(Consent.patient_id, func.count())
            .where(Consent.kind == RESEARCH)
            .group_by(Consent.patient_id)
            .having(func.count() > 1)
        ).all()
        late = s.scalar(
            select(func.count())
            .select_from(Consent)
            .where(Consent.status == "withdrawn", Consent.withdrawn_at.is_(None))
        )
    total = counts.get("active", 0) + counts.get("withdrawn", 0)
    assert 0.75 * result.patients < total < result.patients
    assert counts.get("withdrawn", 0) >= 1
    assert per_patient == [] and late == 0
