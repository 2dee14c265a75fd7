"""Synthetic demo clinic: realistic patients whose pain drawings come from atlas trigger points.

Each patient is given one to three hidden trigger points. Their drawings show each trigger
point's essential zone, part of its spillover zone and now and then an unrelated region (the
"leak"), so the suggestion engine has something honest to find. Deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import Clinic
from triggerpoint.accounts.service import create_clinic, create_user
from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.audit.service import Actor, record
from triggerpoint.records.models import (
    Consent,
    Diagnosis,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)
from triggerpoint.records.service import search_key

DEMO_CLINIC = "Demo clinic"
GIVEN_F = [
    "Ana",
    "Beatriz",
    "Chloe",
    "Dana",
    "Elif",
    "Fatima",
    "Grace",
    "Hana",
    "Ingrid",
    "Julia",
    "Keiko",
    "Lucia",
    "Maya",
    "Nadia",
    "Olivia",
    "Priya",
    "Rosa",
    "Sofia",
    "Tara",
    "Zoe",
]
GIVEN_M = [
    "Adam",
    "Bruno",
    "Chen",
    "David",
    "Emeka",
    "Felix",
    "Goran",
    "Hugo",
    "Ivan",
    "Jonas",
    "Kofi",
    "Luis",
    "Mateo",
    "Nikhil",
    "Omar",
    "Pavel",
    "Rafael",
    "Sam",
    "Tomas",
    "Yusuf",
]
FAMILY = [
    "Andersen",
    "Barros",
    "Castillo",
    "Dubois",
    "Eriksen",
    "Fernández",
    "García",
    "Hoffmann",
    "Ito",
    "Jansen",
    "Kowalski",
    "López",
    "Martin",
    "Nakamura",
    "Okafor",
    "Petrov",
    "Quinn",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Usman",
    "Varga",
    "Williams",
    "Xu",
    "Yilmaz",
    "Zimmermann",
    "Muñoz",
    "O'Brien",
    "Novák",
    "Søndergaard",
]
RISKS = [
    "bruising",
    "bleeding",
    "pain_during",
    "post_needling_soreness",
    "fatigue_drowsiness",
    "fainting",
    "aggravation",
    "pneumothorax",
    "infection",
]
CODE_BY_GROUP = {"head": "M79.11", "neck": "M79.12"}


@dataclass
class SeedResult:
    clinic_id: int
    patients: int
    username: str | None
    password: str | None


def _drawing_regions(
    rng: np.random.Generator, tps: list[SidedTriggerPoint], all_regions: list[str]
) -> set[str]:
    regions: set[str] = set()
    for tp in tps:
        regions |= set(tp.essential)
        regions |= {r for r in tp.spillover if rng.random() < 0.35}
        if rng.random() < 0.5:
            regions |= set(tp.local)
    if rng.random() < 0.15:
        regions.add(all_regions[int(rng.integers(len(all_regions)))])
    return regions


def _code_for(tps: list[SidedTriggerPoint]) -> str:
    return CODE_BY_GROUP.get(tps[0].muscle.group, "M79.18")


def _patient(rng: np.random.Generator, clinic_id: int, i: int, today: date) -> Patient:
    female = rng.random() < 0.58
    given = str(rng.choice(GIVEN_F if female else GIVEN_M))
    family = str(rng.choice(FAMILY))
    age = int(np.clip(rng.normal(45, 14), 16, 90))
    height = float(np.round(rng.normal(165 if female else 178, 7), 0))
    bmi = float(np.clip(rng.lognormal(np.log(25), 0.16), 16.5, 45))
    return Patient(
        clinic_id=clinic_id,
        given_name=given,
        family_name=family,
        search_name=search_key(family, given),
        date_of_birth=today - timedelta(days=age * 365 + int(rng.integers(365))),
        sex="female" if female else "male",
        height_cm=height,
        weight_kg=round(bmi * (height / 100) ** 2, 1),
        phone=f"+44 7700 9{int(rng.integers(10**5)):05d}",
        external_id=f"DEMO-{i:06d}",
    )


def _story(
    rng: np.random.Generator,
    patient: Patient,
    atlas: Atlas,
    regions: list[str],
    now: datetime,
    clinician_id: int | None,
) -> list[object]:
    """An episode, its visits with pain drawings, and consent, for one patient."""
    k = int(rng.choice([1, 1, 1, 2, 2, 3]))
    tps = [
        atlas.trigger_points[int(j)]
        for j in rng.choice(len(atlas.trigger_points), size=k, replace=False)
    ]
    start = now - timedelta(days=int(rng.integers(7, 400)))
    episode = Episode(
        clinic_id=patient.clinic_id,
        patient=patient,
        complaint=f"Pain, {', '.join(sorted({t.muscle.group.replace('_', ' ') for t in tps}))} region",
        onset_date=(start - timedelta(days=int(rng.integers(14, 720)))).date(),
        diagnoses=[Diagnosis(clinic_id=patient.clinic_id, code=_code_for(tps))],
    )
    rows: list[object] = [
        episode,
        Consent(
            clinic_id=patient.clinic_id,
            patient=patient,
            risks_disclosed=sorted(RISKS),
            signed_by=f"{patient.given_name} {patient.family_name}",
            signed_at=start,
            recorded_by=clinician_id,
        ),
    ]
    for v in range(int(rng.integers(1, 6))):
        at = start + timedelta(days=7 * v + int(rng.integers(0, 3)))
        visit = Visit(
            clinic_id=patient.clinic_id,
            patient=patient,
            episode=episode,
            visit_at=at,
            clinician_id=clinician_id,
            notes=f"Visit {v + 1}. Palpated {', '.join(t.muscle.name.lower() for t in tps)}; findings documented.",
        )
        fading = [t for t in tps if rng.random() > 0.25 * v]  # pain recedes for most patients
        marks = _drawing_regions(rng, fading or tps[:1], regions)
        drawing = PainDrawing(
            clinic_id=patient.clinic_id,
            patient=patient,
            visit=visit,
            complete=True,
            drawn_by=clinician_id,
            drawn_at=at,
            marks=[
                PainMark(
                    clinic_id=patient.clinic_id, region_id=r, intensity=int(rng.integers(2, 9))
                )
                for r in sorted(marks)
            ],
        )
        rows += [visit, drawing]
    return rows


def seed(
    session: Session,
    *,
    patients: int,
    seed: int = 20261124,
    progress: Callable[[int], None] | None = None,
    atlas: Atlas | None = None,
    batch: int = 500,
) -> SeedResult:
    """Create (or extend) the demo clinic with `patients` synthetic patients."""
    atlas = atlas or load_atlas()
    rng = np.random.default_rng(seed)
    system = Actor.system("demo seed")
    clinic = session.scalar(select(Clinic).where(Clinic.name == DEMO_CLINIC))
    username = password = None
    if clinic is None:
        clinic = create_clinic(session, name=DEMO_CLINIC, actor=system)
        user, password = create_user(
            session,
            clinic_id=clinic.id,
            username="demo.clinician",
            full_name="Demo Clinician",
            role="clinician",
            actor=system,
        )
        user.must_change_password = False  # a demo login; its password is random and printed once
        username = user.username
        session.flush()
        clinician_id = user.id
    else:
        clinician_id = None
    existing = session.query(Patient).filter(Patient.clinic_id == clinic.id).count()
    regions = sorted(atlas.catalog.regions)
    now = datetime.now(UTC)
    for start in range(0, patients, batch):
        n = min(batch, patients - start)
        for i in range(n):
            p = _patient(rng, clinic.id, existing + start + i + 1, now.date())
            session.add(p)
            session.add_all(_story(rng, p, atlas, regions, now, clinician_id))
        session.flush()
        session.expunge_all()
        if progress:
            progress(n)
    record(
        session,
        actor=system,
        action="demo_seed",
        entity="clinic",
        entity_id=clinic.id,
        detail={"patients": patients, "seed": seed},
    )
    return SeedResult(clinic.id, patients, username, password)
