""" "Does the twitch matter?" routes: JSON `GET /api/research/ltr?outcome=nprs|ppt`, the page
`/research/ltr` and its forest plot as a file (`/research/ltr/forest.png`, `.pdf`, `.svg`).

Thin: each reads the newest persisted fit (`service.latest_analysis`); a stale one queues a
refit, enqueued on the worker's queue once its claim is committed (`enqueue`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.accounts.service import Principal
from triggerpoint.research.ltr import plots, service
from triggerpoint.research.ltr.groups import LABELS
from triggerpoint.research.ltr.schemas import Instrument, LtrReport
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/research", tags=["research"])
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
MEDIA = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}
OutcomeQuery = Annotated[Instrument, Query(description="The measure: nprs or ppt.")]


def enqueue(clinic_id: int, instrument: str) -> None:
    from triggerpoint.research.ltr import jobs  # the queue opens only where used

    jobs.enqueue(clinic_id, instrument)


def _latest(session: Session, principal: Principal, outcome: str) -> LtrReport:
    return service.latest_analysis(
        session, principal=principal, instrument=outcome, enqueue=enqueue
    )


@api.get("/ltr", summary="Change in NPRS or PPT against twitch responses (mixed model)")
@api_handler
def ltr_json(
    principal: ApiPrincipal, session: ApiSession, outcome: OutcomeQuery = "nprs"
) -> LtrReport:
    return _latest(session, principal, outcome)


@pages.get("/research/ltr", response_class=HTMLResponse)
def ltr_page(
    request: Request, principal: PagePrincipal, session: PageSession, outcome: OutcomeQuery = "nprs"
) -> Response:
    """Coefficients, the forest plot, the numbers, the caveat and what trials found."""
    report = _latest(session, principal, outcome)
    ctx = {
        "r": report,
        "forest": plots.forest_svg(report),
        "group_labels": LABELS,
        "instruments": service.INSTRUMENTS,
    }
    return templates().TemplateResponse(request, "research/ltr_page.html", ctx, headers=NO_STORE)


@pages.get("/research/ltr/forest.{fmt}")
def ltr_forest(
    principal: PagePrincipal,
    session: PageSession,
    fmt: Literal["png", "pdf", "svg"],
    outcome: OutcomeQuery = "nprs",
) -> Response:
    """The forest plot for a paper or slides."""
    report = _latest(session, principal, outcome)
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="ltr-{outcome}.{fmt}"'}
    return Response(plots.forest_file(report, fmt), media_type=MEDIA[fmt], headers=headers)
