"""HTTP API for outcome measurements and the per-patient summary."""

from __future__ import annotations

from fastapi import APIRouter

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.outcomes import schemas, service
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["outcomes"])


@api.post(
    "/patients/{patient_id}/measurements", status_code=201, summary="Record one outcome measurement"
)
@api_handler
def create(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.MeasurementIn
) -> schemas.MeasurementOut:
    out = schemas.MeasurementOut.model_validate(
        service.record_measurement(session, principal=principal, patient_id=patient_id, data=data)
    )
    return out


@api.get("/patients/{patient_id}/measurements", summary="A patient's measurements, oldest first")
@api_handler
def list_(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.MeasurementOut]:
    principal.require("clinical:read")  # docs/security.md, Roles
    out = [
        schemas.MeasurementOut.model_validate(m)
        for m in service.list_measurements(session, principal=principal, patient_id=patient_id)
    ]
    return out


@api.get(
    "/patients/{patient_id}/outcomes",
    summary="Change since baseline and immediate change, per measure",
)
@api_handler
def outcomes(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.MeasureSummary]:
    principal.require("clinical:read")
    out = service.summarise(
        service.list_measurements(session, principal=principal, patient_id=patient_id)
    )
    return out
