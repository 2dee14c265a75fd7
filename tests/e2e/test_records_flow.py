"""Browser: log in, create a patient, draw pain by pointer and keyboard, see it on the timeline."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def test_login_rejects_a_wrong_password(page, site):
    page.goto(f"{site.url}/login")
    page.fill("#username", site.username)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert "/login" in page.url
    assert page.locator("text=/invalid|incorrect|wrong/i").count() >= 1


def test_patient_pages_require_login(page, site):
    page.goto(f"{site.url}/patients")
    assert "/login" in page.url


def test_create_patient_draw_pain_and_see_the_timeline(clinician_page, site):
    page = clinician_page
    page.goto(f"{site.url}/patients/new")
    # Validation keeps the input and names the field.
    page.fill("#given_name", "Rosa")
    page.click("button:has-text('Create patient')")
    assert page.locator("#family_name[aria-invalid=true], .field-error").count() >= 1
    assert page.input_value("#given_name") == "Rosa"
    page.fill("#family_name", "Ortega")
    page.fill("#date_of_birth", "1979-05-02")
    page.select_option("#sex", "female")
    page.fill("#height_cm", "168")
    page.fill("#weight_kg", "61")
    page.click("button:has-text('Create patient')")
    page.wait_for_url("**/patients/*")
    assert page.locator("h1").inner_text() == "Rosa Ortega"

    page.click("text=New visit with pain drawing")
    page.wait_for_url("**/draw")
    page.click('[data-region="right_temple"]')
    page.click('[data-region="right_angle_of_jaw"]')
    # Keyboard: focus a region and press Enter to mark it.
    page.focus('[data-region="right_upper_posterior_neck"]')
    page.keyboard.press("Enter")
    assert (
        page.get_attribute('[data-region="right_upper_posterior_neck"]', "aria-pressed") == "true"
    )
    assert "3 region" in page.inner_text("#marked-summary")
    screenshot(page, "records-draw")
    page.click("#save-drawing")
    page.wait_for_url("**/patients/*")
    shaded = page.eval_on_selector_all(
        "#timeline [data-zone]", "els => [...new Set(els.map(e => e.dataset.region))].sort()"
    )
    assert shaded == ["right_angle_of_jaw", "right_temple", "right_upper_posterior_neck"]
    screenshot(page, "records-timeline")
    # The record links to the clinical pages of this patient and visit.
    page.click("#timeline >> text=Open visit")
    assert "/visits/" in page.url and page.locator("h1").inner_text().startswith("Visit: Rosa")
    page.go_back()
    page.click("nav.patient-actions >> text=Screening")
    assert page.url.endswith("/screening")


def test_patient_list_search_finds_the_patient(clinician_page, site):
    page = clinician_page
    page.goto(f"{site.url}/patients?q=orteg")
    assert page.locator("text=Ortega").count() >= 1
    page.goto(f"{site.url}/patients?q=zzzznobody")
    assert page.locator("text=Ortega").count() == 0
