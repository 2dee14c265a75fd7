"""Helpers for the reliability-study tests: a study of clinic A with alice and a second
clinician as examiners, research consents, and findings recorded through the service."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from tests.personas import Person, new_patient, new_person
from triggerpoint.accounts.service import Principal
from triggerpoint.db import open_session, utcnow
from triggerpoint.records import service as records
from triggerpoint.records.schemas import ConsentIn
from triggerpoint.research.reliability import schemas, service

SITES = [
    {"muscle": "upper_trapezius", "side": "right"},
    {"muscle": "infraspinatus", "side": "left"},
]
CRITERIA = ["taut_band", "twitch"]


def study_body(examiners: list[int], **over: Any) -> dict[str, Any]:
    return {
        "title": "Trapezius palpation agreement",
        "sites": SITES,
        "criteria": CRITERIA,
        "examiners": examiners,
        **over,
    }


def second_clinician(clinic_id: int) -> Person:
    """Another clinician of alice's clinic (committed in the test's rolled-back database)."""
    return new_person(clinic_id, "clinician", prefix="examiner")


def make_study(
    owner: Principal, examiners: list[int], *, open_it: bool = True, codes: tuple[str, ...] = ()
) -> tuple[int, list[int]]:
    """A study (opened by default) and its participants' ids, committed."""
    with open_session(clinic_id=owner.clinic_id) as s:
        study = service.create_study(
            s, principal=owner, data=schemas.StudyIn.model_validate(study_body(examiners))
        )
        if open_it:
            service.open_study(s, principal=owner, study_id=study.id)
        ids = [
            service.add_participant(
                s, principal=owner, study_id=study.id, data=schemas.ParticipantIn(code=c)
            ).id
            for c in codes
        ]
        s.commit()
    return study.id, ids


def grid(values: dict[tuple[str, str, str], bool | None]) -> schemas.FindingsIn:
    return schemas.FindingsIn(
        findings=[
            schemas.StudyFindingIn(muscle=m, side=side, criterion=c, present=v)  # type: ignore[arg-type]
            for (m, side, c), v in values.items()
        ]
    )


def all_cells(value: bool | None) -> dict[tuple[str, str, str], bool | None]:
    return {(s["muscle"], s["side"], c): value for s in SITES for c in CRITERIA}


def record_and_submit(
    who: Principal,
    study_id: int,
    participant_id: int,
    values: dict[tuple[str, str, str], bool | None],
    *,
    submit: bool = True,
) -> None:
    with open_session(clinic_id=who.clinic_id) as s:
        service.save_findings(
            s, principal=who, study_id=study_id, participant_id=participant_id, data=grid(values)
        )
        if submit:
            service.submit(s, principal=who, study_id=study_id, participant_id=participant_id)
        s.commit()


def research_consent(session: Session, who: Principal, patient_id: int) -> int:
    """A research consent in force for the patient, through records.service, flushed."""
    consent = records.record_consent(
        session,
        principal=who,
        patient_id=patient_id,
        data=ConsentIn(
            kind=records.RESEARCH,
            signed_by="Test Patient",
            signed_at=utcnow() - timedelta(minutes=1),
        ),
    )
    assert consent.kind == records.RESEARCH
    return consent.id


def consented_patient(who: Person) -> int:
    with open_session(clinic_id=who.clinic_id) as s:
        pid = new_patient(s, who.principal)
        research_consent(s, who.principal, pid)
        s.commit()
    return pid
