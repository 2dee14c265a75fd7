"""What each report shows, gathered through the clinic-scoped, audited services.

Every function takes the principal and reads patient data through the records, outcomes and
treatment services (or records its own audit event for reads those services do not offer), so
a report is as isolated and as audited as the page it came from. Functions return plain
dicts for the templates; a patient with no data gives empty lists, never an error.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import Principal
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.audit.service import record
from triggerpoint.bodychart.catalog import View
from triggerpoint.errors import InvalidInput, NotFound
from triggerpoint.examination import service as examination
from triggerpoint.examination.schemas import FINDING_WORDS, FindingView
from triggerpoint.notes import service as notes
from triggerpoint.outcomes import series
from triggerpoint.outcomes import service as outcomes
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.outcomes.thresholds import rule_for
from triggerpoint.records import service as records
from triggerpoint.reports import plots
from triggerpoint.reports.extent import pain_extent, region_areas
from triggerpoint.safety.rates import consent_risks, published
from triggerpoint.treatment import service as treatment
from triggerpoint.treatment.models import NeedlingSession, Screening
from triggerpoint.treatment.schemas import AE_TYPES
from triggerpoint.ui.templating import site_name

UNITS = {
    "nprs": "NPRS points (0-10)",
    "ppt": "kg/cm²",
    "rom": "degrees",
    "psfs": "PSFS points (0-10)",
    "ndi": "% (0-100)",
    "odi": "% (0-100)",
    "quickdash": "score (0-100)",
    "groc": "rating (-7 to +7)",
}
CLASS_TEXT = {
    "responder": "responder",
    "non-responder": "non-responder",
    "worsened": "worsened",
    None: "not yet classified",
}
NOT_CLASSIFIED = "not classified"  # a follow-up exists, but the measure has no threshold


@cache
def muscle_names() -> dict[str, str]:
    return {m.id: m.name for m in load_atlas().muscles.values()}


def muscle_label(muscle_id: str, side: str | None = None) -> str:
    name = muscle_names().get(muscle_id, muscle_id.replace("_", " "))
    return f"{name} ({side})" if side else name


# --- palpation findings -------------------------------------------------------------------

# The finding's words come from the examination domain (`FINDING_WORDS`, `FindingView.label`),
# so the visit page, the note and the report say the same thing. "Familiar" is the sign that
# tells an active trigger point from a latent one: pressure reproduces the patient's own
# complaint (the 2018 Delphi consensus, Fernandez-de-las-Penas & Dommerholt, Pain Med,
# doi:10.1093/pm/pnx207); a latent point is tender when pressed but does not reproduce it. Both
# can refer pain, so the report states what was felt, not a verdict.
TWITCH_WORDS = {True: "local twitch response", False: "no local twitch response"}
REFERRAL_WORDS = {True: "pain referred on compression", False: "no referral on compression"}


def finding_site(f: FindingView) -> str:
    """The site as a referrer reads it: the muscle-side ('right upper trapezius'), or, when a
    trigger point was named, the atlas's name for it ('right upper trapezius TP1 (anterior
    border)') rather than its id."""
    if f.trigger_point is None:
        return f.label
    return f"{f.side} {f.trigger_point[:1].lower()}{f.trigger_point[1:]}"


def finding_view(f: FindingView) -> dict[str, Any]:
    """One palpation finding as the visit note and the progress report print it:
    'right upper trapezius: familiar pain reproduced; local twitch response'."""
    site = finding_site(f)
    words = FINDING_WORDS[f.finding]
    extras = [
        table[value]
        for table, value in ((TWITCH_WORDS, f.twitch), (REFERRAL_WORDS, f.referral))
        if value is not None
    ]
    return {
        "site": site,
        "finding": f.finding,
        "words": words,
        "extras": extras,
        "note": f.note,
        "recorded_at": f.recorded_at,
    }


def visit_findings(
    session: Session, *, principal: Principal, visit_id: int
) -> list[dict[str, Any]]:
    """The visit's palpation findings, read through the examination service (audited)."""
    return [
        finding_view(f)
        for f in examination.list_findings(session, principal=principal, visit_id=visit_id)
    ]


# --- reads --------------------------------------------------------------------------------


def _user_names(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(User.id, User.full_name).where(User.id.in_(wanted))).all())


def session_muscles(ns: NeedlingSession) -> list[str]:
    seen: list[str] = []
    for e in ns.entries:
        label = muscle_label(e.muscle_id, e.side)
        if label not in seen:
            seen.append(label)
    return seen


def session_marks(
    sessions: Sequence[NeedlingSession], visit_at: Mapping[int | None, datetime]
) -> list[plots.SessionMark]:
    """Markers at the visit's time (a session is opened during its visit)."""
    marks = []
    for ns in sessions:
        at = visit_at.get(ns.visit_id, ns.opened_at)
        muscles = ", ".join(session_muscles(ns)) or "no needles recorded"
        marks.append(plots.SessionMark(at, f"Needling {at:%d %b %Y}: {muscles}"))
    return marks


SHORT_UNITS = {"ppt": "kg/cm²", "rom": "°", "ndi": "%", "odi": "%"}


def _drawing_view(d: Any) -> dict[str, Any]:
    """Where the patient hurt at one visit: region names, extent and small body charts."""
    catalog = load_atlas().catalog.regions
    regions = {m.region_id for m in d.marks}
    return {
        "regions": sorted(catalog[r].name if r in catalog else r for r in regions),
        "region_ids": sorted(regions),
        "complete": d.complete,
        "extent": pain_extent(regions),
        "thumbs": _thumbs(regions, first=True),
    }


VIEWS: tuple[View, View] = ("anterior", "posterior")


def _thumbs(region_ids: set[str] | list[str], *, first: bool = False) -> list[str]:
    """Front and back thumbnails: a `<use>` of the chart drawn once per page
    (`bodychart.svg.chart_symbols`, handed out with the page's `first` thumbnail) plus only
    the marked regions, instead of a whole 170 kB chart per thumbnail."""
    from triggerpoint.bodychart.svg import chart_symbols, render_thumbnail

    shading = dict.fromkeys(region_ids, "pain")
    views = [render_thumbnail(v, shading=shading, height=130) for v in VIEWS]
    return [chart_symbols() + views[0], *views[1:]] if first else views


def printable(ctx: dict[str, Any]) -> dict[str, Any]:
    """The report's context for WeasyPrint: thumbnails as images (`plots.print_thumbnail`),
    since a PDF cannot share one inline `<symbol>` between SVGs, and plots without their
    hover texts (`plots.for_print`)."""

    def thumbs(region_ids: list[str]) -> list[str]:
        return [plots.print_thumbnail(v, region_ids=region_ids) for v in VIEWS]

    out = dict(ctx)
    if ctx.get("measures"):
        out["measures"] = [{**m, "plot": plots.for_print(m["plot"])} for m in ctx["measures"]]
    if ctx.get("pain"):
        out["pain"] = [{**p, "thumbs": thumbs(p["regions"])} for p in ctx["pain"]]
    if ctx.get("drawing"):
        out["drawing"] = {**ctx["drawing"], "thumbs": thumbs(ctx["drawing"]["region_ids"])}
    return out


# --- the patient's outcomes ---------------------------------------------------------------


def _measure_view(
    s: Any, sessions: Sequence[plots.SessionMark], group: Sequence[Any] = ()
) -> dict[str, Any]:
    """One series for the outcomes page and the progress report. The classification and its
    threshold come from the summary (`outcomes.thresholds`); this only lays them out.
    `group` is the series' measurements, for the latest value (`_latest`)."""
    spec = definitions()[s.instrument]
    latest = _latest(s, group)
    mdc95 = (spec.get("mdc95") or {}).get("points")
    immediate = s.immediate_changes[-1] if s.immediate_changes else None
    groc = (spec["worsened_at"] + 1, spec["responder_at"] - 1) if s.instrument == "groc" else None
    followed_up = len(s.points) > 1
    no_threshold = not rule_for(s.instrument, s.context).classifies  # `outcomes.thresholds`
    dashed = _dashed(s, mdc95)
    return {
        "instrument": s.instrument,
        "name": spec["name"],
        "context": s.context,
        "unit": UNITS[s.instrument],
        "better": s.better,
        "mcid": s.mcid,
        "threshold": s.threshold,
        "threshold_kind": s.threshold_kind,
        "threshold_text": _threshold_text(s, mdc95),
        "threshold_note": s.threshold_note,
        "mcid_source": s.threshold_source or spec.get("source"),
        "mcid_label": s.threshold_kind or "MCID",
        "mdc95": mdc95,
        "dashed": dashed,
        "baseline": s.baseline,
        **latest,
        "change": s.change,
        "n": len(s.points),
        "classification": s.classification,
        "class_text": NOT_CLASSIFIED
        if no_threshold and followed_up
        else CLASS_TEXT[s.classification],
        "unclassified_reason": s.unclassified_reason if no_threshold else None,
        "beyond_mdc95": (abs(s.change) >= mdc95 - 1e-9)
        if mdc95 is not None and s.change is not None and followed_up
        else None,
        "immediate": immediate,
        "immediate_all": s.immediate_changes,
        "plot": plots.trajectory_svg(
            name=spec["name"] + (f" — {site_name(s.context)}" if s.context else ""),
            unit=UNITS[s.instrument],
            better=s.better,
            points=s.points,
            baseline=s.baseline,
            mcid=s.threshold,
            band_label=s.threshold_kind or "MCID",
            dashed=dashed,
            groc_thresholds=groc,
            sessions=sessions,
        ),
    }


def _latest(s: Any, group: Sequence[Any]) -> dict[str, Any]:
    """The newest value, before or after needling (`outcomes.series.newest`), and when it
    was taken; and, when the change since baseline ends at another score (the course's
    last, `outcomes.series.in_course`), which one."""
    newest = series.newest(group)
    if newest is None:
        return {"latest": s.latest, "latest_at": None, "latest_timing": "", "change_to": None}
    course_last = series.newest(m for m in group if series.in_course(m))
    change_to = None
    if course_last is not None and course_last is not newest and s.change is not None:
        when = series.timing_words(course_last.timing) or "measured"
        change_to = f"to {course_last.score:g}, {when}"
    return {
        "latest": newest.score,
        "latest_at": newest.measured_at,
        "latest_timing": series.timing_words(newest.timing),
        "change_to": change_to if len(s.points) > 1 else None,
    }


def _threshold_text(s: Any, mdc95: float | None) -> str:
    """What the change is judged against, in words: the figure used and, where it differs,
    the other published figure (PPT: the MCID, inside the measurement error)."""
    if s.threshold_kind == "rating":
        return s.threshold_label
    if s.threshold is None:
        return "no sourced threshold"
    text = s.threshold_label
    if s.threshold_kind == "MDC95" and s.mcid is not None:
        text += f" (MCID {s.mcid:g} lies within measurement error)"
    elif s.threshold_kind == "MCID" and mdc95 is not None:
        text += f"; MDC95 {mdc95:g}"
    return text


def _dashed(s: Any, mdc95: float | None) -> tuple[str, float] | None:
    """The published figure not used for the class, drawn as dashed lines on the plot."""
    if s.threshold_kind == "MDC95" and s.mcid is not None:
        return ("MCID", s.mcid)
    if s.threshold_kind == "MCID" and mdc95 is not None:
        return ("MDC95", mdc95)
    return None


def patient_outcomes(session: Session, *, principal: Principal, patient_id: int) -> dict[str, Any]:
    """Per measure: baseline, latest, change, immediate change, class and the trajectory plot;
    and the pain drawings over time with their extent."""
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    rows = outcomes.list_measurements(session, principal=principal, patient_id=patient_id)
    sessions = (
        treatment.patient_sessions(session, principal=principal, patient_id=patient_id)
        if principal.can("clinical:read")
        else []
    )
    visits = records.list_visits(session, principal=principal, patient_id=patient_id)
    visit_at: dict[int | None, datetime] = {v.id: v.visit_at for v in visits}
    marks = session_marks(sessions, visit_at)
    measures = [
        _measure_view(
            s,
            marks,
            [m for m in rows if (m.instrument, m.context) == (s.instrument, s.context)],
        )
        for s in outcomes.summarise(rows)
    ]
    drawings = records.list_pain_drawings(session, principal=principal, patient_id=patient_id)
    pain: list[dict[str, Any]] = []
    for d in drawings:
        regions = {m.region_id for m in d.marks}
        pain.append(
            {
                # a visit's drawing belongs at the visit's time, not at when it was typed in
                "at": visit_at.get(d.visit_id, d.drawn_at),
                "visit_id": d.visit_id,
                "regions": sorted(regions),
                "complete": d.complete,
                "extent": pain_extent(regions),
            }
        )
    pain.sort(key=lambda p: p["at"])
    for i, p in enumerate(pain):
        p["thumbs"] = _thumbs(p["regions"], first=i == 0)
    with_extent = [p for p in pain if p["extent"] is not None]
    return {
        "p": patient,
        "measures": measures,
        "incomplete": [m for m in rows if not m.complete],
        "sessions": sessions,
        "visits": visits,
        "visit_at": visit_at,
        "pain": pain,
        "extent_plot": plots.extent_svg(
            dates=[p["at"] for p in with_extent], extents=[p["extent"] for p in with_extent]
        )
        if len(with_extent) > 1
        else None,
        "geometry_missing": bool(pain) and region_areas() is None,
    }


# --- visit note ---------------------------------------------------------------------------


def visit_note(
    session: Session, *, principal: Principal, patient_id: int, visit_id: int
) -> dict[str, Any]:
    """One visit: palpation findings, needling entries, the screening that cleared it, adverse
    events, signature."""
    principal.require("clinical:read")
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    try:
        visit = records.visit_of_patient(session, patient_id=patient_id, visit_id=visit_id)
    except InvalidInput as exc:
        # A report addresses the visit: another patient's is not found under this patient
        # (404), with the rule's own field and words.
        raise NotFound("visit", visit_id, field=exc.field, message=str(exc)) from None
    ns = treatment.needling_for_visit(session, visit_id=visit_id)
    record(
        session,
        actor=principal.actor,
        action="read",
        entity="visit",
        entity_id=visit_id,
        detail={"patient_id": patient_id, "report": "visit_note"},
    )
    if ns is not None:
        treatment.get_needling(session, principal=principal, needling_id=ns.id)  # audited read
        screening = session.get(Screening, ns.screening_id)
    else:
        screening = treatment.latest_screening(session, patient_id=patient_id)
    measurements = [
        m
        for m in outcomes.list_measurements(session, principal=principal, patient_id=patient_id)
        if m.visit_id == visit_id
    ]
    users = _user_names(
        session,
        [visit.clinician_id, ns.signed_by if ns else None, ns.opened_by if ns else None],
    )
    drawings = records.visit_pain_drawings(
        session, principal=principal, patient_id=patient_id, visit_id=visit_id
    )
    drawing = _drawing_view(drawings[-1]) if drawings else None
    note = notes.find_note(session, principal=principal, visit_id=visit_id)
    return {
        "findings": visit_findings(session, principal=principal, visit_id=visit_id),
        "p": patient,
        "visit": visit,
        "ns": ns,
        "soap": notes.print_view(notes.note_out(session, note) if note else None),
        "out": treatment.needling_out(session, ns) if ns else None,
        "billing": treatment.billing(ns) if ns else None,
        "names": muscle_names(),
        "screening": screening,
        "measurements": measurements,
        "instrument_names": {k: v["name"] for k, v in definitions().items()},
        "clinician": users.get(visit.clinician_id or 0),
        "signer": users.get(ns.signed_by or 0) if ns else None,
        "ae_types": AE_TYPES,
        "drawing": drawing,
        "units": SHORT_UNITS,
    }


# --- progress report ----------------------------------------------------------------------


def progress_report(session: Session, *, principal: Principal, patient_id: int) -> dict[str, Any]:
    """For a referrer or insurer: diagnoses, palpation findings by visit, treatment summary,
    outcome plots, responder status."""
    principal.require("clinical:read")
    ctx = patient_outcomes(session, principal=principal, patient_id=patient_id)
    episodes = records.episodes_out(session, principal=principal, patient_id=patient_id)
    visits = ctx["visits"]
    sessions = ctx["sessions"]
    counts: dict[str, int] = {}
    twitches = 0
    for ns in sessions:
        for label in session_muscles(ns):
            counts[label] = counts.get(label, 0) + 1
        twitches += sum(e.twitch_count for e in ns.entries)
    aes = [ae for ns in sessions for ae in ns.adverse_events]
    examined = [
        {"at": v.visit_at, "visit_id": v.id, "findings": found}
        for v in visits
        if (found := visit_findings(session, principal=principal, visit_id=v.id))
    ]
    return {
        **ctx,
        "examined": examined,
        "episodes": episodes,
        "first_visit": visits[0].visit_at if visits else None,
        "last_visit": visits[-1].visit_at if visits else None,
        "muscles": sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])),
        "needles": sum(len(ns.entries) for ns in sessions),
        "twitches": twitches,
        "adverse_events": aes,
        "ae_types": AE_TYPES,
        "has_data": bool(visits or sessions or ctx["measures"] or episodes),
    }


# --- consent form -------------------------------------------------------------------------


def consent_form(session: Session, *, principal: Principal, patient_id: int) -> dict[str, Any]:
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    consents = records.list_consents(session, principal=principal, patient_id=patient_id)
    return {
        "p": patient,
        "risks": consent_risks(),
        "studies": published(),
        "consents": consents,
        "active": records.active_consent(session, patient_id=patient_id, kind=records.DRY_NEEDLING),
    }


def age_on(born: Any, when: datetime) -> int:
    d = when.date()
    return d.year - born.year - ((d.month, d.day) < (born.month, born.day))


def fmt(value: float | None, digits: int = 2) -> str:
    """Numbers for reports: no trailing zeros, an explicit sign for changes handled by callers."""
    if value is None or math.isnan(value):
        return "—"
    return f"{round(value, digits):g}"
