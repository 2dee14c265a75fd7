"""Browser: the bedside flow from screening to a signed needling session.

screening -> consent -> visit with pain drawing -> suggestions -> plan -> needle entries
(keyboard repeat) -> needle count -> adverse event -> sign; then the signed session is read-only.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def _new_patient(page, url: str, family: str) -> str:
    page.goto(f"{url}/patients/new")
    page.fill("#given_name", "Tomas")
    page.fill("#family_name", family)
    page.fill("#date_of_birth", "1970-03-14")
    page.select_option("#sex", "male")
    page.fill("#height_cm", "180")
    page.fill("#weight_kg", "81")
    page.click("button:has-text('Create patient')")
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    return page.url.rsplit("/", 1)[1]


def _visit_with_drawing(page, url: str, pid: str, regions: list[str]) -> str:
    page.goto(f"{url}/patients/{pid}/draw")
    for r in regions:
        page.click(f'[data-region="{r}"]')
    page.click("#save-drawing")
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    return page.get_attribute("#timeline li.visit", "data-visit")


def answer_screening(page, url: str, pid: str, yes: dict[str, str | None] | None = None) -> None:
    """Answer every question, as a clinician must: 'no' except the ones in `yes`."""
    page.goto(f"{url}/patients/{pid}/screening")
    for radio in page.locator("input[type=radio][value=no]").all():
        radio.check()
    for rule, detail in (yes or {}).items():
        page.check(f"input[name={rule}][value=yes]")
        if detail is not None:
            page.fill(f"#{rule}_detail", detail)
    page.click("button:has-text('Save screening')")


def test_no_screening_answer_is_given_for_the_clinician(clinician_page, site):
    page = clinician_page
    pid = _new_patient(page, site.url, "Unanswered")
    page.goto(f"{site.url}/patients/{pid}/screening")
    assert page.locator("input[type=radio]").count() >= 2 * 18
    assert page.locator("input[type=radio]:checked").count() == 0
    # Answer all but two, one of them with a detail that must survive the refusal.
    radios = page.locator("fieldset.question").all()
    for q in radios:
        qid = q.get_attribute("id").removeprefix("q-")
        if qid in ("epilepsy", "frail"):
            continue
        q.locator("input[value=no]").check()
    page.check("input[name=lymphoedema][value=yes]")
    page.fill("#lymphoedema_detail", "L arm")
    page.click("button:has-text('Save screening')")
    expect(page.locator("#screening-errors")).to_be_visible()
    assert sorted(
        el.get_attribute("id") for el in page.locator("fieldset.question.unanswered").all()
    ) == ["q-epilepsy", "q-frail"]
    assert "Not answered" in page.inner_text("#q-epilepsy")
    assert page.locator("input[name=lymphoedema][value=yes]").is_checked()
    assert page.input_value("#lymphoedema_detail") == "L arm"
    assert page.locator("input[name=pacemaker][value=no]").is_checked()
    assert page.locator("#screening-outcome").count() == 0  # nothing was saved
    screenshot(page, "screening-unanswered")
    page.check("input[name=epilepsy][value=no]")
    page.check("input[name=frail][value=no]")
    page.click("button:has-text('Save screening')")
    outcome = page.inner_text("#screening-outcome")
    assert "Cleared with precautions" in outcome and "left upper limb" in page.inner_text(
        "#restrictions"
    )
    screenshot(page, "screening-restricted")


def test_needling_is_blocked_until_screened_and_consented(clinician_page, site):
    page = clinician_page
    pid = _new_patient(page, site.url, "Blocked")
    vid = _visit_with_drawing(page, site.url, pid, ["right_temple"])
    page.goto(f"{site.url}/visits/{vid}/needling")
    page.click("#open-session")
    message = page.inner_text("#form-error").lower()
    assert "screen" in message or "consent" in message
    expect(page.locator("#entry-form")).to_have_count(0)
    page.goto(f"{site.url}/visits/{vid}/needling")
    assert page.locator("#entry-form").count() == 0


def test_whole_bedside_flow(clinician_page, site):
    page = clinician_page
    pid = _new_patient(page, site.url, "Flow")
    # Screening: everything "no" -> cleared.
    answer_screening(page, site.url, pid)
    assert "cleared" in page.inner_text("#screening-outcome").lower()
    # Consent for dry needling with the risks disclosed.
    page.goto(f"{site.url}/patients/{pid}/consent")
    for box in page.locator("input[name=risks]").all():
        box.check()
    page.fill("#signed_at", "2026-11-20T09:00")
    page.click("button:has-text('Record consent')")
    page.wait_for_url(re.compile(r".*/patients/\d+$"))
    assert "active" in page.inner_text("#consent-status")
    # A visit with the classic upper trapezius drawing.
    vid = _visit_with_drawing(
        page, site.url, pid, ["right_temple", "right_angle_of_jaw", "right_upper_posterior_neck"]
    )
    page.goto(f"{site.url}/visits/{vid}/needling")
    page.click("#confirm-screening")
    page.click("#open-session")
    # Suggestions from the drawing become planned targets in one click.
    first = page.locator("#suggestions li").first
    assert "trapezius" in page.inner_text("#suggestions").lower()
    trapezius = page.locator("#suggestions li", has_text="Upper trapezius").first
    trapezius.locator("button[aria-label^='Plan ']").click()
    assert "Upper trapezius" in page.inner_text("#targets")
    assert first is not None
    # Chart a needle, then repeat it on planned target 1 with three keystrokes.
    page.fill("#muscle", "Upper trapezius")
    page.select_option("#side", "right")
    page.fill("#trigger_point_id", "tp1")
    page.fill("#needle_length_mm", "30")
    page.fill("#depth_mm", "12")
    page.fill("#twitch_count", "3")
    page.click("#save-entry")
    expect(page.locator("#entries tbody tr")).to_have_count(1)
    page.focus("#muscle")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    assert page.locator("#entries tbody tr").count() == 2
    # A depth beyond the needle is refused with a field message, nothing saved.
    page.fill("#muscle", "Upper trapezius")
    page.fill("#needle_length_mm", "30")
    page.fill("#depth_mm", "45")
    page.click("#save-entry")
    expect(page.locator("#depth_mm-error")).to_have_count(1)
    page.goto(f"{site.url}/visits/{vid}/needling")
    assert page.locator("#entries tbody tr").count() == 2
    # Signing with needles unaccounted for is refused.
    page.fill("#needles_out", "1")
    page.click("#save-count")
    page.click("#sign-session")
    assert page.locator(".alert, .field-error").count() >= 1
    assert page.inner_text("#session-status") != "signed"
    page.fill("#needles_out", "2")
    page.click("#save-count")
    # An adverse event is recorded, then the session is signed.
    page.select_option("#ae-type", "bruising")
    page.fill("#ae-action", "Pressure for one minute.")
    page.click("#save-ae")
    assert "Bruising" in page.inner_text("#adverse-events")
    screenshot(page, "needling-before-sign")
    page.click("#sign-session")
    assert page.inner_text("#session-status") == "signed"
    expect(page.locator("#entry-form")).to_have_count(0)
    assert "CPT" in page.inner_text("#billing")
    screenshot(page, "needling-signed")


def test_suspected_pneumothorax_shows_the_urgent_prompt(clinician_page, site):
    page = clinician_page
    pid = _new_patient(page, site.url, "Urgent")
    answer_screening(page, site.url, pid)
    page.goto(f"{site.url}/patients/{pid}/consent")
    for b in page.locator("input[name=risks]").all():
        b.check()
    page.fill("#signed_at", "2026-11-20T09:00")
    page.click("button:has-text('Record consent')")
    vid = _visit_with_drawing(page, site.url, pid, ["right_scapula"])
    page.goto(f"{site.url}/visits/{vid}/needling")
    page.click("#confirm-screening")
    page.click("#open-session")
    page.select_option("#ae-type", "suspected_pneumothorax")
    page.select_option("#ae-severity", "major")
    page.fill("#ae-action", "Stopped needling, called emergency services.")
    page.click("#save-ae")
    assert page.locator("[role=alert]", has_text="pneumothorax").count() >= 1


def test_restricted_suggestions_are_marked_and_cannot_be_planned(clinician_page, site):
    """Lymphoedema of the right arm: a deltoid-shaped drawing on that arm still ranks the
    deltoid, but the session marks it restricted instead of offering to plan it."""
    page = clinician_page
    pid = _new_patient(page, site.url, "Restricted")
    answer_screening(page, site.url, pid, {"lymphoedema": "right arm"})
    assert "right upper limb" in page.inner_text("#restrictions")
    page.goto(f"{site.url}/patients/{pid}/consent")
    for box in page.locator("input[name=risks]").all():
        box.check()
    page.fill("#signed_at", "2026-11-20T09:00")
    page.click("button:has-text('Record consent')")
    vid = _visit_with_drawing(
        page,
        site.url,
        pid,
        ["right_lateral_shoulder", "right_anterior_shoulder", "right_lateral_arm"],
    )
    page.goto(f"{site.url}/visits/{vid}/needling")
    page.click("#confirm-screening")
    page.click("#open-session")
    assert "right upper limb" in page.inner_text("#session-restrictions")
    deltoid = page.locator("#suggestions li", has_text="Deltoid").first
    assert "restricted for this patient" in deltoid.inner_text()
    assert deltoid.locator("button[aria-label^='Plan ']").count() == 0
    # Palpating it is still offered: the restriction is on needling, not on examining.
    assert deltoid.locator("button[name='finding']").count() == 3
    # Charting it anyway is refused, naming the restriction; nothing is saved.
    page.fill("#muscle", "Deltoid")
    page.select_option("#side", "right")
    page.fill("#trigger_point_id", "middle")
    page.fill("#depth_mm", "15")
    page.click("#save-entry")
    assert "restricted" in page.inner_text("#entry").lower()
    expect(page.locator("#entries tbody tr")).to_have_count(1)  # the "No needles yet." row
    for width, height in ((820, 1180), (1366, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{site.url}/visits/{vid}/needling")
        screenshot(page, f"needling-restricted-{width}")
