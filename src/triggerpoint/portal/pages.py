"""The clinician's side of questionnaire requests, on the patient page: the list (sent, opened,
submitted), a form to ask for instruments and a pain drawing, resend and cancel.

The section is `portal/_requests.html`, included by the patient page. Its data comes from
`patient_section`, which this module adds to the records patient page's extras when it is
imported (records may not import portal: portal builds on records). The link is shown once,
on the page that answers the form (with its QR code, on screen and as a PNG to print): only
its digest is stored, so no later page can show it again.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import PageForm, PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.accounts.service import Principal
from triggerpoint.config import get_settings
from triggerpoint.errors import InvalidInput
from triggerpoint.outcomes import service as outcomes
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.portal import i18n, messages, schemas, service
from triggerpoint.portal.deliveries import deliveries
from triggerpoint.portal.deps import send_after_commit
from triggerpoint.portal.models import DELIVERED, QuestionnaireRequest
from triggerpoint.records import pages as records_pages
from triggerpoint.records.schemas import RecordId
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
CHANNELS = {"email": "Email", "sms": "Text message (SMS)", "qr": "QR code", "none": "Link only"}


def _choices() -> list[tuple[str, str]]:
    return [(i, definitions()[i]["name"]) for i in service.PATIENT_REPORTED]


def patient_section(session: Session, principal: Principal, patient_id: int) -> dict[str, Any]:
    """The template variables of the patient page's questionnaire section."""
    if not principal.can("patient:read"):
        return {"questionnaires": None}
    rows = service.list_requests(session, principal=principal, patient_id=patient_id)
    reported = outcomes.patient_reported(session, principal=principal, patient_id=patient_id)
    return {
        "reported_by_visit": reported,
        "questionnaires": {
            "rows": rows,
            "deliveries": deliveries(session, principal=principal, requests=rows),
            **_form_choices(session, principal, patient_id),
        },
    }


def _form_choices(session: Session, principal: Principal, patient_id: int) -> dict[str, Any]:
    """What the request form offers: instruments, channels, languages, the default lifetime,
    and the visits still to come that the request can be asked before (the soonest first)."""
    return {
        "instruments": _choices(),
        "channels": CHANNELS,
        "languages": i18n.languages(),
        "days": get_settings().request_days,
        "visits": service.upcoming_visits(session, principal=principal, patient_id=patient_id),
    }


if patient_section not in records_pages.PATIENT_PAGE_EXTRAS:
    records_pages.PATIENT_PAGE_EXTRAS.append(patient_section)


def _link_page(
    request: Request, principal: Principal, row: QuestionnaireRequest, token: str
) -> Response:
    """The request just made. A link sent by email or SMS is not shown: the worker's message
    carries a fresh one, and the one on screen would stop working once it is sent."""
    ctx: dict[str, Any] = {"principal": principal, "row": row, "names": dict(_choices())}
    ctx["delivered"] = row.channel in DELIVERED
    if not ctx["delivered"]:
        url = service.patient_url(token)
        ctx |= {
            "url": url,
            "qr_svg": messages.qr_svg(url, title="Questionnaire link"),
            "qr_png": base64.b64encode(messages.qr_png(url)).decode("ascii"),
        }
    return templates().TemplateResponse(request, "portal/created.html", ctx, status_code=201)


@pages.post("/patients/{patient_id}/questionnaire-requests", response_class=HTMLResponse)
def request_create(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    form: PageForm,
) -> Response:
    raw: dict[str, Any] = {
        "instruments": form.getlist("instruments"),
        "pain_drawing": form.get("pain_drawing") == "on",
        "channel": form.get("channel") or "none",
        "expires_in_days": form.get("expires_in_days") or None,
        "language": form.get("language") or None,
        "visit_id": form.get("visit_id") or None,
    }
    data, errors = parse_form(schemas.RequestIn, raw)
    if data is not None:
        try:
            row, token = service.create_request(
                session, principal=principal, patient_id=patient_id, data=data
            )
        except InvalidInput as exc:
            session.rollback()
            errors = {exc.field.split(".")[0]: str(exc)}
        else:
            send_after_commit(session, row)
            return _link_page(request, principal, row, token)
    return templates().TemplateResponse(
        request,
        "portal/new.html",
        {
            "principal": principal,
            "patient_id": patient_id,
            "errors": errors,
            "form": raw,
            "q": _form_choices(session, principal, patient_id),
        },
        status_code=422,
    )


@pages.post("/questionnaire-requests/{request_id}/cancel", response_class=HTMLResponse)
def request_cancel(
    request: Request, principal: PagePrincipal, session: PageSession, request_id: RecordId
) -> Response:
    row = service.cancel_request(session, principal=principal, request_id=request_id)
    return RedirectResponse(f"/patients/{row.patient_id}#questionnaires", status_code=303)


@pages.post("/questionnaire-requests/{request_id}/resend", response_class=HTMLResponse)
def request_resend(
    request: Request, principal: PagePrincipal, session: PageSession, request_id: RecordId
) -> Response:
    row, token = service.resend_request(session, principal=principal, request_id=request_id)
    send_after_commit(session, row)
    return _link_page(request, principal, row, token)
