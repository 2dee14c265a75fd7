"""Browser: a two-examiner palpation reliability study run from the web app (issue 17).

Two clinicians of one clinic: the first creates the study, opens it and adds participants;
each examines every participant blinded (the second never sees the first's answers) and
submits; the report then shows kappa and PABAK with their intervals. Screenshots of the
examine page and the report at 820x1180 and 1366x900 land in /tmp/shots/h5b/ (and
test-results/) for people to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import PASSWORD, screenshot, served
from triggerpoint.accounts.service import create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots/h5b")
SIZES = {"tablet": (820, 1180), "laptop": (1366, 900)}
EXAMINERS = ("dr.first", "dr.second")
# Taut band, upper trapezius (right), participants P01..P04: kappa 0.5, PABAK 0.5 by hand
# (agreement 3/4; both examiners' marginals give chance agreement 1/2).
TAUT = {"dr.first": ["yes", "yes", "no", "no"], "dr.second": ["yes", "no", "no", "no"]}
CODES = ("P01", "P02", "P03", "P04")


@pytest.fixture(scope="module")
def study_site(tmp_path_factory) -> Iterator[str]:
    """A served SQLite database with one clinic and two clinicians."""
    folder = tmp_path_factory.mktemp("reliability")
    url = f"sqlite:///{folder}/e2e.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = create_clinic(s, name="Reliability clinic", actor=Actor.system("e2e"))
        for name in EXAMINERS:
            user, _ = create_user(
                s,
                clinic_id=clinic.id,
                username=name,
                full_name=name.replace("dr.", "Dr ").title(),
                role="clinician",
                actor=Actor.system("e2e"),
                password=PASSWORD,
            )
            user.must_change_password = False
        s.commit()
    engine.dispose()
    with served(folder, {"TRIGGERPOINT_DATABASE_URL": url}) as base:
        yield base


def _context(browser, size: str):
    width, height = SIZES[size]
    ctx = browser.new_context(viewport={"width": width, "height": height})
    ctx.set_default_timeout(15_000)
    return ctx


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    screenshot(page, f"h5b-{name}")


def _choose(page, field: str, value: str) -> None:
    page.click(f'label.choice:has(input[name="{field}"][value="{value}"])')


def _examine_all(page, base: str, study_url: str, who: str) -> None:
    for i, code in enumerate(CODES):
        page.goto(f"{base}{study_url}")
        page.click(f"a:has-text('Examine {code}')")
        page.wait_for_load_state("networkidle")
        html = page.content()
        assert 'value="yes" checked' not in html  # nothing of the other examiner shows
        _choose(page, "f.upper_trapezius.right.taut_band", TAUT[who][i])
        _choose(page, "f.upper_trapezius.right.twitch", "no")
        if who == "dr.second" and code == "P01":
            for size in SIZES:
                page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
                _shot(page, f"examine-{size}")
            # every answer button is a large target for a tablet
            box = page.locator("label.choice span").first.bounding_box()
            assert box is not None and box["height"] >= 48 and box["width"] >= 48
        page.click("#submit-findings")
        page.wait_for_load_state("networkidle")
        assert page.url.endswith(study_url)


def test_two_examiners_run_a_study_and_the_report_shows_kappa_and_pabak(browser, study_site):
    base = study_site
    ctx = _context(browser, "tablet")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, base, "dr.first")
    page.goto(f"{base}/research/studies")
    _shot(page, "list-tablet")
    page.fill("#title", "Upper trapezius taut band and twitch")
    page.select_option("#muscles", ["upper_trapezius"])
    page.uncheck('input[name="sides"][value="left"]')
    page.check('input[name="sides"][value="right"]')
    page.check('input[name="criteria"][value="taut_band"]')
    page.check('input[name="criteria"][value="twitch"]')
    for box in page.locator('input[name="examiners"]').all():
        box.check()
    page.click("button:has-text('Create study')")
    page.wait_for_load_state("networkidle")
    study_url = page.url.removeprefix(base)
    assert study_url.startswith("/research/studies/")
    page.click("button:has-text('Open for recording')")
    page.wait_for_load_state("networkidle")
    for code in CODES:
        page.fill("#code", code)
        page.click("button:has-text('Add')")
        page.wait_for_load_state("networkidle")
    _examine_all(page, base, study_url, "dr.first")
    page.click("button:has-text('Log out')")
    page.wait_for_load_state("networkidle")

    _login(page, base, "dr.second")
    page.goto(f"{base}{study_url}/report")
    assert "<strong>0</strong> of 4" in page.content()  # nothing compared before all submit
    _examine_all(page, base, study_url, "dr.second")
    assert page.locator("table.progress").inner_text().count("yes") == len(CODES)
    _shot(page, "study-tablet")

    page.goto(f"{base}{study_url}/report")
    taut = page.locator("tr.row-taut_band")
    kappa = taut.locator("td.kappa").inner_text()
    pabak = taut.locator("td.pabak").inner_text()
    assert kappa.startswith("0.50") and "Cohen" in kappa
    assert pabak.startswith("0.50") and " to " in pabak
    assert "<strong>4</strong> of 4" in page.content()
    assert "Lucas 2009" in page.locator("tr.row-taut_band td.published").inner_text()
    for size in SIZES:
        page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
        _shot(page, f"report-{size}")
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, f"the report scrolls sideways at {size}"
    ctx.close()
    assert not errors, errors
