"""Pages for screening, consent and bedside charting of a needling session.

Forms post back to these routes (post/redirect/get), so the pages work without JavaScript;
a little JS adds the keyboard shortcuts. Every rule is enforced by the same service
functions as the API.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel

from triggerpoint.accounts.deps import PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.accounts.models import User
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.errors import Conflict, InvalidInput, NotFound, SafetyBlock
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


def _render(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return templates().TemplateResponse(request, name, ctx, status_code=status)


@pages.get("/patients/{patient_id}/screening", response_class=HTMLResponse)
def screening_form(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    principal.require("clinical:read")
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors={}, form={})
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
            return RedirectResponse(f"/patients/{patient_id}/screening", status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors = {exc.field: str(exc)}
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    ctx = _screening_context(session, patient, errors=errors, form=dict(form))
    ctx["missing"] = {r.id for r in missing_questions(answers)}
    return _render(request, "treatment/screening.html", ctx, 422)


def _risks() -> dict[str, Any]:
    """The risks to tick, each with its published frequency (`safety.rates.consent_risks`)."""
    return {"risks": RISKS, "freq": {r["key"]: r["summary"] for r in consent_risks()}}


@pages.get("/patients/{patient_id}/consent", response_class=HTMLResponse)
def consent_form(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    return _render(
        request,
        "treatment/consent.html",
        {"p": patient, **_risks(), "errors": {}, "form": {}},
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
        return RedirectResponse(f"/patients/{patient_id}", status_code=303)
    patient = records.get_patient(session, principal=principal, patient_id=patient_id)
    return _render(
        request,
        "treatment/consent.html",
        {
            "p": patient,
            **_risks(),
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
    visit = records.get_record(session, Visit, visit_id, "visit")
    needling = service.needling_for_visit(session, visit_id=visit_id)
    ctx = _needling_context(session, principal, visit, needling)
    return _render(request, "treatment/needling.html", ctx)


def _needling_context(
    session,
    principal,
    visit: Visit,
    needling: NeedlingSession | None,
    errors: dict | None = None,
    form: dict | None = None,
) -> dict:
    patient = records.get_patient(session, principal=principal, patient_id=visit.patient_id)
    atlas = load_atlas()
    screening = service.latest_screening(session, patient_id=visit.patient_id)
    ctx: dict[str, Any] = {
        "visit": visit,
        "p": patient,
        "ns": needling,
        "screening": screening,
        "consent": records.active_consent(
            session, patient_id=visit.patient_id, kind=records.DRY_NEEDLING
        ),
        "errors": errors or {},
        "form": form or {},
        "muscles": sorted(atlas.muscles.values(), key=lambda m: m.name),
        "ae_types": schemas.AE_TYPES,
        "urgent_action": service.URGENT_ACTION,
    }
    if needling is not None:
        out = service.needling_out(session, needling)
        last = needling.entries[-1] if needling.entries else None
        ctx |= {
            "out": out,
            "billing": service.billing(needling),
            "plain_precautions": service.precautions_besides_restrictions(session, needling),
            "last": last,
            "unaccounted": service.unaccounted(needling),
            "thorax_muscles": {m.id for m in atlas.muscles.values() if m.needling.thorax},
            "recess_muscles": sorted(m.name for m in atlas.muscles.values() if m.pleural_recess),
            "recess_ids": sorted(m.id for m in atlas.muscles.values() if m.pleural_recess),
            "names": {m.id: m.name for m in atlas.muscles.values()},
            **service.needling_suggestions(session, principal=principal, needling=needling),
        }
    return ctx


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
    visit = records.get_record(session, Visit, visit_id, "visit")
    needling = service.needling_for_visit(session, visit_id=visit_id)
    errors: dict[str, str] = {}
    try:
        errors = _do(session, principal, visit, needling, action, form)
    except (InvalidInput, SafetyBlock, Conflict) as exc:
        session.rollback()
        errors = {exc.field or "form": str(exc)}  # a safety block or conflict: the whole form
    if not errors:
        return RedirectResponse(f"/visits/{visit_id}/needling#{action}", status_code=303)
    session.rollback()
    needling = service.needling_for_visit(session, visit_id=visit_id)
    return _render(
        request,
        "treatment/needling.html",
        _needling_context(session, principal, visit, needling, errors, {**form, "_action": action}),
        422,
    )


def _do(
    session, principal, visit: Visit, needling: NeedlingSession | None, action: str, form: dict
) -> dict[str, str]:
    if action == "confirm":
        service.confirm_screening(session, principal=principal, visit_id=visit.id)
        return {}
    if action == "open":
        service.open_needling(session, principal=principal, visit_id=visit.id)
        return {}
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
    fn(session, principal=principal, needling_id=needling.id, data=data)
    return {}
