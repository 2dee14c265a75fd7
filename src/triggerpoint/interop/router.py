"""HTTP: FHIR export (and import) of a patient's record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, api_handler
from triggerpoint.interop import fhir
from triggerpoint.records.schemas import RecordId

api = APIRouter(prefix="/api", tags=["interoperability"])


@api.get("/patients/{patient_id}/fhir", summary="The patient's record as a FHIR R4 Bundle")
@api_handler
def export_fhir(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> dict[str, Any]:
    out = fhir.export_patient(session, principal=principal, patient_id=patient_id)
    session.commit()
    return out


@api.post(
    "/fhir/import", status_code=201, summary="Import a patient's record from a FHIR R4 Bundle"
)
@api_handler
def import_fhir(
    principal: ApiPrincipal, session: ApiSession, bundle: dict[str, Any]
) -> dict[str, int]:
    from triggerpoint.records.service import RecordError

    try:
        pid = fhir.import_bundle(session, principal=principal, bundle=bundle)
    except fhir.FhirImportError as exc:
        raise RecordError(exc.field, str(exc)) from None
    session.commit()
    return {"patient_id": pid}
