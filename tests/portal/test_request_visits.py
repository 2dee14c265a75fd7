"""A request is asked before a visit still to come, or before none; either way, what the
patient sends is on the clinician's patient page, marked as the patient's own report.

The form offers the patient's coming visits (the soonest chosen), never a past one; a report
on a link tied to no visit is listed under "Reported by the patient, not tied to a visit"
rather than vanishing from the page, which lists everything else by visit. Both engines."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from tests.conftest import logged_in
from tests.personas import new_patient

from triggerpoint.config import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _visit(app_client, person, pid: int, days: float) -> int:
    at = datetime.now(UTC) + timedelta(days=days)
    r = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": at.isoformat()}, headers=person.headers
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _options(html: str) -> list[tuple[str, bool]]:
    select = html.split('id="request-visit"', 1)[1].split("</select>", 1)[0]
    return [
        (value, bool(sel))
        for value, sel in re.findall(r'<option value="([^"]*)"( selected)?>', select)
    ]


def test_the_form_offers_coming_visits_soonest_chosen_never_a_past_one(app_client, alice):
    pid = new_patient(app_client, alice)
    past = _visit(app_client, alice, pid, -3)
    later = _visit(app_client, alice, pid, 9)
    soon = _visit(app_client, alice, pid, 2)
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}").text
    options = _options(html)
    assert options == [(str(soon), True), (str(later), False), ("", False)]
    assert str(past) not in [v for v, _ in options]


def test_with_no_coming_visit_the_request_is_tied_to_none(app_client, alice):
    pid = new_patient(app_client, alice)
    _visit(app_client, alice, pid, -1)
    client, _ = logged_in(app_client, alice)
    assert _options(client.get(f"/patients/{pid}").text) == [("", True)]


def test_the_form_ties_the_request_to_the_chosen_visit(app_client, alice):
    pid = new_patient(app_client, alice)
    soon = _visit(app_client, alice, pid, 2)
    client, csrf = logged_in(app_client, alice)
    r = client.post(
        f"/patients/{pid}/questionnaire-requests",
        data={"csrf_token": csrf, "instruments": "nprs", "visit_id": str(soon), "channel": "none"},
    )
    assert r.status_code == 201, r.text
    [row] = app_client.get(
        f"/api/patients/{pid}/questionnaire-requests", headers=alice.headers
    ).json()
    assert row["visit_id"] == soon


def test_another_patients_visit_is_refused_naming_the_field(app_client, alice):
    pid = new_patient(app_client, alice)
    other = _visit(app_client, alice, new_patient(app_client, alice), 2)
    client, csrf = logged_in(app_client, alice)
    r = client.post(
        f"/patients/{pid}/questionnaire-requests",
        data={"csrf_token": csrf, "instruments": "nprs", "visit_id": str(other)},
    )
    assert r.status_code == 422, r.text
    assert "request-errors" in r.text


def test_a_report_tied_to_no_visit_is_listed_as_the_patients_own(app_client, alice):
    pid = new_patient(app_client, alice)
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests",
        json={"instruments": ["nprs"], "pain_drawing": True},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    token = r.json()["url"].rsplit("/r/", 1)[1]
    anon = TestClient(app_client.app)
    sent = anon.post(
        f"/r/{token}/submit",
        data={"lang": "en", "nprs.current": "5", "region": ["right_temple"]},
    )
    assert sent.status_code == 200, sent.text
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}").text
    section = html.split('id="loose-reports"', 1)[1].split("</section>", 1)[0]
    assert "NPRS: <strong>5</strong>" in section
    assert section.count('data-source="patient"') == 2  # the NPRS and the drawing
    assert "temple" in section
