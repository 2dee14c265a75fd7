"""Pages for screening, consent and bedside charting of a needling session.

Forms post back to these routes (post/redirect/get), so the pages work without JavaScript;
a little JS adds the keyboard shortcuts. Every rule is enforced by the same service
functions as the API.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from triggerpoint.accounts.deps import PagePrincipal, PageSession
from triggerpoint.accounts.models import User
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.records import schemas as rschemas
from triggerpoint.records import service as records
from triggerpoint.records.models import Visit
from triggerpoint.records.schemas import RISKS, RecordId
from triggerpoint.safety.screening import missing_questions, rulebook
from triggerpoint.treatment import schemas, service
from triggerpoint.treatment.models import NeedlingSession
from triggerpoint.web import localtime
from triggerpoint.web.forms import parse_form
from triggerpoint.web.templating import templates

pages = APIRouter(include_in_schema=False)
RISK_FREQUENCY = {
    "bruising": "about 1 in 13 treatments (7.6%)",
    "bleeding": "about 1 in 20 treatments (4.7%)",
    "pain_during": "about 1 in 33 treatments (3.0%)",
    "post_needling_soreness": "about 1 in 45 treatments reported by clinicians (2.2%); soreness for 24-72 h is common",
    "aggravation": "about 1 in 110 treatments (0.9%)",
    "fatigue_drowsiness": "about 1 in 380 treatments (0.26%)",
    "fainting": "rare",
    "nerve_irritation": "rare",
    "infection": "rare",
    "pneumothorax": "rare (no significant events in 7,629 treatments; fewer than 1 in 1,000 in 20,464 sessions)",
    "broken_needle": "very rare",
}


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return templates().TemplateResponse(request, name, ctx, status_code=status)


@pages.get("/patients/{patient_id}/screening", response_class=HTMLResponse)
def screening_form(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    principal.require("clinical:read")
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors={}, form={})
    session.commit()
    return _render(request, "treatment/screening.html", ctx)


def _screening_context(session, patient, *, errors: dict, form: dict) -> dict[str, Any]:
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
async def screening_save(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    principal.require("clinical:write")  # first: a refused form re-renders the screening
    form = await request.form()
    answers = _screening_answers(form)
    data, errors = parse_form(schemas.ScreeningIn, {"answers": answers})
    if data is not None:
        try:
            service.record_screening(session, principal=principal, patient_id=patient_id, data=data)
            session.commit()
            return RedirectResponse(f"/patients/{patient_id}/screening", status_code=303)
        except records.RecordError as exc:
            session.rollback()
            errors = {exc.field: str(exc)}
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors=errors, form=dict(form))
    ctx["missing"] = {r.id for r in missing_questions(answers)}
    return _render(request, "treatment/screening.html", ctx, 422)


@pages.get("/patients/{patient_id}/consent", response_class=HTMLResponse)
def consent_form(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    session.commit()
    return _render(
        request,
        "treatment/consent.html",
        {"p": patient, "risks": RISKS, "freq": RISK_FREQUENCY, "errors": {}, "form": {}},
    )


@pages.post("/patients/{patient_id}/consent", response_class=HTMLResponse)
async def consent_save(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    form = await request.form()
    signed_at = str(form.get("signed_at") or "")
    data, errors = parse_form(
        rschemas.ConsentIn,
        {
            "risks_disclosed": form.getlist("risks"),
            "signed_by": form.get("signed_by") or "",
            "signer_relation": form.get("signer_relation") or "self",
            "signed_at": localtime.from_form(signed_at),
        },
    )
    if data is not None:
        records.record_consent(session, principal=principal, patient_id=patient_id, data=data)
        session.commit()
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    return _render(
        request,
        "treatment/consent.html",
        {
            "p": patient,
            "risks": RISKS,
            "freq": RISK_FREQUENCY,
            "errors": errors,
            "form": {**dict(form), "risks": form.getlist("risks")},
        },
        422,
    )


@pages.get("/visits/{visit_id}/needling", response_class=HTMLResponse)
def needling_page(
    request: Request, principal: PagePrincipal, session: PageSession, visit_id: RecordId
) -> Response:
    principal.require("clinical:read")
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise records.NotFound("visit", visit_id)
    ns = session.scalar(select(NeedlingSession).where(NeedlingSession.visit_id == visit_id))
    ctx = _needling_context(session, principal, visit, ns)
    session.commit()
    return _render(request, "treatment/needling.html", ctx)


def _needling_context(
    session,
    principal,
    visit: Visit,
    ns: NeedlingSession | None,
    errors: dict | None = None,
    form: dict | None = None,
) -> dict:
    patient = records.get_patient(session, principal=principal, patient_id=visit.patient_id)
    atlas = load_atlas()
    screening = service.latest_screening(session, patient_id=visit.patient_id)
    ctx: dict[str, Any] = {
        "visit": visit,
        "p": patient,
        "ns": ns,
        "screening": screening,
        "consent": records.active_consent(session, patient_id=visit.patient_id),
        "errors": errors or {},
        "form": form or {},
        "muscles": sorted(atlas.muscles.values(), key=lambda m: m.name),
        "ae_types": schemas.AE_TYPES,
        "urgent_action": service.URGENT_ACTION,
    }
    if ns is not None:
        out = service.session_out(session, ns)
        last = ns.entries[-1] if ns.entries else None
        ctx |= {
            "out": out,
            "billing": service.billing(ns),
            "plain_precautions": service.precautions_besides_restrictions(session, ns),
            "last": last,
            "unaccounted": service.unaccounted(ns),
            "thorax_muscles": {m.id for m in atlas.muscles.values() if m.needling.thorax},
            "recess_muscles": sorted(m.name for m in atlas.muscles.values() if m.pleural_recess),
            "recess_ids": sorted(m.id for m in atlas.muscles.values() if m.pleural_recess),
            "names": {m.id: m.name for m in atlas.muscles.values()},
            **_suggestions(session, principal, visit, ns),
        }
    return ctx


def _suggestions(session, principal, visit: Visit, ns: NeedlingSession) -> dict[str, Any]:
    """Trigger points ranked for this visit's pain drawing, one click from a planned target."""
    from triggerpoint.inference.service import suggest

    drawings = [
        d
        for d in records.list_pain_drawings(
            session, principal=principal, patient_id=visit.patient_id
        )
        if d.visit_id == visit.id
    ]
    if ns.status != "open" or not drawings:
        return {"suggestions": [], "painful_count": 0, "restricted": {}}
    latest = drawings[-1]
    result = suggest(
        {"pain": [m.region_id for m in latest.marks], "complete": latest.complete}, top=8
    )
    planned = {(t.muscle_id, t.side, t.trigger_point_id) for t in ns.targets}
    fresh = [
        c for c in result.candidates if (c.muscle_id, c.side, c.trigger_point_id) not in planned
    ]
    shown = fresh[:6]
    restricted = {
        (c.muscle_id, c.side, c.trigger_point_id): why
        for c in shown
        if (
            why := service.restricted_here(
                session, ns, muscle_id=c.muscle_id, side=c.side, tp_id=c.trigger_point_id
            )
        )
    }
    return {"suggestions": shown, "painful_count": len(latest.marks), "restricted": restricted}


@pages.post("/visits/{visit_id}/needling/{action}", response_class=HTMLResponse)
async def needling_action(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    action: str,
) -> Response:
    """One endpoint per bedside action; each is one transaction and returns to the page."""
    principal.require("clinical:write")  # first: a refused form re-renders the session
    form = {k: v for k, v in (await request.form()).items() if k != "csrf_token"}
    visit = session.get(Visit, visit_id)
    if visit is None:
        raise records.NotFound("visit", visit_id)
    ns = session.scalar(select(NeedlingSession).where(NeedlingSession.visit_id == visit_id))
    errors: dict[str, str] = {}
    try:
        errors = _do(session, principal, visit, ns, action, form)
    except (records.RecordError, service.SafetyBlock, records.Conflict) as exc:
        session.rollback()
        errors = {getattr(exc, "field", "form"): str(exc)}
    if not errors:
        session.commit()
        return RedirectResponse(f"/visits/{visit_id}/needling#{action}", status_code=303)
    session.rollback()
    ns = session.scalar(select(NeedlingSession).where(NeedlingSession.visit_id == visit_id))
    return _render(
        request,
        "treatment/needling.html",
        _needling_context(session, principal, visit, ns, errors, {**form, "_action": action}),
        422,
    )


def _do(
    session, principal, visit: Visit, ns: NeedlingSession | None, action: str, form: dict
) -> dict[str, str]:
    if action == "confirm":
        service.confirm_screening(session, principal=principal, visit_id=visit.id)
        return {}
    if action == "open":
        service.open_session(session, principal=principal, visit_id=visit.id)
        return {}
    if ns is None:
        return {"form": "open the needling session first"}
    specs = {
        "target": (schemas.TargetIn, service.add_target),
        "entry": (schemas.EntryIn, service.add_entry),
        "count": (schemas.CountIn, service.record_count),
        "adverse": (schemas.AdverseEventIn, service.report_adverse_event),
        "sign": (schemas.SignIn, service.sign),
        "addendum": (schemas.AddendumIn, service.add_addendum),
    }
    if action not in specs:
        raise records.NotFound("action", action)
    model, fn = specs[action]
    raw = dict(form)
    if action == "entry":
        raw["familiar_pain"] = raw.get("familiar_pain") == "on"
        raw["pleural_recess_acknowledged"] = raw.get("pleural_recess_acknowledged") == "on"
        if raw.get("technique") == "electrical":
            raw["estim"] = {
                k: raw.pop(k, None) for k in ("frequency_hz", "pulse_width_us", "intensity_ma")
            }
        else:
            for k in ("frequency_hz", "pulse_width_us", "intensity_ma"):
                raw.pop(k, None)
    data, errors = parse_form(model, raw)
    if data is None:
        return errors
    fn(session, principal=principal, session_id=ns.id, data=data)
    return {}
