"""A hand-made cohort for the pain-map tests, written through the records services.

Patients, episodes with diagnoses, visits with their drawings and the research consent go
through `records.service`, as the app writes them. The needling sessions are plain ORM rows
(a screening, a dry-needling consent, a signed session and one needle entry): the safety
path that writes them is tested in tests/treatment, and here only their time, status and
muscle matter to the analyses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from tests.personas import Person, new_patient
from triggerpoint.records import service as records
from triggerpoint.records.models import Consent, PainDrawing
from triggerpoint.records.schemas import (
    ConsentIn,
    DiagnosisIn,
    EpisodeIn,
    MarkIn,
    PainDrawingIn,
    VisitIn,
)
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession, Screening

DAY0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(day: int, hour: int = 0) -> datetime:
    """DAY0 plus `day` days and `hour` hours."""
    return DAY0 + timedelta(days=day, hours=hour)


@dataclass
class Built:
    patient_id: int
    episode_id: int
    drawing_ids: list[int] = field(default_factory=list)
    consent_id: int | None = None


def research_consent(s: Session, person: Person, patient_id: int) -> int:
    data = ConsentIn(kind="research", signed_by="Test Patient", signed_at=DAY0 - timedelta(days=30))
    return records.record_consent(
        s, principal=person.principal, patient_id=patient_id, data=data
    ).id


def withdraw(s: Session, person: Person, consent_id: int) -> None:
    consent = records.get_record(s, Consent, consent_id, "consent")
    records.withdraw_consent(
        s, principal=person.principal, consent_id=consent_id, version=consent.version
    )


def needle(
    s: Session, person: Person, b: Built, visit_id: int, when: datetime, muscle: str
) -> None:
    """A signed needling session at `when` with one entry in `muscle` (ORM rows)."""
    clinic = person.clinic_id
    screening = Screening(
        clinic_id=clinic,
        patient_id=b.patient_id,
        episode_id=b.episode_id,
        answers={},
        outcome="clear",
        reasons=[],
        restrictions=[],
        rules_version="test",
        screened_at=when,
    )
    consent = records.record_consent(
        s,
        principal=person.principal,
        patient_id=b.patient_id,
        data=ConsentIn(
            risks_disclosed=["bruising", "post_needling_soreness", "pneumothorax"],
            signed_by="Test Patient",
            signed_at=DAY0 - timedelta(days=30),
        ),
    )
    s.add(screening)
    s.flush()
    session = NeedlingSession(
        clinic_id=clinic,
        patient_id=b.patient_id,
        visit_id=visit_id,
        screening_id=screening.id,
        consent_id=consent.id,
        opened_at=when,
        needles_out=1,
        status="signed",
        signed_at=when + timedelta(minutes=30),
        signed_by=person.user_id,
    )
    session.entries = [
        NeedleEntry(
            clinic_id=clinic,
            seq=1,
            muscle_id=muscle,
            side="right",
            needle_diameter_mm=0.25,
            needle_length_mm=40,
            technique="pistoning",
            depth_mm=12,
            twitch_count=1,
            familiar_pain=True,
            duration_s=30,
            created_by=person.user_id,
        )
    ]
    s.add(session)
    s.flush()


def build(
    s: Session,
    person: Person,
    *,
    drawings: Sequence[tuple[int, Sequence[str]] | tuple[int, Sequence[str], bool]],
    consent: bool = True,
    complaint: str = "Right-sided neck pain",
    codes: Sequence[str] = ("M54.2",),
    needled: Sequence[tuple[int, str]] = (),
) -> Built:
    """One patient: an episode, a visit per drawing (day, regions[, complete]), and signed
    needling sessions (day, muscle) at the visit of that day, an hour after its drawing."""
    pid = new_patient(s, person)
    episode = records.create_episode(
        s,
        principal=person.principal,
        patient_id=pid,
        data=EpisodeIn(complaint=complaint, diagnoses=[DiagnosisIn(code=c) for c in codes]),
    )
    b = Built(pid, episode.id)
    if consent:
        b.consent_id = research_consent(s, person, pid)
    visits: dict[int, int] = {}
    for item in drawings:
        day, regions = item[0], item[1]
        complete = item[2] if len(item) > 2 else True  # type: ignore[misc]
        visit = records.create_visit(
            s,
            principal=person.principal,
            patient_id=pid,
            data=VisitIn(
                visit_at=at(day),
                episode_id=episode.id,
                pain_drawing=PainDrawingIn(
                    complete=complete, marks=[MarkIn(region=r) for r in regions]
                ),
            ),
        )
        visits[day] = visit.id
        drawing_id = visit.pain_drawing_id  # type: ignore[attr-defined]
        drawing = s.get(PainDrawing, drawing_id)
        assert drawing is not None
        drawing.drawn_at = at(day)
        b.drawing_ids.append(drawing_id)
    for day, muscle in needled:
        visit_id = (
            visits.get(day)
            or records.create_visit(
                s,
                principal=person.principal,
                patient_id=pid,
                data=VisitIn(visit_at=at(day), episode_id=episode.id),
            ).id
        )
        needle(s, person, b, visit_id, at(day, 1), muscle)
    s.flush()
    return b


def day(n: int) -> date:
    return at(n).date()
