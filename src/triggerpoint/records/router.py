"""HTTP API for patients, episodes, visits, pain drawings and consent.

Each write is one transaction: the handler does all its work, then commits once; any error
rolls everything back (see accounts.deps), so nothing is half-written.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, status

from triggerpoint.accounts.deps import ApiPrincipal, ApiSession, UnitOfWorkRoute, api_handler
from triggerpoint.records import schemas, service
from triggerpoint.records.schemas import RecordId

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api", tags=["records"])


@api.get("/patients", summary="List or search patients")
@api_handler
def list_patients(
    principal: ApiPrincipal,
    session: ApiSession,
    q: Annotated[str | None, Query(max_length=100, description="name, external id")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> schemas.Page[schemas.PatientOut]:
    rows, total = service.list_patients(
        session, principal=principal, q=q, limit=limit, offset=offset
    )
    page = schemas.Page[schemas.PatientOut](
        items=[schemas.PatientOut.model_validate(p) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
    )
    return page


@api.post("/patients", status_code=status.HTTP_201_CREATED, summary="Create a patient")
@api_handler
def create_patient(
    principal: ApiPrincipal, session: ApiSession, data: schemas.PatientIn
) -> schemas.PatientOut:
    patient = service.create_patient(session, principal=principal, data=data)
    out = schemas.PatientOut.model_validate(patient)
    return out


@api.get("/patients/{patient_id}", summary="One patient")
@api_handler
def get_patient(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> schemas.PatientOut:
    out = schemas.PatientOut.model_validate(
        service.get_patient(session, principal=principal, patient_id=patient_id)
    )
    return out


@api.put("/patients/{patient_id}", summary="Update a patient (send the version you edited)")
@api_handler
def update_patient(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.PatientUpdate
) -> schemas.PatientOut:
    patient = service.update_patient(session, principal=principal, patient_id=patient_id, data=data)
    out = schemas.PatientOut.model_validate(patient)
    return out


@api.get("/patients/{patient_id}/episodes", summary="A patient's episodes of care")
@api_handler
def list_episodes(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.EpisodeOut]:
    principal.require("clinical:read")  # complaints and diagnoses (docs/security.md, Roles)
    rows = service.list_episodes(session, principal=principal, patient_id=patient_id)
    out = [schemas.EpisodeOut.model_validate(e) for e in rows]
    return out


@api.post("/patients/{patient_id}/episodes", status_code=201, summary="Open an episode of care")
@api_handler
def create_episode(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.EpisodeIn
) -> schemas.EpisodeOut:
    out = schemas.EpisodeOut.model_validate(
        service.create_episode(session, principal=principal, patient_id=patient_id, data=data)
    )
    return out


@api.post(
    "/patients/{patient_id}/episodes/{episode_id}/diagnoses",
    status_code=201,
    summary="Add a diagnosis to an episode (a listed, billable ICD-10-CM code)",
)
@api_handler
def add_diagnosis(
    principal: ApiPrincipal,
    session: ApiSession,
    patient_id: RecordId,
    episode_id: RecordId,
    data: schemas.DiagnosisIn,
) -> schemas.EpisodeOut:
    episode = service.add_diagnosis(
        session, principal=principal, patient_id=patient_id, episode_id=episode_id, data=data
    )
    out = schemas.EpisodeOut.model_validate(episode)
    return out


@api.delete(
    "/patients/{patient_id}/episodes/{episode_id}/diagnoses/{code}",
    summary="Remove a diagnosis recorded in error",
)
@api_handler
def remove_diagnosis(
    principal: ApiPrincipal,
    session: ApiSession,
    patient_id: RecordId,
    episode_id: RecordId,
    code: Annotated[
        str, Path(max_length=10, pattern=r"^[A-Za-z][0-9][0-9A-Za-z](\.[0-9A-Za-z]{1,4})?$")
    ],
) -> schemas.EpisodeOut:
    episode = service.remove_diagnosis(
        session, principal=principal, patient_id=patient_id, episode_id=episode_id, code=code
    )
    out = schemas.EpisodeOut.model_validate(episode)
    return out


@api.get("/icd10cm", summary="Search the ICD-10-CM codes a diagnosis may carry")
@api_handler
def search_icd10cm(
    principal: ApiPrincipal,
    q: Annotated[
        str, Query(max_length=100, description="a code's start (M79.1) or words (myalgia neck)")
    ] = "",
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> list[schemas.Icd10Out]:
    out = [schemas.Icd10Out.model_validate(c) for c in service.search_icd10(q, limit=limit)]
    return out


@api.get("/patients/{patient_id}/visits", summary="A patient's visits")
@api_handler
def list_visits(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.VisitOut]:
    rows = service.list_visits(session, principal=principal, patient_id=patient_id)
    out = [service.visit_out(v, principal) for v in rows]
    return out


@api.post("/patients/{patient_id}/visits", status_code=201, summary="Record a visit")
@api_handler
def create_visit(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.VisitIn
) -> schemas.VisitOut:
    out = service.visit_out(
        service.create_visit(session, principal=principal, patient_id=patient_id, data=data),
        principal,
    )
    return out


@api.get("/patients/{patient_id}/pain-drawings", summary="A patient's pain drawings, oldest first")
@api_handler
def list_pain_drawings(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.PainDrawingOut]:
    principal.require("clinical:read")  # docs/security.md, Roles
    rows = service.list_pain_drawings(session, principal=principal, patient_id=patient_id)
    out = [schemas.PainDrawingOut.model_validate(d) for d in rows]
    return out


@api.post("/patients/{patient_id}/pain-drawings", status_code=201, summary="Store a pain drawing")
@api_handler
def create_pain_drawing(
    principal: ApiPrincipal,
    session: ApiSession,
    patient_id: RecordId,
    data: schemas.PainDrawingIn,
    visit_id: Annotated[
        int | None, Query(ge=1, le=2_147_483_647, description="The visit it belongs to")
    ] = None,
) -> schemas.PainDrawingOut:
    drawing = service.create_pain_drawing(
        session, principal=principal, patient_id=patient_id, data=data, visit_id=visit_id
    )
    out = schemas.PainDrawingOut.model_validate(drawing)
    return out


@api.get("/patients/{patient_id}/consents", summary="A patient's consent records")
@api_handler
def list_consents(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId
) -> list[schemas.ConsentOut]:
    out = [
        schemas.ConsentOut.model_validate(c)
        for c in service.list_consents(session, principal=principal, patient_id=patient_id)
    ]
    return out


@api.post(
    "/patients/{patient_id}/consents",
    status_code=201,
    summary="Record a consent: dry needling (default) or research",
)
@api_handler
def record_consent(
    principal: ApiPrincipal, session: ApiSession, patient_id: RecordId, data: schemas.ConsentIn
) -> schemas.ConsentOut:
    out = schemas.ConsentOut.model_validate(
        service.record_consent(session, principal=principal, patient_id=patient_id, data=data)
    )
    return out


@api.post("/consents/{consent_id}/withdraw", summary="Withdraw a consent")
@api_handler
def withdraw_consent(
    principal: ApiPrincipal,
    session: ApiSession,
    consent_id: RecordId,
    version: Annotated[int, Body(embed=True, ge=1, le=2_147_483_647)],
) -> schemas.ConsentOut:
    out = schemas.ConsentOut.model_validate(
        service.withdraw_consent(
            session, principal=principal, consent_id=consent_id, version=version
        )
    )
    return out
