"""HTTP API for a visit's palpation findings (one transaction per request)."""

from __future__ import annotations

from fastapi import APIRouter, status

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.examination import schemas, service
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["examination"])


@api.get("/visits/{visit_id}/palpation", summary="The visit's palpation findings")
@api_handler
def list_findings(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId
) -> list[schemas.FindingView]:
    out = service.list_findings(session, principal=principal, visit_id=visit_id)
    return out


@api.post(
    "/visits/{visit_id}/palpation",
    status_code=status.HTTP_201_CREATED,
    summary="Record a palpation finding (the same site again updates it)",
)
@api_handler
def record_finding(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId, data: schemas.FindingIn
) -> schemas.FindingView:
    out = service.record_finding(session, principal=principal, visit_id=visit_id, data=data)
    return out


@api.delete(
    "/visits/{visit_id}/palpation/{finding_id}",
    summary="Remove a palpation finding recorded in error (answers the findings left)",
)
@api_handler
def remove_finding(
    principal: ApiPrincipal, session: ApiSession, visit_id: RecordId, finding_id: RecordId
) -> list[schemas.FindingView]:
    service.remove_finding(session, principal=principal, visit_id=visit_id, finding_id=finding_id)
    out = service.list_findings(session, principal=principal, visit_id=visit_id)
    return out
