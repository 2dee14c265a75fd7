"""Needling sessions with the guards that keep patients safe.

Every rule lives here once; the API, the pages and the CLI all meet the same errors:
* a session opens only for a patient screened and cleared (re-confirmed at this visit) with
  an active dry-needling consent;
* every entry and planned target meets `safety.entry` (restricted regions and limbs, deep
  needling of incompressible muscles, electrical stimulation, the thorax depth guard and the
  pleural recess below the 12th rib): the one enforcement point every write path shares;
* a session is signed only when every needle is accounted for (or an incident is recorded),
  and a signed session never changes: later notes are dated addenda.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.atlas.schema import Muscle
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, SafetyBlock
from triggerpoint.examination.service import palpation_for_visit
from triggerpoint.notes.service import sign_visit_note
from triggerpoint.records.models import Consent, Episode, Patient, Visit
from triggerpoint.records.service import (
    DRY_NEEDLING,
    active_consent,
    get_patient,
    get_record,
    require_record,
    visit_pain_drawings,
)
from triggerpoint.safety.depth import DepthLimit, max_thorax_depth
from triggerpoint.safety.entry import PatientSafety, blocked_reasons, check_entry
from triggerpoint.safety.screening import Outcome, Restriction, evaluate, restriction_text
from triggerpoint.treatment import schemas
from triggerpoint.treatment.models import (
    Addendum,
    AdverseEvent,
    NeedleEntry,
    NeedlingSession,
    PlannedTarget,
    Screening,
    ScreeningConfirmation,
)

MASTICATION = {"masseter", "temporalis", "medial_pterygoid", "lateral_pterygoid"}
URGENT_TYPES = {"suspected_pneumothorax"}
URGENT_ACTION = (
    "Suspected pneumothorax: stop needling, keep the patient seated upright, check breathing and "
    "oxygen saturation, and arrange urgent medical assessment (emergency services if breathless, "
    "chest pain or deteriorating). Document times and observations."
)


# --- screening ------------------------------------------------------------------------


def record_screening(
    session: Session,
    *,
    principal: Principal,
    patient_id: int,
    data: schemas.ScreeningIn,
    screened_at: datetime | None = None,
) -> Screening:
    """Evaluate every answer and store the outcome with structured restrictions. FHIR import
    passes the original `screened_at`; everyone else gets now."""
    principal.require("clinical:write")
    require_record(session, Patient, patient_id, "patient")
    if data.episode_id is not None:
        episode = get_record(session, Episode, data.episode_id, "episode")
        if episode.patient_id != patient_id:
            raise InvalidInput("episode_id", f"episode {data.episode_id} is not this patient's")
    result = evaluate(data.answers)
    screening = Screening(
        patient_id=patient_id,
        episode_id=data.episode_id,
        answers={k: v.model_dump() for k, v in data.answers.items()},
        outcome=result.outcome.value,
        reasons=result.reasons,
        restrictions=[r.model_dump() for r in result.restrictions],
        rules_version=result.rules_version,
        screened_by=principal.user_id,
        **({"screened_at": screened_at} if screened_at is not None else {}),
    )
    session.add(screening)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="screening",
        entity_id=screening.id,
        detail={"patient_id": patient_id, "outcome": screening.outcome},
    )
    return screening


def latest_screening(session: Session, *, patient_id: int) -> Screening | None:
    return session.scalar(
        select(Screening)
        .where(Screening.patient_id == patient_id)
        .order_by(Screening.screened_at.desc(), Screening.id.desc())
        .limit(1)
    )


def confirm_screening(
    session: Session, *, principal: Principal, visit_id: int, confirmed_at: datetime | None = None
) -> Screening:
    """The clinician confirms at this visit that nothing in the screening has changed.

    A visit keeps one confirmation, of the latest screening: confirming again after a newer
    screening moves it there (before, the old row stayed and the session could never open).
    `confirmed_at` is for the demo generator's past visits (not user input); else now."""
    principal.require("clinical:write")
    visit = get_record(session, Visit, visit_id, "visit")
    screening = latest_screening(session, patient_id=visit.patient_id)
    if screening is None:
        raise SafetyBlock("no screening on file for this patient: complete the screening first")
    confirmation = session.scalar(
        select(ScreeningConfirmation).where(ScreeningConfirmation.visit_id == visit_id)
    )
    if confirmation is None or confirmation.screening_id != screening.id:
        at = confirmed_at or utcnow()
        if confirmation is None:
            session.add(
                ScreeningConfirmation(
                    visit_id=visit_id,
                    screening_id=screening.id,
                    confirmed_by=principal.user_id,
                    confirmed_at=at,
                )
            )
        else:
            confirmation.screening_id, confirmation.confirmed_by = screening.id, principal.user_id
            confirmation.confirmed_at = at
        session.flush()
        record(
            session,
            actor=principal.actor,
            action="confirm",
            entity="screening",
            entity_id=screening.id,
            detail={"visit_id": visit_id},
        )
    return screening


# A screening taken this close to the visit's time was taken at this visit: it needs no
# separate "nothing has changed" confirmation (asking for one a minute after screening was
# the maze of issue 14).
SAME_VISIT = timedelta(hours=12)


@dataclass(frozen=True)
class VisitScreening:
    """The patient's latest screening and whether it holds for one visit, and why."""

    screening: Screening | None
    how: Literal["confirmed", "this_visit", ""]  # "": on file but not confirmed for the visit

    @property
    def holds(self) -> bool:
        return self.screening is not None and self.how != ""


def screening_for_visit(session: Session, *, visit: Visit) -> VisitScreening:
    """The one rule for "this visit's screening": the patient's latest screening counts when
    it was re-confirmed at this visit, or taken at it (within `SAME_VISIT` of the visit's
    time). An older screening, or a confirmation of an older one, does not count."""
    screening = latest_screening(session, patient_id=visit.patient_id)
    if screening is None:
        return VisitScreening(None, "")
    confirmation = session.scalar(
        select(ScreeningConfirmation).where(ScreeningConfirmation.visit_id == visit.id)
    )
    if confirmation is not None and confirmation.screening_id == screening.id:
        return VisitScreening(screening, "confirmed")
    if abs(screening.screened_at - visit.visit_at) <= SAME_VISIT:
        return VisitScreening(screening, "this_visit")
    return VisitScreening(screening, "")


# --- sessions -------------------------------------------------------------------------


def open_needling(
    session: Session, *, principal: Principal, visit_id: int, opened_at: datetime | None = None
) -> NeedlingSession:
    """Open the visit's session once every gate holds. `opened_at` is for the demo
    generator's past visits (not user input); everyone else opens it now."""
    principal.require("clinical:write")
    visit = get_record(session, Visit, visit_id, "visit")
    screening = latest_screening(session, patient_id=visit.patient_id)
    if screening is None:
        raise SafetyBlock("cannot open a needling session: the patient has not been screened")
    if screening.outcome == Outcome.not_cleared:
        raise SafetyBlock(
            "cannot open a needling session: the patient is not cleared ("
            + "; ".join(screening.reasons)
            + ")"
        )
    if not screening_for_visit(session, visit=visit).holds:
        raise SafetyBlock(
            "cannot open a needling session: re-confirm the screening at this visit first"
        )
    consent = active_consent(session, patient_id=visit.patient_id, kind=DRY_NEEDLING)
    if consent is None:
        raise SafetyBlock(
            "cannot open a needling session: there is no valid dry-needling consent on file"
        )
    if needling_for_visit(session, visit_id=visit_id) is not None:
        raise Conflict(f"visit {visit_id} already has a needling session")
    needling = NeedlingSession(
        patient_id=visit.patient_id,
        visit_id=visit_id,
        screening_id=screening.id,
        consent_id=consent.id,
        opened_by=principal.user_id,
        **({"opened_at": opened_at} if opened_at is not None else {}),
    )
    session.add(needling)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="needling_session",
        entity_id=needling.id,
        detail={"visit_id": visit_id},
    )
    return needling


def needling_for_visit(session: Session, *, visit_id: int) -> NeedlingSession | None:
    """This visit's needling session, if one was opened (a visit has at most one)."""
    return session.scalar(select(NeedlingSession).where(NeedlingSession.visit_id == visit_id))


def patient_sessions(
    session: Session, *, principal: Principal, patient_id: int
) -> list[NeedlingSession]:
    """The patient's needling sessions, oldest first (clinic-scoped and audited)."""
    principal.require("clinical:read")
    get_patient(session, principal=principal, patient_id=patient_id)
    rows = list(
        session.scalars(
            select(NeedlingSession)
            .where(NeedlingSession.patient_id == patient_id)
            .order_by(NeedlingSession.opened_at, NeedlingSession.id)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="needling_session",
        detail={"patient_id": patient_id, "report": True},
    )
    return rows


def needling_suggestions(
    session: Session, *, principal: Principal, needling: NeedlingSession
) -> dict[str, Any]:
    """Trigger points ranked for this visit's pain drawing, for planning at the bedside.

    Only while the session is open and its visit has a drawing (the latest one): the top
    ranked candidates not already planned (`inference.service.suggest_unplanned`), each
    with why this patient must not have it (`restricted_here`; empty: allowed).
    """
    drawings = visit_pain_drawings(
        session, principal=principal, patient_id=needling.patient_id, visit_id=needling.visit_id
    )
    if needling.status != "open" or not drawings:
        return dict(NO_SUGGESTIONS)
    latest = drawings[-1]
    shown, examine_next = _ranked(
        session,
        visit_id=needling.visit_id,
        latest=latest,
        planned={(t.muscle_id, t.side, t.trigger_point_id) for t in needling.targets},
    )
    restricted = {
        (c.muscle_id, c.side, c.trigger_point_id): why
        for c in shown
        if (
            why := restricted_here(
                session, needling, muscle_id=c.muscle_id, side=c.side, tp_id=c.trigger_point_id
            )
        )
    }
    return {
        "suggestions": shown,
        "painful_count": len(latest.marks),
        "restricted": restricted,
        "examine_next": examine_next,
    }


# Nothing to suggest (no drawing, or the session is signed); the page reads no examine-next.
NO_SUGGESTIONS: dict[str, Any] = {"suggestions": [], "painful_count": 0, "restricted": {}}


def _ranked(
    session: Session, *, visit_id: int, latest: Any, planned: Collection[tuple[str, str, str]]
) -> tuple[list[Any], list[Any]]:
    """The unplanned suggestions for the visit's latest drawing plus its palpation findings
    (`examination.service.palpation_for_visit`: recording a finding re-ranks them), and the
    engine's "examine next" (top 3 trigger points worth palpating, with their reasons)."""
    from triggerpoint.inference.service import suggest, suggest_unplanned

    drawing = {
        "pain": [m.region_id for m in latest.marks],
        "complete": latest.complete,
        "palpation": palpation_for_visit(session, visit_id=visit_id),
    }
    shown = suggest_unplanned(drawing, planned=planned)
    return shown, list(suggest(drawing, top=8).examine_next[:3])


def visit_suggestions(
    session: Session, *, principal: Principal, visit: Visit, needling: NeedlingSession | None
) -> dict[str, Any]:
    """Suggestions for the visit page from this visit's latest drawing, before a session is
    open as well as during one (`needling_suggestions` while open: planned targets left out).
    Before the session, restrictions come from the patient's latest screening."""
    if needling is not None:
        if needling.status != "open":
            return dict(NO_SUGGESTIONS)
        return needling_suggestions(session, principal=principal, needling=needling)
    drawings = visit_pain_drawings(
        session, principal=principal, patient_id=visit.patient_id, visit_id=visit.id
    )
    if not drawings:
        return dict(NO_SUGGESTIONS)
    latest = drawings[-1]
    shown, examine_next = _ranked(session, visit_id=visit.id, latest=latest, planned=())
    screening = latest_screening(session, patient_id=visit.patient_id)
    patient = session.get(Patient, visit.patient_id)
    safety = PatientSafety.of(
        screening.restrictions if screening else None, patient.bmi if patient else None
    )
    atlas = load_atlas()
    restricted = {
        (c.muscle_id, c.side, c.trigger_point_id): why
        for c in shown
        if (
            why := blocked_reasons(
                safety, muscle=atlas.muscles[c.muscle_id], tp_id=c.trigger_point_id, side=c.side
            )
        )
    }
    return {
        "suggestions": shown,
        "painful_count": len(latest.marks),
        "restricted": restricted,
        "examine_next": examine_next,
    }


def get_needling(session: Session, *, principal: Principal, needling_id: int) -> NeedlingSession:
    principal.require("clinical:read")
    needling = get_record(session, NeedlingSession, needling_id, "needling session")
    record(
        session,
        actor=principal.actor,
        action="read",
        entity="needling_session",
        entity_id=needling_id,
    )
    return needling


def _open(
    session: Session, principal: Principal, needling_id: int, *, slim: bool = False
) -> NeedlingSession:
    """The open needling session, locked. `slim`: without its four eagerly loaded
    collections (entries, targets, adverse events, addenda): one that the caller then reads
    is loaded when first read, after the lock, so it is as fresh as an eager load."""
    principal.require("clinical:write")
    # Locked: two needles charted at once get distinct numbers, and a needle charted while
    # another clinician signs waits and is then refused, never added to the signed record.
    needling = get_record(
        session,
        NeedlingSession,
        needling_id,
        "needling session",
        lock=True,
        options=(lazyload("*"),) if slim else (),
    )
    if needling.status != "open":
        raise Conflict(
            f"needling session {needling_id} is signed and cannot change; add an addendum instead"
        )
    return needling


def _muscle(name: str, field: str) -> Muscle:
    try:
        return load_atlas().find_muscle(name)
    except MuscleNotFoundError as exc:
        raise InvalidInput(field, str(exc)) from None


def _trigger_point(muscle: Muscle, tp_id: str | None) -> str:
    """The trigger point's id from its id or its atlas name (forms show names, never ids)."""
    ids = [tp.id for tp in muscle.trigger_points]
    if tp_id is None or not tp_id.strip():
        return ids[0]
    wanted = tp_id.strip().casefold()
    for tp in muscle.trigger_points:
        if wanted in (tp.id.casefold(), tp.name.casefold()):
            return tp.id
    raise InvalidInput(
        "trigger_point_id",
        f"{muscle.name} has no trigger point {tp_id!r}; choose one of "
        + "; ".join(tp.name for tp in muscle.trigger_points),
    )


# Needle lengths commonly sold for dry needling, in mm.
NEEDLE_LENGTHS_MM = (15, 25, 30, 40, 50, 60, 75, 90, 100, 125)
# Shaft left out of the skin beyond the deepest typical depth: a needle is never inserted
# to the hub, where it breaks.
NEEDLE_MARGIN_MM = 5


def default_needle_length_mm(muscle_name: str) -> int | None:
    """The shortest common needle that reaches the muscle's deepest typical needling depth
    (`needling.depth_mm` in the atlas) with `NEEDLE_MARGIN_MM` to spare; None for a name the
    atlas does not know. A gluteus medius (25-60 mm) gets 75 mm, not the 40 mm that refused
    a 45 mm needle."""
    try:
        muscle = load_atlas().find_muscle(muscle_name)
    except MuscleNotFoundError:
        return None
    need = muscle.needling.depth_mm[1] + NEEDLE_MARGIN_MM
    return next((n for n in NEEDLE_LENGTHS_MM if n >= need), NEEDLE_LENGTHS_MM[-1])


def thorax_limit(session: Session, needling: NeedlingSession) -> DepthLimit:
    patient = session.get(Patient, needling.patient_id)
    return max_thorax_depth(patient.bmi if patient else None)


def precautions(session: Session, needling: NeedlingSession) -> list[str]:
    """Every reason from the screening (the API's `precautions`: restrictions included)."""
    screening = session.get(Screening, needling.screening_id)
    return list(screening.reasons) if screening else []


def precautions_besides_restrictions(session: Session, needling: NeedlingSession) -> list[str]:
    """The precautions a page lists apart from the restrictions, which it shows on their own."""
    screening = session.get(Screening, needling.screening_id)
    if screening is None:
        return []
    restricted = {
        restriction_text(Restriction(**r)) for r in screening.restrictions if "scope" in r
    }
    return [r for r in screening.reasons if r not in restricted]


def patient_safety(session: Session, needling: NeedlingSession) -> PatientSafety:
    """What `safety.entry` needs for this session: its screening's restrictions and the BMI."""
    screening = session.get(Screening, needling.screening_id)
    patient = session.get(Patient, needling.patient_id)
    return PatientSafety.of(
        screening.restrictions if screening else None, patient.bmi if patient else None
    )


def restricted_here(
    session: Session, needling: NeedlingSession, *, muscle_id: str, side: str, tp_id: str
) -> list[str]:
    """Why this patient must not have this trigger point planned or needled (empty: allowed)."""
    muscle = load_atlas().muscles[muscle_id]
    return blocked_reasons(patient_safety(session, needling), muscle=muscle, tp_id=tp_id, side=side)


def add_target(
    session: Session, *, principal: Principal, needling_id: int, data: schemas.TargetIn
) -> PlannedTarget:
    needling = _open(session, principal, needling_id)
    muscle = _muscle(data.muscle, "muscle")
    tp_id = _trigger_point(muscle, data.trigger_point_id)
    if blocks := blocked_reasons(
        patient_safety(session, needling), muscle=muscle, tp_id=tp_id, side=data.side
    ):
        raise SafetyBlock("cannot plan this target: " + "; ".join(blocks))
    target = PlannedTarget(
        needling_id=needling.id,
        muscle_id=muscle.id,
        side=data.side,
        trigger_point_id=tp_id,
        source=data.source,
        probability=data.probability,
    )
    needling.targets.append(target)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="planned_target",
        entity_id=target.id,
        detail={"session_id": needling.id, "muscle": muscle.id},
    )
    return target


def add_entry(
    session: Session, *, principal: Principal, needling_id: int, data: schemas.EntryIn
) -> NeedleEntry:
    # Slim: charting a needle reads the entries (for its number) and the screening and BMI
    # (the safety rules, read by patient_safety), not the targets, events or addenda.
    needling = _open(session, principal, needling_id, slim=True)
    entry = _new_entry(session, needling, principal, data)
    session.flush()
    _audit_entry(session, principal, needling, entry)
    return entry


def _new_entry(
    session: Session, needling: NeedlingSession, principal: Principal, data: schemas.EntryIn
) -> NeedleEntry:
    """Check one needle against the patient's safety rules and append it to the session."""
    muscle = _muscle(data.muscle, "muscle")
    tp_id = _trigger_point(muscle, data.trigger_point_id)
    checked = check_entry(
        patient_safety(session, needling),
        muscle=muscle,
        tp_id=tp_id,
        side=data.side,
        technique=data.technique,
        depth_mm=data.depth_mm,
        over_limit_reason=data.over_limit_reason,
        pleural_recess_acknowledged=data.pleural_recess_acknowledged,
    )
    limit = checked.limit
    entry = NeedleEntry(
        needling_id=needling.id,
        seq=(max((e.seq for e in needling.entries), default=0)) + 1,
        muscle_id=muscle.id,
        side=data.side,
        trigger_point_id=tp_id,
        needle_diameter_mm=data.needle_diameter_mm,
        needle_length_mm=data.needle_length_mm,
        technique=data.technique,
        estim=data.estim.model_dump() if data.estim else None,
        depth_mm=data.depth_mm,
        depth_limit_mm=limit.max_depth_mm if limit else None,
        over_limit_reason=(data.over_limit_reason or None) if checked.over_limit else None,
        pleural_recess_acknowledged=data.pleural_recess_acknowledged,
        twitch_count=data.twitch_count,
        familiar_pain=data.familiar_pain,
        duration_s=data.duration_s,
        created_by=principal.user_id,
    )
    needling.entries.append(entry)
    return entry


def _audit_entry(
    session: Session, principal: Principal, needling: NeedlingSession, entry: NeedleEntry
) -> None:
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="needle_entry",
        entity_id=entry.id,
        detail={"session_id": needling.id, "muscle": entry.muscle_id, "depth_mm": entry.depth_mm},
    )


def check_count(needling: NeedlingSession, needles_out: int | None) -> None:
    """The one home of the count rule: more needles cannot come out than went in. Every
    path that stores a count (API, bedside form, FHIR import from the API or the CLI) calls
    it, so the miscount is refused where it is typed, not found at signing."""
    needles_in = len(needling.entries)
    if needles_out is not None and needles_out > needles_in:
        raise InvalidInput(
            "needles_out",
            f"{needles_out} needles out is more than the {needles_in} charted in: recount, "
            "or chart the missing needles first",
        )


def record_count(
    session: Session, *, principal: Principal, needling_id: int, data: schemas.CountIn
) -> NeedlingSession:
    needling = _open(session, principal, needling_id)
    check_count(needling, data.needles_out)
    needling.needles_out = data.needles_out
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="count",
        entity="needling_session",
        entity_id=needling.id,
        detail={"in": len(needling.entries), "out": data.needles_out},
    )
    return needling


def report_adverse_event(
    session: Session,
    *,
    principal: Principal,
    needling_id: int,
    data: schemas.AdverseEventIn,
    reported_at: datetime | None = None,
) -> AdverseEvent:
    """Adverse events can be reported on open and signed sessions: many appear later.
    `reported_at` is for the demo generator's past visits (not user input); else now."""
    principal.require("clinical:write")
    needling = get_record(session, NeedlingSession, needling_id, "needling session")
    ae = AdverseEvent(
        needling_id=needling.id,
        patient_id=needling.patient_id,
        reported_by=principal.user_id,
        **data.model_dump(),
        **({"reported_at": reported_at} if reported_at is not None else {}),
    )
    session.add(ae)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="adverse_event",
        entity_id=ae.id,
        detail={"session_id": needling.id, "type": data.type, "severity": data.severity},
    )
    return ae


def unaccounted(needling: NeedlingSession) -> int:
    """Needles in minus needles out minus needles covered by a recorded incident."""
    covered = sum(
        ae.needles_unaccounted or 0
        for ae in needling.adverse_events
        if ae.type == "broken_or_retained_needle"
    )
    return len(needling.entries) - (needling.needles_out or 0) - covered


def _require_accounted(needling: NeedlingSession) -> None:
    """A session is signed only when every needle is out or covered by a recorded incident."""
    if needling.needles_out is None:
        raise SafetyBlock("count the needles out before signing")
    missing = unaccounted(needling)
    if missing > 0:
        raise SafetyBlock(
            f"{missing} needle(s) unaccounted for: find them, or record a broken, retained or lost needle incident"
        )
    if missing < 0:
        raise SafetyBlock(
            f"more needles out ({needling.needles_out}) than in ({len(needling.entries)}): recount before signing"
        )


def sign(
    session: Session,
    *,
    principal: Principal,
    needling_id: int,
    data: schemas.SignIn,
    signed_at: datetime | None = None,
) -> NeedlingSession:
    """Sign the session (and the visit's note with it) once every needle is accounted for.
    `signed_at` is for the demo generator's past visits (not user input); else now."""
    needling = _open(session, principal, needling_id)
    if needling.version != data.version:
        raise Conflict(
            f"needling session {needling_id} changed since you loaded it (version {needling.version}); reload and check before signing"
        )
    _require_accounted(needling)
    needling.status, needling.signed_by = "signed", principal.user_id
    needling.signed_at = signed_at or utcnow()
    session.flush()
    # the visit's SOAP note is signed with the session, in this transaction, at its time
    sign_visit_note(session, principal=principal, visit_id=needling.visit_id, at=needling.signed_at)
    record(
        session,
        actor=principal.actor,
        action="sign",
        entity="needling_session",
        entity_id=needling.id,
        detail={"needles": len(needling.entries)},
    )
    return needling


def import_needling_session(
    session: Session,
    *,
    principal: Principal,
    visit_id: int,
    screening_id: int,
    consent_id: int,
    opened_at: datetime,
    entries: list[schemas.EntryIn],
    needles_out: int | None = None,
    adverse_events: Sequence[tuple[schemas.AdverseEventIn, datetime | None]] = (),
    signed_at: datetime | None = None,
    signer: str | None = None,
) -> NeedlingSession:
    """A historical session from another system (FHIR import), held to today's rules: each
    entry is checked against the imported screening, and a signed one must account for
    every needle. It keeps its original times and signer and is marked as imported. An
    error names the entry (``entries[2].depth_mm``); the caller's transaction rolls back."""
    principal.require("clinical:write")
    visit = get_record(session, Visit, visit_id, "visit")
    screening = get_record(session, Screening, screening_id, "screening")
    if screening.patient_id != visit.patient_id:
        raise InvalidInput("screening_id", "the screening is not this patient's")
    if screening.outcome == Outcome.not_cleared:
        raise SafetyBlock("the imported screening did not clear the patient for needling")
    # Looked up like the screening: a foreign or unknown id is never stored as a reference.
    if get_record(session, Consent, consent_id, "consent").patient_id != visit.patient_id:
        raise InvalidInput("consent_id", "the consent is not this patient's")
    needling = NeedlingSession(
        patient_id=visit.patient_id,
        visit_id=visit_id,
        screening_id=screening_id,
        consent_id=consent_id,
        opened_by=principal.user_id,
        opened_at=opened_at,
        imported=True,
    )
    session.add(needling)
    session.flush()
    for i, data in enumerate(entries):
        try:
            _new_entry(session, needling, principal, data)
        except InvalidInput as exc:
            raise InvalidInput(
                f"entries[{i}].{exc.field}", f"needle entry {i + 1}: {exc}"
            ) from None
        except SafetyBlock as exc:
            raise InvalidInput(f"entries[{i}]", f"needle entry {i + 1}: {exc}") from None
    for event, reported_at in adverse_events:
        needling.adverse_events.append(
            AdverseEvent(
                patient_id=needling.patient_id,
                reported_by=principal.user_id,
                **event.model_dump(),
                **({"reported_at": reported_at} if reported_at else {}),
            )
        )
    check_count(needling, needles_out)
    needling.needles_out = needles_out
    if signed_at is not None:
        try:
            _require_accounted(needling)
        except SafetyBlock as exc:
            raise InvalidInput(
                "needles_out", f"a signed session must account for every needle: {exc}"
            ) from None
        needling.status, needling.signed_at, needling.imported_signer = "signed", signed_at, signer
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="import",
        entity="needling_session",
        entity_id=needling.id,
        detail={
            "visit_id": visit_id,
            "needles": len(needling.entries),
            "signed": signed_at is not None,
        },
    )
    return needling


def add_addendum(
    session: Session, *, principal: Principal, needling_id: int, data: schemas.AddendumIn
) -> Addendum:
    principal.require("clinical:write")
    needling = get_record(session, NeedlingSession, needling_id, "needling session")
    if needling.status != "signed":
        raise Conflict(
            "the session is still open: edit it directly; addenda are for signed sessions"
        )
    addendum = Addendum(needling_id=needling.id, text=data.text, author_id=principal.user_id)
    session.add(addendum)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="addendum",
        entity="needling_session",
        entity_id=needling.id,
        detail={"addendum_id": addendum.id},
    )
    return addendum


def unsigned_sessions(
    session: Session, *, principal: Principal, older_than_hours: float = 24
) -> list[NeedlingSession]:
    """Open sessions older than the cut-off, for the clinician's dashboard."""
    principal.require("clinical:read")
    cutoff = utcnow() - timedelta(hours=older_than_hours)
    return list(
        session.scalars(
            select(NeedlingSession)
            .where(NeedlingSession.status == "open", NeedlingSession.opened_at < cutoff)
            .order_by(NeedlingSession.opened_at)
        )
    )


def billing(needling: NeedlingSession) -> schemas.BillingOut:
    """CPT and ICD-10-CM suggestions from the distinct muscles needled (labelled suggestions)."""
    atlas = load_atlas()
    muscles = sorted({e.muscle_id for e in needling.entries})
    cpt, desc = (None, None)
    if 1 <= len(muscles) <= 2:
        cpt, desc = "20560", "Needle insertion(s) without injection(s); 1 or 2 muscle(s)"
    elif len(muscles) >= 3:
        cpt, desc = "20561", "Needle insertion(s) without injection(s); 3 or more muscles"
    codes: dict[str, str] = {}
    for m in muscles:
        group = atlas.muscles[m].group if m in atlas.muscles else "other"
        if m in MASTICATION:
            codes["M79.11"] = "Myalgia of mastication muscle"
        elif group in ("head", "neck"):
            codes["M79.12"] = "Myalgia of auxiliary muscles, head and neck"
        else:
            codes["M79.18"] = "Myalgia, other site"
    return schemas.BillingOut(
        cpt=cpt,
        cpt_description=desc,
        distinct_muscles=len(muscles),
        icd10cm=[{"code": c, "display": d} for c, d in sorted(codes.items())],
    )


def needling_out(session: Session, needling: NeedlingSession) -> schemas.SessionOut:
    limit = thorax_limit(session, needling)
    return schemas.SessionOut(
        id=needling.id,
        patient_id=needling.patient_id,
        visit_id=needling.visit_id,
        status=needling.status,
        version=needling.version,
        opened_at=needling.opened_at,
        signed_at=needling.signed_at,
        needles_in=len(needling.entries),
        needles_out=needling.needles_out,
        precautions=precautions(session, needling),
        restrictions=list(patient_safety(session, needling).restrictions),
        imported=needling.imported,
        imported_signer=needling.imported_signer,
        thorax_limit_mm=limit.max_depth_mm,
        thorax_limit_explained=limit.explain(),
        entries=[schemas.EntryOut.model_validate(e) for e in needling.entries],
        targets=[
            {
                "id": t.id,
                "muscle_id": t.muscle_id,
                "side": t.side,
                "trigger_point_id": t.trigger_point_id,
                "source": t.source,
                "probability": t.probability,
                "thorax_limit_mm": limit.max_depth_mm if _over_thorax(t.muscle_id) else None,
                "restricted": restricted_here(
                    session, needling, muscle_id=t.muscle_id, side=t.side, tp_id=t.trigger_point_id
                ),
            }
            for t in needling.targets
        ],
        adverse_events=[adverse_event_out(ae) for ae in needling.adverse_events],
        addenda=[
            {"id": a.id, "text": a.text, "author_id": a.author_id, "created_at": a.created_at}
            for a in needling.addenda
        ],
    )


def _over_thorax(muscle_id: str) -> bool:
    muscle = load_atlas().muscles.get(muscle_id)
    return bool(muscle and muscle.needling.thorax)


def adverse_event_out(ae: AdverseEvent) -> schemas.AdverseEventOut:
    return schemas.AdverseEventOut.model_validate(ae).model_copy(
        update={"urgent": ae.type in URGENT_TYPES}
    )


# --- the visit as one flow --------------------------------------------------------------


@dataclass(frozen=True)
class VisitFacts:
    """What the visit's stepper is decided from (`progress_steps`), read by `visit_facts`."""

    drawing_regions: int | None = None  # painful regions of the visit's drawing; None: no drawing
    screening_outcome: str | None = None  # the latest screening's outcome; None: not screened
    screening_holds: bool = False  # confirmed at, or taken at, this visit
    consent_signed_at: datetime | None = None  # the consent in force; None: none
    diagnosed: bool = False  # a diagnosis on one of the patient's episodes
    examined: bool = False  # the visit note has examination findings or an assessment
    session_status: str | None = None  # "open", "signed"; None: no needling session
    targets: int = 0
    needles_in: int = 0
    needles_out: int | None = None
    unaccounted: int = 0
    nprs_pre: float | None = None
    nprs_post: float | None = None


def _step(
    key: str, number: int, title: str, state: schemas.StepState, summary: str, **unblock: str
) -> schemas.VisitStep:
    return schemas.VisitStep(
        key=key, number=number, title=title, state=state, summary=summary, **unblock
    )


def _blocked_for_needling(f: VisitFacts) -> tuple[str, str] | None:
    """What stops needling at this visit (the open_needling gates), and which step fixes it."""
    if f.screening_outcome is None:
        return "Screen the patient first", "screening"
    if f.screening_outcome == Outcome.not_cleared:
        return "The patient is not cleared for needling; screen again if things changed", (
            "screening"
        )
    if not f.screening_holds:
        return "Confirm the screening for this visit", "screening"
    if f.consent_signed_at is None:
        return "Record the patient's consent", "consent"
    return None


def progress_steps(f: VisitFacts) -> list[schemas.VisitStep]:
    """The eight steps of a visit and their states, from the facts alone (no database): the
    clinician may do them in any order that makes clinical sense, so a step is blocked only by
    what the rules require before it (needling needs screening and consent; suggestions need
    a drawing; signing needs every needle counted)."""
    steps = []
    if f.drawing_regions is None:
        steps.append(_step("drawing", 1, "Pain drawing", "needed", "No drawing for this visit"))
    else:
        regions = (
            f"{f.drawing_regions} painful region{'s' if f.drawing_regions != 1 else ''}"
            if f.drawing_regions
            else "No pain marked"
        )
        steps.append(_step("drawing", 1, "Pain drawing", "done", regions))
    if f.screening_outcome is None:
        steps.append(_step("screening", 2, "Screening", "needed", "Not screened yet"))
    elif not f.screening_holds:
        steps.append(
            _step("screening", 2, "Screening", "needed", "On file: confirm nothing has changed")
        )
    else:
        steps.append(
            _step("screening", 2, "Screening", "done", f.screening_outcome.replace("_", " "))
        )
    if f.consent_signed_at is None:
        steps.append(_step("consent", 3, "Consent", "needed", "No consent in force"))
    else:
        steps.append(
            _step("consent", 3, "Consent", "done", f"Valid, signed {f.consent_signed_at:%Y-%m-%d}")
        )
    if f.drawing_regions is None:
        steps.append(
            _step(
                "suggest",
                4,
                "Suggestions",
                "blocked",
                "Suggestions come from this visit's drawing",
                unblock="Draw where it hurts",
                unblock_anchor="drawing",
            )
        )
    elif f.targets:
        steps.append(_step("suggest", 4, "Suggestions", "done", f"{f.targets} planned target(s)"))
    else:
        steps.append(_step("suggest", 4, "Suggestions", "needed", "Review and plan"))
    exam: schemas.StepState = "done" if (f.diagnosed or f.examined) else "needed"
    steps.append(
        _step(
            "exam",
            5,
            "Examination and diagnosis",
            exam,
            "Recorded" if exam == "done" else "Findings and diagnosis not recorded",
        )
    )
    steps.append(_needles_step(f))
    if f.nprs_pre is not None and f.nprs_post is not None:
        steps.append(
            _step("outcomes", 7, "Outcomes", "done", f"NPRS {f.nprs_pre:g} → {f.nprs_post:g}")
        )
    else:
        missing = " and ".join(
            w for w, v in (("before", f.nprs_pre), ("after", f.nprs_post)) if v is None
        )
        steps.append(_step("outcomes", 7, "Outcomes", "needed", f"NPRS {missing} needling"))
    steps.append(_sign_step(f))
    return steps


def _needles_step(f: VisitFacts) -> schemas.VisitStep:
    title = "Plan, needles, count"
    if f.session_status == "signed":
        return _step("needles", 6, title, "done", f"{f.needles_in} needle(s), all accounted for")
    if f.session_status is None:
        if blocked := _blocked_for_needling(f):
            why, anchor = blocked
            return _step(
                "needles",
                6,
                title,
                "blocked",
                "The session cannot open yet",
                unblock=why,
                unblock_anchor=anchor,
            )
        return _step("needles", 6, title, "needed", "Open the needling session")
    if f.needles_in == 0:
        return _step("needles", 6, title, "needed", "No needles charted yet")
    if f.needles_out is None or f.unaccounted != 0:
        return _step("needles", 6, title, "needed", f"{f.needles_in} in: count the needles out")
    return _step("needles", 6, title, "done", f"{f.needles_in} in, {f.needles_out} out")


def _sign_step(f: VisitFacts) -> schemas.VisitStep:
    if f.session_status == "signed":
        return _step("sign", 8, "Sign", "done", "Signed")
    if f.session_status is None:
        return _step(
            "sign",
            8,
            "Sign",
            "blocked",
            "Nothing to sign yet",
            unblock="Open the needling session",
            unblock_anchor="needles",
        )
    if f.needles_out is None or f.unaccounted != 0:
        why = (
            "Count the needles out"
            if f.needles_out is None
            else f"{f.unaccounted} needle(s) unaccounted for: recount or record an incident"
        )
        return _step(
            "sign",
            8,
            "Sign",
            "blocked",
            "Needles not accounted for",
            unblock=why,
            unblock_anchor="needles",
        )
    return _step("sign", 8, "Sign", "needed", "Ready to sign")


def visit_facts(
    session: Session,
    *,
    principal: Principal,
    visit: Visit,
    needling: NeedlingSession | None,
    examined: bool = False,
) -> VisitFacts:
    """Read what the stepper needs for one visit, given its needling session (looked up once
    by the caller, `needling_for_visit`). `examined`: the visit's note has findings or an
    assessment (the notes domain is read by the page)."""
    from triggerpoint.outcomes.models import Measurement
    from triggerpoint.outcomes.series import around_needling
    from triggerpoint.records.models import Diagnosis

    drawings = visit_pain_drawings(
        session, principal=principal, patient_id=visit.patient_id, visit_id=visit.id
    )
    held = screening_for_visit(session, visit=visit)
    consent = active_consent(session, patient_id=visit.patient_id, kind=DRY_NEEDLING)
    diagnosed = (
        session.scalar(
            select(Diagnosis.id)
            .join(Episode, Diagnosis.episode_id == Episode.id)
            .where(Episode.patient_id == visit.patient_id)
            .limit(1)
        )
        is not None
    )
    nprs = {
        m.timing: m.score
        for m in session.scalars(
            select(Measurement)
            .where(Measurement.visit_id == visit.id, Measurement.instrument == "nprs")
            .order_by(Measurement.measured_at, Measurement.id)
        )
        if around_needling(m)  # scored, and marked before or after needling
    }
    return VisitFacts(
        drawing_regions=len(drawings[-1].marks) if drawings else None,
        screening_outcome=held.screening.outcome if held.screening else None,
        screening_holds=held.holds,
        consent_signed_at=consent.signed_at if consent else None,
        diagnosed=diagnosed,
        examined=examined,
        session_status=needling.status if needling else None,
        targets=len(needling.targets) if needling else 0,
        needles_in=len(needling.entries) if needling else 0,
        needles_out=needling.needles_out if needling else None,
        unaccounted=unaccounted(needling) if needling else 0,
        nprs_pre=nprs.get("pre"),
        nprs_post=nprs.get("post"),
    )


def visit_progress(
    session: Session, *, principal: Principal, visit_id: int, examined: bool = False
) -> list[schemas.VisitStep]:
    """The visit page's stepper: each step done, needed or blocked (`progress_steps`)."""
    principal.require("clinical:read")
    visit = get_record(session, Visit, visit_id, "visit")
    needling = needling_for_visit(session, visit_id=visit.id)
    facts = visit_facts(
        session, principal=principal, visit=visit, needling=needling, examined=examined
    )
    return progress_steps(facts)
