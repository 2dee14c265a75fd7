"""Synthetic demo clinic: realistic patients whose pain drawings come from atlas trigger points.

Each patient is given one to three hidden trigger points. Their drawings show each trigger
point's essential zone, part of its spillover zone and now and then an unrelated region (the
"leak"), so the suggestion engine has something honest to find. Each visit has a signed
needling session aimed at those trigger points, and the outcomes (NPRS, pressure pain
threshold) follow the mechanistic model's virtual patients (`model.virtual.course`), so the
demo shows responders, non-responders and flare-ups for a reason. Adverse events occur at the
rates Brady et al. 2014 published. Deterministic for a seed.

Every clinical write goes through the service function a clinician's request uses (records,
treatment, outcomes and notes services), acting as the demo clinician (`_DemoStaff`) of the
demo clinic: the same rules (screening, consent, restrictions, the thorax depth guard, needle
counts, signing) hold and refuse with the same errors, and the audit trail has an event for
each write. The services take the past times of the demo's visits where a clinician's
request gets "now". Only the bulk registry (`demo.registry`) writes rows in bulk.

Each needle entry records the twitch count the model simulated for that trigger point at that
visit, so the research twitch analysis (issue 17) can recover the model's own effect. Most
patients (RESEARCH_CONSENT, drawn from a stream of its own so the clinical records are the
same for a seed) also give a research consent; RESEARCH_WITHDRAWN of them withdraw it (at
seeding time, as the service does).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import Clinic, User
from triggerpoint.accounts.service import Principal, create_clinic, create_user
from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.audit.service import Actor, record
from triggerpoint.notes.schemas import NoteIn
from triggerpoint.notes.service import save_note
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.outcomes.service import record_measurement
from triggerpoint.physiology.virtual import Course, course
from triggerpoint.records.models import Patient
from triggerpoint.records.schemas import (
    ConsentIn,
    DiagnosisIn,
    EpisodeIn,
    MarkIn,
    PainDrawingIn,
    PatientIn,
    VisitIn,
)
from triggerpoint.records.service import (
    RESEARCH,
    create_episode,
    create_pain_drawing,
    create_patient,
    create_visit,
    record_consent,
    withdraw_consent,
)
from triggerpoint.safety.depth import DepthLimit
from triggerpoint.safety.entry import PatientSafety, check_entry, thorax_limit_for
from triggerpoint.safety.rates import published
from triggerpoint.safety.screening import Answer, rulebook
from triggerpoint.treatment.schemas import (
    AdverseEventIn,
    CountIn,
    EntryIn,
    ScreeningIn,
    SignIn,
    TargetIn,
)
from triggerpoint.treatment.service import (
    add_entry,
    add_target,
    confirm_screening,
    open_needling,
    record_count,
    record_screening,
    report_adverse_event,
    sign,
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


@dataclass(frozen=True)
class _DemoStaff(Principal):
    """The demo clinician entering the demo's records, audited as the system's 'demo seed'
    (the rows name the demo login; the audit trail says the seed wrote them, not a person)."""

    @property
    def actor(self) -> Actor:
        return Actor(None, self.clinic_id, "demo seed")


# --- what is drawn for a patient, before anything is written ------------------------------


@dataclass
class _VisitPlan:
    at: datetime
    notes: str
    marks: list[tuple[str, int]]  # region id, intensity


@dataclass
class _Plan:
    """One patient's story as drawn from the seed: what the clinician will enter."""

    patient: PatientIn
    tps: list[SidedTriggerPoint]
    episode: EpisodeIn
    start: datetime  # the treatment consent (up to two days before the first visit)
    visits: list[_VisitPlan]
    outcome: Course
    offset: float  # pain from sources outside the model


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


def _patient(rng: np.random.Generator, i: int, today: date) -> PatientIn:
    female = rng.random() < 0.58
    given = str(rng.choice(GIVEN_F if female else GIVEN_M))
    family = str(rng.choice(FAMILY))
    age = int(np.clip(rng.normal(45, 14), 16, 90))
    height = float(np.round(rng.normal(165 if female else 178, 7), 0))
    bmi = float(np.clip(rng.lognormal(np.log(25), 0.16), 16.5, 45))
    return PatientIn(
        given_name=given,
        family_name=family,
        date_of_birth=today - timedelta(days=age * 365 + int(rng.integers(365))),
        sex="female" if female else "male",
        height_cm=height,
        weight_kg=round(bmi * (height / 100) ** 2, 1),
        phone=f"+44 7700 9{int(rng.integers(10**5)):05d}",
        external_id=f"DEMO-{i:06d}",
    )


def _trigger_points(rng: np.random.Generator, atlas: Atlas) -> list[SidedTriggerPoint]:
    """The patient's hidden trigger points: one to three, most often one."""
    k = int(rng.choice([1, 1, 1, 2, 2, 3]))
    return [
        atlas.trigger_points[int(j)]
        for j in rng.choice(len(atlas.trigger_points), size=k, replace=False)
    ]


def _plan(
    rng: np.random.Generator,
    patient: PatientIn,
    atlas: Atlas,
    regions: list[str],
    now: datetime,
    recent: bool = False,
) -> _Plan:
    """An episode and its weekly visits with pain drawings, for one patient."""
    tps = _trigger_points(rng, atlas)
    visits = int(rng.integers(1, 6))
    days = 7.0 * np.arange(visits) + rng.integers(0, 3, visits)
    start = _first_visit(rng, now, float(days[-1]), recent)
    groups = ", ".join(sorted({t.muscle.group.replace("_", " ") for t in tps}))
    episode = EpisodeIn(
        complaint=f"Pain, {groups} region",
        onset_date=(start - timedelta(days=int(rng.integers(14, 720)))).date(),
        diagnoses=[DiagnosisIn(code=_code_for(tps))],
    )
    outcome = course(np.tile(days, (len(tps), 1)), seed=int(rng.integers(2**31)))
    offset = float(np.clip(rng.normal(1.5, 1.0), 0, 4))
    palpated = ", ".join(t.muscle.name.lower() for t in tps)
    plans = []
    for v in range(visits):
        fading = [t for t, pain in zip(tps, outcome.pre_pain[:, v], strict=True) if pain >= 1]
        marks = _drawing_regions(rng, fading or tps[:1], regions)
        plans.append(
            _VisitPlan(
                at=start + timedelta(days=float(days[v])),
                notes=f"Visit {v + 1}. Palpated {palpated}; findings documented.",
                marks=[(r, int(rng.integers(2, 9))) for r in sorted(marks)],
            )
        )
    return _Plan(patient, tps, episode, start, plans, outcome, offset)


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


# --- the records, entered through the records services ------------------------------------


@dataclass
class _Chart:
    """The ids the services gave one patient's records, for their care to name."""

    plan: _Plan
    patient_id: int
    bmi: float | None
    episode_id: int
    visit_ids: list[int]
    # The rows the services returned, held while the patient's care is written: the
    # session's identity map holds rows weakly, and each service looks them up again.
    held: list[object]


def _records(session: Session, staff: Principal, plan: _Plan) -> _Chart:
    """The patient, their episode, their treatment consent, and each visit with its drawing."""
    patient = create_patient(session, principal=staff, data=plan.patient)
    pid = patient.id
    episode = create_episode(session, principal=staff, patient_id=pid, data=plan.episode)
    name = f"{plan.patient.given_name} {plan.patient.family_name}"
    record_consent(
        session,
        principal=staff,
        patient_id=pid,
        data=ConsentIn(risks_disclosed=sorted(RISKS), signed_by=name, signed_at=plan.start),
    )
    visit_ids: list[int] = []
    held: list[object] = [patient, episode]
    for v in plan.visits:
        visit = create_visit(
            session,
            principal=staff,
            patient_id=pid,
            data=VisitIn(visit_at=v.at, episode_id=episode.id, notes=v.notes),
        )
        marks = [MarkIn(region=r, intensity=i) for r, i in v.marks]
        create_pain_drawing(
            session,
            principal=staff,
            patient_id=pid,
            data=PainDrawingIn(complete=True, marks=marks),
            visit_id=visit.id,
            drawn_at=v.at,
        )
        visit_ids.append(visit.id)
        held.append(visit)
    return _Chart(plan, pid, patient.bmi, episode.id, visit_ids, held)


def _research_consent(
    session: Session, rng: np.random.Generator, chart: _Chart, staff: Principal | None
) -> None:
    """Most patients give a research consent at their first visit, recorded and (for some,
    after their last visit) withdrawn through `records.service`, as the consent page does.
    The draws come first, so the stream is the same with or without research consents."""
    consents, withdraws = rng.random() < RESEARCH_CONSENT, rng.random() < RESEARCH_WITHDRAWN
    if not consents or staff is None:
        return
    p = chart.plan.patient
    consent = record_consent(
        session,
        principal=staff,
        patient_id=chart.patient_id,
        data=ConsentIn(
            kind=RESEARCH,
            signed_by=f"{p.given_name} {p.family_name}",
            signed_at=chart.plan.visits[0].at,
        ),
    )
    if withdraws:
        withdraw_consent(session, principal=staff, consent_id=consent.id, version=consent.version)


# --- care at each visit, entered through the treatment, outcomes and notes services -------


def _screening_answers() -> dict[str, Answer]:
    """Every screening question answered 'no': demo patients are cleared, unrestricted."""
    return {r.id: Answer(present=False) for r in rulebook().rules}


def _ae_rates() -> dict[str, float]:
    """Per-session probability of each adverse-event type (Brady et al. 2014)."""
    brady = next(s for s in published() if s["id"] == "brady_2014")
    return {k: v / 100 for k, v in brady["by_type"].items()}


@dataclass
class _VisitCare:
    """What one visit's care draws from the seed: needles, adverse events, outcomes."""

    entries: list[EntryIn]
    events: list[str]  # adverse-event types
    nprs: dict[str, int]  # by timing, "pre" and "post"
    ppt: dict[str, list[float]]  # the three trials, by timing


def _draw_care(
    rng: np.random.Generator, chart: _Chart, v: int, ae_rates: dict[str, float]
) -> _VisitCare:
    """The visit's draws, in the order the seed has always made them (needles, then adverse
    events, then NPRS and PPT before and after), so a seed gives the same clinic."""
    plan = chart.plan
    entries = []
    for seq, tp in enumerate(plan.tps, 1):
        lo, hi = tp.muscle.needling.depth_mm
        values, _ = needle_values(
            tp,
            seq=seq,
            twitches=int(plan.outcome.twitches[seq - 1, v]),
            bmi=chart.bmi,
            depth_mm=round(rng.uniform(lo, hi)),
            familiar_pain=bool(rng.random() < 0.6),
            duration_s=int(rng.integers(20, 90)),
        )
        entries.append(_entry_in(values))
    events = [kind for kind, p in ae_rates.items() if rng.random() < p]
    nprs, ppt = {}, {}
    for timing, pain, pressure in (
        ("pre", plan.outcome.pre_pain[:, v], plan.outcome.pre_pressure_pain[:, v]),
        ("post", plan.outcome.post_pain[:, v], plan.outcome.post_pressure_pain[:, v]),
    ):
        nprs[timing] = int(
            np.clip(round(float(pain.max()) + plan.offset + rng.normal(0, 0.6)), 0, 10)
        )
        # Demo assumption: PPT falls linearly as pain on compression rises (about 4.5 kg/cm2
        # when not tender, 1.5 kg/cm2 at the worst), with trial-to-trial noise.
        trials = np.clip(4.5 - 0.3 * float(pressure[0]) + rng.normal(0, 0.15, 3), 0.3, 20)
        ppt[timing] = [round(float(x), 2) for x in trials]
    return _VisitCare(entries, events, nprs, ppt)


def _entry_in(values: dict[str, object]) -> EntryIn:
    """The needle as the clinician charts it (muscle and trigger point by atlas id)."""
    return EntryIn.model_validate(
        {
            "muscle": values["muscle_id"],
            "trigger_point_id": values["trigger_point_id"],
            **{k: values[k] for k in ENTRY_FIELDS},
        }
    )


# The columns of `needle_values` that an EntryIn takes as they are.
ENTRY_FIELDS = (
    "side",
    "needle_diameter_mm",
    "needle_length_mm",
    "technique",
    "depth_mm",
    "pleural_recess_acknowledged",
    "twitch_count",
    "familiar_pain",
    "duration_s",
)


def _care(
    session: Session,
    rng: np.random.Generator,
    staff: Principal,
    chart: _Chart,
    ae_rates: dict[str, float],
) -> None:
    """Screened at the first visit (re-confirmed at each later one), then per visit a signed
    needling session with its outcomes and note, each write through its service."""
    plan = chart.plan
    screening = record_screening(
        session,
        principal=staff,
        patient_id=chart.patient_id,
        data=ScreeningIn(episode_id=chart.episode_id, answers=_screening_answers()),
        screened_at=plan.visits[0].at,
    )
    chart.held.append(screening)
    for v, visit_id in enumerate(chart.visit_ids):
        care = _draw_care(rng, chart, v, ae_rates)
        at = plan.visits[v].at
        if v > 0:
            confirm_screening(session, principal=staff, visit_id=visit_id, confirmed_at=at)
        _measure(session, staff, chart, visit_id, care, "pre", at + timedelta(minutes=5))
        _note(session, staff, plan, visit_id, v, care.nprs["pre"], at)
        _needling(session, staff, plan.tps, visit_id, care, at)
        _measure(session, staff, chart, visit_id, care, "post", at + timedelta(minutes=45))


def _needling(
    session: Session,
    staff: Principal,
    tps: list[SidedTriggerPoint],
    visit_id: int,
    care: _VisitCare,
    at: datetime,
) -> None:
    """Open, plan the hidden trigger points, needle them, count out, report, sign."""
    needling = open_needling(session, principal=staff, visit_id=visit_id, opened_at=at)
    nid = needling.id
    for tp in tps:
        target = TargetIn.model_validate(
            {"muscle": tp.muscle_id, "side": tp.side, "trigger_point_id": tp.tp_id}
        )
        add_target(session, principal=staff, needling_id=nid, data=target)
    for entry in care.entries:
        add_entry(session, principal=staff, needling_id=nid, data=entry)
    count = CountIn(needles_out=len(care.entries))
    needling = record_count(session, principal=staff, needling_id=nid, data=count)
    end = at + timedelta(minutes=40)
    for kind in care.events:
        report_adverse_event(
            session,
            principal=staff,
            needling_id=nid,
            data=AdverseEventIn(
                type=kind,
                severity="mild",
                action_taken="Explained, reassured; pressure applied where bleeding or bruising.",
                follow_up="Checked at the next visit.",
            ),
            reported_at=end,
        )
    sign(
        session,
        principal=staff,
        needling_id=nid,
        data=SignIn(version=needling.version),
        signed_at=end,
    )


def _measure(
    session: Session,
    staff: Principal,
    chart: _Chart,
    visit_id: int,
    care: _VisitCare,
    timing: str,
    at: datetime,
) -> None:
    """NPRS, and PPT at the first trigger point, before or after needling."""
    tp = chart.plan.tps[0]
    site = f"{tp.muscle.name} {tp.tp_id} ({tp.side})"
    for instrument, data, context in (
        ("nprs", {"current": care.nprs[timing]}, ""),
        ("ppt", {"trials": care.ppt[timing]}, site),
    ):
        record_measurement(
            session,
            principal=staff,
            patient_id=chart.patient_id,
            data=MeasurementIn.model_validate(
                {
                    "instrument": instrument,
                    "data": data,
                    "context": context,
                    "timing": timing,
                    "visit_id": visit_id,
                    "measured_at": at,
                }
            ),
        )


def _note(
    session: Session,
    staff: Principal,
    plan: _Plan,
    visit_id: int,
    v: int,
    pain_now: int,
    at: datetime,
) -> None:
    """The visit's SOAP note, written through `notes.service` and signed with its session
    (its pain now is the visit's NPRS before needling)."""
    points = ", ".join(f"{t.muscle.name} ({t.side})" for t in plan.tps)
    note = NoteIn(
        subjective=("First visit: " if v == 0 else "Follow-up: ") + plan.episode.complaint,
        pain_now_nprs=pain_now,
        red_flags_checked=True,
        palpation_summary=f"Taut band and tender spot in {points}; pressure reproduced the familiar pain.",
        assessment="Myofascial pain consistent with the trigger points palpated.",
        plan=f"Dry needling of {points}; aftercare explained.",
        next_visit_in_days=7,
    )
    save_note(session, principal=staff, visit_id=visit_id, data=note, at=at)


# --- one synthetic needle (the demo clinic and the bulk registry) -------------------------


def needle_for(tp: SidedTriggerPoint) -> tuple[float, float]:
    """(diameter, length) in mm: the shortest common needle that reaches the muscle's depth
    range with 5 mm to spare, and the thicker gauge for the longer needles."""
    deepest = tp.muscle.needling.depth_mm[1]
    length = 30.0 if deepest <= 25 else 50.0 if deepest <= 45 else 60.0
    return (0.25 if length <= 30 else 0.30), length


def needle_values(
    tp: SidedTriggerPoint,
    *,
    seq: int,
    twitches: int,
    bmi: float | None,
    depth_mm: float | None = None,
    familiar_pain: bool = True,
    duration_s: int = 30,
) -> tuple[dict[str, object], DepthLimit | None]:
    """The columns of one synthetic needle at a trigger point, and the thorax limit it keeps.

    Depth defaults to the middle of the muscle's range, stops 5 mm short of the hub, and
    over the thorax stays within the patient's limit: demo clinicians respect the guard.
    Unchecked: the demo clinic charts it through `treatment.service.add_entry`, the registry
    through `needle_entry`; both meet `safety.entry.check_entry`.
    """
    lo, hi = tp.muscle.needling.depth_mm
    diameter, length = needle_for(tp)
    depth = float(np.clip((lo + hi) / 2 if depth_mm is None else depth_mm, 1, length - 5))
    limit = thorax_limit_for(tp.muscle, bmi)
    if limit is not None:
        depth = min(depth, limit.max_depth_mm)
    values: dict[str, object] = {
        "seq": seq,
        "muscle_id": tp.muscle_id,
        "side": tp.side,
        "trigger_point_id": tp.tp_id,
        "needle_diameter_mm": diameter,
        "needle_length_mm": length,
        "technique": "pistoning",
        "depth_mm": depth,
        "depth_limit_mm": limit.max_depth_mm if limit else None,
        "pleural_recess_acknowledged": tp.muscle.pleural_recess,
        "twitch_count": twitches,
        "familiar_pain": familiar_pain,
        "duration_s": duration_s,
    }
    return values, limit


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
    """`needle_values` checked by `safety.entry.check_entry`, like every charted needle: the
    bulk registry's needles, which it writes in bulk rather than through the service."""
    values, _ = needle_values(
        tp,
        seq=seq,
        twitches=twitches,
        bmi=patient.bmi,
        depth_mm=depth_mm,
        familiar_pain=familiar_pain,
        duration_s=duration_s,
    )
    check_entry(
        patient,
        muscle=tp.muscle,
        tp_id=tp.tp_id,
        side=tp.side,
        technique="pistoning",
        depth_mm=float(values["depth_mm"]),  # type: ignore[arg-type]  # set as a float above
        pleural_recess_acknowledged=tp.muscle.pleural_recess,
    )
    return values


# --- the demo clinic and its login ---------------------------------------------------------


DEMO_LOGIN = "demo.clinician"


def existing_demo_clinic(session: Session) -> Clinic | None:
    """The clinic the demo was seeded into before: the demo login's, or one named
    DEMO_CLINIC (seeded before the demo could go into the setup clinic); None if none."""
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


def _demo_login(session: Session, clinic_id: int) -> User | None:
    """The clinic's demo login, if it has one."""
    return session.scalar(
        select(User).where(User.username == DEMO_LOGIN, User.clinic_id == clinic_id)
    )


def populate(
    session: Session,
    *,
    staff: Principal,
    patients: int,
    seed: int,
    research_consents: bool = True,
    progress: Callable[[int], None] | None = None,
    atlas: Atlas | None = None,
    batch: int = 500,
) -> None:
    """Add `patients` synthetic patients with their care to `staff`'s clinic (the demo
    clinic, or a test's), `staff` entering every record through the services. Without
    `research_consents` the patients give none (their clinical records are the same)."""
    atlas = atlas or load_atlas()
    rng = np.random.default_rng(seed)
    consent_rng = np.random.default_rng((seed, 17))  # its own stream: the records are unchanged
    clinic_id = staff.clinic_id
    existing = session.query(Patient).filter(Patient.clinic_id == clinic_id).count()
    regions = sorted(atlas.catalog.regions)
    ae_rates = _ae_rates()
    now = datetime.now(UTC)
    # The services act for one clinic, as a request's session does (the seed's session is
    # the system's): confine the session to the staff's clinic while they write.
    before = session.info.get("clinic_id")
    session.info["clinic_id"] = clinic_id
    try:
        for start in range(0, patients, batch):
            n = min(batch, patients - start)
            for i in range(n):
                p = _patient(rng, existing + start + i + 1, now.date())
                first = start + i == 0  # the demo's first patient is always still in care
                chart = _records(session, staff, _plan(rng, p, atlas, regions, now, first))
                _research_consent(session, consent_rng, chart, staff if research_consents else None)
                _care(session, rng, staff, chart, ae_rates)
            session.flush()
            session.expunge_all()
            if progress:
                progress(n)
    finally:
        session.info["clinic_id"] = before


def seed(
    session: Session,
    *,
    patients: int,
    seed: int = 20261124,
    progress: Callable[[int], None] | None = None,
    atlas: Atlas | None = None,
    batch: int = 500,
) -> SeedResult:
    """Create (or extend) the demo clinic with `patients` synthetic patients, entered by the
    demo login (made, with a printed one-time password, the first time the clinic has none)."""
    system = Actor.system("demo seed")
    clinic = demo_target(session)
    if clinic is None:
        clinic = create_clinic(session, name=DEMO_CLINIC, actor=system)
    username = password = None
    login = _demo_login(session, clinic.id)
    if login is None:
        # A printed one-time password, like every printed password: it must be changed at
        # first login (create_user sets must_change_password for a generated one).
        login, password = create_user(
            session,
            clinic_id=clinic.id,
            username=DEMO_LOGIN,
            full_name="Demo Clinician",
            role="clinician",
            actor=system,
        )
        username = login.username
        session.flush()
    staff = _DemoStaff(login.id, clinic.id, login.username, login.role)
    clinic_id = clinic.id
    populate(
        session,
        staff=staff,
        patients=patients,
        seed=seed,
        progress=progress,
        atlas=atlas,
        batch=batch,
    )
    record(
        session,
        actor=system,
        action="demo_seed",
        entity="clinic",
        entity_id=clinic_id,
        detail={"patients": patients, "seed": seed},
    )
    return SeedResult(clinic_id, patients, username, password)
