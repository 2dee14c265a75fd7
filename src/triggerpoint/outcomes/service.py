"""Record measurements and summarise a patient's change against clinically meaningful thresholds."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.errors import InvalidInput, NotFound
from triggerpoint.outcomes import schemas, series
from triggerpoint.outcomes.instruments import InstrumentError, definitions, score
from triggerpoint.outcomes.models import Measurement
from triggerpoint.outcomes.thresholds import Rule, classify, figure, rule_for
from triggerpoint.records.models import Patient
from triggerpoint.records.service import Source, check_source, visit_of_patient


def record_measurement(
    session: Session,
    *,
    principal: Principal,
    patient_id: int,
    data: schemas.MeasurementIn,
    source: Source = "clinician",
    request_id: int | None = None,
) -> Measurement:
    """Score and store one administration. `source` says who reported it: "patient" with
    the questionnaire request it answered (`request_id`) when it came through their link;
    a patient link may record only that (see `check_source`)."""
    principal.require_entry(patient_id)
    check_source(principal, source, request_id)
    if session.get(Patient, patient_id) is None:
        raise NotFound("patient", patient_id)
    if data.visit_id is not None:
        visit_of_patient(session, patient_id=patient_id, visit_id=data.visit_id)
    try:
        result = score(data.instrument, data.data)
    except InstrumentError as exc:
        raise InvalidInput(f"data.{exc.field}", str(exc)) from None
    m = Measurement(
        patient_id=patient_id,
        visit_id=data.visit_id,
        instrument=data.instrument,
        context=series_context(data.instrument, data.context, data.data),
        timing=data.timing,
        data=data.data,
        score=result.value,
        complete=result.complete,
        answered=result.answered,
        measured_at=data.measured_at,
        recorded_by=principal.recorder,
        source=source,
        request_id=request_id,
    )
    session.add(m)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="create",
        entity="measurement",
        entity_id=m.id,
        detail={"patient_id": patient_id, "instrument": data.instrument, "source": source},
    )
    return m


def series_context(instrument: str, context: str, data: dict) -> str:
    """The context a measurement's series is known by. A ROM measurement sent without one is
    named by its own joint, movement and side (as the form does): otherwise every such
    measurement of a patient, ankle and neck alike, would fall into one series and be judged
    by no joint's threshold."""
    if context or instrument != "rom":
        return context
    parts = [data.get(k) for k in ("joint", "movement", "side")]
    return " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())[:120]


def list_measurements(
    session: Session, *, principal: Principal, patient_id: int
) -> list[Measurement]:
    principal.require("patient:read")
    if session.get(Patient, patient_id) is None:
        raise NotFound("patient", patient_id)
    rows = list(
        session.scalars(
            select(Measurement)
            .where(Measurement.patient_id == patient_id)
            .order_by(Measurement.measured_at, Measurement.id)
        )
    )
    record(
        session,
        actor=principal.actor,
        action="list",
        entity="measurement",
        detail={"patient_id": patient_id},
    )
    return rows


def patient_reported(
    session: Session, *, principal: Principal, patient_id: int
) -> dict[int | None, list[Measurement]]:
    """The patient's own reports (source "patient"), by the visit they were asked before
    (None: no visit): the timeline and the visit show them so nobody types them again."""
    out: dict[int | None, list[Measurement]] = {}
    for m in list_measurements(session, principal=principal, patient_id=patient_id):
        if m.source == "patient":
            out.setdefault(m.visit_id, []).append(m)
    return out


def summarise(rows: list[Measurement]) -> list[schemas.MeasureSummary]:
    """Per instrument and context: baseline and latest (first and last score of the series'
    course: `outcomes.series`), change since baseline, its classification, and the immediate
    pre/post change within each visit. Which measurements count, and when a series is judged,
    is `outcomes.series`; its class is its own rule (`thresholds.rule_for`): the rules the
    progress report and the dashboard use."""
    groups: dict[tuple[str, str], list[Measurement]] = defaultdict(list)
    for m in rows:
        if series.scored(m):
            groups[(m.instrument, m.context)].append(m)
    return [
        _series(instrument, context, ms) for (instrument, context), ms in sorted(groups.items())
    ]


def _series(instrument: str, context: str, ms: list[Measurement]) -> schemas.MeasureSummary:
    spec = definitions()[instrument]
    rule = rule_for(instrument, context)
    # Change over the course compares like with like: the state at the start of visits.
    # Post-needling scores belong to the immediate change within their visit.
    course = [m for m in ms if series.in_course(m)]
    shown = course or ms  # a series of post-needling scores only has no course change
    baseline, latest = shown[0].score, shown[-1].score
    assert baseline is not None and latest is not None  # series.scored: they have scores
    judged = series.judged(instrument, len(course))
    classification = classify(rule, baseline, latest) if judged else None
    return schemas.MeasureSummary(
        instrument=instrument,
        context=context,
        name=spec["name"],
        better=spec["better"],
        mcid=_mcid(instrument, rule),
        baseline=baseline,
        latest=latest,
        change=None if instrument == "groc" else round(latest - baseline, 3),
        classification=classification,
        immediate_changes=_immediate(rule, ms),
        points=[
            {"at": m.measured_at, "score": m.score, "visit_id": m.visit_id, "timing": m.timing}
            for m in ms
        ],
        threshold=rule.points,
        threshold_kind=rule.kind or None,
        threshold_label=rule.label,
        threshold_source=rule.source,
        threshold_note=rule.note,
        unclassified_reason=None if classification else _why_not(rule, judged),
    )


def _mcid(instrument: str, rule: Rule) -> float | None:
    """The published MCID of the series (NPRS: the neck-pain one where it applies)."""
    if rule.kind == "MCID":
        return rule.points
    mcid = figure(instrument, "mcid") if instrument != "rom" else None
    return mcid.points if mcid else None


def _why_not(rule: Rule, judged: bool) -> str:
    if not rule.classifies:
        return rule.note
    return "" if judged else "Needs a baseline and a later score taken before needling."


def _immediate(rule: Rule, ms: list[Measurement]) -> list[dict]:
    by_visit: dict[int, dict[str, float]] = defaultdict(dict)
    for m in ms:
        if m.visit_id is not None and series.around_needling(m):
            assert m.score is not None  # series.around_needling: scored ones only
            by_visit[m.visit_id][m.timing] = m.score
    return [
        {
            "visit_id": visit_id,
            "pre": pair["pre"],
            "post": pair["post"],
            "change": round(pair["post"] - pair["pre"], 3),
            "classification": classify(rule, pair["pre"], pair["post"]),
        }
        for visit_id, pair in sorted(by_visit.items())
        if "pre" in pair and "post" in pair
    ]
