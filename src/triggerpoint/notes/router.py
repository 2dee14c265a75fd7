"""HTTP API for SOAP notes and the clinic's note templates (one transaction per request)."""

from __future__ import annotations

from fastapi import APIRouter, status

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.notes import schemas, service
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["notes"])


@api.get("/visits/{visit_id}/note", summary="The visit's SOAP note (404 if none yet)")
@api_handler
def get_note(principal: ApiPrincipal, session: ApiSession, visit_id: RecordId) -> schemas.NoteOut:
    note = service.get_note(session, principal=principal, visit_id=visit_id)
    out = service.note_out(session, note)
    return out


@api.put(
    "/visits/{visit_id}/note",
    summary="Write the visit's SOAP note (create, or replace an unsigned one: send its version)",
)
@api_handler
def save_note(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId, data: schemas.NoteIn
) -> schemas.NoteOut:
    note = service.save_note(session, principal=principal, visit_id=visit_id, data=data)
    out = service.note_out(session, note)
    return out


@api.post("/visits/{visit_id}/note/sign", summary="Sign the visit's SOAP note on its own")
@api_handler
def sign_note(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId, data: schemas.SignNoteIn
) -> schemas.NoteOut:
    note = service.sign_note(session, principal=principal, visit_id=visit_id, data=data)
    out = service.note_out(session, note)
    return out


@api.post(
    "/visits/{visit_id}/note/addenda",
    status_code=status.HTTP_201_CREATED,
    summary="Add a dated addendum to a signed SOAP note",
)
@api_handler
def add_addendum(
    principal: ApiPrincipal,
    session: ApiSession,
    visit_id: RecordId,
    data: schemas.NoteAddendumIn,
) -> schemas.NoteOut:
    service.add_note_addendum(session, principal=principal, visit_id=visit_id, data=data)
    out = service.note_out(
        session, service.get_note(session, principal=principal, visit_id=visit_id)
    )
    return out


@api.get("/note-templates", summary="The clinic's SOAP note templates (built-in ones if none)")
@api_handler
def list_templates(principal: ApiPrincipal, session: ApiSession) -> list[schemas.NoteTemplateOut]:
    out = service.list_templates(session, principal=principal)
    return out


@api.post(
    "/note-templates",
    status_code=status.HTTP_201_CREATED,
    summary="Add a SOAP note template for the clinic",
)
@api_handler
def create_template(
    principal: ApiPrincipal, session: ApiSession, data: schemas.NoteTemplateIn
) -> schemas.NoteTemplateOut:
    out = service.create_template(session, principal=principal, data=data)
    return out
