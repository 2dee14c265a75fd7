"""Browser: /api/docs runs Swagger UI from the app's own files under the strict CSP.

A CSP violation is a console error, which the `page` fixture fails on; a request to any other
origin (a CDN) is failed here too, since clinic networks may be offline.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def test_api_docs_render_offline_with_no_csp_violation(page, live_server):
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((live_server, "data:")) else elsewhere.append(r.url),
    )
    page.goto(f"{live_server}/api/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() > 20
    assert "triggerpoint" in page.inner_text(".info")
    page.click('.opblock-summary:has-text("/api/regions")')
    page.wait_for_selector(".opblock.is-open .parameters")
    assert not elsewhere, elsewhere
    screenshot(page, "api-docs")
