"""HTTP: `POST /api/suggest` and the live pain-drawing page `GET /suggest`.

Both are public, like the atlas: a drawing is anonymous body-chart data, nothing is stored,
and no patient record is touched.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from triggerpoint.bodychart.router import region_error
from triggerpoint.inference.schemas import DISCLAIMER, Drawing, SuggestResult
from triggerpoint.inference.service import DrawingError, UnknownDrawingRegion, suggest
from triggerpoint.web.errors import FieldError
from triggerpoint.web.templating import templates

api = APIRouter(tags=["inference"])
pages = APIRouter(include_in_schema=False)


@api.post(
    "/api/suggest",
    summary="Rank trigger points that explain a pain drawing",
    response_model=SuggestResult,
)
def suggest_api(
    drawing: Drawing,
    top: Annotated[int, Query(ge=1, le=100, description="How many candidates")] = 10,
) -> SuggestResult:
    """Posterior probabilities, best 1-3 trigger point explanations and the method used.

    Unknown region names are a 422 naming the field (`["body", "pain", 0]`) with the nearest
    names; a region marked both painful and pain-free is a 422 on `["body", "pain_free"]`.
    """
    try:
        return suggest(drawing, top=top)
    except UnknownDrawingRegion as exc:
        raise region_error(exc.region_error, _loc(exc.field)) from None
    except DrawingError as exc:
        raise FieldError(_loc(exc.field), str(exc)) from None


def _loc(field: str) -> tuple:
    """("body", "pain", 2) from "pain.2", with list indices as integers like FastAPI's own."""
    return ("body", *(int(p) if p.isdigit() else p for p in field.split(".")))


@pages.get("/suggest", response_class=HTMLResponse)
def suggest_page(request: Request) -> HTMLResponse:
    from triggerpoint.bodychart.svg import render_view

    charts = {v: render_view(v) for v in ("anterior", "posterior")}
    return templates().TemplateResponse(
        request, "inference/suggest.html", {"charts": charts, "suggest_disclaimer": DISCLAIMER}
    )
