"""Browser: the record functions on the patient page (issue 14, item 6): edit demographics,
open an episode and add a diagnosis found by words, withdraw consent."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser
PATIENT_URL = re.compile(r".*/patients/\d+(#.*)?$")


def test_edit_demographics_add_a_diagnosis_by_search_and_withdraw_consent(clinician_page, site):
    page = clinician_page
    page.goto(f"{site.url}/patients/new")
    page.fill("#given_name", "Ines")
    page.fill("#family_name", "Recordpage")
    page.fill("#date_of_birth", "1984-06-12")
    page.select_option("#sex", "female")
    page.click("button:has-text('Create patient')")
    page.wait_for_url(PATIENT_URL)
    pid = re.search(r"/patients/(\d+)", page.url).group(1)

    # Demographics: the form comes prefilled; a wrong weight is named, then the edit saves.
    page.click("#edit-details")
    assert page.input_value("#given_name") == "Ines"
    page.fill("#family_name", "Recordpage-Vidal")
    page.fill("#weight_kg", "4000")
    page.click("button:has-text('Save changes')")
    expect(page.locator("#weight_kg-error")).to_be_visible()
    assert page.input_value("#family_name") == "Recordpage-Vidal"  # the input is kept
    page.fill("#weight_kg", "62")
    page.fill("#height_cm", "166")
    page.click("button:has-text('Save changes')")
    page.wait_for_url(PATIENT_URL)
    assert page.locator("h1").inner_text() == "Ines Recordpage-Vidal"
    assert page.inner_text("dl.facts").count("22.5") == 1  # BMI from the new figures

    # Consent, recorded on its page, so that it can be withdrawn.
    page.goto(f"{site.url}/patients/{pid}/consent")
    for box in page.locator("input[name=risks]").all():
        box.check()
    page.fill("#signed_at", "2026-11-20T09:00")
    page.click("button:has-text('Record consent')")
    page.wait_for_url(PATIENT_URL)
    assert "active" in page.inner_text("#consent-status")

    # An episode, then a diagnosis found by words of its title.
    assert page.locator("#no-episodes").is_visible()
    page.fill("#ep-complaint", "Neck pain with temporal headache")
    page.fill("#ep-onset", "2026-10-01")
    page.click("button:has-text('Open episode')")
    page.wait_for_url(PATIENT_URL)
    page.fill("#dx-code", "myalgia neck")
    choice = page.locator("#dx-code-results button[data-code='M79.12']")
    choice.wait_for()
    assert choice.inner_text() == "M79.12 Myalgia of auxiliary muscles, head and neck"
    screenshot(page, "record-diagnosis-search")
    choice.click()
    assert page.input_value("#dx-code") == "M79.12"
    page.click("button:has-text('Add diagnosis')")
    page.wait_for_url(PATIENT_URL)
    listed = page.inner_text(".diagnosis-list")
    assert "M79.12 Myalgia of auxiliary muscles, head and neck" in listed
    # A category header is refused, naming the codes to choose from.
    page.fill("#dx-code", "M54.5")
    page.click("button:has-text('Add diagnosis')")
    assert "is a category" in page.inner_text("#dx-code-error")
    assert "M54.50" in page.inner_text("#dx-suggestions")
    page.click("#diagnoses-back")
    page.wait_for_url(PATIENT_URL)
    screenshot(page, "record-diagnosis")
    # On a tablet the diagnosis section fits the width (no sideways scroll of its own).
    page.set_viewport_size({"width": 820, "height": 1180})
    box = page.locator("#episodes").bounding_box()
    assert box is not None and box["x"] + box["width"] <= 820
    assert page.eval_on_selector("#episodes", "el => el.scrollWidth <= el.clientWidth")
    screenshot(page, "record-diagnosis-tablet")
    page.set_viewport_size({"width": 1400, "height": 900})

    # Withdraw consent: a confirm step, then the page says so.
    page.click("#withdraw-consent")
    assert "no needling session can be opened" in page.inner_text("main")
    page.click("button:has-text('Withdraw consent')")
    page.wait_for_url(PATIENT_URL)
    status = page.inner_text("#consent-status")
    assert "withdrawn on 20" in status and "no needling" in status
    assert page.locator("#withdraw-consent").count() == 0
    screenshot(page, "record-consent-withdrawn")

    # The progress report now lists the diagnosis.
    page.goto(f"{site.url}/patients/{pid}/reports/progress")
    assert "M79.12" in page.inner_text("main")
