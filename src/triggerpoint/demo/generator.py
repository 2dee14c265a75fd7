"""Synthetic demo clinic: realistic patients whose pain drawings come from atlas trigger points.

Each patient is given one to three hidden trigger points. Their drawings show each trigger
point's essential zone, part of its spillover zone and now and then an unrelated region (the
"leak"), so the suggestion engine has something honest to find. Each visit has a signed
needling session aimed at those trigger points, and the outcomes (NPRS, pressure pain
threshold) follow the mechanistic model's virtual patients (`model.virtual.course`), so the
demo shows responders, non-responders and flare-ups for a reason. Adverse events occur at the
rates Brady et al. 2014 published. Deterministic for a seed.

Each needle entry records the twitch count the model simulated for that trigger point at that
visit, so the research twitch analysis (issue 17) can recover the model's own effect. Most
patients (RESEARCH_CONSENT, drawn from a stream of its own so the clinical records are the
same for a seed) also give a research consent, recorded through `records.service` as the
demo clinician; RESEARCH_WITHDRAWN of them withdraw it (at seeding time, as the service does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import Clinic
from triggerpoint.accounts.service import Principal, create_clinic, create_user
from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.audit.service import Actor, record
from triggerpoint.outcomes.models import Measurement
from triggerpoint.physiology.virtual import Course, course
from triggerpoint.records.models import (
    Consent,
    Diagnosis,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)
from triggerpoint.records.schemas import ConsentIn
from triggerpoint.records.service import RESEARCH, record_consent, search_key, withdraw_consent
from triggerpoint.safety.entry import PatientSafety, check_entry, thorax_limit_for
from triggerpoint.safety.rates import published
from triggerpoint.safety.screening import Answer, evaluate, rulebook
from triggerpoint.treatment.models import (
    AdverseEvent,
    NeedleEntry,
    NeedlingSession,
    Screening,
    ScreeningConfirmation,
)

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
RESEARCH_CONSENT = 0.85  # share of demo patients who consent to research use (issue 17)
RESEARCH_WITHDRAWN = 0.08  # share of those who later withdraw it


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


@dataclass
class _Story:
    """One patient's records, and what their care will add once the records have ids."""

    rows: list[object]
    episode: Episode
    consent: Consent
    visits: list[Visit]
    tps: list[SidedTriggerPoint]
    outcome: Course
    offset: float


def _story(
    rng: np.random.Generator,
    patient: Patient,
    atlas: Atlas,
    regions: list[str],
    now: datetime,
    clinician_id: int | None,
    recent: bool = False,
) -> _Story:
    """An episode, its visits with pain drawings, and consent, for one patient."""
    k = int(rng.choice([1, 1, 1, 2, 2, 3]))
    tps = [
        atlas.trigger_points[int(j)]
        for j in rng.choice(len(atlas.trigger_points), size=k, replace=False)
    ]
    visits = int(rng.integers(1, 6))
    days = 7.0 * np.arange(visits) + rng.integers(0, 3, visits)
    start = _first_visit(rng, now, float(days[-1]), recent)
    episode = Episode(
        clinic_id=patient.clinic_id,
        patient=patient,
        complaint=f"Pain, {', '.join(sorted({t.muscle.group.replace('_', ' ') for t in tps}))} region",
        onset_date=(start - timedelta(days=int(rng.integers(14, 720)))).date(),
        diagnoses=[Diagnosis(clinic_id=patient.clinic_id, code=_code_for(tps))],
    )
    consent = Consent(
        clinic_id=patient.clinic_id,
        patient=patient,
        risks_disclosed=sorted(RISKS),
        signed_by=f"{patient.given_name} {patient.family_name}",
        signed_at=start,
        recorded_by=clinician_id,
    )
    rows: list[object] = [episode, consent]
    outcome = course(np.tile(days, (k, 1)), seed=int(rng.integers(2**31)))
    offset = float(np.clip(rng.normal(1.5, 1.0), 0, 4))  # pain from sources outside the model
    for v in range(visits):
        at = start + timedelta(days=float(days[v]))
        visit = Visit(
            clinic_id=patient.clinic_id,
            patient=patient,
            episode=episode,
            visit_at=at,
            clinician_id=clinician_id,
            notes=f"Visit {v + 1}. Palpated {', '.join(t.muscle.name.lower() for t in tps)}; findings documented.",
        )
        fading = [t for t, pain in zip(tps, outcome.pre_pain[:, v], strict=True) if pain >= 1]
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
    visit_rows = [r for r in rows if isinstance(r, Visit)]
    return _Story(rows, episode, consent, visit_rows, tps, outcome, offset)


@dataclass(frozen=True)
class _DemoStaff(Principal):
    """The demo clinician entering the demo's consents, audited as the system's 'demo seed'."""

    @property
    def actor(self) -> Actor:
        return Actor(None, self.clinic_id, "demo seed")


def _research_consent(
    session: Session, rng: np.random.Generator, story: _Story, staff: Principal | None
) -> None:
    """Most patients give a research consent at their first visit, recorded and (for some,
    after their last visit) withdrawn through `records.service`, as the consent page does.
    The draws come first, so the stream is the same with or without a demo login."""
    consents, withdraws = rng.random() < RESEARCH_CONSENT, rng.random() < RESEARCH_WITHDRAWN
    if not consents or staff is None:
        return
    patient = story.episode.patient
    # The service acts for one clinic, as a request's session does (the seed's session is
    # the system's): confine the session to the demo clinic for the two calls.
    before = session.info.get("clinic_id")
    session.info["clinic_id"] = staff.clinic_id
    try:
        consent = record_consent(
            session,
            principal=staff,
            patient_id=patient.id,
            data=ConsentIn(
                kind=RESEARCH,
                signed_by=f"{patient.given_name} {patient.family_name}",
                signed_at=story.visits[0].visit_at,
            ),
        )
        if withdraws:
            withdraw_consent(
                session, principal=staff, consent_id=consent.id, version=consent.version
            )
    finally:
        session.info["clinic_id"] = before


LAST_VISIT_DAYS = (1, 400)  # how long ago a patient's last visit was
RECENT_DAYS = 21  # ... for a patient still in care: the demo looks live
IN_CARE = 0.3  # share of patients still in care
VISIT_MARGIN = timedelta(hours=2)  # a visit's records run to 45 minutes after it starts


def _first_visit(
    rng: np.random.Generator, now: datetime, span_days: float, recent: bool
) -> datetime:
    """When a patient's first visit was, so that the last one (`span_days` later) and
    everything recorded during it lie before `now`: demo records are never dated in the
    future. A share of the patients (and `recent` ones always) were last seen within the
    last three weeks."""
    lo, hi = LAST_VISIT_DAYS
    if recent or rng.random() < IN_CARE:
        hi = RECENT_DAYS
    ago = timedelta(days=float(rng.integers(lo, hi)))
    return now - VISIT_MARGIN - ago - timedelta(days=span_days)


def _care(
    session: Session, rng: np.random.Generator, story: _Story, clinician_id: int | None
) -> None:
    """Screening, then per visit a signed session, outcomes and adverse events (needs ids)."""
    patient = story.episode.patient
    screening = _screening(patient, story.episode, story.visits[0].visit_at, clinician_id)
    session.add(screening)
    session.flush()
    for v, visit in enumerate(story.visits):
        session.add_all(_visit_care(rng, visit, screening, story, v, clinician_id))


def _screening(
    patient: Patient, episode: Episode, at: datetime, clinician_id: int | None
) -> Screening:
    """A screening with every question answered 'no': demo patients are cleared."""
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    result = evaluate(answers)
    return Screening(
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        episode_id=episode.id,
        answers={k: a.model_dump() for k, a in answers.items()},
        outcome=result.outcome.value,
        reasons=result.reasons,
        restrictions=[r.model_dump() for r in result.restrictions],
        rules_version=result.rules_version,
        screened_by=clinician_id,
        screened_at=at,
    )


def _ae_rates() -> dict[str, float]:
    """Per-session probability of each adverse-event type (Brady et al. 2014)."""
    brady = next(s for s in published() if s["id"] == "brady_2014")
    return {k: v / 100 for k, v in brady["by_type"].items()}


def _visit_care(
    rng: np.random.Generator,
    visit: Visit,
    screening: Screening,
    story: _Story,
    v: int,
    clinician_id: int | None,
) -> list[object]:
    """A signed needling session at the hidden trigger points, NPRS and PPT before and after."""
    cid, at, tps, outcome = visit.clinic_id, visit.visit_at, story.tps, story.outcome
    safety = PatientSafety.of(screening.restrictions, story.episode.patient.bmi)
    entries = [
        _entry(rng, cid, seq, tp, outcome.twitches[seq - 1, v], safety)
        for seq, tp in enumerate(tps, 1)
    ]
    needling = NeedlingSession(
        clinic_id=cid,
        patient_id=visit.patient_id,
        visit_id=visit.id,
        screening_id=screening.id,
        consent_id=story.consent.id,
        opened_by=clinician_id,
        opened_at=at,
        needles_out=len(entries),
        status="signed",
        signed_by=clinician_id,
        signed_at=at + timedelta(minutes=40),
        entries=entries,
    )
    needling.adverse_events = _adverse_events(rng, visit, clinician_id)
    rows: list[object] = [
        ScreeningConfirmation(
            clinic_id=cid,
            visit_id=visit.id,
            screening_id=screening.id,
            confirmed_by=clinician_id,
            confirmed_at=at,
        ),
        needling,
    ]
    site = f"{tps[0].muscle.name} {tps[0].tp_id} ({tps[0].side})"
    for timing, pain, pressure in (
        ("pre", outcome.pre_pain[:, v], outcome.pre_pressure_pain[:, v]),
        ("post", outcome.post_pain[:, v], outcome.post_pressure_pain[:, v]),
    ):
        nprs = int(np.clip(round(float(pain.max()) + story.offset + rng.normal(0, 0.6)), 0, 10))
        # Demo assumption: PPT falls linearly as pain on compression rises (about 4.5 kg/cm2
        # when not tender, 1.5 kg/cm2 at the worst), with trial-to-trial noise.
        trials = np.clip(4.5 - 0.3 * float(pressure[0]) + rng.normal(0, 0.15, 3), 0.3, 20)
        rows += [
            _measurement(visit, "nprs", timing, {"current": nprs}, nprs, clinician_id),
            _measurement(
                visit,
                "ppt",
                timing,
                {"trials": [round(float(x), 2) for x in trials]},
                round(float(trials.mean()), 3),
                clinician_id,
                context=site,
            ),
        ]
    rows.append(_soap_note(visit, story, v, rows, clinician_id, needling.signed_at))
    return rows


def _soap_note(
    visit: Visit,
    story: _Story,
    v: int,
    rows: list[object],
    clinician_id: int | None,
    signed_at: datetime | None,
) -> object:
    """The visit's SOAP note, signed with its session, written through `notes.service`
    (its pain now is the visit's NPRS before needling)."""
    from triggerpoint.notes.service import note_row

    pre = next(
        r
        for r in rows
        if isinstance(r, Measurement) and r.instrument == "nprs" and r.timing == "pre"
    )
    points = ", ".join(f"{t.muscle.name} ({t.side})" for t in story.tps)
    content = {
        "subjective": ("First visit: " if v == 0 else "Follow-up: ") + story.episode.complaint,
        "pain_now_nprs": int(pre.score) if pre.score is not None else None,
        "red_flags_checked": True,
        "palpation_summary": f"Taut band and tender spot in {points}; pressure reproduced the familiar pain.",
        "assessment": "Myofascial pain consistent with the trigger points palpated.",
        "plan": f"Dry needling of {points}; aftercare explained.",
        "next_visit_in_days": 7,
    }
    return note_row(
        visit_id=visit.id,
        patient_id=visit.patient_id,
        content=content,
        author_id=clinician_id,
        clinic_id=visit.clinic_id,
        at=visit.visit_at,
        signed_at=signed_at,
    )


def needle_for(tp: SidedTriggerPoint) -> tuple[float, float]:
    """(diameter, length) in mm: the shortest common needle that reaches the muscle's depth
    range with 5 mm to spare, and the thicker gauge for the longer needles."""
    deepest = tp.muscle.needling.depth_mm[1]
    length = 30.0 if deepest <= 25 else 50.0 if deepest <= 45 else 60.0
    return (0.25 if length <= 30 else 0.30), length


def needle_entry(
    tp: SidedTriggerPoint,
    *,
    seq: int,
    twitches: int,
    patient: PatientSafety,
    depth_mm: float | None = None,
    familiar_pain: bool = True,
    duration_s: int = 30,
) -> dict[str, object]:
    """The columns of one synthetic needle at a trigger point (demo clinic and registry alike),
    checked by `safety.entry.check_entry` like every charted needle.

    Depth defaults to the middle of the muscle's range, stops 5 mm short of the hub, and
    over the thorax stays within the patient's limit: demo clinicians respect the guard.
    """
    lo, hi = tp.muscle.needling.depth_mm
    diameter, length = needle_for(tp)
    depth = float(np.clip((lo + hi) / 2 if depth_mm is None else depth_mm, 1, length - 5))
    limit = thorax_limit_for(tp.muscle, patient.bmi)
    if limit is not None:
        depth = min(depth, limit.max_depth_mm)
    acknowledged = tp.muscle.pleural_recess
    check_entry(
        patient,
        muscle=tp.muscle,
        tp_id=tp.tp_id,
        side=tp.side,
        technique="pistoning",
        depth_mm=depth,
        pleural_recess_acknowledged=acknowledged,
    )
    return {
        "seq": seq,
        "muscle_id": tp.muscle_id,
        "side": tp.side,
        "trigger_point_id": tp.tp_id,
        "needle_diameter_mm": diameter,
        "needle_length_mm": length,
        "technique": "pistoning",
        "depth_mm": depth,
        "depth_limit_mm": limit.max_depth_mm if limit else None,
        "pleural_recess_acknowledged": acknowledged,
        "twitch_count": twitches,
        "familiar_pain": familiar_pain,
        "duration_s": duration_s,
    }


def _entry(
    rng: np.random.Generator,
    clinic_id: int,
    seq: int,
    tp: SidedTriggerPoint,
    twitches: float,
    patient: PatientSafety,
) -> NeedleEntry:
    lo, hi = tp.muscle.needling.depth_mm
    values = needle_entry(
        tp,
        seq=seq,
        twitches=int(twitches),
        patient=patient,
        depth_mm=round(rng.uniform(lo, hi)),
        familiar_pain=bool(rng.random() < 0.6),
        duration_s=int(rng.integers(20, 90)),
    )
    return NeedleEntry(clinic_id=clinic_id, **values)


def _measurement(
    visit: Visit,
    instrument: str,
    timing: str,
    data: dict,
    score: float,
    clinician_id: int | None,
    *,
    context: str = "",
) -> Measurement:
    return Measurement(
        clinic_id=visit.clinic_id,
        patient_id=visit.patient_id,
        visit_id=visit.id,
        instrument=instrument,
        context=context,
        timing=timing,
        data=data,
        score=score,
        complete=True,
        answered=len(data.get("trials", data)),
        measured_at=visit.visit_at + timedelta(minutes=5 if timing == "pre" else 45),
        recorded_by=clinician_id,
    )


def _adverse_events(
    rng: np.random.Generator, visit: Visit, clinician_id: int | None
) -> list[AdverseEvent]:
    """Mild events drawn independently per type at Brady et al.'s per-session rates."""
    return [
        AdverseEvent(
            clinic_id=visit.clinic_id,
            patient_id=visit.patient_id,
            type=kind,
            severity="mild",
            action_taken="Explained, reassured; pressure applied where bleeding or bruising.",
            follow_up="Checked at the next visit.",
            reported_by=clinician_id,
            reported_at=visit.visit_at + timedelta(minutes=40),
        )
        for kind, p in _ae_rates().items()
        if rng.random() < p
    ]


DEMO_LOGIN = "demo.clinician"


def existing_demo_clinic(session: Session) -> Clinic | None:
    """The clinic the demo was seeded into before: the demo login's, or one named
    DEMO_CLINIC (seeded before the demo could go into the setup clinic); None if none."""
    from triggerpoint.accounts.models import User

    login_clinic = session.scalar(select(User.clinic_id).where(User.username == DEMO_LOGIN))
    if login_clinic is not None:
        return session.get(Clinic, login_clinic)
    return session.scalar(select(Clinic).where(Clinic.name == DEMO_CLINIC))


def demo_target(session: Session) -> Clinic | None:
    """Where `demo seed` puts its patients. The clinic seeded before, if any; else, on a
    fresh installation (`triggerpoint setup` made exactly one clinic and it has no
    patients), that clinic, so its admin sees the demo at once instead of an empty clinic;
    else None: a clinic of its own, DEMO_CLINIC, is made (never mixed with real patients)."""
    if (clinic := existing_demo_clinic(session)) is not None:
        return clinic
    clinics = session.scalars(select(Clinic).order_by(Clinic.id).limit(2)).all()
    if len(clinics) != 1:
        return None
    has_patients = session.scalar(
        select(Patient.id).where(Patient.clinic_id == clinics[0].id).limit(1)
    )
    return None if has_patients is not None else clinics[0]


def _demo_staff(session: Session, clinic_id: int) -> Principal | None:
    """Who enters the demo's research consents: the demo login (None if the clinic has
    none, a demo seeded before it had one: its patients then get no research consent)."""
    from triggerpoint.accounts.models import User

    user_id = session.scalar(
        select(User.id).where(User.username == DEMO_LOGIN, User.clinic_id == clinic_id)
    )
    return None if user_id is None else _DemoStaff(user_id, clinic_id, DEMO_LOGIN, "clinician")


def populate(
    session: Session,
    *,
    clinic_id: int,
    patients: int,
    seed: int,
    clinician_id: int | None,
    staff: Principal | None,
    progress: Callable[[int], None] | None = None,
    atlas: Atlas | None = None,
    batch: int = 500,
) -> None:
    """Add `patients` synthetic patients with their care to one clinic (the demo clinic, or
    a test's): `staff` records their research consents through the consent service (none
    without staff), `clinician_id` is who the clinical rows name."""
    atlas = atlas or load_atlas()
    rng = np.random.default_rng(seed)
    consent_rng = np.random.default_rng((seed, 17))  # its own stream: the records are unchanged
    existing = session.query(Patient).filter(Patient.clinic_id == clinic_id).count()
    regions = sorted(atlas.catalog.regions)
    now = datetime.now(UTC)
    for start in range(0, patients, batch):
        n = min(batch, patients - start)
        for i in range(n):
            p = _patient(rng, clinic_id, existing + start + i + 1, now.date())
            first = start + i == 0  # the demo's first patient is always still in care
            story = _story(rng, p, atlas, regions, now, clinician_id, recent=first)
            session.add(p)
            session.add_all(story.rows)
            session.flush()
            _research_consent(session, consent_rng, story, staff)
            _care(session, rng, story, clinician_id)
        session.flush()
        session.expunge_all()
        if progress:
            progress(n)


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
    system = Actor.system("demo seed")
    clinic = demo_target(session)
    username = password = None
    new_login = existing_demo_clinic(session) is None
    if clinic is None:
        clinic = create_clinic(session, name=DEMO_CLINIC, actor=system)
    if new_login:
        # A printed one-time password, like every printed password: it must be changed at
        # first login (create_user sets must_change_password for a generated one).
        user, password = create_user(
            session,
            clinic_id=clinic.id,
            username=DEMO_LOGIN,
            full_name="Demo Clinician",
            role="clinician",
            actor=system,
        )
        username = user.username
        session.flush()
        clinician_id = user.id
    else:
        clinician_id = None
    populate(
        session,
        clinic_id=clinic.id,
        patients=patients,
        seed=seed,
        clinician_id=clinician_id,
        staff=_demo_staff(session, clinic.id),
        progress=progress,
        atlas=atlas,
        batch=batch,
    )
    record(
        session,
        actor=system,
        action="demo_seed",
        entity="clinic",
        entity_id=clinic.id,
        detail={"patients": patients, "seed": seed},
    )
    return SeedResult(clinic.id, patients, username, password)
