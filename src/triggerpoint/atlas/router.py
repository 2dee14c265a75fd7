"""HTTP: the atlas JSON API and the atlas browser pages."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from triggerpoint.accounts.deps import UnitOfWorkRoute
from triggerpoint.atlas import service
from triggerpoint.atlas.loader import MuscleNotFoundError, load_atlas
from triggerpoint.atlas.schema import MUSCLE_GROUPS
from triggerpoint.bodychart.catalog import UnknownRegionError
from triggerpoint.bodychart.router import region_error
from triggerpoint.ui.errors import FieldError
from triggerpoint.ui.templating import templates

api = APIRouter(route_class=UnitOfWorkRoute, prefix="/api/atlas", tags=["atlas"])
pages = APIRouter(route_class=UnitOfWorkRoute, prefix="/atlas", include_in_schema=False)
SideParam = Literal["right", "left"]


def _muscle(name: str, loc: tuple[str, ...]):
    try:
        return service.get_muscle(name=name)
    except MuscleNotFoundError as exc:
        raise FieldError(
            loc, str(exc), type_="unknown_muscle", suggestions=exc.suggestions
        ) from None


@api.get("/muscles", summary="List muscles")
def muscles(
    group: Annotated[str | None, Query(description=f"one of {', '.join(MUSCLE_GROUPS)}")] = None,
    q: Annotated[str | None, Query(description="name fragment", max_length=100)] = None,
) -> list[dict[str, Any]]:
    try:
        return service.list_muscles(group=group, query=q)
    except service.UnknownGroupError as exc:
        raise FieldError(("query", "group"), str(exc)) from None


@api.get("/muscles/{name}", summary="One muscle in full")
def muscle(name: str) -> dict[str, Any]:
    return service.muscle_detail(_muscle(name, ("path", "name")))


@api.get("/refers-to", summary="Trigger points referring pain to a region, essential first")
def refers_to(
    region: Annotated[str, Query(description='e.g. "right temple"', max_length=200)],
) -> dict[str, Any]:
    try:
        return service.refers_to(region=region)
    except UnknownRegionError as exc:
        raise region_error(exc, ("query", "region")) from None


@api.get("/muscles/{name}/map.svg", summary="Referral map as SVG", response_class=Response)
def muscle_map(name: str, side: SideParam = "right") -> Response:
    from triggerpoint.atlas.render import referral_map_svg

    return Response(
        referral_map_svg(_muscle(name, ("path", "name")), side), media_type="image/svg+xml"
    )


@pages.get("", response_class=HTMLResponse)
def atlas_page(request: Request) -> HTMLResponse:
    from triggerpoint.bodychart.svg import render_view

    groups = {g: service.list_muscles(group=g) for g in MUSCLE_GROUPS}
    charts = {v: render_view(v) for v in ("anterior", "posterior")}
    return templates().TemplateResponse(
        request,
        "atlas/index.html",
        {"groups": groups, "group_names": MUSCLE_GROUPS, "charts": charts},
    )


@pages.get("/muscles/{muscle_id}", response_class=HTMLResponse)
def muscle_page(request: Request, muscle_id: str, side: SideParam = "right") -> HTMLResponse:
    from triggerpoint.atlas.render import view_svg

    m = _muscle(muscle_id, ("path", "muscle_id"))
    atlas = load_atlas()
    charts = {v: view_svg(m, side, v, atlas=atlas) for v in ("anterior", "posterior")}
    tps = service.sided_trigger_points(muscle=m, side=side, atlas=atlas)
    return templates().TemplateResponse(
        request,
        "atlas/muscle.html",
        {"m": m, "side": side, "charts": charts, "tps": tps, "group_names": MUSCLE_GROUPS},
    )
