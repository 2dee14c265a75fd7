"""HTTP API for questionnaire requests (staff; one transaction per request).

The patient's own routes (/r/{token}, no login) are `portal.patient_pages`. Sending a request
(email or SMS) is never done here: it is enqueued for the worker once the request is
committed (`send_after_commit`), so the worker finds the row.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    PageForm,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.accounts.service import Principal
from triggerpoint.config import get_settings
from triggerpoint.errors import Conflict, InvalidInput
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.portal import rules, schemas, service
from triggerpoint.portal.deps import send_after_commit
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.schemas import RecordId
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["portal"])
# The clinic's questionnaire rules page (/clinic/questionnaire-rules), wired by web/app.py.
rule_pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
RULES_PATH = "/clinic/questionnaire-rules"
NO_STORE = {"Cache-Control": "no-store"}
RULE_CHANNELS = {"email": "Email", "sms": "Text message (SMS)"}


def _created(row: QuestionnaireRequest, token: str) -> schemas.RequestCreated:
    return schemas.RequestCreated(
        id=row.id,
        url=service.patient_url(token),
        expires_at=row.expires_at,
        status=row.status,
        visit_id=row.visit_id,
        episode_id=row.episode_id,
    )


@api.post(
    "/patients/{patient_id}/questionnaire-requests",
    status_code=status.HTTP_201_CREATED,
    summary="Ask the patient to fill in questionnaires (and a pain drawing) through a link",
)
@api_handler
def create_request(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.RequestIn
) -> schemas.RequestCreated:
    row, token = service.create_request(
        session, principal=principal, patient_id=patient_id, data=data
    )
    send_after_commit(session, row)
    return _created(row, token)


@api.get(
    "/patients/{patient_id}/questionnaire-requests",
    summary="The patient's questionnaire requests (status and times; never the link)",
)
@api_handler
def list_requests(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.RequestOut]:
    rows = service.list_requests(session, principal=principal, patient_id=patient_id)
    return [schemas.RequestOut.model_validate(r) for r in rows]


@api.post(
    "/questionnaire-requests/{request_id}/cancel",
    summary="Cancel an open request: its link stops working",
)
@api_handler
def cancel_request(
    principal: ApiPrincipal, session: ApiSession, request_id: RecordId
) -> schemas.RequestOut:
    row = service.cancel_request(session, principal=principal, request_id=request_id)
    return schemas.RequestOut.model_validate(row)


@api.post(
    "/questionnaire-requests/{request_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Send an open request again with a new link (the old link stops working)",
)
@api_handler
def resend_request(
    principal: ApiPrincipal, session: ApiSession, request_id: RecordId
) -> schemas.RequestCreated:
    row, token = service.resend_request(session, principal=principal, request_id=request_id)
    send_after_commit(session, row)
    return _created(row, token)


# --- clinic rules: JSON API ---------------------------------------------------------------------


@api.get(
    "/clinic/questionnaire-rules",
    summary="The clinic's rules that ask patients for questionnaires before matching visits",
)
@api_handler
def list_rules(principal: ApiPrincipal, session: ApiSession) -> list[rules.RuleOut]:
    rows = rules.list_rules(session, principal=principal)
    return [rules.RuleOut.model_validate(r) for r in rows]


@api.post(
    "/clinic/questionnaire-rules",
    status_code=status.HTTP_201_CREATED,
    summary="Add a rule, e.g. NPRS and NDI two days before every visit of a neck episode",
)
@api_handler
def create_rule(principal: ApiPrincipal, session: ApiSession, data: rules.RuleIn) -> rules.RuleOut:
    row = rules.create_rule(session, principal=principal, data=data)
    return rules.RuleOut.model_validate(row)


@api.patch(
    "/clinic/questionnaire-rules/{rule_id}",
    summary="Change a rule (send `version`; `active: false` deactivates it)",
)
@api_handler
def update_rule(
    principal: ApiPrincipal, session: ApiSession, rule_id: RecordId, data: rules.RulePatch
) -> rules.RuleOut:
    row = rules.update_rule(session, principal=principal, rule_id=rule_id, data=data)
    return rules.RuleOut.model_validate(row)


@api.delete(
    "/clinic/questionnaire-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Delete a rule (the requests it made stay)",
)
@api_handler
def delete_rule(principal: ApiPrincipal, session: ApiSession, rule_id: RecordId) -> Response:
    rules.delete_rule(session, principal=principal, rule_id=rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- clinic rules: the page ---------------------------------------------------------------------


def _words(text: object) -> list[str]:
    """A form's comma- or semicolon-separated list ('neck, cervical') as its items."""
    return [w.strip() for w in re.split(r"[,;\n]", str(text or "")) if w.strip()]


def _rules_page(
    request: Request,
    principal: Principal,
    session: Session,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    ctx = {
        "principal": principal,
        "rules": rules.list_rules(session, principal=principal),
        "instruments": [(i, definitions()[i]["name"]) for i in service.PATIENT_REPORTED],
        "names": {i: definitions()[i]["name"] for i in definitions()},
        "channels": RULE_CHANNELS,
        "days": get_settings().request_days,
        "errors": errors or {},
        "labels": rules.LABELS,
        "form": form or {},
        "days_before": (rules.MIN_DAYS_BEFORE, rules.MAX_DAYS_BEFORE, rules.DAYS_BEFORE),
    }
    return templates().TemplateResponse(
        request, "portal/rules.html", ctx, status_code=status_code, headers=NO_STORE
    )


@rule_pages.get(RULES_PATH, response_class=HTMLResponse)
def rules_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    return _rules_page(request, principal, session)


@rule_pages.post(RULES_PATH, response_class=HTMLResponse)
def rules_create(
    request: Request, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    raw: dict[str, Any] = {
        "name": form.get("name") or "",
        "instruments": form.getlist("instruments"),
        "pain_drawing": form.get("pain_drawing") == "on",
        "keywords": _words(form.get("keywords")),
        "icd10_prefixes": _words(form.get("icd10_prefixes")),
        "days_before": form.get("days_before") or None,
        "expires_in_days": form.get("expires_in_days") or None,
        "channel": form.get("channel") or "email",
    }
    data, errors = parse_form(rules.RuleIn, raw)
    if data is not None:
        try:
            rules.create_rule(session, principal=principal, data=data)
        except (InvalidInput, Conflict) as exc:
            session.rollback()
            errors = {(exc.field or "name").split(".")[0]: exc.message}
        else:
            return RedirectResponse(RULES_PATH, status_code=303)
    shown = {
        **raw,
        "keywords": ", ".join(raw["keywords"]),
        "icd10_prefixes": ", ".join(raw["icd10_prefixes"]),
    }
    return _rules_page(request, principal, session, errors=errors, form=shown, status_code=422)


@rule_pages.post(RULES_PATH + "/{rule_id}/active", response_class=HTMLResponse)
def rules_set_active(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    rule_id: RecordId,
    form: PageForm,
) -> Response:
    data, errors = parse_form(
        rules.RulePatch, {"version": form.get("version"), "active": form.get("active") == "true"}
    )
    if data is None:
        raise InvalidInput(next(iter(errors), "version"), next(iter(errors.values()), "invalid"))
    rules.update_rule(session, principal=principal, rule_id=rule_id, data=data)
    return RedirectResponse(RULES_PATH, status_code=303)


@rule_pages.post(RULES_PATH + "/{rule_id}/delete", response_class=HTMLResponse)
def rules_delete(
    request: Request, principal: PagePrincipal, session: PageSession, rule_id: RecordId
) -> Response:
    rules.delete_rule(session, principal=principal, rule_id=rule_id)
    return RedirectResponse(RULES_PATH, status_code=303)
