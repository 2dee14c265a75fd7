"""HTTP API for questionnaire requests (staff; one transaction per request).

The patient's own routes (/r/{token}, no login) are `portal.patient_pages`. Sending a request
(email or SMS) is never done here: it is enqueued for the worker once the request is
committed (`send_after_commit`), so the worker finds the row.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.portal import schemas, service
from triggerpoint.portal.deps import send_after_commit
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["portal"])


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
