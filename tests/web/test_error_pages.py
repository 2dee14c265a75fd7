"""Errors as each kind of client reads them: a browser on a page route gets an HTML page in
the site's layout (the right status, `Cache-Control: no-store`, a way back); the API, and any
client that asks for JSON, gets the JSON it always got.

A small app raises each error (`ui.errors` and `web.app._install_error_handlers`, the real
mapping); the real app shows the two pages issue 14 found returning raw JSON to a browser:
`/patients/abc` and `/atlas/muscles/x`.
"""

from __future__ import annotations

import html
import re
from typing import Annotated

import pytest
from fastapi import FastAPI, HTTPException, Path, Query
from fastapi.testclient import TestClient

from tests.conftest import logged_in
from triggerpoint.accounts.service import LoginThrottled
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound, SafetyBlock
from triggerpoint.ratelimit import RateLimited
from triggerpoint.web.app import _install_error_handlers
from triggerpoint.web.limits import install as install_limits

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PROGRAM = {"accept": "application/json"}
RAISED = {
    "missing": NotFound("patient", 7),
    "forbidden": Forbidden("role 'assistant' may not clinical write"),
    "conflict": Conflict("visit 3 already has a needling session"),
    "safety": SafetyBlock("the patient has not been screened"),
    "throttled": LoginThrottled(30),
    "limited": RateLimited(
        "too many pdf requests: at most 2 per 1 minute; try again in 12 seconds", 12
    ),
    "invalid": InvalidInput("answers.pregnancy", "answer every question"),
    "csrf": HTTPException(403, detail="CSRF token missing or wrong (send it as a form field)"),
}
# status, the page's heading, words the page must say
PAGES = {
    "missing": (404, "No such patient", "patient 7 not found."),
    "forbidden": (403, "Not allowed", "may not clinical write"),
    "conflict": (409, "Not saved: it conflicts with the record", "already has a needling session"),
    "safety": (409, "Stopped for the patient's safety", "has not been screened"),
    "throttled": (429, "Too many requests", "try again in 30 seconds"),
    "limited": (429, "Too many requests", "try again in 12 seconds"),
    "invalid": (422, "Please check what was entered", "Pregnancy: answer every question"),
    "csrf": (403, "Not allowed", "Reload the page and try again"),
}


def _raiser(exc: Exception):
    def raise_it() -> None:
        raise exc

    return raise_it


@pytest.fixture(scope="module")
def small() -> TestClient:
    app = FastAPI()
    install_limits(app)
    _install_error_handlers(app)
    for prefix in ("", "/api"):
        for name, exc in RAISED.items():
            app.get(f"{prefix}/things/{name}")(_raiser(exc))

        @app.get(f"{prefix}/items/{{item_id}}")
        def item(item_id: Annotated[int, Path(ge=1)]) -> dict[str, int]:
            return {"id": item_id}

        @app.get(f"{prefix}/search")
        def search(n: Annotated[int, Query(ge=1, le=50)]) -> dict[str, int]:
            return {"n": n}

        @app.post(f"{prefix}/only-post")
        def only_post() -> dict[str, bool]:
            return {"ok": True}

    return TestClient(app)


def text_of(page: str) -> str:
    body = page.split("<main", 1)[-1]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def assert_page(resp, status: int, heading: str) -> str:
    assert resp.status_code == status, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/html")
    assert resp.headers["cache-control"] == "no-store"
    assert f'<h1 id="error-h">{html.escape(heading, quote=False)}</h1>' in resp.text.replace(
        "&#39;", "'"
    )
    assert '<nav aria-label="Ways back"' in resp.text and 'href="/"' in resp.text
    assert '"detail"' not in resp.text
    return text_of(resp.text)


@pytest.mark.parametrize("name", sorted(RAISED))
def test_a_browser_gets_a_page_for_each_error(small, name):
    status, heading, words = PAGES[name]
    text = assert_page(small.get(f"/things/{name}", headers=BROWSER), status, heading)
    assert words in text, text


@pytest.mark.parametrize("name", sorted(RAISED))
def test_the_api_keeps_its_json(small, name):
    exc = RAISED[name]
    status = PAGES[name][0]
    for headers in (BROWSER, PROGRAM):
        resp = small.get(f"/api/things/{name}", headers=headers)
        assert resp.status_code == status
        assert resp.headers["content-type"] == "application/json"
        if isinstance(exc, InvalidInput):
            (item,) = resp.json()["detail"]
            assert item["loc"] == ["body", "answers", "pregnancy"]
            assert item["msg"] == "answer every question"
        elif isinstance(exc, HTTPException):
            assert resp.json() == {"detail": exc.detail}
        else:
            assert resp.json() == {"detail": str(exc)}


@pytest.mark.parametrize("name", sorted(RAISED))
def test_a_program_asking_for_json_on_a_page_route_gets_json(small, name):
    resp = small.get(f"/things/{name}", headers=PROGRAM)
    assert resp.status_code == PAGES[name][0]
    assert resp.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "path", ["/nowhere", "/only-post", "/items/abc", "/search?n=x", "/things/limited"]
)
def test_a_program_that_asks_for_nothing_keeps_the_frameworks_json(small, path):
    """No Accept or */* (curl, scripts, tests): the framework's errors stay the JSON they were."""
    for headers in ({"accept": "*/*"}, {}):
        resp = small.get(path, headers=headers)
        assert resp.status_code in (404, 405, 422, 429)
        assert resp.headers["content-type"] == "application/json", (path, headers)
        assert "detail" in resp.json()


def test_a_services_refusal_on_a_page_route_is_a_page_whatever_is_accepted(small):
    resp = small.get("/things/missing", headers={"accept": "*/*"})
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")


def test_a_rate_limit_page_still_says_when_to_retry(small):
    for path in ("/things/limited", "/things/throttled", "/api/things/limited"):
        resp = small.get(path, headers=BROWSER)
        assert resp.headers["retry-after"] in ("12", "30"), path


def test_an_unknown_page_is_a_404_page_and_json_under_the_api(small):
    text = assert_page(small.get("/nowhere", headers=BROWSER), 404, "Not found")
    assert "There is no page at /nowhere." in text
    api = small.get("/api/nowhere", headers=BROWSER)
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}


def test_a_refused_method_is_a_405_page_and_json_under_the_api(small):
    text = assert_page(small.get("/only-post", headers=BROWSER), 405, "Not available this way")
    assert "/only-post cannot be opened with GET." in text
    api = small.get("/api/only-post", headers=BROWSER)
    assert api.status_code == 405 and api.json() == {"detail": "Method Not Allowed"}


def test_a_path_that_names_nothing_is_a_404_page_naming_the_thing(small):
    text = assert_page(small.get("/items/abc", headers=BROWSER), 404, "No such item")
    assert "There is no item “abc”." in text
    api = small.get("/api/items/abc", headers=BROWSER)
    assert api.status_code == 422
    assert api.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_a_bad_query_is_a_422_page_naming_the_field_in_words(small):
    for value, words in [("abc", "N must be a whole number"), ("99", "N must be at most 50")]:
        text = assert_page(
            small.get("/search", params={"n": value}, headers=BROWSER),
            422,
            "Please check what was entered",
        )
        assert words in text and "Input should" not in text, text
    api = small.get("/api/search", params={"n": "abc"}, headers=BROWSER)
    assert api.status_code == 422 and api.json()["detail"][0]["type"] == "int_parsing"


def test_hostile_values_in_a_path_are_shown_safely(small):
    long = "x" * 5000
    text = assert_page(small.get(f"/items/{long}", headers=BROWSER), 404, "No such item")
    assert "x" * 79 + "…" in text and "x" * 81 not in text
    resp = small.get("/items/%ED%A0%80<script>", headers=BROWSER)
    assert resp.status_code == 404 and "<script>" not in resp.text.split("<main", 1)[1]


def test_the_way_back_leads_to_where_the_user_came_from(small):
    here = small.base_url.join("/patients/3")
    resp = small.get("/things/missing", headers={**BROWSER, "referer": str(here)})
    assert 'href="/patients/3"' in resp.text
    foreign = small.get(
        "/things/missing", headers={**BROWSER, "referer": "https://evil.example/phish"}
    )
    assert "evil.example" not in foreign.text


# --- the real app ----------------------------------------------------------------------


def test_a_patient_id_that_is_not_a_number_is_a_no_such_patient_page(app_client, alice):
    browser, _csrf = logged_in(app_client, alice)
    text = assert_page(browser.get("/patients/abc", headers=BROWSER), 404, "No such patient")
    assert "There is no patient “abc”." in text
    assert 'href="/patients"' in browser.get("/patients/abc", headers=BROWSER).text
    for path in ("/patients/0", "/patients/99999999999", "/visits/abc/needling"):
        assert browser.get(path, headers=BROWSER).status_code == 404, path
    api = app_client.get("/api/patients/abc", headers=alice.headers)
    assert api.status_code == 422 and api.json()["detail"][0]["loc"] == ["path", "patient_id"]


def test_another_clinics_patient_is_the_same_page(app_client, alice, carol):
    from tests.personas import new_patient

    pid = new_patient(app_client, alice)
    browser, _csrf = logged_in(app_client, carol)
    text = assert_page(browser.get(f"/patients/{pid}", headers=BROWSER), 404, "No such patient")
    assert "Test" not in text  # nothing of alice's patient


def test_an_unknown_atlas_muscle_is_a_404_page_naming_it(app_client):
    text = assert_page(
        app_client.get("/atlas/muscles/trapezious", headers=BROWSER), 404, "No such muscle"
    )
    assert "There is no muscle “trapezious” in the atlas." in text
    page = app_client.get("/atlas/muscles/trapezious", headers=BROWSER).text
    assert '<a href="/atlas/muscles/Upper%20trapezius">Upper trapezius</a>' in page
    assert app_client.get("/atlas/muscles/Upper%20trapezius").status_code == 200
    assert_page(app_client.get("/atlas/muscles/x", headers=BROWSER), 404, "No such muscle")
    api = app_client.get("/api/atlas/muscles/x")
    assert api.status_code == 422 and api.json()["detail"][0]["type"] == "unknown_muscle"


def test_a_bad_query_on_a_real_page_is_a_422_page(app_client, alice):
    from tests.personas import new_patient

    pid = new_patient(app_client, alice)
    browser, _csrf = logged_in(app_client, alice)
    text = assert_page(
        browser.get(
            f"/patients/{pid}/reports/visit-note", params={"visit": "abc"}, headers=BROWSER
        ),
        422,
        "Please check what was entered",
    )
    assert "Visit must be a whole number" in text
