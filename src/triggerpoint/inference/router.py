"""HTTP: `POST /api/suggest` and the live pain-drawing page `GET /suggest`.

Both need a login, of any role. A drawing is anonymous body-chart data, nothing is stored and
no patient record is touched, but one large drawing may spend the whole per-request budget
of CPU (TRIGGERPOINT_SUGGEST_MAX_TERMS), which an anonymous caller must not be able to do at
will. The atlas (`/atlas`, `/api/atlas`) stays public.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from triggerpoint.accounts.deps import PagePrincipal, UnitOfWorkRoute, authenticate
from triggerpoint.accounts.service import Principal
from triggerpoint.bodychart.router import region_error
from triggerpoint.db import unit_of_work
from triggerpoint.errors import InvalidInput
from triggerpoint.inference.findings import UnknownSite
from triggerpoint.inference.schemas import DISCLAIMER, Drawing, SuggestResult
from triggerpoint.inference.service import UnknownDrawingRegion, suggest
from triggerpoint.ratelimit import rate_limit
from triggerpoint.ui.errors import FieldError
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, tags=["inference"])
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


def logged_in(request: Request) -> Principal:
    """Who is asking: 401 without valid credentials, 403 for a cookie POST without its CSRF
    token. The database session is closed again before the suggestion is computed.

    Read-only, although a POST: the lookup writes nothing but a cookie session's sliding
    expiry, which then runs in the short write after it (`defer_write`), so a bearer-token
    suggestion never queues for SQLite's write lock here."""
    with unit_of_work(clinic_id=None, read_only=True) as session:
        return authenticate(request, session)


@api.post(
    "/api/suggest",
    dependencies=[rate_limit("suggest")],  # per user (TRIGGERPOINT_RATE_LIMIT_SUGGEST): 429
    summary="Rank trigger points that explain a pain drawing",
    response_model=SuggestResult,
)
def suggest_api(
    drawing: Drawing,
    principal: Annotated[Principal, Depends(logged_in)],
    top: Annotated[int, Query(ge=1, le=100, description="How many candidates")] = 10,
) -> SuggestResult:
    """Posterior probabilities, best 1-3 trigger point explanations and the method used.

    Needs a login (bearer token, or session cookie with its X-CSRF-Token). Each request does
    at most TRIGGERPOINT_SUGGEST_MAX_TERMS of work (`budget`, and `cost` what it did): beyond
    it the bounded approximation answers, with `exact: false`, a `truncated-k<K>` method,
    rigorous `probability_interval`s and an `approximation` sentence saying how far to trust it.

    Unknown region names are a 422 naming the field (`["body", "pain", 0]`) with the nearest
    names; a region marked both painful and pain-free is a 422 on `["body", "pain_free"]`.
    Palpation findings (`palpation`, at most 200) travel in the drawing: an unknown site is a
    422 on e.g. `["body", "palpation", 0, "site"]` (type `unknown_site`) with the nearest
    muscle and trigger point names, the way an unknown region is.
    """
    try:
        return suggest(drawing, top=top)
    except UnknownDrawingRegion as exc:
        raise region_error(exc.region_error, _loc(exc.field)) from None
    except UnknownSite as exc:
        raise FieldError(
            _loc(exc.field), str(exc), type_="unknown_site", suggestions=exc.suggestions
        ) from None
    except InvalidInput as exc:  # DrawingError, a finding that cannot be used
        raise FieldError(_loc(exc.field), str(exc), suggestions=exc.suggestions) from None


def _loc(field: str) -> tuple:
    """("body", "pain", 2) from "pain.2", with list indices as integers like FastAPI's own."""
    return ("body", *(int(p) if p.isdigit() else p for p in field.split(".")))


@pages.get("/suggest", response_class=HTMLResponse)
def suggest_page(request: Request, principal: PagePrincipal) -> HTMLResponse:
    from triggerpoint.bodychart.svg import render_view

    charts = {v: render_view(v) for v in ("anterior", "posterior")}
    return templates().TemplateResponse(
        request,
        "inference/suggest.html",
        {"charts": charts, "suggest_disclaimer": DISCLAIMER, "principal": principal},
    )
