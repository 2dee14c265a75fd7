"""Pages for screening, consent and the visit as one flow: `/visits/{id}` with its stepper.

Forms post back to these routes (post/redirect/get), so the pages work without JavaScript;
a little JS adds the keyboard shortcuts. Every rule is enforced by the same service
functions as the API; which step of a visit is done, needed or blocked is
`service.visit_progress`'s (`progress_steps`), never the template's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import TemplateNotFound
from pydantic import BaseModel

from triggerpoint.accounts.deps import PageForm, PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.accounts.models import User
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.db import utcnow
from triggerpoint.errors import Conflict, InvalidInput, NotFound, SafetyBlock
from triggerpoint.examination import schemas as exam_schemas
from triggerpoint.examination import service as examination
from triggerpoint.notes import schemas as notes_schemas
from triggerpoint.notes import service as notes
from triggerpoint.outcomes import schemas as oschemas
from triggerpoint.outcomes import service as outcomes
from triggerpoint.records import schemas as rschemas
from triggerpoint.records import service as records
from triggerpoint.records.models import Visit
from triggerpoint.records.schemas import RecordId
from triggerpoint.safety.rates import RISKS, consent_risks
from triggerpoint.safety.screening import missing_questions, rulebook
from triggerpoint.treatment import schemas, service
from triggerpoint.treatment.models import NeedlingSession
from triggerpoint.ui import localtime
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
Next = Annotated[str | None, Query(max_length=500)]
# Where each bedside action returns to on the visit page (an element id).
ANCHORS = {
    "confirm": "screening",
    "open": "needles",
    "target": "suggest",
    "entry": "entry",
    "count": "count",
    "adverse": "adverse",
    "sign": "sign",
    "addendum": "sign",
    "drawing": "drawing",
    "nprs": "outcomes",
    "palpation": "suggest",
}
STATE_WORDS = {"done": "done", "needed": "to do", "blocked": "blocked"}


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return templates().TemplateResponse(request, name, ctx, status_code=status)


def safe_next(raw: object) -> str | None:
    """A same-site path to return to (`?next=/visits/12`), or None: anything that could
    leave the site (`//host`, `https:`, a backslash, control characters) is ignored."""
    if not isinstance(raw, str) or not raw.startswith("/") or raw.startswith("//"):
        return None
    if "\\" in raw or any(ord(ch) < 32 or ord(ch) == 127 for ch in raw) or ":" in raw.split("?")[0]:
        return None
    return raw


# --- screening --------------------------------------------------------------------------


@pages.get("/patients/{patient_id}/screening", response_class=HTMLResponse)
def screening_form(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    next: Next = None,
) -> Response:
    principal.require("clinical:read")
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors={}, form={}, next_path=safe_next(next))
    return _render(request, "treatment/screening.html", ctx)


def _screening_context(
    session, patient, *, errors: dict, form: dict, next_path: str | None
) -> dict[str, Any]:
    latest = service.latest_screening(session, patient_id=patient.id)
    screener = session.get(User, latest.screened_by) if latest and latest.screened_by else None
    return {
        "p": patient,
        "rules": rulebook().rules,
        "latest": None if errors else latest,
        "screener": screener,
        "errors": errors,
        "form": form,
        "missing": {r.id for r in missing_questions(form)} if errors else set(),
        "next": next_path,
    }


def _screening_answers(form: Any) -> dict[str, dict[str, Any]]:
    """Only the questions the clinician answered: an unanswered one stays unanswered."""
    return {
        r.id: {
            "present": form.get(r.id) == "yes",
            "detail": (str(form.get(f"{r.id}_detail") or "").strip() or None),
        }
        for r in rulebook().rules
        if form.get(r.id) in ("yes", "no")
    }


@pages.post("/patients/{patient_id}/screening", response_class=HTMLResponse)
def screening_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form: PageForm,
) -> Response:
    principal.require("clinical:write")  # first: a refused form re-renders the screening
    next_path = safe_next(form.get("next"))
    answers = _screening_answers(form)
    data, errors = parse_form(schemas.ScreeningIn, {"answers": answers})
    if data is not None:
        try:
            service.record_screening(session, principal=principal, patient_id=patient_id, data=data)
            back = next_path or f"/patients/{patient_id}/screening"
            return RedirectResponse(back, status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors = {exc.field: str(exc)}
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors=errors, form=dict(form), next_path=next_path)
    ctx["missing"] = {r.id for r in missing_questions(answers)}
    return _render(request, "treatment/screening.html", ctx, 422)


# --- consent ----------------------------------------------------------------------------


def _risks() -> dict[str, Any]:
    """The risks to tick, each with its published frequency (`safety.rates.consent_risks`)."""
    return {"risks": RISKS, "freq": {r["key"]: r["summary"] for r in consent_risks()}}


@pages.get("/patients/{patient_id}/consent", response_class=HTMLResponse)
def consent_form(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    next: Next = None,
) -> Response:
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    return _render(
        request,
        "treatment/consent.html",
        {
            "p": patient,
            **_risks(),
            "errors": {},
            # Signed now unless the clinician says otherwise: nobody types the time.
            "form": {"signed_at": localtime.form_now()},
            "next": safe_next(next),
        },
    )


def disclosed_risks(form: Any) -> list[str]:
    """The risks ticked one by one, or every listed risk when the clinician ticked "the
    patient was told of all the listed risks": each is still stored by name."""
    if form.get("all_risks") == "on":
        return list(RISKS)
    return [str(r) for r in form.getlist("risks")]


@pages.post("/patients/{patient_id}/consent", response_class=HTMLResponse)
def consent_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form: PageForm,
) -> Response:
    next_path = safe_next(form.get("next"))
    signed_at = str(form.get("signed_at") or "")
    risks = disclosed_risks(form)
    data, errors = parse_form(
        rschemas.ConsentIn,
        {
            "risks_disclosed": risks,
            "signed_by": form.get("signed_by") or "",
            "signer_relation": form.get("signer_relation") or "self",
            "signed_at": localtime.from_form(signed_at),
        },
    )
    if data is not None:
        records.record_consent(session, principal=principal, patient_id=patient_id, data=data)
        return RedirectResponse(next_path or f"/patients/{patient_id}", status_code=303)
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    return _render(
        request,
        "treatment/consent.html",
        {
            "p": patient,
            **_risks(),
            "errors": errors,
            "form": {**dict(form), "risks": risks},
            "next": next_path,
        },
        422,
    )


# --- the visit page -----------------------------------------------------------------------


@pages.get("/visits/{visit_id}", response_class=HTMLResponse)
@pages.get("/visits/{visit_id}/needling", response_class=HTMLResponse)
def visit_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    redraw: bool = False,
) -> Response:
    """The visit as one flow. The old bedside page's address shows the same page (its
    sections live here now; its forms post where they always did)."""
    principal.require("clinical:read")
    visit = records.get_record(session, Visit, visit_id, "visit")
    needling = service.needling_for_visit(session, visit_id=visit_id)
    ctx = _visit_context(session, principal, visit, needling, redraw=redraw)
    return _render(request, "treatment/visit.html", ctx)


def percent(p: float) -> str:
    """A probability as the suggestion lists print it: whole percent, "<1%" below 1% and
    ">99%" from 99.5% (never a "0%" or "100%" the model cannot claim)."""
    if p < 0.01:
        return "<1%"
    if p >= 0.995:
        return ">99%"
    return f"{round(p * 100)}%"


def _has_template(name: str) -> bool:
    """Whether another domain's partial is in this build (the visit page includes it)."""
    try:
        templates().env.get_template(name)
    except TemplateNotFound:
        return False
    return True


def _visit_note(session, principal, visit: Visit) -> notes_schemas.NoteOut | None:
    """This visit's SOAP note (`notes.service`), or None before one is written."""
    note = notes.find_note(session, principal=principal, visit_id=visit.id)
    return notes.note_out(session, note) if note is not None else None


def _examined(note: notes_schemas.NoteOut | None) -> bool:
    """The note records examination findings or an assessment (step 5 is then done)."""
    return bool(note is not None and (note.objective or note.assessment))


def _names() -> dict[str, Any]:
    """Human names for every id the page would otherwise show (muscles, trigger points), and
    what the entry form's script needs: each muscle's trigger points and default needle."""
    atlas = load_atlas()
    muscles = sorted(atlas.muscles.values(), key=lambda m: m.name)
    return {
        "muscles": muscles,
        "names": {m.id: m.name for m in muscles},
        "tp_names": {(m.id, tp.id): tp.name for m in muscles for tp in m.trigger_points},
        "muscle_tps": {m.name: [tp.name for tp in m.trigger_points] for m in muscles},
        "lengths": {m.name: service.default_needle_length_mm(m.id) for m in muscles},
    }


def _muscle_name(value: object) -> str:
    """What the Muscle field shows: the atlas name for an id, name or synonym, else the input."""
    text = str(value or "")
    try:
        return load_atlas().find_muscle(text).name if text else ""
    except MuscleNotFoundError:
        return text


def _tp_name(muscle: object, tp: object) -> str:
    """What the Trigger point field shows: the atlas name for an id or name, else the input."""
    text = str(tp or "")
    try:
        m = load_atlas().find_muscle(str(muscle or ""))
    except MuscleNotFoundError:
        return text
    wanted = text.strip().casefold()
    return next(
        (t.name for t in m.trigger_points if wanted in (t.id.casefold(), t.name.casefold())),
        text,
    )


def _entry_form(form: dict, last: Any, names: dict[str, str], tps: dict) -> dict[str, Any]:
    """The entry form's values: the refused input (names shown, never ids), else the last
    needle repeated except what belongs to each needle alone: the twitch count and familiar
    pain start again at none for every new needle (they were copied before, and needle 2
    was saved with twitches nobody saw)."""
    if form.get("_action") == "entry":
        return {
            **form,
            "muscle": _muscle_name(form.get("muscle")),
            "trigger_point_id": _tp_name(form.get("muscle"), form.get("trigger_point_id")),
        }
    if last is None:
        return {"needle_diameter_mm": 0.25, "technique": "pistoning", "duration_s": 30}
    estim = last.estim or {}
    return {
        "muscle": names.get(last.muscle_id, last.muscle_id),
        "side": last.side,
        "trigger_point_id": tps.get((last.muscle_id, last.trigger_point_id), ""),
        "needle_diameter_mm": last.needle_diameter_mm,
        "needle_length_mm": last.needle_length_mm,
        "technique": last.technique,
        "depth_mm": last.depth_mm,
        "duration_s": last.duration_s,
        **{k: estim.get(k) for k in ("frequency_hz", "pulse_width_us", "intensity_ma")},
    }


def _drawing_context(session, principal, visit: Visit, *, redraw: bool) -> dict[str, Any]:
    """The visit's drawing as thumbnails, and the chart to draw on: only while there is no
    drawing or the clinician asked to draw again (two interactive charts weigh ~300 KB)."""
    from triggerpoint.bodychart.svg import render_view

    drawings = records.visit_pain_drawings(
        session, principal=principal, patient_id=visit.patient_id, visit_id=visit.id
    )
    latest = drawings[-1] if drawings else None
    thumbs = []
    if latest is not None:
        shading = {m.region_id: "pain" for m in latest.marks}
        thumbs = [
            render_view(v, shading=shading, interactive=False, height=220)
            for v in ("anterior", "posterior")
        ]
    catalog_names = _region_names([m.region_id for m in latest.marks] if latest else [])
    return {
        "drawing": latest,
        "drawing_thumbs": thumbs,
        "drawing_regions": catalog_names,
        "charts": (
            {v: render_view(v) for v in ("anterior", "posterior")}
            if latest is None or redraw
            else {}
        ),
    }


def _region_names(ids: list[str]) -> list[str]:
    from triggerpoint.bodychart.catalog import load_catalog

    catalog = load_catalog()
    return [catalog.regions[i].name if i in catalog.regions else i for i in ids]


def _nprs(session, principal, visit: Visit) -> dict[str, Any]:
    """This visit's NPRS before and after needling (the latest of each)."""
    rows = outcomes.list_measurements(session, principal=principal, patient_id=visit.patient_id)
    out: dict[str, Any] = {}
    for m in rows:
        if m.visit_id == visit.id and m.instrument == "nprs" and m.timing in ("pre", "post"):
            out[m.timing] = m
    return out


def _visit_context(
    session,
    principal,
    visit: Visit,
    needling: NeedlingSession | None,
    errors: dict | None = None,
    form: dict | None = None,
    *,
    redraw: bool = False,
) -> dict[str, Any]:
    patient = records.get_patient(session, principal=principal, patient_id=visit.patient_id)
    held = service.screening_for_visit(session, visit=visit)
    note = _visit_note(session, principal, visit)
    facts = service.visit_facts(
        session, principal=principal, visit=visit, needling=needling, examined=_examined(note)
    )
    names = _names()
    form = form or {}
    ctx: dict[str, Any] = {
        "visit": visit,
        "p": patient,
        "ns": needling,
        "steps": service.progress_steps(facts),
        "state_words": STATE_WORDS,
        "screening": held.screening,
        "screening_how": held.how,
        "consent": records.active_consent(
            session, patient_id=visit.patient_id, kind=records.DRY_NEEDLING
        ),
        "errors": errors or {},
        "form": form,
        "ae_types": schemas.AE_TYPES,
        "urgent_action": service.URGENT_ACTION,
        "percent": percent,
        "nprs": _nprs(session, principal, visit),
        "note": note,
        "note_templates": notes.list_templates(session, principal=principal),
        "has_soap": _has_template("notes/_soap.html"),
        "has_diagnosis": _has_template("records/_diagnosis.html"),
        "episodes": records.episodes_out(session, principal=principal, patient_id=patient.id),
        "here": f"/visits/{visit.id}",
        **names,
        **_drawing_context(
            session, principal, visit, redraw=redraw or (form or {}).get("_action") == "drawing"
        ),
        **service.visit_suggestions(session, principal=principal, visit=visit, needling=needling),
        "findings": examination.list_findings(session, principal=principal, visit_id=visit.id),
        "reported_measures": [
            m
            for m in outcomes.patient_reported(
                session, principal=principal, patient_id=visit.patient_id
            ).get(visit.id, [])
            if m.instrument != "nprs"  # the visit's NPRS step shows the patient's own NPRS
        ],
        "finding_words": exam_schemas.FINDING_WORDS,
        "palpation_open": principal.can("clinical:write")
        and examination.can_change(session, visit_id=visit.id),
    }
    atlas = load_atlas()
    ctx["recess_muscles"] = sorted(m.name for m in atlas.muscles.values() if m.pleural_recess)
    ctx["recess_ids"] = sorted(m.id for m in atlas.muscles.values() if m.pleural_recess)
    ctx["thorax_muscles"] = {m.id for m in atlas.muscles.values() if m.needling.thorax}
    if needling is not None:
        last = needling.entries[-1] if needling.entries else None
        ctx |= {
            "out": service.needling_out(session, needling),
            "billing": service.billing(needling),
            "plain_precautions": service.precautions_besides_restrictions(session, needling),
            "last": last,
            "unaccounted": service.unaccounted(needling),
            "f": _entry_form(form, last, names["names"], names["tp_names"]),
        }
    return ctx


@pages.post("/visits/{visit_id}/needling/{action}", response_class=HTMLResponse)
def needling_action(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    action: str,
    posted: PageForm,
) -> Response:
    """One endpoint per action of the visit page; each is one transaction and returns to its
    step on the page."""
    principal.require("clinical:write")  # first: a refused form re-renders the session
    form = {k: v for k, v in posted.items() if k != "csrf_token" and k != "mark"}
    visit = records.get_record(session, Visit, visit_id, "visit")
    needling = service.needling_for_visit(session, visit_id=visit_id)
    errors: dict[str, str] = {}
    try:
        if action == "drawing":
            errors = _save_drawing(session, principal, visit, posted)
        else:
            errors = _do(session, principal, visit, needling, action, form)
    except (InvalidInput, SafetyBlock, Conflict) as exc:
        session.rollback()
        errors = {exc.field or "form": str(exc)}  # a safety block or conflict: the whole form
    if not errors:
        return RedirectResponse(
            f"/visits/{visit_id}#{ANCHORS.get(action, 'needles')}", status_code=303
        )
    session.rollback()
    needling = service.needling_for_visit(session, visit_id=visit_id)
    return _render(
        request,
        "treatment/visit.html",
        _visit_context(session, principal, visit, needling, errors, {**form, "_action": action}),
        422,
    )


@pages.post("/visits/{visit_id}/palpation", response_class=HTMLResponse)
def palpation_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    posted: PageForm,
) -> Response:
    """Record a palpation finding from the suggestions step (the same site again updates it),
    then back to the suggestions, re-ranked with it; a refused finding re-renders the page
    with the message at the findings (422), nothing recorded."""
    principal.require("clinical:write")
    form = {k: v for k, v in posted.items() if k != "csrf_token"}
    raw = {
        "site": form.get("site") or None,
        "muscle_id": form.get("muscle_id") or None,
        "side": form.get("side") or None,
        "trigger_point_id": form.get("trigger_point_id") or None,
        "finding": form.get("finding"),
        "twitch": True if form.get("twitch") == "on" else None,
        "referral": True if form.get("referral") == "on" else None,
        "note": form.get("note") or None,
    }
    data, errors = parse_form(exam_schemas.FindingIn, raw)
    if data is not None:
        try:
            examination.record_finding(session, principal=principal, visit_id=visit_id, data=data)
        except (InvalidInput, Conflict) as exc:
            errors = {exc.field or "form": str(exc)}
    return _palpation_back(request, session, principal, visit_id, errors, form)


@pages.post("/visits/{visit_id}/palpation/{finding_id}/delete", response_class=HTMLResponse)
def palpation_delete(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    finding_id: RecordId,
) -> Response:
    """Remove a finding recorded in error; back to the suggestions, re-ranked without it."""
    principal.require("clinical:write")
    errors: dict[str, str] = {}
    try:
        examination.remove_finding(
            session, principal=principal, visit_id=visit_id, finding_id=finding_id
        )
    except Conflict as exc:
        errors = {"form": str(exc)}
    return _palpation_back(request, session, principal, visit_id, errors, {})


def _palpation_back(
    request: Request, session, principal, visit_id: int, errors: dict[str, str], form: dict
) -> Response:
    if not errors:
        return RedirectResponse(f"/visits/{visit_id}#{ANCHORS['palpation']}", status_code=303)
    session.rollback()
    visit = records.get_record(session, Visit, visit_id, "visit")
    needling = service.needling_for_visit(session, visit_id=visit_id)
    # every message of the finding's form is shown at the findings, naming its field
    shown = {"palpation": "; ".join(f"{k}: {v}" if k != "form" else v for k, v in errors.items())}
    return _render(
        request,
        "treatment/visit.html",
        _visit_context(
            session, principal, visit, needling, shown, {**form, "_action": "palpation"}
        ),
        422,
    )


def _save_drawing(session, principal, visit: Visit, posted: Any) -> dict[str, str]:
    """This visit's pain drawing (the latest drawing of a visit is its drawing), through the
    records service and the drawing rule of `PainDrawingIn`."""
    marks = []
    for raw in posted.getlist("mark"):
        region, _, intensity = str(raw).partition(":")
        marks.append(
            {"region": region, "intensity": int(intensity) if intensity.isdigit() else None}
        )
    data, errors = parse_form(
        rschemas.PainDrawingIn,
        {"complete": posted.get("complete") != "partial", "marks": marks},
    )
    if data is None:
        return errors
    records.create_pain_drawing(
        session, principal=principal, patient_id=visit.patient_id, data=data, visit_id=visit.id
    )
    return {}


def _save_nprs(session, principal, visit: Visit, form: dict) -> dict[str, str]:
    """NPRS "pain now" before or after needling, through the outcomes service, marked with
    the timing the outcome series read (`outcomes.series.around_needling`)."""
    timing = form.get("timing")
    if timing not in ("pre", "post"):
        return {"form": "say whether the rating was before or after needling"}
    field = f"nprs_{timing}"
    raw = str(form.get("current") or "").strip()
    if not raw:
        return {field: "Pain now is required: a whole number from 0 to 10"}
    data, errors = parse_form(
        oschemas.MeasurementIn,
        {
            "instrument": "nprs",
            "data": {"current": int(raw) if raw.lstrip("-").isdigit() else raw},
            "timing": timing,
            "visit_id": visit.id,
            "measured_at": utcnow().isoformat(),
        },
    )
    if data is None:
        return {field: next(iter(errors.values()))}
    try:
        outcomes.record_measurement(
            session, principal=principal, patient_id=visit.patient_id, data=data
        )
    except InvalidInput as exc:
        return {field: str(exc)}
    return {}


def _entry_raw(form: dict) -> dict[str, Any]:
    raw = dict(form)
    raw["familiar_pain"] = raw.get("familiar_pain") == "on"
    raw["pleural_recess_acknowledged"] = raw.get("pleural_recess_acknowledged") == "on"
    if not str(raw.get("needle_length_mm") or "").strip():
        raw["needle_length_mm"] = service.default_needle_length_mm(str(raw.get("muscle") or ""))
    if raw.get("technique") == "electrical":
        raw["estim"] = {
            k: raw.pop(k, None) for k in ("frequency_hz", "pulse_width_us", "intensity_ma")
        }
    else:
        for k in ("frequency_hz", "pulse_width_us", "intensity_ma"):
            raw.pop(k, None)
    return raw


def _do(
    session, principal, visit: Visit, needling: NeedlingSession | None, action: str, form: dict
) -> dict[str, str]:
    if action == "confirm":
        service.confirm_screening(session, principal=principal, visit_id=visit.id)
        return {}
    if action == "open":
        service.open_needling(session, principal=principal, visit_id=visit.id)
        return {}
    if action == "nprs":
        return _save_nprs(session, principal, visit, form)
    if needling is None and action == "target":
        # Planning a suggestion before the session is open opens it (the same gates).
        needling = service.open_needling(session, principal=principal, visit_id=visit.id)
    if needling is None:
        return {"form": "open the needling session first"}
    specs: dict[str, tuple[type[BaseModel], Callable[..., Any]]] = {
        "target": (schemas.TargetIn, service.add_target),
        "entry": (schemas.EntryIn, service.add_entry),
        "count": (schemas.CountIn, service.record_count),
        "adverse": (schemas.AdverseEventIn, service.report_adverse_event),
        "sign": (schemas.SignIn, service.sign),
        "addendum": (schemas.AddendumIn, service.add_addendum),
    }
    if action not in specs:
        raise NotFound("action", action)
    model, fn = specs[action]
    raw = _entry_raw(form) if action == "entry" else dict(form)
    data, errors = parse_form(model, raw)
    if data is None:
        return errors
    fn(session, principal=principal, needling_id=needling.id, data=data)
    return {}
