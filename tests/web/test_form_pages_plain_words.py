"""Every form page, sent empty or wrong values, answers in plain words: no pydantic wording
("Input should be a valid string", "Field required") reaches the page a clinician reads."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import logged_in
from tests.mixins import owned_records
from tests.personas import new_patient
from tests.ui.test_form_messages import DEVELOPER, WRONG


def visible(page: str) -> str:
    body = page.split("<main", 1)[-1]
    body = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", body)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


PATIENT_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "height_cm",
    "weight_kg",
    "phone",
    "email",
    "external_id",
)


def test_the_new_patient_form(app_client, alice):
    browser, csrf = logged_in(app_client, alice)
    empty = browser.post(
        "/patients/new", data={"csrf_token": csrf, **dict.fromkeys(PATIENT_FIELDS, "")}
    )
    assert empty.status_code == 422
    text = visible(empty.text)
    for sentence in (
        "Given name is required",
        "Family name is required",
        "Date of birth is required",
        "Sex is required",
    ):
        assert sentence in text, text
    assert not DEVELOPER.search(text), text
    for value in [w for w in WRONG[1:] if w.isascii()]:  # a form cannot carry a lone surrogate
        resp = browser.post(
            "/patients/new", data={"csrf_token": csrf, **dict.fromkeys(PATIENT_FIELDS, value)}
        )
        assert resp.status_code == 422, value
        text = visible(resp.text)
        assert not DEVELOPER.search(text), (value, text)
    wrong = visible(
        browser.post(
            "/patients/new",
            data={
                "csrf_token": csrf,
                "given_name": "A",
                "family_name": "B",
                "date_of_birth": "17/05/1980",
                "sex": "female",
                "height_cm": "abc",
            },
        ).text
    )
    assert "Date of birth must be a date like 1980-05-17" in wrong
    assert "Height (cm) must be a number above 40 and below 260" in wrong


@pytest.mark.parametrize(
    "instrument", ["nprs", "ppt", "rom", "psfs", "ndi", "odi", "quickdash", "groc"]
)
def test_the_outcome_form(app_client, alice, instrument):
    pid = new_patient(app_client, alice)
    browser, csrf = logged_in(app_client, alice)
    form = browser.get(f"/patients/{pid}/outcomes/record", params={"instrument": instrument}).text
    names = set(re.findall(r'name="([^"]+)"', form)) - {"csrf_token", "instrument"}
    assert names, "the form has fields"
    for value in ("", "abc", "nan", "-1", "x" * 500, "2999-13-45T99:99"):
        data = {"csrf_token": csrf, "instrument": instrument, **dict.fromkeys(names, value)}
        resp = browser.post(f"/patients/{pid}/outcomes/record", data=data)
        assert resp.status_code == 422, (value, resp.status_code)
        text = visible(resp.text)
        assert not DEVELOPER.search(text), (instrument, value, text)
        assert "field-error" in resp.text


def test_the_consent_form(app_client, alice):
    pid = new_patient(app_client, alice)
    browser, csrf = logged_in(app_client, alice)
    for data in (
        {"signed_by": "", "signed_at": "", "signer_relation": ""},
        {
            "signed_by": "x" * 500,
            "signed_at": "yesterday",
            "signer_relation": "cousin",
            "risks": "bruising",
        },
        {"signed_by": "a\x00b", "signed_at": "2999-01-01T10:00", "risks": "nope"},
    ):
        resp = browser.post(f"/patients/{pid}/consent", data={"csrf_token": csrf, **data})
        assert resp.status_code == 422, data
        text = visible(resp.text)
        assert not DEVELOPER.search(text), (data, text)


@pytest.mark.parametrize("action", ["target", "entry", "count", "adverse", "sign", "addendum"])
def test_the_needling_forms(app_client, alice, action):
    ids = owned_records(app_client, alice)
    browser, csrf = logged_in(app_client, alice)
    for value in ("", "abc", "nan", "-5", "x" * 300):
        data = {
            "csrf_token": csrf,
            **dict.fromkeys(
                (
                    "muscle",
                    "side",
                    "trigger_point_id",
                    "needle_diameter_mm",
                    "needle_length_mm",
                    "technique",
                    "depth_mm",
                    "twitch_count",
                    "duration_s",
                    "needles_out",
                    "type",
                    "severity",
                    "action_taken",
                    "needles_unaccounted",
                    "version",
                    "text",
                ),
                value,
            ),
        }
        resp = browser.post(
            f"/visits/{ids['visit_id']}/needling/{action}", data=data, follow_redirects=True
        )
        assert resp.status_code in (409, 422), (action, value, resp.status_code)
        text = visible(resp.text)
        assert not DEVELOPER.search(text), (action, value, text)
