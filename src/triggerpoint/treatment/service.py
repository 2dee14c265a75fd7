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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.atlas.schema import Muscle
from triggerpoint.audit.service import record
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, SafetyBlock
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


def confirm_screening(session: Session, *, principal: Principal, visit_id: int) -> Screening:
    """The clinician confirms at this visit that nothing in the screening has changed."""
    principal.require("clinical:write")
    visit = get_record(session, Visit, visit_id, "visit")
    screening = latest_screening(session, patient_id=visit.patient_id)
    if screening is None:
        raise SafetyBlock("no screening on file for this patient: complete the screening first")
    if (
        session.scalar(
            select(ScreeningConfirmation).where(ScreeningConfirmation.visit_id == visit_id)
        )
        is None
    ):
        session.add(
            ScreeningConfirmation(
                visit_id=visit_id, screening_id=screening.id, confirmed_by=principal.user_id
            )
        )
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


# --- sessions -------------------------------------------------------------------------


def open_needling(session: Session, *, principal: Principal, visit_id: int) -> NeedlingSession:
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
    confirmation = session.scalar(
        select(ScreeningConfirmation).where(ScreeningConfirmation.visit_id == visit_id)
    )
    if confirmation is None or confirmation.screening_id != screening.id:
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
    from triggerpoint.inference.service import suggest_unplanned

    drawings = visit_pain_drawings(
        session, principal=principal, patient_id=needling.patient_id, visit_id=needling.visit_id
    )
    if needling.status != "open" or not drawings:
        return {"suggestions": [], "painful_count": 0, "restricted": {}}
    latest = drawings[-1]
    shown = suggest_unplanned(
        {"pain": [m.region_id for m in latest.marks], "complete": latest.complete},
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
    return {"suggestions": shown, "painful_count": len(latest.marks), "restricted": restricted}


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


def _open(session: Session, principal: Principal, needling_id: int) -> NeedlingSession:
    principal.require("clinical:write")
    needling = get_record(session, NeedlingSession, needling_id, "needling session")
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
    ids = [tp.id for tp in muscle.trigger_points]
    if tp_id is None:
        return ids[0]
    if tp_id not in ids:
        raise InvalidInput(
            "trigger_point_id",
            f"{muscle.name} has no trigger point {tp_id!r}; choose one of {', '.join(ids)}",
        )
    return tp_id


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
    needling = _open(session, principal, needling_id)
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
        seq=len(needling.entries) + 1,
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


def record_count(
    session: Session, *, principal: Principal, needling_id: int, data: schemas.CountIn
) -> NeedlingSession:
    needling = _open(session, principal, needling_id)
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
    session: Session, *, principal: Principal, needling_id: int, data: schemas.AdverseEventIn
) -> AdverseEvent:
    """Adverse events can be reported on open and signed sessions: many appear later."""
    principal.require("clinical:write")
    needling = get_record(session, NeedlingSession, needling_id, "needling session")
    ae = AdverseEvent(
        needling_id=needling.id,
        patient_id=needling.patient_id,
        reported_by=principal.user_id,
        **data.model_dump(),
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
    session: Session, *, principal: Principal, needling_id: int, data: schemas.SignIn
) -> NeedlingSession:
    needling = _open(session, principal, needling_id)
    if needling.version != data.version:
        raise Conflict(
            f"needling session {needling_id} changed since you loaded it (version {needling.version}); reload and check before signing"
        )
    _require_accounted(needling)
    needling.status, needling.signed_by, needling.signed_at = "signed", principal.user_id, utcnow()
    session.flush()
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
