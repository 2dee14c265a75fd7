"""web/routing.py: the guards in front of the included routers change which routers are
asked, never which route answers (issue 19)."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Match

from triggerpoint.web.routing import GUARD, Reach, path_key, skip_unreachable


def _apps() -> tuple[FastAPI, FastAPI]:
    """The app as built (guarded), and the same app with every guard taken off."""
    from triggerpoint.web.app import create_app

    guarded, plain = create_app(migrate=False), create_app(migrate=False)
    for route in plain.router.routes:
        vars(route).pop("matches", None)
        vars(route).pop(GUARD, None)
    return guarded, plain


def _first(app: FastAPI, method: str, path: str) -> tuple[int | None, int | None]:
    """The index of the first route of the app's list that matches fully, and of the
    first that matches partly (a 405), as the router's own loop finds them."""
    full = partial = None
    for i, route in enumerate(app.router.routes):
        scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
        match, _ = route.matches(scope)
        if match is Match.FULL and full is None:
            full = i
        if match is Match.PARTIAL and partial is None:
            partial = i
    return full, partial


def _concrete(path: str) -> str:
    """A path the template matches: every parameter filled in (a `:path` one with two parts)."""
    path = re.sub(r"\{[^}:]+:path\}", "a/b", path)
    return re.sub(r"\{[^}]+\}", "1", path)


def _all_routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    out = []
    for route in app.router.routes:
        contexts = (
            route.effective_route_contexts()
            if hasattr(route, "effective_route_contexts")
            else [route]
        )
        for ctx in contexts:
            path = getattr(ctx, "path_format", None) or getattr(ctx, "path", None)
            if path:
                out.append((path, set(getattr(ctx, "methods", None) or {"GET"})))
    return out


def test_every_route_is_matched_by_the_same_entry_with_and_without_guards():
    guarded, plain = _apps()
    assert sum(GUARD in vars(r) for r in guarded.router.routes) >= 20  # the routers are guarded
    routes = _all_routes(plain)
    assert len(routes) > 150
    checked = 0
    for template, methods in routes:
        path = _concrete(template)
        for method in [*methods, "PATCH"]:  # PATCH: mostly a 405 (a partial match)
            for candidate in (path, path + "/", path.rstrip("/") or "/"):
                want = _first(plain, method, candidate)
                assert _first(guarded, method, candidate) == want, (method, candidate)
                checked += 1
        assert _first(plain, next(iter(methods)), path)[0] is not None, template
    assert checked > 450


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/nowhere",
        "/api",
        "/api/",
        "/api/nowhere/at/all",
        "/static/css/app.css",
        "/static",
        "/api/patients//visits",
        "//api/patients",
        "/api/docs/",
        "/healthz/",
    ],
)
def test_odd_paths_match_as_before(path):
    guarded, plain = _apps()
    for method in ("GET", "POST", "DELETE"):
        assert _first(guarded, method, path) == _first(plain, method, path)


def test_answers_are_the_same_as_without_guards():
    """Statuses and redirects through the whole app: unknown paths, a wrong method, a
    trailing slash, the static files, the OpenAPI document."""
    guarded, plain = _apps()
    with TestClient(guarded) as g, TestClient(plain) as p:
        for method, path in [
            ("GET", "/healthz"),
            ("GET", "/nowhere"),
            ("GET", "/api/nowhere"),
            ("PATCH", "/api/suggest"),
            ("GET", "/api/patients/"),
            ("GET", "/static/css/app.css"),
            ("GET", "/api/openapi.json"),
            ("GET", "/favicon.ico"),
        ]:
            a = g.request(method, path, follow_redirects=False)
            b = p.request(method, path, follow_redirects=False)
            assert (a.status_code, a.headers.get("location")) == (
                b.status_code,
                b.headers.get("location"),
            ), (method, path)
        assert g.get("/api/openapi.json").json() == p.get("/api/openapi.json").json()
        assert g.request("PATCH", "/api/suggest").status_code == 405


def test_a_route_added_to_an_included_router_afterwards_is_reached():
    router = APIRouter(prefix="/late")
    router.add_api_route("/one", lambda: {"n": 1})
    app = FastAPI()
    app.include_router(router)
    assert skip_unreachable(app) == 1
    with TestClient(app) as c:
        assert c.get("/late/one").json() == {"n": 1}
        assert c.get("/late/two").status_code == 404
        router.add_api_route("/two", lambda: {"n": 2})
        assert c.get("/late/two").json() == {"n": 2}
        other = APIRouter()
        other.add_api_route("/elsewhere", lambda: {"n": 3})
        router.include_router(other)
        assert c.get("/late/elsewhere").json() == {"n": 3}


def test_path_keys():
    assert path_key("/api/patients/{patient_id}/visits") == (("api", "patients"), True)
    assert path_key("/api/patients") == (("api", "patients"), False)
    assert path_key("/healthz") == (("healthz",), False)
    assert path_key("/") == (("",), False)
    assert path_key("/api/{anything}") == (("api",), True)
    assert path_key("/{page}/x") is None  # may start anywhere
    assert path_key("relative") is None


def test_reach():
    reach = Reach()
    reach.add("/api/patients")
    reach.add("/api/patients/{pid}")
    reach.add("/static", prefix=True)
    assert reach.may_match(["api", "patients"])
    assert reach.may_match(["api", "patients", "3/visits"])
    assert not reach.may_match(["api", "patient"])
    assert not reach.may_match(["api"])
    assert reach.may_match(["static", "css/app.css"])
    assert not reach.may_match(["healthz"])
    reach.add(None)
    assert reach.may_match(["healthz"])
