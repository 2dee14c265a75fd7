"""Response headers: no-store on patient data, the security headers on every answer (a crash
too), HSTS over HTTPS, and API docs that run offline under the strict CSP.

Every page, PDF and API route is also walked by tests/records/test_isolation_matrix.py, which
checks `Cache-Control: no-store` on each of them as the clinician and on each 404 of another
clinic.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import as_person, new_patient
from tests.ratelimits import generous_rate_limits
from triggerpoint.config import get_settings
from triggerpoint.web.security import CSP, HSTS, SecurityHeadersMiddleware, cacheable

SECURITY = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _has_security_headers(resp) -> None:
    for name, value in SECURITY.items():
        assert resp.headers.get(name) == value, (resp.request.url, name, resp.headers.get(name))
    assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]


def _app_with(routes) -> FastAPI:
    """The real app, plus test routes (added before the first request builds the stack)."""
    from triggerpoint.web.app import create_app

    app = create_app(migrate=False)
    routes(app)
    return app


def _crashing(app: FastAPI) -> None:
    @app.get("/api/test-crash")
    def api_crash() -> dict:
        raise RuntimeError("secret-detail-in-the-exception")

    @app.get("/test-crash")
    def page_crash() -> dict:
        raise ZeroDivisionError("another-secret-detail")

    @app.get("/patients/test-cached")
    def cached_by_mistake():
        from fastapi.responses import JSONResponse

        return JSONResponse({"name": "x"}, headers={"Cache-Control": "public, max-age=3600"})


# --- 1. Cache-Control ------------------------------------------------------------------------


def test_patient_data_is_never_cached(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    pid = new_patient(app_client, world.clinician_a)
    kinds = {}
    with generous_rate_limits():
        for url in (
            f"/patients/{pid}",  # a page behind login
            f"/api/patients/{pid}",  # JSON with patient data
            f"/api/patients/{pid}/fhir",  # FHIR export
            f"/patients/{pid}/reports/consent.pdf",  # a PDF
            "/api/patients/2147483647",  # an error about patient data
        ):
            resp = app_client.get(url, headers=hdr)
            assert resp.status_code in (200, 404), (url, resp.status_code)
            assert resp.headers["cache-control"] == "no-store", url
            kinds[url.rsplit(".", 1)[-1]] = resp.headers["content-type"]
    assert kinds["pdf"] == "application/pdf"


def test_public_reference_material_may_be_cached_but_no_page_may(client):
    for url in (
        "/static/css/app.css",
        "/static/swagger-ui/swagger-ui-bundle.js",
        "/api/regions?name=sacrum",
        "/api/atlas/muscles?group=neck",
        "/bodychart/anterior.svg",
        "/education/handout.pdf",
    ):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert "no-store" not in resp.headers.get("cache-control", ""), url
    # Public pages too: the layout carries the logged-in user's name and CSRF token.
    for url in ("/atlas", "/education", "/login", "/", "/api/docs", "/healthz", "/nowhere"):
        assert client.get(url).headers["cache-control"] == "no-store", url


def test_a_handlers_own_cache_header_on_private_data_is_replaced():
    resp = TestClient(_app_with(_crashing)).get("/patients/test-cached")
    assert resp.status_code == 200
    assert resp.headers.get_list("cache-control") == ["no-store"]


def test_cacheable_rule():
    assert cacheable("/static/js/app.js", "text/javascript")
    assert cacheable("/api/atlas", "application/json")
    assert cacheable("/api/atlas/muscles/x/map.svg", "image/svg+xml")
    assert not cacheable("/api/atlasx", "application/json")  # a prefix, not a word's start
    assert not cacheable("/static/page.html", "text/html; charset=utf-8")
    assert not cacheable("/api/patients/1", "application/json")
    assert not cacheable("/patients/1/reports/progress.pdf", "application/pdf")


# --- 2. Security headers on every answer, errors and crashes included -------------------------


def test_error_answers_carry_the_security_headers(app_client, world):
    anonymous = TestClient(app_client.app)
    assistant = as_person(app_client, world.assistant_a)
    answers = [
        anonymous.get("/nowhere"),  # 404 page
        anonymous.get("/api/nowhere"),  # 404 API
        anonymous.delete("/api/regions"),  # 405
        anonymous.get("/api/atlas/refers-to"),  # 422
        anonymous.get("/api/patients"),  # 401
        anonymous.get("/patients", follow_redirects=False),  # 303 to the login
        app_client.get("/dashboard", headers=assistant),  # 403
        anonymous.post(
            "/api/suggest", content=b"x" * (3 * 1024 * 1024), headers={"content-type": "x"}
        ),  # 413, answered by another middleware
    ]
    assert [r.status_code for r in answers] == [404, 404, 405, 422, 401, 303, 403, 413]
    for resp in answers:
        _has_security_headers(resp)
        if not resp.request.url.path.startswith(("/api/regions", "/api/atlas")):
            assert resp.headers["cache-control"] == "no-store", resp.request.url


@pytest.mark.parametrize(
    ("path", "kind"), [("/api/test-crash", "application/json"), ("/test-crash", "text/plain")]
)
def test_a_crash_is_a_500_with_the_headers_and_no_traceback(path, kind):
    client = TestClient(_app_with(_crashing), raise_server_exceptions=False)
    resp = client.get(path)
    assert resp.status_code == 500
    _has_security_headers(resp)
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["content-type"].startswith(kind)
    for leak in ("Traceback", "secret-detail", "RuntimeError", "ZeroDivision", "File ", ".py"):
        assert leak not in resp.text, leak


def test_a_crash_still_reaches_the_server_log():
    """The middleware answers, then re-raises: the server still logs the traceback."""
    with pytest.raises(RuntimeError, match="secret-detail"):
        TestClient(_app_with(_crashing)).get("/api/test-crash")


def test_the_security_headers_wrap_every_other_middleware():
    app = _app_with(lambda app: None)
    assert app.user_middleware[0].cls is SecurityHeadersMiddleware
    assert len(app.user_middleware) > 1  # the body limit at least


# --- 3. HSTS ---------------------------------------------------------------------------------


def test_hsts_over_https_only(client):
    https = TestClient(client.app, base_url="https://testserver")
    for resp in (https.get("/atlas"), https.get("/api/nowhere")):
        assert resp.headers["strict-transport-security"] == HSTS
    assert HSTS == "max-age=31536000; includeSubDomains"
    assert "strict-transport-security" not in client.get("/atlas").headers


def test_forwarded_proto_counts_only_when_the_setting_trusts_the_proxy(client, monkeypatch):
    proxied = {"X-Forwarded-Proto": "https"}
    assert "strict-transport-security" not in client.get("/atlas", headers=proxied).headers
    monkeypatch.setenv("TRIGGERPOINT_TRUST_FORWARDED_PROTO", "true")
    get_settings.cache_clear()
    try:
        assert client.get("/atlas", headers=proxied).headers["strict-transport-security"] == HSTS
        plain = client.get("/atlas", headers={"X-Forwarded-Proto": "http"})
        assert "strict-transport-security" not in plain.headers
        assert "strict-transport-security" not in client.get("/atlas").headers
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


# --- 4. API docs: local Swagger UI, no inline script, strict CSP -------------------------------


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.styles = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "style" in a:
            self.styles += 1
        if tag == "style":
            self.styles += 1
        if tag == "script":
            if a.get("src"):
                self.urls.append(a["src"])
            else:
                self._in_script = True
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])
        if tag == "img" and a.get("src"):
            self.urls.append(a["src"])

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def test_api_docs_load_only_same_origin_assets_under_the_strict_csp(client):
    resp = client.get("/api/docs")
    assert resp.status_code == 200
    csp = resp.headers["content-security-policy"]
    assert csp == CSP and "unsafe-inline" not in csp and "cdn" not in csp
    page = _Assets()
    page.feed(resp.text)
    assert page.inline_scripts == 0 and page.styles == 0
    assert any("swagger-ui-bundle.js" in u for u in page.urls)
    assert any("swagger-ui.css" in u for u in page.urls)
    assert any(u == "/static/js/api-docs.js" for u in page.urls)
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert "://" not in re.sub(r"\s", "", url)
    start = client.get("/static/js/api-docs.js").text
    assert "SwaggerUIBundle(" in start and "validatorUrl: null" in start
    assert 'data-openapi-url="/api/openapi.json"' in resp.text
    assert client.get("/api/openapi.json").json()["openapi"].startswith("3.1")


def test_the_bundled_swagger_ui_reads_openapi_3_1():
    """FastAPI writes OpenAPI 3.1, which Swagger UI reads from version 5 on."""
    from swagger_ui_bundle import swagger_ui_path

    assert int(re.search(r"swagger-ui-(\d+)\.", str(swagger_ui_path)).group(1)) >= 5
