"""HTTP API for screening and needling sessions (one transaction per request)."""

from __future__ import annotations

from fastapi import APIRouter

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.records.schemas import RecordId
from triggerpoint.treatment import schemas, service

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["needling"])


@api.post(
    "/patients/{patient_id}/screenings", status_code=201, summary="Screen for contraindications"
)
@api_handler
def create_screening(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.ScreeningIn
) -> schemas.ScreeningOut:
    out = schemas.ScreeningOut.model_validate(
        service.record_screening(session, principal=principal, patient_id=patient_id, data=data)
    )
    return out


@api.post(
    "/visits/{visit_id}/screening-confirmation", summary="Re-confirm the screening at this visit"
)
@api_handler
def confirm_screening(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId
) -> schemas.ScreeningOut:
    out = schemas.ScreeningOut.model_validate(
        service.confirm_screening(session, principal=principal, visit_id=visit_id)
    )
    return out


@api.post("/needling-sessions", status_code=201, summary="Open a needling session for a visit")
@api_handler
def open_session(
    principal: ApiPrincipal, session: ApiSession, data: schemas.OpenSessionIn
) -> schemas.SessionOut:
    needling = service.open_needling(session, principal=principal, visit_id=data.visit_id)
    out = service.needling_out(session, needling)
    return out


@api.get(
    "/needling-sessions/{session_id}", summary="A needling session with entries, counts and events"
)
@api_handler
def get_session(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId
) -> schemas.SessionOut:
    out = service.needling_out(
        session, service.get_needling(session, principal=principal, needling_id=session_id)
    )
    return out


@api.post(
    "/needling-sessions/{session_id}/targets",
    status_code=201,
    summary="Plan a target (e.g. from a suggestion)",
)
@api_handler
def add_target(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.TargetIn
) -> schemas.SessionOut:
    service.add_target(session, principal=principal, needling_id=session_id, data=data)
    out = service.needling_out(
        session, service.get_needling(session, principal=principal, needling_id=session_id)
    )
    return out


@api.post("/needling-sessions/{session_id}/entries", status_code=201, summary="Chart one needle")
@api_handler
def add_entry(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.EntryIn
) -> schemas.EntryOut:
    out = schemas.EntryOut.model_validate(
        service.add_entry(session, principal=principal, needling_id=session_id, data=data)
    )
    return out


@api.post("/needling-sessions/{session_id}/count", summary="Record the needles counted out")
@api_handler
def record_count(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.CountIn
) -> schemas.SessionOut:
    out = service.needling_out(
        session,
        service.record_count(session, principal=principal, needling_id=session_id, data=data),
    )
    return out


@api.post(
    "/needling-sessions/{session_id}/adverse-events",
    status_code=201,
    summary="Report an adverse event",
)
@api_handler
def report_adverse_event(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.AdverseEventIn
) -> schemas.AdverseEventOut:
    out = service.adverse_event_out(
        service.report_adverse_event(
            session, principal=principal, needling_id=session_id, data=data
        )
    )
    return out


@api.post("/needling-sessions/{session_id}/sign", summary="Sign the session (it is then immutable)")
@api_handler
def sign(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.SignIn
) -> schemas.SessionOut:
    out = service.needling_out(
        session, service.sign(session, principal=principal, needling_id=session_id, data=data)
    )
    return out


@api.post(
    "/needling-sessions/{session_id}/addenda",
    status_code=201,
    summary="Add a dated addendum to a signed session",
)
@api_handler
def add_addendum(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId, data: schemas.AddendumIn
) -> dict:
    a = service.add_addendum(session, principal=principal, needling_id=session_id, data=data)
    out = {"id": a.id, "text": a.text, "created_at": a.created_at}
    return out


@api.get("/needling-sessions/{session_id}/billing", summary="CPT and ICD-10-CM suggestions")
@api_handler
def billing(
    principal: ApiPrincipal, session: ApiSession, session_id: RecordId
) -> schemas.BillingOut:
    out = service.billing(
        service.get_needling(session, principal=principal, needling_id=session_id)
    )
    return out


@api.get(
    "/safety/adverse-event-rates",
    summary="Clinic adverse-event rates per 1,000 sessions beside published rates",
)
@api_handler
def adverse_event_rates(principal: ApiPrincipal, session: ApiSession) -> dict:
    from triggerpoint.treatment.stats import adverse_event_rates as rates

    principal.require("clinical:read")
    out = rates(session)
    return out


@api.get("/dashboard/unsigned-sessions", summary="Open needling sessions older than 24 hours")
@api_handler
def unsigned(principal: ApiPrincipal, session: ApiSession) -> list[dict]:
    rows = service.unsigned_sessions(session, principal=principal)
    out = [
        {
            "id": needling.id,
            "patient_id": needling.patient_id,
            "visit_id": needling.visit_id,
            "opened_at": needling.opened_at,
        }
        for needling in rows
    ]
    return out
