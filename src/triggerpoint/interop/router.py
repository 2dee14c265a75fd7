"""HTTP: FHIR export (and import) of a patient's record."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.db import open_session
from triggerpoint.interop import fhir, questionnaires
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


# Any other id is a 404 (not a 422), however long: the id names a resource, not an input.
QuestionnaireId = Annotated[
    str, Path(description="The instrument id: nprs, ndi, odi, quickdash, groc, pain-drawing")
]


@api.get(
    "/fhir/Questionnaire",
    summary="The outcome instruments as FHIR R4 Questionnaires (a searchset Bundle)",
    description="One Questionnaire per patient-reported instrument, SDC style (docs/fhir.md): "
    "structure and answer ranges; no licensed item wording. `url` (canonical, optionally "
    "`|version`) and `name` narrow the search.",
)
@api_handler
def questionnaire_search(
    principal: ApiPrincipal,
    url: Annotated[str | None, Query(max_length=200)] = None,
    name: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    principal.require("clinical:read")
    return questionnaires.questionnaire_bundle(url=url, name=name)


@api.get(
    "/fhir/Questionnaire/{questionnaire_id}",
    summary="One outcome instrument as a FHIR R4 Questionnaire",
    responses={404: {"description": "No such instrument"}},
)
@api_handler
def questionnaire_read(
    principal: ApiPrincipal, questionnaire_id: QuestionnaireId
) -> dict[str, Any]:
    principal.require("clinical:read")
    return questionnaires.questionnaire(questionnaire_id)


@api.post(
    "/fhir/QuestionnaireResponse",
    dependencies=[FHIR_LIMIT],
    status_code=201,
    summary="Submit a questionnaire request's answers as FHIR R4 QuestionnaireResponses",
    description="For a patient app that speaks FHIR, in place of the patient's page: one "
    "QuestionnaireResponse, or a `collection` Bundle of them (one per requested instrument; "
    "the pain drawing answers the `pain-drawing` Questionnaire). No login: each carries the "
    f"link's token in `identifier` (system `{questionnaires.PATIENT_LINK}`), and the "
    "answers go through the patient page's own submission (patient-reported, timed at "
    "submission, single use). A refusal is 422 naming the element "
    "(`QuestionnaireResponse[1].item.4`), 404 for an unknown link, 410 for a used, cancelled "
    "or expired one; nothing is written then. Rate-limited per client address.",
)
def questionnaire_response_import(body: dict[str, Any]) -> dict[str, Any]:
    # The token is the credential (as on /r/<token>): the session starts unscoped and the
    # portal confines it to the request's clinic once the token's digest is found.
    with open_session(clinic_id=None) as session:
        out = questionnaires.import_responses(session, body=body)
        session.commit()  # no ApiSession: the link's token, not a login, scopes this one
    return out
