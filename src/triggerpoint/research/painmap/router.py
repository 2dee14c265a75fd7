"""Pain-map routes: JSON `GET /api/research/painmap`, the page `/research/painmap` and its
figures as files (`/research/painmap/heatmap.png`, `extent.pdf`, …), all read from one
cohort filter in the query string."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from triggerpoint.accounts.deps import (
    ApiPrincipal,
    ApiSession,
    PagePrincipal,
    PageSession,
    UnitOfWorkRoute,
    api_handler,
)
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.errors import InvalidInput
from triggerpoint.research.painmap import plots, service
from triggerpoint.research.painmap.schemas import CohortFilter, PainMapOut
from triggerpoint.ui.forms import parse_form
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/research", tags=["research"])
pages = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store"}
TOP_REGIONS = 20
Figure = Literal["heatmap", "extent", "agreement"]
Format = Literal["png", "pdf", "svg"]
MEDIA = {"png": "image/png", "pdf": "application/pdf", "svg": "image/svg+xml"}
PART = {"heatmap": "heat_map", "extent": "extent", "agreement": "agreement"}


@api.get(
    "/painmap",
    summary="Pain-map analytics of a cohort: heat map, extent before/after, test-retest",
)
@api_handler
def painmap_json(
    principal: ApiPrincipal, session: ApiSession, cohort: Annotated[CohortFilter, Query()]
) -> PainMapOut:
    return service.painmap(session, principal=principal, cohort=cohort)


def _cohort(request: Request) -> tuple[CohortFilter | None, dict[str, str], dict[str, str]]:
    """The filter from the query string (unknown keys ignored), its raw values and errors."""
    raw = {k: v for k, v in request.query_params.items() if k in CohortFilter.model_fields}
    given = {k: v for k, v in raw.items() if v.strip()}  # an empty field means "any"
    cohort, errors = parse_form(CohortFilter, given)
    return cohort, raw, errors


def _figures(data: dict[str, Any]) -> dict[str, str]:
    values = data["values"]
    out: dict[str, str] = {}
    if "heat_map" in data:
        out["heatmap"] = plots.heatmap_svg(data["heat_map"])
    if "extent" in data:
        out["extent"] = plots.extent_svg(data["extent"], values["extent"])
    if "agreement" in data:
        out["agreement"] = plots.agreement_svg(data["agreement"], values["jaccard"], values["dice"])
    return out


@pages.get("/research/painmap", response_class=HTMLResponse)
def painmap_page(request: Request, principal: PagePrincipal, session: PageSession) -> Response:
    """The filter form, the heat map with its table, extent and agreement, with downloads."""
    principal.require("clinical:read")
    cohort, raw, errors = _cohort(request)
    data: dict[str, Any] | None = None
    if cohort is not None:
        try:
            data = service.analyse(session, principal=principal, cohort=cohort)
        except InvalidInput as exc:
            errors = {exc.field: f"{exc.message}"}
    ctx = {
        "raw": raw,
        "errors": errors,
        "data": data,
        "figures": _figures(data) if data else {},
        "top": data["heat_map"].regions[:TOP_REGIONS] if data else [],
        "muscles": sorted((m.name, m.id) for m in load_atlas().muscles.values()),
        "query": urlencode({k: v for k, v in raw.items() if v.strip()}),
    }
    status = 422 if errors else 200
    return templates().TemplateResponse(
        request, "research/painmap_page.html", ctx, status_code=status, headers=NO_STORE
    )


@pages.get("/research/painmap/{figure}.{fmt}")
def painmap_figure(
    request: Request,
    principal: PagePrincipal,
    session: PageSession,
    figure: Figure,
    fmt: Format,
    scale: Annotated[float, Query(ge=0.5, le=6)] = 2.0,
) -> Response:
    """One figure of the page for the same filter, as PNG, PDF or standalone SVG."""
    principal.require("clinical:read")
    cohort, _, errors = _cohort(request)
    if cohort is None:
        field, message = next(iter(errors.items()))
        raise InvalidInput(field, message)
    data = service.analyse(
        session, principal=principal, cohort=cohort, parts=frozenset({PART[figure]})
    )
    svg = _figures(data)[figure]
    body: bytes
    if fmt == "png":
        body = plots.to_png(svg, scale=scale)
    elif fmt == "pdf":
        body = plots.to_pdf(svg)
    else:
        body = plots.standalone(svg).encode("utf-8")
    headers = {
        **NO_STORE,
        "Content-Disposition": f'attachment; filename="painmap-{figure}.{fmt}"',
    }
    return Response(body, media_type=MEDIA[fmt], headers=headers)
