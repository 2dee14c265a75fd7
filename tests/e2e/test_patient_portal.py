"""Browser: the patient's page on a phone (360x740), in Spanish, from the link to the refusal.

A clinician's request (through the JSON API) makes a link for NPRS, NDI (the tests'
placeholder wording, standing in for a clinic's licensed catalogue) and a pain drawing. The
patient opens it at 360x740, answers one question per screen (progress shown, the focus on
each question's heading), ticks a region by tapping the body chart, sends, and the link is
refused afterwards. axe-core finds no serious or critical violation on any patient-facing page
in either language; nothing the page loads is JSON or names anything but the clinic and the
first name. Screenshots: test-results/portal-*.png (360x740 and 820x1180).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import screenshot, served
from tests.e2e.pages import _accounts

pytestmark = pytest.mark.browser

TEXTS = Path(__file__).resolve().parents[1] / "portal" / "texts"
PHONE = {"width": 360, "height": 740}
TABLET = {"width": 820, "height": 1180}
AXE = Axe()
AXE_OPTIONS = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}
BLOCKING = {"serious", "critical"}
FAMILY = "Fernández-Secreto"
NOTE = "Nota-secreta: dolor tras el accidente"


@dataclass
class Portal:
    url: str
    api: httpx.Client
    patient_id: int

    def request(self, **body: object) -> str:
        r = self.api.post(
            f"/api/patients/{self.patient_id}/questionnaire-requests",
            json={"instruments": ["nprs", "ndi"], "pain_drawing": True, **body},
        )
        assert r.status_code == 201, r.text
        return str(r.json()["url"]).rsplit("/r/", 1)[1]


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    folder = tmp_path_factory.mktemp("portal")
    db_url = f"sqlite:///{folder}/portal.sqlite3"
    token = _accounts(db_url)
    env = {"TRIGGERPOINT_DATABASE_URL": db_url, "TRIGGERPOINT_INSTRUMENT_TEXTS_DIR": str(TEXTS)}
    with served(folder, env) as base:
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        try:
            yield Portal(base, api, _patient_with_a_note(api))
        finally:
            api.close()


def _patient_with_a_note(api: httpx.Client) -> int:
    """A patient with an episode and a past visit whose note must never reach the patient."""
    r = api.post(
        "/api/patients",
        json={
            "given_name": "Lucía",
            "family_name": FAMILY,
            "date_of_birth": "1979-03-02",
            "sex": "female",
        },
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    r = api.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "Cervicalgia secreta", "diagnoses": [{"code": "M54.2"}]},
    )
    assert r.status_code == 201, r.text
    when = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    vid = api.post(f"/api/patients/{pid}/visits", json={"visit_at": when}).json()["id"]
    assert api.put(f"/api/visits/{vid}/note", json={"subjective": NOTE}).status_code < 300
    return pid


def _phone(browser: Browser, *, size: dict[str, int] = PHONE, js: bool = True) -> Page:
    ctx = browser.new_context(
        viewport=size, has_touch=True, is_mobile=True, java_script_enabled=js, locale="es-ES"
    )
    ctx.set_default_timeout(15_000)
    return ctx.new_page()


def _axe(page: Page, what: str) -> None:
    violations = AXE.run(page, options=AXE_OPTIONS).response["violations"]
    blocking = [
        f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes'][:5]]}"
        for v in violations
        if v["impact"] in BLOCKING
    ]
    others = [f"{v['id']} ({v['impact']})" for v in violations if v["impact"] not in BLOCKING]
    if others:
        print(f"axe minor/moderate on {what}: {others}")
    assert not blocking, f"{what}:\n" + "\n".join(blocking)


def _no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"scrolls sideways: {width}px"


def _small_targets(page: Page) -> list[str]:
    """Visible controls (their labels, for radios and checkboxes) under 44 px high or wide."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main label.choice, main label.check, main button, main summary, header a')]
        .filter(el => el.offsetParent !== null)
        .map(el => [el, el.getBoundingClientRect()])
        .filter(([el, r]) => r.height < 44 || r.width < 44)
        .map(([el, r]) => el.textContent.trim().slice(0, 30) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height))"""
    )


def _words(text: str) -> str:
    return " ".join(text.split())


def _focused_heading(page: Page) -> str:
    return page.evaluate(
        "() => document.activeElement && document.activeElement.classList.contains('q-heading')"
        " ? document.activeElement.textContent.trim() : ''"
    )


def test_patient_fills_nprs_ndi_and_a_drawing_in_spanish_at_360(browser, portal) -> None:
    token = portal.request(language="es")
    page = _phone(browser)
    loaded: list[tuple[str, str, int]] = []
    page.on(
        "response", lambda r: loaded.append((r.url, r.headers.get("content-type", ""), r.status))
    )
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    started = time.perf_counter()
    page.goto(f"{portal.url}/r/{token}")
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "Hola, Lucía"
    assert page.locator("#progress").inner_text() == "Pregunta 1 de 12"
    _no_sideways_scroll(page)
    assert _small_targets(page) == []
    screenshot(page, "portal-es-360-nprs")
    _axe(page, "patient page (es), NPRS")

    # NPRS: 0-10, one screen
    page.locator("label.choice", has_text="6").first.click()
    page.click("[data-next]")
    assert page.locator("#progress").inner_text() == "Pregunta 2 de 12"
    assert _focused_heading(page) == "Pregunta 1 (texto de prueba)"
    screenshot(page, "portal-es-360-ndi-1")
    assert page.locator("[data-back]").inner_text() == "Atrás"
    page.click("[data-back]")  # back to the NPRS, its answer kept, then on again
    assert page.locator("#progress").inner_text() == "Pregunta 1 de 12"
    assert _focused_heading(page).startswith("Piensa en tu dolor habitual")
    assert page.locator('input[name="nprs.current"][value="6"]').is_checked()
    page.click("[data-next]")
    _axe(page, "patient page (es), NDI item")
    for item in range(10):
        step = page.locator("section.step:visible")
        step.locator("label.choice", has_text=f"Respuesta {item % 6} ").click()
        page.click("[data-next]")
    assert page.locator("#progress").inner_text() == "Pregunta 12 de 12"
    assert _focused_heading(page) == "¿Dónde sientes dolor?"
    assert "tu lado derecho está a la izquierda del dibujo" in page.locator("main").inner_text()
    # a tap on the front view's right temple ticks "sien (tu lado derecho)"
    page.locator('svg.bodychart [data-region="right_temple"]').tap()
    assert page.locator('input[name="region"][value="right_temple"]').is_checked()
    assert page.locator("#marked-summary").inner_text() == "Zonas marcadas: 1"
    # the lists stay closed (the step stays short); the group's summary counts the tick
    group = page.locator("details.region-group:has(input[value='right_temple'])")
    assert group.get_attribute("open") is None
    assert _words(group.locator("summary").inner_text()) == "Cabeza y cara (1)"
    assert _words(page.locator('[data-show-view="anterior"]').inner_text()) == "Delante (1)"
    _no_sideways_scroll(page)
    screenshot(page, "portal-es-360-drawing")
    # one picture at a time on a phone, so the step is about two screens, not six
    height = page.locator("section.step:has(#q-drawing)").bounding_box()["height"]
    assert height < 2.5 * PHONE["height"], f"the drawing step is {height:.0f} px"
    assert page.locator('figure[data-view="posterior"]').is_hidden()
    page.click('[data-show-view="posterior"]')
    assert page.locator('figure[data-view="posterior"]').is_visible()
    assert page.locator('figure[data-view="anterior"]').is_hidden()
    assert page.locator('[data-show-view="posterior"]').get_attribute("aria-pressed") == "true"
    page.click('[data-show-view="anterior"]')
    group.locator("summary").click()  # the list opened: the region's plain-language name
    label = page.locator('label.check:has(input[value="right_temple"])').inner_text()
    assert label.strip() == "sien (tu lado derecho)"
    assert page.locator('input[name="region"][value="right_temple"]').is_checked()
    _axe(page, "patient page (es), pain drawing")
    page.click("[data-next]")
    assert _focused_heading(page) == "Envía tus respuestas"
    screenshot(page, "portal-es-360-send")
    page.click("#send")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Gracias, Lucía"
    elapsed = time.perf_counter() - started
    screenshot(page, "portal-es-360-done")
    _axe(page, "thank-you page (es)")
    print(f"patient flow, open to sent: {elapsed:.1f} s")

    # what the page loaded: no JSON, nothing of the record
    for url, ctype, _status in loaded:
        assert "json" not in ctype, f"the page called JSON: {url}"
    body = page.content()
    for secret in (FAMILY, NOTE, "Cervicalgia", "M54.2"):
        assert secret not in body

    # into the record (the clinician's API; the provenance columns are asserted on the
    # database in tests/portal/test_patient_page.py)
    ms = portal.api.get(f"/api/patients/{portal.patient_id}/measurements").json()
    got = {m["instrument"]: m["data"] for m in ms}
    assert got["nprs"] == {"current": 6}
    assert got["ndi"] == {"items": [i % 6 for i in range(10)]}

    # the link is refused afterwards, kindly, in Spanish
    response = page.goto(f"{portal.url}/r/{token}")
    assert response is not None and response.status == 410
    assert page.locator("h1").inner_text() == "Este enlace ya se ha usado"
    assert "Lucía" not in page.content()
    screenshot(page, "portal-es-360-used")
    _axe(page, "used link (es)")
    assert not errors, errors


def test_english_page_refusals_and_tablet_size(browser, portal) -> None:
    token = portal.request(language="en")
    page = _phone(browser)
    page.goto(f"{portal.url}/r/{token}")
    assert page.locator("h1").inner_text() == "Hello Lucía"
    assert page.locator("#progress").inner_text() == "Question 1 of 12"
    _axe(page, "patient page (en), NPRS")
    screenshot(page, "portal-en-360-nprs")
    # the keyboard: arrows move within the 0-10 radio group, Enter goes on (not sending)
    page.focus('input[name="nprs.current"][value="0"]')
    page.keyboard.press("ArrowRight")
    assert page.locator('input[name="nprs.current"][value="1"]').is_checked()
    page.keyboard.press("Enter")
    assert page.locator("#progress").inner_text() == "Question 2 of 12"
    assert _focused_heading(page) == "Item 1 (test wording)"
    page.keyboard.press("Shift+Tab")  # from the heading back out, then Back to the NPRS
    page.click("[data-back]")
    page.locator('label.choice:has(input[name="nprs.current"][value="0"])').click()
    # straight to the drawing: Next without answers is allowed, errors come on sending
    for _ in range(11):
        page.click("[data-next]")
    _axe(page, "patient page (en), pain drawing")
    screenshot(page, "portal-en-360-drawing")
    # the keyboard reaches every list: a summary opens with Enter, a box ticks with Space
    summary = page.locator("details.region-group summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("details.region-group").first.get_attribute("open") is not None
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    assert page.locator("#marked-summary").inner_text() == "Places ticked: 1"
    assert summary.inner_text().strip().endswith("(1)")
    _axe(page, "patient page (en), pain drawing, a list open")
    page.keyboard.press("Space")  # untick again: the errors below expect no drawing
    page.click("[data-next]")
    page.click("#send")
    page.wait_for_load_state("networkidle")
    assert page.locator("#error-summary").is_visible()
    assert "(and 9 more questions)" in page.locator("#error-summary").inner_text()
    # the first question with an error is shown, and the summary has the focus
    assert page.locator("section.step:visible .q-heading").inner_text() == "Item 1 (test wording)"
    assert page.locator('input[name="nprs.current"][value="0"]').is_checked()  # kept
    screenshot(page, "portal-en-360-errors")
    _axe(page, "patient page (en) with errors")
    # the language switch
    page.click('.lang-switch a[lang="es"]')
    assert page.locator("html").get_attribute("lang") == "es"
    # unknown link: 404, in the browser's language (es-ES here), then in English
    for lang, heading in (
        ("es", "No hemos encontrado esta página"),
        ("en", "We could not find this page"),
    ):
        r = page.goto(f"{portal.url}/r/{'x' * 43}?lang={lang}")
        assert r is not None and r.status == 404
        assert page.locator("h1").inner_text() == heading
        screenshot(page, f"portal-{lang}-360-unknown")
        _axe(page, f"unknown link ({lang})")
    big = _phone(browser, size=TABLET)
    big.goto(f"{portal.url}/r/{token}")
    _no_sideways_scroll(big)
    screenshot(big, "portal-en-820-nprs")
    for _ in range(11):
        big.click("[data-next]")
    screenshot(big, "portal-en-820-drawing")
    assert big.locator("[data-view-switch]").is_hidden()  # wide enough for both pictures
    assert big.locator('figure[data-view="posterior"]').is_visible()
    _axe(big, "patient page (en) at 820")


def test_without_javascript_one_long_form_saves_and_resumes(browser, portal) -> None:
    token = portal.request(language="es")
    page = _phone(browser, js=False)
    page.goto(f"{portal.url}/r/{token}")
    assert page.locator("section.step:visible").count() == 13  # every question and "send"
    assert page.locator("#progress").is_hidden()
    page.locator("fieldset#q-nprs-current label.choice", has_text="3").first.click()
    page.locator("details.region-group summary").first.click()
    page.locator('label.check:has(input[value="right_temple"])').click()
    screenshot(page, "portal-es-360-nojs")
    page.click("#save")
    page.wait_for_load_state("networkidle")
    assert "Guardado." in page.locator("#saved-note").inner_text()
    again = _phone(browser, js=False)
    again.goto(f"{portal.url}/r/{token}")
    assert again.locator('input[name="nprs.current"][value="3"]').is_checked()
    assert again.locator('input[name="region"][value="right_temple"]').is_checked()
    # (axe needs JavaScript: the same markup is checked above with the script running)


def test_save_midway_and_resume_on_another_device(browser, portal) -> None:
    token = portal.request(language="es")
    page = _phone(browser)
    page.goto(f"{portal.url}/r/{token}")
    page.locator('label.choice:has(input[name="nprs.current"][value="4"])').click()
    page.click("[data-next]")
    page.locator("section.step:visible label.choice", has_text="Respuesta 2 ").click()
    page.click("[data-save-later]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#saved-note").is_visible()
    assert page.locator("#progress").inner_text() == "Pregunta 3 de 12"  # the first unanswered
    screenshot(page, "portal-es-360-saved")
    other = _phone(browser)  # the same link, later, elsewhere
    other.goto(f"{portal.url}/r/{token}")
    assert other.locator('input[name="nprs.current"][value="4"]').is_checked()
    assert other.locator('input[name="ndi.items.0"][value="2"]').is_checked()
