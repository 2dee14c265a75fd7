"""The SOAP note form: one POST for saving, signing and adding an addendum, and a page of
its own (the visit page includes the same partial, `notes/_soap.html`).

Each action is one transaction through `notes.service`; a refused form comes back with the
clinician's text and a message beside the field (422), never a half-written note.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import PageForm, PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.accounts.service import Principal
from triggerpoint.errors import Conflict, InvalidInput, NotFound
from triggerpoint.notes import schemas, service
from triggerpoint.records import service as records
from triggerpoint.records.models import Visit
from triggerpoint.records.schemas import RecordId
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
ACTIONS = ("save", "sign", "addendum")


def safe_next(target: object, visit_id: int) -> str:
    """Where to go after the form: `next` if it is a path of this site, else the visit."""
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and target.isprintable()
        and len(target) <= 500
    ):
        return target
    return f"/visits/{visit_id}"


def soap_context(
    session: Session,
    principal: Principal,
    visit: Visit,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The context `notes/_soap.html` expects: note (NoteOut or None), visit, templates,
    principal, errors, form."""
    note = service.find_note(session, principal=principal, visit_id=visit.id)
    return {
        "note": service.note_out(session, note) if note is not None else None,
        "visit": visit,
        "templates": service.list_templates(session, principal=principal),
        "principal": principal,
        "errors": errors or {},
        "form": form or {},
    }


def _page(
    request: Request,
    session: Session,
    principal: Principal,
    visit: Visit,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    patient = records.get_patient(session, principal=principal, patient_id=visit.patient_id)
    ctx = soap_context(session, principal, visit, errors=errors, form=form)
    ctx |= {"p": patient, "next": f"/visits/{visit.id}/note"}
    return templates().TemplateResponse(request, "notes/note.html", ctx, status_code=status)


@pages.get("/visits/{visit_id}/note", response_class=HTMLResponse)
def note_page(
    request: Request, principal: PagePrincipal, session: PageSession, visit_id: RecordId
) -> Response:
    principal.require("clinical:read")
    visit = records.get_record(session, Visit, visit_id, "visit")
    return _page(request, session, principal, visit)


def _content(form: dict[str, Any]) -> dict[str, Any]:
    """The form's fields as NoteIn takes them (the red-flag select: yes, no or not recorded)."""
    raw = {k: form.get(k, "") for k in (*service.CONTENT, "version", "template")}
    raw["red_flags_checked"] = {"yes": True, "no": False}.get(str(form.get("red_flags_checked")))
    return raw


def _act(
    session: Session, principal: Principal, visit: Visit, action: str, form: dict[str, Any]
) -> dict[str, str]:
    """Do the form's action; the field errors to show (empty: done)."""
    if action == "addendum":
        data, errors = parse_form(schemas.NoteAddendumIn, {"text": form.get("text", "")})
        if data is not None:
            service.add_note_addendum(session, principal=principal, visit_id=visit.id, data=data)
        return {f"addendum_{k}": v for k, v in errors.items()}
    note_in, errors = parse_form(schemas.NoteIn, _content(form))
    if note_in is None:
        return errors
    note = service.save_note(session, principal=principal, visit_id=visit.id, data=note_in)
    if action == "sign":
        sign = schemas.SignNoteIn(version=note.version)
        service.sign_note(session, principal=principal, visit_id=visit.id, data=sign)
    return {}


@pages.post("/visits/{visit_id}/note", response_class=HTMLResponse)
def note_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    visit_id: RecordId,
    form_data: PageForm,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Save (optionally applying a template), save and sign, or add an addendum; then back
    to `next` (a path of this site) or the visit."""
    principal.require("clinical:write")  # first: a refused form re-renders the note
    form = {k: v for k, v in form_data.items() if k != "csrf_token"}
    visit = records.get_record(session, Visit, visit_id, "visit")
    action = str(form.get("action") or "save")
    if action not in ACTIONS:
        raise NotFound("action", action)
    try:
        errors = _act(session, principal, visit, action, form)
    except (InvalidInput, Conflict) as exc:
        errors = {exc.field or "form": str(exc)}
    if not errors:
        target = safe_next(form.get("next") or next, visit_id)
        return RedirectResponse(target if "#" in target else f"{target}#soap", status_code=303)
    session.rollback()
    return _page(request, session, principal, visit, errors=errors, form=form, status=422)
