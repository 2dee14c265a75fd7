"""Report pages and their PDFs: each report is one template, shown as a page or printed.

`/patients/{id}/reports/<name>` is the page and `<name>.pdf` the same template through the
print layout and WeasyPrint. Patient reports read through the audited, clinic-scoped services
(another clinic's patient is 404); the education page and handout hold no patient data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from triggerpoint.accounts.deps import PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.ratelimit import rate_limit
from triggerpoint.records.schemas import RecordId
from triggerpoint.reports import education, pdf, plots, service
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
VisitId = Annotated[int, Query(ge=1, le=2_147_483_647)]
NO_STORE = {"Cache-Control": "no-store"}
PDF_LIMIT = rate_limit("pdf")  # per user (TRIGGERPOINT_RATE_LIMIT_PDF): 429 beyond it


def _page(request: Request, name: str, ctx: dict[str, Any]) -> Response:
    full = {**ctx, "layout": pdf.WEB_LAYOUT, "printing": False, "now": datetime.now(UTC)}
    return templates().TemplateResponse(request, name, full, headers=NO_STORE)


def _pdf(name: str, ctx: dict[str, Any], filename: str, *, private: bool = True) -> Response:
    body = _render_pdf(name, service.printable({**ctx, "now": datetime.now(UTC)}))
    headers = {"Content-Disposition": f'inline; filename="{filename}"'}
    return Response(
        body, media_type="application/pdf", headers=headers | (NO_STORE if private else {})
    )


_IMAGES: dict[str, Any] = {}  # WeasyPrint's decoded images (the body-chart layers), kept


def _render_pdf(name: str, ctx: dict[str, Any]) -> bytes:
    """`pdf.render_pdf`, with the chart layers served from memory (`plots.chart_fetcher`)
    and decoded once per process rather than once per thumbnail."""
    from weasyprint import HTML

    html = HTML(
        string=pdf.render_html(name, ctx), base_url=str(pdf.HERE), url_fetcher=plots.chart_fetcher()
    )
    body: bytes = html.write_pdf(cache=_IMAGES)
    return body


def _patient_report(
    build: Callable[..., dict[str, Any]], session: Any, principal: Any, **kwargs: Any
) -> dict[str, Any]:
    return build(session, principal=principal, **kwargs)


@pages.get("/patients/{patient_id}/reports/visit-note", response_class=HTMLResponse)
def visit_note_page(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    patient_id: RecordId,
    visit: VisitId,
) -> Response:
    ctx = _patient_report(
        service.visit_note, session, principal, patient_id=patient_id, visit_id=visit
    )
    return _page(request, "reports/visit_note.html", ctx)


@pages.get("/patients/{patient_id}/reports/visit-note.pdf", dependencies=[PDF_LIMIT])
def visit_note_pdf(
    principal: PagePrincipal, session: PageSession, patient_id: RecordId, visit: VisitId
) -> Response:
    ctx = _patient_report(
        service.visit_note, session, principal, patient_id=patient_id, visit_id=visit
    )
    return _pdf("reports/visit_note.html", ctx, f"visit-note-{patient_id}-{visit}.pdf")


@pages.get("/patients/{patient_id}/reports/progress", response_class=HTMLResponse)
def progress_page(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    ctx = _patient_report(service.progress_report, session, principal, patient_id=patient_id)
    return _page(request, "reports/progress.html", ctx)


@pages.get("/patients/{patient_id}/reports/progress.pdf", dependencies=[PDF_LIMIT])
def progress_pdf(principal: PagePrincipal, session: PageSession, patient_id: RecordId) -> Response:
    ctx = _patient_report(service.progress_report, session, principal, patient_id=patient_id)
    return _pdf("reports/progress.html", ctx, f"progress-{patient_id}.pdf")


@pages.get("/patients/{patient_id}/reports/consent", response_class=HTMLResponse)
def consent_page(
    request: Request, principal: PagePrincipal, session: PageSession, patient_id: RecordId
) -> Response:
    ctx = _patient_report(service.consent_form, session, principal, patient_id=patient_id)
    return _page(request, "reports/consent.html", ctx)


@pages.get("/patients/{patient_id}/reports/consent.pdf", dependencies=[PDF_LIMIT])
def consent_pdf(principal: PagePrincipal, session: PageSession, patient_id: RecordId) -> Response:
    ctx = _patient_report(service.consent_form, session, principal, patient_id=patient_id)
    return _pdf("reports/consent.html", ctx, f"consent-{patient_id}.pdf")


@pages.get("/education", response_class=HTMLResponse)
def education_page(request: Request) -> Response:
    full = {**education.context(), "layout": pdf.WEB_LAYOUT, "printing": False}
    return templates().TemplateResponse(request, "reports/education.html", full)


@pages.get("/education/handout.pdf", dependencies=[PDF_LIMIT])
def education_pdf() -> Response:
    return _pdf(
        "reports/education.html", education.context(), "trigger-points-handout.pdf", private=False
    )
