"""Reliability studies over HTTP: the JSON API (`api`, /api/research/studies...) and the pages
(`pages`, /research/studies...). Both are thin: every rule, blinding first, is the service's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    PageForm,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.accounts.service import Principal
from triggerpoint.errors import DomainError, InvalidInput
from triggerpoint.research.reliability import forms, pdf, schemas, service
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/research", tags=["research"])
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
StudyId = schemas.Id
ParticipantId = schemas.Id
FindingList = Annotated[
    list[schemas.StudyFindingIn],
    Body(
        max_length=schemas.MAX_SITES * 6,
        examples=[
            [
                {
                    "muscle": "upper_trapezius",
                    "side": "right",
                    "criterion": "taut_band",
                    "present": True,
                }
            ]
        ],
    ),
]


# --- JSON API -----------------------------------------------------------------------------


@api.post("/studies", status_code=status.HTTP_201_CREATED, summary="Create a reliability study")
@api_handler
def create_study(
    principal: ApiPrincipal, session: ApiSession, data: schemas.StudyIn
) -> schemas.StudyOut:
    return service.create_study(session, principal=principal, data=data)


@api.get("/studies", summary="The clinic's reliability studies")
@api_handler
def list_studies(principal: ApiPrincipal, session: ApiSession) -> list[schemas.StudySummary]:
    return service.list_studies(session, principal=principal)


@api.get("/studies/{study_id}", summary="A study and who has submitted whom (no findings)")
@api_handler
def get_study(principal: ApiPrincipal, session: ApiSession, study_id: StudyId) -> schemas.StudyOut:
    return service.get_study(session, principal=principal, study_id=study_id)


@api.put("/studies/{study_id}", summary="Change a draft study (its design and examiners)")
@api_handler
def update_study(
    principal: ApiPrincipal, session: ApiSession, study_id: StudyId, data: schemas.StudyIn
) -> schemas.StudyOut:
    return service.update_study(session, principal=principal, study_id=study_id, data=data)


@api.post("/studies/{study_id}/open", summary="Open a draft study for recording")
@api_handler
def open_study(principal: ApiPrincipal, session: ApiSession, study_id: StudyId) -> schemas.StudyOut:
    return service.open_study(session, principal=principal, study_id=study_id)


@api.post("/studies/{study_id}/close", summary="Close an open study")
@api_handler
def close_study(
    principal: ApiPrincipal, session: ApiSession, study_id: StudyId
) -> schemas.StudyOut:
    return service.close_study(session, principal=principal, study_id=study_id)


@api.post(
    "/studies/{study_id}/participants",
    status_code=status.HTTP_201_CREATED,
    summary="Add a coded participant",
)
@api_handler
def add_participant(
    principal: ApiPrincipal, session: ApiSession, study_id: StudyId, data: schemas.ParticipantIn
) -> schemas.ParticipantOut:
    return service.add_participant(session, principal=principal, study_id=study_id, data=data)


@api.get(
    "/studies/{study_id}/participants/{participant_id}/findings",
    summary="The caller's own findings for a participant (nobody else's)",
)
@api_handler
def my_findings(
    principal: ApiPrincipal, session: ApiSession, study_id: StudyId, participant_id: ParticipantId
) -> schemas.MyFindings:
    return service.my_findings(
        session, principal=principal, study_id=study_id, participant_id=participant_id
    )


@api.put(
    "/studies/{study_id}/participants/{participant_id}/findings",
    summary="Record the caller's own findings for a participant",
)
@api_handler
def save_findings(
    principal: ApiPrincipal,
    session: ApiSession,
    study_id: StudyId,
    participant_id: ParticipantId,
    data: FindingList,
) -> schemas.MyFindings:
    try:
        return service.save_findings(
            session,
            principal=principal,
            study_id=study_id,
            participant_id=participant_id,
            data=schemas.FindingsIn(findings=data),
        )
    except InvalidInput as exc:  # the body is the list itself: "findings.0.muscle" -> "0.muscle"
        raise InvalidInput(exc.field.removeprefix("findings."), exc.message) from None


@api.post(
    "/studies/{study_id}/participants/{participant_id}/submit",
    summary="Submit (and lock) the caller's findings for a participant",
)
@api_handler
def submit(
    principal: ApiPrincipal, session: ApiSession, study_id: StudyId, participant_id: ParticipantId
) -> schemas.MyFindings:
    return service.submit(
        session, principal=principal, study_id=study_id, participant_id=participant_id
    )


@api.get("/studies/{study_id}/report", summary="Agreement per muscle, side and criterion")
@api_handler
def report(principal: ApiPrincipal, session: ApiSession, study_id: StudyId) -> schemas.ReportOut:
    return service.report(session, principal=principal, study_id=study_id)


def _report_file(
    session: Session,
    principal: Principal,
    study_id: int,
    render: Callable[[schemas.ReportOut], bytes | str],
    media_type: str,
    disposition: str,
) -> Response:
    """The study's report rendered as a file: never cached, named after the study."""
    data = service.report(session, principal=principal, study_id=study_id)
    headers = {**NO_STORE, "Content-Disposition": disposition.format(study_id=study_id)}
    return Response(render(data), media_type=media_type, headers=headers)


@api.get(
    "/studies/{study_id}/report.csv",
    response_class=PlainTextResponse,
    summary="The report as CSV: one row per muscle, side and criterion",
)
@api_handler
def report_csv(principal: ApiPrincipal, session: ApiSession, study_id: StudyId) -> Response:
    return _report_file(
        session,
        principal,
        study_id,
        service.report_csv,
        "text/csv; charset=utf-8",
        'attachment; filename="study-{study_id}.csv"',
    )


@api.get(
    "/studies/{study_id}/report.pdf",
    response_class=Response,
    summary="The report as PDF",
)
@api_handler
def report_pdf(principal: ApiPrincipal, session: ApiSession, study_id: StudyId) -> Response:
    return _report_file(
        session,
        principal,
        study_id,
        pdf.report_pdf,
        "application/pdf",
        'inline; filename="study-{study_id}.pdf"',
    )


# --- pages --------------------------------------------------------------------------------


def _page(request: Request, name: str, ctx: dict[str, Any], code: int = 200) -> Response:
    return templates().TemplateResponse(
        request, f"research/{name}", ctx, status_code=code, headers=NO_STORE
    )


def _list_ctx(
    session: Any, principal: Principal, form: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    return {
        "studies": service.list_studies(session, principal=principal),
        "examiners": service.eligible_examiners(session, principal=principal),
        "muscles": forms.muscle_choices(),
        "criteria": schemas.CRITERION_WORDS,
        "form": form,
        "errors": errors,
        "can_write": principal.can("clinical:write"),
    }


@pages.get("/research/studies", response_class=HTMLResponse)
def studies_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    principal.require("clinical:read")
    empty = {"muscles": [], "sides": ["left", "right"], "criteria": [], "examiners": []}
    return _page(request, "reliability_list.html", _list_ctx(session, principal, empty, {}))


@pages.post("/research/studies", response_class=HTMLResponse)
def create_study_page(
    request: Request, principal: PagePrincipal, session: PageSession, form: PageForm
) -> Response:
    principal.require("clinical:write")
    raw, shown = forms.study_form(form)
    data, errors = forms.validate(schemas.StudyIn, raw)
    if data is not None:
        try:
            study = service.create_study(session, principal=principal, data=data)
            return RedirectResponse(f"/research/studies/{study.id}", status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors = {forms.form_field(exc.field): exc.message}
    ctx = _list_ctx(session, principal, shown, errors)
    return _page(request, "reliability_list.html", ctx, 422)


def _study_ctx(
    session: Any, principal: Principal, study_id: int, errors: dict[str, str]
) -> dict[str, Any]:
    study = service.get_study(session, principal=principal, study_id=study_id)
    return {
        "s": study,
        "names": {e.user_id: e.full_name for e in study.examiners},
        "me_examiner": any(e.user_id == principal.user_id for e in study.examiners),
        "can_write": principal.can("clinical:write"),
        "criteria_words": schemas.CRITERION_WORDS,
        "errors": errors,
    }


@pages.get("/research/studies/{study_id}", response_class=HTMLResponse)
def study_page(
    request: Request, principal: PagePrincipal, session: PageSession, study_id: StudyId
) -> Response:
    return _page(request, "reliability_study.html", _study_ctx(session, principal, study_id, {}))


@pages.post("/research/studies/{study_id}/open", response_class=HTMLResponse)
def open_page(principal: PagePrincipal, session: PageSession, study_id: StudyId) -> Response:
    service.open_study(session, principal=principal, study_id=study_id)
    return RedirectResponse(f"/research/studies/{study_id}", status_code=303)


@pages.post("/research/studies/{study_id}/close", response_class=HTMLResponse)
def close_page(principal: PagePrincipal, session: PageSession, study_id: StudyId) -> Response:
    service.close_study(session, principal=principal, study_id=study_id)
    return RedirectResponse(f"/research/studies/{study_id}", status_code=303)


@pages.post("/research/studies/{study_id}/participants", response_class=HTMLResponse)
def add_participant_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    study_id: StudyId,
    form: PageForm,
) -> Response:
    raw = {"code": str(form.get("code", "")), "patient_id": str(form.get("patient_id", "")) or None}
    data, errors = forms.validate(schemas.ParticipantIn, raw)
    if data is not None:
        try:
            service.add_participant(session, principal=principal, study_id=study_id, data=data)
            return RedirectResponse(f"/research/studies/{study_id}", status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors = {exc.field: exc.message}
    ctx = _study_ctx(session, principal, study_id, errors)
    ctx["participant_form"] = raw
    return _page(request, "reliability_study.html", ctx, 422)


def _examine_ctx(
    session: Any, principal: Principal, study_id: int, participant_id: int, errors: dict[str, str]
) -> dict[str, Any]:
    study, mine = service.examination_form(
        session, principal=principal, study_id=study_id, participant_id=participant_id
    )
    values = {(f.muscle, f.side, f.criterion): f.present for f in mine.findings}
    return {
        "s": study,
        "mine": mine,
        "values": values,
        "criteria_words": schemas.CRITERION_WORDS,
        "field": forms.field_name,
        "errors": errors,
        "locked": mine.submitted_at is not None or study.status != "open",
    }


@pages.get("/research/studies/{study_id}/examine/{participant_id}", response_class=HTMLResponse)
def examine_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    study_id: StudyId,
    participant_id: ParticipantId,
) -> Response:
    ctx = _examine_ctx(session, principal, study_id, participant_id, {})
    return _page(request, "reliability_examine.html", ctx)


@pages.post("/research/studies/{study_id}/examine/{participant_id}", response_class=HTMLResponse)
def examine_save(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    study_id: StudyId,
    participant_id: ParticipantId,
    form: PageForm,
) -> Response:
    study = service.study_design(session, principal=principal, study_id=study_id)
    items = forms.findings_form(form, study)
    try:
        service.save_findings(
            session,
            principal=principal,
            study_id=study_id,
            participant_id=participant_id,
            data=schemas.FindingsIn(findings=items),
        )
        if form.get("action") == "submit":
            service.submit(
                session, principal=principal, study_id=study_id, participant_id=participant_id
            )
            return RedirectResponse(f"/research/studies/{study_id}", status_code=303)
        url = f"/research/studies/{study_id}/examine/{participant_id}?saved=1"
        return RedirectResponse(url, status_code=303)
    except InvalidInput as exc:
        session.rollback()
        errors = {exc.field: exc.message}
    except DomainError as exc:
        if exc.status != 409:
            raise
        session.rollback()
        errors = {"form": exc.message}
    ctx = _examine_ctx(session, principal, study_id, participant_id, errors)
    return _page(request, "reliability_examine.html", ctx, 409 if "form" in errors else 422)


@pages.get("/research/studies/{study_id}/report", response_class=HTMLResponse)
def report_page(
    request: Request, principal: PagePrincipal, session: PageSession, study_id: StudyId
) -> Response:
    data = service.report(session, principal=principal, study_id=study_id)
    return _page(request, "reliability_report.html", pdf.report_context(data, printing=False))
