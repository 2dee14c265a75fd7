"""The clinic dashboard page (`/dashboard`): the principal's clinic only, from the tallies."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerpoint.accounts.deps import PagePrincipal, PageSession, UnitOfWorkRoute
from triggerpoint.dashboard.service import clinic_dashboard, dashboard_plots
from triggerpoint.ui.templating import templates

pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}


@pages.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    data = clinic_dashboard(session, principal=principal)
    ctx = {"d": data, "plots": dashboard_plots(data)}
    return templates().TemplateResponse(request, "dashboard/dashboard.html", ctx, headers=NO_STORE)
