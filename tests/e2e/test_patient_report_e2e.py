"""Browser, end to end: the clinician asks, the email goes out, the patient answers on a phone.

Everything here is real and in its own process: `triggerpoint serve`, one `triggerpoint
worker` on the SQLite job queue (as `make run` starts them), an aiosmtpd SMTP server
(tests/smtp.py), and headless Chromium. The request is made in the browser by a clinician;
the worker, not the request, sends the email; the patient follows the link in that email at
360x740, in Spanish, fills NPRS, NDI (the tests' placeholder wording, standing in for a
clinic's licensed catalogue) and a pain drawing; the clinician's patient page then shows
them as reported by the patient, and the link is refused afterwards.

Measured and printed: the time from "Create the link" to the email at the SMTP server (the
worker's pick-up), and the patient's time from opening the link to sending. Screenshots:
test-results/report-e2e-*.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import PASSWORD, _free_port, _wait_until_up, screenshot
from tests.e2e.pages import _accounts
from tests.smtp import SmtpServer, html_of, text_of

pytestmark = pytest.mark.browser

TEXTS = Path(__file__).resolve().parents[1] / "portal" / "texts"
PHONE = {"width": 360, "height": 740}
DESK = {"width": 1366, "height": 900}
EMAIL = "lucia.e2e@example.org"
FAMILY = "Ferrer-Secreta"
COMPLAINT = "Cervicalgia-privada tras caída"
LINK = re.compile(r"https?://[^\s\"<>]+/r/[A-Za-z0-9_-]{20,}")


@dataclass
class Clinic:
    url: str
    api: httpx.Client
    smtp: SmtpServer
    patient_id: int
    visit_id: int
    worker_log: Path


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "triggerpoint.cli.main", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def clinic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clinic]:
    folder = tmp_path_factory.mktemp("report-e2e")
    db_url = f"sqlite:///{folder}/clinic.sqlite3"
    token = _accounts(db_url)
    smtp = SmtpServer().start()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = (
        os.environ
        | smtp.env()
        | {
            "TRIGGERPOINT_DATABASE_URL": db_url,
            "TRIGGERPOINT_DATA_DIR": str(folder),
            "TRIGGERPOINT_INSTRUMENT_TEXTS_DIR": str(TEXTS),
            # the queue the web app enqueues on and the worker consumes: one SQLite file,
            # as `make run` has it (tests/conftest.py sets memory: for in-process tests)
            "TRIGGERPOINT_QUEUE_URL": f"sqlite:///{folder}/jobs.sqlite3",
            "TRIGGERPOINT_PUBLIC_BASE_URL": base,
        }
    )
    server = _spawn(["serve", "--port", str(port)], env, folder / "server.log")
    worker = _spawn(["worker"], env, folder / "worker.log")
    api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    try:
        _wait_until_up(base, server)
        r = api.post(
            "/api/patients",
            json={
                "given_name": "Lucía",
                "family_name": FAMILY,
                "date_of_birth": "1981-06-14",
                "sex": "female",
                "email": EMAIL,
            },
        )
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        r = api.post(
            f"/api/patients/{pid}/episodes",
            json={"complaint": COMPLAINT, "diagnoses": [{"code": "M79.12"}]},
        )
        assert r.status_code == 201, r.text
        # the next visit, in two days: the request is asked before it
        when = (datetime.now(UTC) + timedelta(days=2)).replace(hour=10, minute=0)
        r = api.post(f"/api/patients/{pid}/visits", json={"visit_at": when.isoformat()})
        assert r.status_code == 201, r.text
        yield Clinic(base, api, smtp, pid, r.json()["id"], folder / "worker.log")
    finally:
        api.close()
        for proc in (worker, server):
            proc.terminate()
        for proc in (worker, server):
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        smtp.stop()
        print(f"logs: {folder}")


def _login(page: Page, url: str) -> None:
    page.goto(f"{url}/login")
    page.fill("#username", "dr.pages")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def _phone(browser: Browser) -> Page:
    ctx = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, locale="es-ES")
    ctx.set_default_timeout(15_000)
    return ctx.new_page()


def _create_request_in_browser(page: Page, clinic: Clinic) -> None:
    page.goto(f"{clinic.url}/patients/{clinic.patient_id}#questionnaires")
    form = page.locator("#request-form")
    form.locator('input[name="instruments"][value="nprs"]').check()
    form.locator('input[name="instruments"][value="ndi"]').check()
    form.locator('input[name="pain_drawing"]').check()
    # the visit still to come is offered, and chosen by default
    assert form.locator("#request-visit").input_value() == str(clinic.visit_id)
    form.locator("#request-channel").select_option("email")
    form.locator("#request-language").select_option("es")
    screenshot(page, "report-e2e-1366-request-form")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Questionnaire request"
    assert "being sent by email" in page.locator("#request-delivery").inner_text()
    assert page.locator("#patient-link").count() == 0  # the email's link is the one that works
    screenshot(page, "report-e2e-1366-created")


def _link_from(msg) -> str:
    text, html = text_of(msg), html_of(msg)
    [link] = set(LINK.findall(text))
    assert link in html
    for secret in (FAMILY, COMPLAINT, "M79.12", "NDI", "NPRS"):
        assert secret not in text and secret not in html, f"the email holds {secret!r}"
    return link


def _fill_as_patient(page: Page, link: str) -> float:
    started = time.perf_counter()
    page.goto(link)
    assert page.locator("html").get_attribute("lang") == "es"
    assert page.locator("h1").inner_text() == "Hola, Lucía"
    assert page.locator("#progress").inner_text() == "Pregunta 1 de 12"
    screenshot(page, "report-e2e-360-nprs")
    page.locator("label.choice", has_text="7").first.click()
    page.click("[data-next]")
    for item in range(10):
        page.locator("section.step:visible label.choice", has_text=f"Respuesta {item % 4} ").click()
        page.click("[data-next]")
    assert page.locator("#progress").inner_text() == "Pregunta 12 de 12"
    page.locator('svg.bodychart [data-region="right_temple"]').tap()
    page.locator('svg.bodychart [data-region="right_angle_of_jaw"]').tap()
    assert page.locator("#marked-summary").inner_text() == "Zonas marcadas: 2"
    screenshot(page, "report-e2e-360-drawing")
    page.click("[data-next]")
    page.click("#send")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").inner_text() == "Gracias, Lucía"
    screenshot(page, "report-e2e-360-done")
    return time.perf_counter() - started


def test_clinician_asks_email_arrives_patient_answers_record_shows_it(browser, clinic) -> None:
    desk = browser.new_context(viewport=DESK).new_page()
    desk.set_default_timeout(15_000)
    _login(desk, clinic.url)
    clicked = time.perf_counter()
    _create_request_in_browser(desk, clinic)

    # the worker, not the web request, sends it: the email reaches the SMTP server
    [msg] = clinic.smtp.wait_for(1, timeout=60)
    delivered = time.perf_counter() - clicked
    assert clinic.smtp.handler.envelopes[0][1] == [EMAIL]
    assert "send_request" in clinic.worker_log.read_text()  # the task ran in the worker
    link = _link_from(msg)

    phone = _phone(browser)
    filled = _fill_as_patient(phone, link)
    print(f"email at the SMTP server {delivered:.1f} s after the click; patient {filled:.1f} s")

    # into the record, as the patient's report (the clinician's own page and API)
    desk.goto(f"{clinic.url}/patients/{clinic.patient_id}")
    visit = desk.locator(f'#timeline li[data-visit="{clinic.visit_id}"]')
    reported = visit.locator('[data-source="patient"]')
    assert reported.count() == 3, desk.locator("main").inner_text()[:2000]  # NPRS, NDI, drawing
    for badge in reported.all():
        assert badge.inner_text() == "reported by the patient, 2 days before the visit"
    assert desk.locator("#request-list tr[data-status='submitted']").count() == 1
    screenshot(desk, "report-e2e-1366-record")
    ms = clinic.api.get(f"/api/patients/{clinic.patient_id}/measurements").json()
    mine = {m["instrument"]: m for m in ms}
    assert mine["nprs"]["data"] == {"current": 7} and mine["nprs"]["source"] == "patient"
    assert mine["ndi"]["data"] == {"items": [i % 4 for i in range(10)]}
    assert mine["ndi"]["source"] == "patient" and mine["ndi"]["request_id"] is not None
    assert mine["nprs"]["visit_id"] == clinic.visit_id and mine["nprs"]["timing"] == "pre"
    drawings = clinic.api.get(f"/api/patients/{clinic.patient_id}/pain-drawings").json()
    [drawing] = [d for d in drawings if d["source"] == "patient"]
    assert {m["region_id"] for m in drawing["marks"]} == {
        "right_temple",
        "right_angle_of_jaw",
    }

    # the link is refused afterwards, kindly, in Spanish
    response = phone.goto(link)
    assert response is not None and response.status == 410
    assert phone.locator("h1").inner_text() == "Este enlace ya se ha usado"
    screenshot(phone, "report-e2e-360-used")
