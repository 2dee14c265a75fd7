"""The app's routes, flattened: FastAPI keeps included routers nested (`app.routes` holds one
entry per included router), so tests that reason about every endpoint walk them here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fastapi import FastAPI
from fastapi.routing import APIRoute


def _walk(routes: Iterable[object]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            assert not route.include_context.prefix, "include_router(prefix=...) is not used here"
            yield from _walk(included.routes)


def api_routes(app: FastAPI) -> list[APIRoute]:
    """Every JSON API route (path under /api/). Never empty for this app: callers rely on it."""
    found = [r for r in _walk(app.routes) if r.path.startswith("/api/")]
    assert len(found) > 20, f"found only {len(found)} API routes: has the route layout changed?"
    return found


def page_routes(app: FastAPI) -> list[APIRoute]:
    """Every route that is not JSON API: HTML pages, PDFs, forms, SVGs. Never empty either."""
    found = [r for r in _walk(app.routes) if not r.path.startswith("/api/")]
    assert len(found) > 20, f"found only {len(found)} page routes: has the route layout changed?"
    return found
