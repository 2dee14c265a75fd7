"""The FastAPI application: pages and JSON API, assembled from each domain's router."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from triggerpoint.web.security import SecurityHeadersMiddleware
from triggerpoint.web.templating import templates

STATIC = Path(__file__).resolve().parent / "static"


def create_app() -> FastAPI:
    from triggerpoint.atlas.router import api as atlas_api
    from triggerpoint.atlas.router import pages as atlas_pages
    from triggerpoint.bodychart.router import api as bodychart_api

    app = FastAPI(
        title="triggerpoint",
        summary="Trigger point dry needling: body chart, referred-pain atlas, clinic records.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (bodychart_api, atlas_api, atlas_pages):
        app.include_router(router)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return templates().TemplateResponse(request, "home.html", {})

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
