"""The FastAPI application: pages and JSON API, assembled from each domain's router."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from triggerpoint.accounts.deps import LoginRequired, PasswordChangeRequired, resolve_principal
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.db import IsolationError, WriteTimeout
from triggerpoint.errors import Conflict, DomainError, InvalidInput, NotFound, SafetyBlock
from triggerpoint.ui.errors import (
    error_page,
    http_error_page,
    invalid_input_page,
    validation_page,
    wants_json,
    wants_page,
)
from triggerpoint.ui.templating import AtlasNames, plug_in_names, site_label, templates
from triggerpoint.web.limits import install as install_limits
from triggerpoint.web.limits import validation_refusal, writable
from triggerpoint.web.routing import skip_unreachable
from triggerpoint.web.security import SecurityHeadersMiddleware

STATIC = Path(__file__).resolve().parent / "static"
# Swagger UI from the swagger-ui-bundle package (no CDN: clinic networks may be offline); its
# start-up script is our static/js/api-docs.js, so the page needs no inline script.
SWAGGER_UI = "/static/swagger-ui"
DOCS_PAGE = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>triggerpoint API</title>
  <link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="/api/openapi.json"></div>
  <script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
  <script src="/static/js/api-docs.js"></script>
</body>
</html>
"""


def _json_or_page(
    request: Request, code: int, message: str, *, title: str | None = None
) -> Response:
    if wants_json(request):
        return JSONResponse({"detail": message}, status_code=code)
    return error_page(request, code, message, title=title)


def _title(exc: DomainError) -> str | None:
    """The heading of a domain error's page: what kind of refusal it is."""
    if isinstance(exc, NotFound):
        return f"No such {exc.entity}"
    if isinstance(exc, SafetyBlock):
        return "Stopped for the patient's safety"
    if isinstance(exc, Conflict):
        return "Not saved: it conflicts with the record"
    return None


def _install_error_handlers(app: FastAPI) -> None:
    """Every error reaches the client once: JSON for the API and for clients that ask for
    JSON, otherwise the error page in the site's layout (`ui.errors`: `wants_json` for the
    services' errors, `wants_page` for the framework's)."""

    @app.exception_handler(LoginRequired)
    def _login(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(PasswordChangeRequired)
    def _password(request: Request, exc: PasswordChangeRequired) -> Response:
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(DomainError)
    def _domain(request: Request, exc: DomainError) -> Response:
        """Every error a service raises on purpose, mapped once by its class's status."""
        if isinstance(exc, InvalidInput):
            if not wants_json(request):
                return invalid_input_page(request, exc.field, str(exc))
            return _invalid(request, exc)
        response = _json_or_page(request, exc.status, str(exc), title=_title(exc))
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.exception_handler(IsolationError)
    def _isolation(request: Request, exc: IsolationError) -> Response:
        return _json_or_page(request, 404, "not found")

    @app.exception_handler(WriteTimeout)
    def _write_timeout(request: Request, exc: WriteTimeout) -> Response:
        """A writer that waited its whole turn for the database: busy, not broken."""
        response = _json_or_page(request, 503, "the database is busy; try again")
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        """Unknown pages (404), refused methods (405), CSRF refusals, rate limits (429)."""
        if wants_page(request):
            return http_error_page(request, exc)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        """A path, query or body the route cannot take: a 404 page when the path names
        nothing (`/patients/abc`), else a 422 page naming each field."""
        if wants_page(request):
            return validation_page(request, [dict(e) for e in writable(list(exc.errors()))])
        return await validation_refusal(request, exc)


def _invalid(request: Request, exc: InvalidInput) -> Response:
    """FastAPI's own 422 shape, so clients read our errors and pydantic's the same way; the
    field is placed where the request carried it (path, query, else body)."""
    parts = (exc.field or "").split(".")
    where = (
        "path"
        if parts[0] in request.path_params
        else "query"
        if parts[0] in request.query_params
        else "body"
    )
    item: dict[str, object] = {
        "loc": [where, *parts],
        "msg": str(exc),
        "type": "value_error",
    }
    if exc.suggestions is not None:
        item["suggestions"] = exc.suggestions
    return JSONResponse({"detail": [item]}, status_code=exc.status)


def region_names(region_ids: list[str] | tuple[str, ...]) -> str:
    """Display names for region ids, comma-separated (the `region_names` template filter)."""
    regions = load_catalog().regions
    return ", ".join(regions[r].name for r in region_ids)


def atlas_names() -> AtlasNames:
    """The atlas's muscle and trigger point names for the pages, and each site as the PPT
    form used to write it ("Upper trapezius tp1 (right)") or as the API records it
    ("upper_trapezius.tp1.right"), with the words it reads as now."""
    from triggerpoint.atlas.loader import load_atlas

    atlas = load_atlas()
    return AtlasNames(
        muscles={m.id: m.name for m in atlas.muscles.values()},
        points={(m.id, tp.id): tp.name for m in atlas.muscles.values() for tp in m.trigger_points},
        sites={
            spelling.casefold(): site_label(tp.tp.name, tp.side)
            for tp in atlas.trigger_points
            for spelling in (
                f"{tp.muscle.name} {tp.tp_id} ({tp.side})",  # the PPT form's old words
                f"{tp.muscle.id}.{tp.tp_id}.{tp.side}",  # the id the API and demo record
            )
        },
    )


def _plug_in(app: FastAPI) -> None:
    """What the layers below the domains need from them and cannot import: who is asking
    (the page header in `ui.templating`, per-user limits in `ratelimit`), region names and
    the atlas's muscle and trigger point names."""
    app.state.principal_lookup = resolve_principal
    templates().env.filters["region_names"] = region_names
    plug_in_names(atlas_names())


def create_app(*, migrate: bool = True) -> FastAPI:
    from triggerpoint.accounts.router import api as accounts_api
    from triggerpoint.accounts.router import pages as accounts_pages
    from triggerpoint.atlas.router import api as atlas_api
    from triggerpoint.atlas.router import pages as atlas_pages
    from triggerpoint.bodychart.router import api as bodychart_api
    from triggerpoint.dashboard.pages import pages as dashboard_pages
    from triggerpoint.examination.router import api as examination_api
    from triggerpoint.inference.router import api as inference_api
    from triggerpoint.inference.router import pages as inference_pages
    from triggerpoint.interop.router import api as interop_api
    from triggerpoint.listeners import register_listeners
    from triggerpoint.notes.pages import pages as notes_pages
    from triggerpoint.notes.router import api as notes_api
    from triggerpoint.outcomes.pages import pages as outcomes_pages
    from triggerpoint.outcomes.router import api as outcomes_api
    from triggerpoint.portal.pages import pages as portal_pages
    from triggerpoint.portal.patient_pages import pages as portal_patient_pages
    from triggerpoint.portal.router import api as portal_api
    from triggerpoint.portal.router import rule_pages as portal_rule_pages
    from triggerpoint.records.pages import pages as records_pages
    from triggerpoint.records.router import api as records_api
    from triggerpoint.reports.pages import pages as reports_pages
    from triggerpoint.research.router import api as research_api
    from triggerpoint.research.router import pages as research_pages
    from triggerpoint.treatment.pages import pages as treatment_pages
    from triggerpoint.treatment.router import api as treatment_api

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if migrate:
            import os

            from triggerpoint.migrate import MIGRATED_ENV, require_head, upgrade

            # A worker of `serve --workers N`: the serve command migrated once before forking.
            if os.environ.get(MIGRATED_ENV) == "1":
                require_head()
            else:
                upgrade()
        from triggerpoint.audit.keys import signing_key

        signing_key()  # refuse to start with a key file others can read (or create it)
        yield

    app = FastAPI(
        title="triggerpoint",
        summary="Trigger point dry needling: body chart, referred-pain atlas, clinic records.",
        docs_url=None,  # served below from local files, under the strict CSP
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    _plug_in(app)
    register_listeners()  # tallies, pain-map rows, research data version follow every write
    install_limits(app)  # body size cap (413) and a 422 that can always be written
    app.add_middleware(SecurityHeadersMiddleware)
    from fastapi.staticfiles import StaticFiles
    from swagger_ui_bundle import swagger_ui_path

    # Before /static, which would otherwise answer for its subfolder.
    app.mount(SWAGGER_UI, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (
        bodychart_api,
        atlas_api,
        atlas_pages,
        inference_api,
        inference_pages,
        accounts_api,
        accounts_pages,
        records_api,
        records_pages,
        treatment_api,
        treatment_pages,
        notes_api,
        notes_pages,
        examination_api,
        outcomes_api,
        outcomes_pages,
        reports_pages,
        dashboard_pages,
        interop_api,
        portal_api,
        portal_pages,
        portal_patient_pages,
        portal_rule_pages,
        research_api,
        research_pages,
    ):
        app.include_router(router)
    _install_error_handlers(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> HTMLResponse:
        return templates().TemplateResponse(request, "home.html", {})

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse("/static/img/favicon.svg", status_code=301)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)

    # The security headers wrap every other middleware of the app (each add_middleware call
    # wraps the ones before it), so whatever answers, another middleware too, gets them.
    app.user_middleware.sort(key=lambda m: m.cls is not SecurityHeadersMiddleware)
    skip_unreachable(app)  # a request asks only the routers whose paths it can reach
    return app
