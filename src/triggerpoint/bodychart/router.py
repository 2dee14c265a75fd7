"""HTTP: region look-up and the bare chart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from triggerpoint.accounts.deps import UnitOfWorkRoute
from triggerpoint.bodychart import service
from triggerpoint.bodychart.catalog import UnknownRegionError
from triggerpoint.ui.errors import FieldError

api = APIRouter(route_class=UnitOfWorkRoute, tags=["body chart"])


def region_error(exc: UnknownRegionError, loc: tuple[str, ...]) -> FieldError:
    """The 422 every endpoint returns for a region name it cannot resolve."""
    return FieldError(loc, str(exc), type_="unknown_region", suggestions=exc.suggestions)


@api.get("/api/regions", summary="Resolve a region name, or list regions")
def regions(
    name: Annotated[
        str | None, Query(description='e.g. "right temple"; omit to list all', max_length=200)
    ] = None,
    view: Literal["anterior", "posterior"] | None = None,
) -> list[dict[str, Any]]:
    if name is None:
        return service.list_regions(view=view)
    try:
        return service.find_regions(name=name)
    except UnknownRegionError as exc:
        raise region_error(exc, ("query", "name")) from None


@api.get("/bodychart/{view}.svg", summary="The empty body chart", response_class=Response)
def chart(view: Literal["anterior", "posterior"]) -> Response:
    from triggerpoint.bodychart.svg import render_view

    return Response(render_view(view), media_type="image/svg+xml")
