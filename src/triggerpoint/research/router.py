"""The research registry's routes: each part's JSON API and pages, and the index page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from triggerpoint.accounts.deps import PagePrincipal, UnitOfWorkRoute
from triggerpoint.research.exports.router import api as exports_api
from triggerpoint.research.exports.router import pages as exports_pages
from triggerpoint.research.ltr.router import api as ltr_api
from triggerpoint.research.ltr.router import pages as ltr_pages
from triggerpoint.research.painmap.router import api as painmap_api
from triggerpoint.research.painmap.router import pages as painmap_pages
from triggerpoint.research.reliability.router import api as reliability_api
from triggerpoint.research.reliability.router import pages as reliability_pages
from triggerpoint.ui.templating import templates

api = APIRouter()
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}

for part in (reliability_api, painmap_api, ltr_api, exports_api):
    api.include_router(part)


@pages.get("/research", response_class=HTMLResponse)
def research_index(request: Request, principal: PagePrincipal) -> Response:
    """What the registry offers this clinic: studies, pain maps, the twitch analysis."""
    principal.require("clinical:read")
    return templates().TemplateResponse(request, "research/index.html", {}, headers=NO_STORE)


for part in (reliability_pages, painmap_pages, ltr_pages, exports_pages):
    pages.include_router(part)
