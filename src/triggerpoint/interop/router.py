"""HTTP: FHIR export (and import) of a patient's record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.interop import fhir
from triggerpoint.ratelimit import rate_limit
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["interoperability"])
FHIR_LIMIT = rate_limit("fhir")  # per user (TRIGGERPOINT_RATE_LIMIT_FHIR): 429 beyond it


@api.get(
    "/patients/{patient_id}/fhir",
    dependencies=[FHIR_LIMIT],
    summary="The patient's record as a FHIR R4 Bundle",
)
@api_handler
def export_fhir(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> dict[str, Any]:
    out = fhir.export_patient(session, principal=principal, patient_id=patient_id)
    return out


@api.post(
    "/fhir/import",
    dependencies=[FHIR_LIMIT],
    status_code=201,
    summary="Import a patient's record from a FHIR R4 Bundle",
    description="Every resource goes through the same checks as the JSON API (docs/fhir.md). "
    "A refusal is 422 naming the resource and element (loc `body`, `Procedure[0]`, "
    "`needle-entry[1]`, `depth_mm`), or 409 for a record this clinic already imported; "
    "either way nothing is written.",
)
@api_handler
def import_fhir(
    principal: ApiPrincipal, session: ApiSession, bundle: dict[str, Any]
) -> dict[str, int]:
    # The services flush rows as they go: the handler's unit of work rolls them all back if
    # the import is refused (api_handler), so none of them outlives the refusal.
    pid = fhir.import_bundle(session, principal=principal, bundle=bundle)
    return {"patient_id": pid}
