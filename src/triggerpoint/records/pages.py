"""Web pages for patient records: list and search, create, the patient timeline, pain drawings.

Pages call the same service functions as the JSON API; forms that fail validation come back
with the user's input and a message beside each field.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from triggerpoint.accounts.deps import PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.errors import Conflict, InvalidInput
from triggerpoint.records import schemas, service
from triggerpoint.records.schemas import RecordId
from triggerpoint.ui import localtime
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
PAGE_SIZE = 25


@pages.get("/patients", response_class=HTMLResponse)
def patient_list(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    rows, total = service.list_patients(
        session, principal=principal, q=q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    return templates().TemplateResponse(
        request,
        "records/patients.html",
        {
            "principal": principal,
            "rows": rows,
            "total": total,
            "q": q or "",
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
        },
    )


@pages.get("/patients/new", response_class=HTMLResponse)
def patient_new(request: Request, principal: PagePrincipal) -> Response:
    principal.require("patient:write")
    return templates().TemplateResponse(
        request, "records/patient_form.html", {"principal": principal, "form": {}, "errors": {}}
    )


@pages.post("/patients/new", response_class=HTMLResponse)
async def patient_create(
    request: Request, principal: PagePrincipal, session: PageSession
) -> Response:
    form = dict(await request.form())
    data, errors = parse_form(schemas.PatientIn, form)
    if data is not None:
        try:
            patient = service.create_patient(session, principal=principal, data=data)
            return RedirectResponse(f"/patients/{patient.id}", status_code=303)
        except Conflict as exc:
            session.rollback()
            errors = {"external_id": str(exc)}
    return templates().TemplateResponse(
        request,
        "records/patient_form.html",
        {"principal": principal, "form": form, "errors": errors},
        status_code=422,
    )


@pages.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    from triggerpoint.bodychart.svg import render_view

    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    visits = service.list_visits(session, principal=principal, patient_id=patient_id)
    consents = service.list_consents(session, principal=principal, patient_id=patient_id)
    active = service.active_consent(session, patient_id=patient_id, kind=service.DRY_NEEDLING)
    # Pain drawings and episodes are clinical: not read (nor audited as read) for other roles.
    clinical = principal.can("clinical:read")
    drawings = (
        service.list_pain_drawings(session, principal=principal, patient_id=patient_id)
        if clinical
        else []
    )
    episodes = (
        service.list_episodes(session, principal=principal, patient_id=patient_id)
        if clinical
        else []
    )
    by_visit: dict[int | None, list] = {}
    for d in drawings:
        by_visit.setdefault(d.visit_id, []).append(d)

    def thumbs(drawing) -> list[str]:
        shading = {m.region_id: "pain" for m in drawing.marks}
        return [
            render_view(v, shading=shading, interactive=False, height=150)
            for v in ("anterior", "posterior")
        ]

    timeline = [
        {
            "number": number,
            "visit": service.visit_out(v, principal),
            "drawings": [(d, thumbs(d)) for d in by_visit.get(v.id, [])],
        }
        for number, v in service.numbered_newest_first(visits)
    ]
    return templates().TemplateResponse(
        request,
        "records/patient.html",
        {
            "principal": principal,
            "p": patient,
            "timeline": timeline,
            "consents": consents,
            "active_consent": active,
            "episodes": episodes,
            "loose_drawings": [(d, thumbs(d)) for d in by_visit.get(None, [])],
        },
    )


@pages.get("/patients/{patient_id}/draw", response_class=HTMLResponse)
def drawing_editor(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    from triggerpoint.bodychart.svg import render_view

    patient = service.get_patient(session, principal=principal, patient_id=patient_id)
    charts = {v: render_view(v) for v in ("anterior", "posterior")}
    return templates().TemplateResponse(
        request,
        "records/draw.html",
        {
            "principal": principal,
            "p": patient,
            "charts": charts,
            "now": localtime.form_now(),
        },
    )


@pages.post("/patients/{patient_id}/draw", response_class=HTMLResponse)
async def drawing_save(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    """Save a visit with its pain drawing in one transaction (both or neither)."""
    form = await request.form()
    marks = []
    for raw in form.getlist("mark"):
        region, _, intensity = str(raw).partition(":")
        marks.append(
            {"region": region, "intensity": int(intensity) if intensity.isdigit() else None}
        )
    visit_at = str(form.get("visit_at") or "")
    drawing = {"complete": form.get("complete") == "complete", "marks": marks}
    visit_data, errors = parse_form(
        schemas.VisitIn,
        {
            "visit_at": localtime.from_form(visit_at),
            "pain_drawing": drawing,
        },
    )
    # The drawing's fields are the form's own: `marks`, as the schema names them (the rule
    # for a drawing without marks is the schema's, the same as the API's).
    errors = {k.removeprefix("pain_drawing."): v for k, v in errors.items()}
    if not errors and visit_data:
        try:
            service.create_visit(
                session, principal=principal, patient_id=patient_id, data=visit_data
            )
            return RedirectResponse(f"/patients/{patient_id}", status_code=303)
        except InvalidInput as exc:
            session.rollback()
            errors[exc.field] = str(exc)
    return Response(
        "; ".join(f"{k}: {v}" for k, v in errors.items()), status_code=422, media_type="text/plain"
    )
