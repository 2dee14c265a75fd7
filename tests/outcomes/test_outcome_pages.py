"""Recording measures in the browser, and the patient outcomes page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from tests.reports.conftest import Course, build_course


@pytest.fixture
def course(app_client, alice) -> Course:
    return build_course(app_client, alice, given="Hover", family="Marks")


def _patient(app_client, person) -> int:
    return new_patient(
        app_client,
        person,
        given_name="Form",
        family_name="Filler",
        date_of_birth="1980-05-05",
        sex="male",
    )


def test_every_instrument_has_a_form(app_client, alice):
    pid = _patient(app_client, alice)
    hdr = alice.headers
    expect = {
        "nprs": ['name="current"', 'name="worst_24h"'],
        "ppt": ['name="trials.4"', 'list="sites"'],
        "rom": ['name="degrees"', 'name="side"'],
        "psfs": ['name="activities.4.activity"', 'name="activities.4.score"'],
        "ndi": ['name="items.9"', "Headaches"],
        "odi": ['name="items.9"', "Travelling"],
        "quickdash": ['name="items.10"'],
        "groc": ['name="value"', 'min="-7"'],
    }
    for instrument, needles in expect.items():
        r = app_client.get(f"/patients/{pid}/outcomes/record?instrument={instrument}", headers=hdr)
        assert r.status_code == 200
        for needle in needles:
            assert needle in r.text, (instrument, needle)


def test_out_of_range_items_are_rejected_per_field_keeping_input(app_client, alice):
    pid = _patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    form = {"csrf_token": csrf, "instrument": "odi", "measured_at": "2026-11-01T10:00"}
    form |= {f"items.{i}": "2" for i in range(10)} | {"items.3": "6"}
    r = client.post(f"/patients/{pid}/outcomes/record", data=form)
    assert r.status_code == 422
    assert 'id="f-items-3-error"' in r.text and "out of range (0 to 5)" in r.text
    assert re.search(r'name="items\.3"[^>]*value="6"', r.text)  # the input is kept
    assert re.search(r'name="items\.0"[^>]*value="2"', r.text)
    form = {"csrf_token": csrf, "instrument": "nprs", "measured_at": "2026-11-01T10:00"}
    r = client.post(f"/patients/{pid}/outcomes/record", data=form | {"current": "11"})
    assert r.status_code == 422 and 'id="f-current-error"' in r.text
    r = client.post(f"/patients/{pid}/outcomes/record", data=form | {"current": "abc"})
    assert r.status_code == 422 and "must be a number" in r.text
    r = client.post(
        f"/patients/{pid}/outcomes/record",
        data={**form, "current": "5", "measured_at": ""},
    )
    assert r.status_code == 422 and 'id="measured_at-error"' in r.text
    listed = app_client.get(f"/api/patients/{pid}/measurements", headers=alice.headers).json()
    assert listed == []


def test_record_then_see_change_and_classification(app_client, alice):
    pid = _patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    base = {"csrf_token": csrf, "instrument": "ppt", "context": "Upper trapezius tp1 (right)"}
    for at, trials in (("2026-10-01T10:00", ("2.0", "2.2")), ("2026-10-15T10:00", ("2.3", "2.5"))):
        r = client.post(
            f"/patients/{pid}/outcomes/record",
            data=base | {"measured_at": at, "trials.0": trials[0], "trials.1": trials[1]},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
    r = client.post(
        f"/patients/{pid}/outcomes/record",
        data={"csrf_token": csrf, "instrument": "odi", "measured_at": "2026-10-01T10:00"}
        | {f"items.{i}": "1" for i in range(7)},
        follow_redirects=False,
    )
    assert r.status_code == 303  # three missing items: stored as incomplete
    page = client.get(f"/patients/{pid}/outcomes")
    assert page.status_code == 200
    # PPT 2.1 -> 2.4: +0.3 beats the MCID (0.21) but not the MDC95 (0.34), which is what a
    # PPT change is judged against: a non-responder (this test used to expect "responder").
    assert "+0.3" in page.text and 'class="badge non-responder"' in page.text
    assert "MCID 0.21" in page.text and "MDC95 0.34" in page.text
    assert "within measurement error (MDC95)" in page.text
    assert "1 incomplete questionnaire" in page.text
    svg = re.search(r"<svg class=\"plot\".*?</svg>", page.text, re.S).group(0)
    root = ET.fromstring(svg)
    band = [
        g
        for g in root.iter("{http://www.w3.org/2000/svg}g")
        if g.get("id", "").endswith("-mcid-band")
    ]
    assert band and "± MDC95 0.34" in band[0].find("{http://www.w3.org/2000/svg}title").text
    # The plot is named after its measure (the dashed MCID lines once took over its name).
    assert "Pressure pain threshold" in root.get("aria-label", "")
    dashed = [g.get("id", "") for g in root.iter("{http://www.w3.org/2000/svg}g")]
    assert any("mcid-1.89" in i for i in dashed) and any("mcid-2.31" in i for i in dashed)
    assert "style=" not in svg  # CSP: no inline styles


def test_session_markers_name_the_muscles_needled(app_client, alice, course):
    page = app_client.get(f"/patients/{course.patient_id}/outcomes", headers=alice.headers)
    assert (
        "<title>Needling 01 Oct 2026: Upper trapezius (right), Levator scapulae (right)</title>"
        in page.text
    )
    assert "<title>Needling 08 Oct 2026: Upper trapezius (right)</title>" in page.text


def test_assistant_may_not_read_outcomes(app_client, bob, course):
    """Scores and pain drawings are clinical (docs/security.md, Roles): the assistant may
    enter a measure at intake but not read the patient's outcomes."""
    page = app_client.get(f"/patients/{course.patient_id}/outcomes", headers=bob.headers)
    assert page.status_code == 403 and "Needling 01 Oct" not in page.text


def test_visit_picker_numbers_the_patients_visits_newest_first(app_client, alice):
    hdr = alice.headers
    pid = _patient(app_client, alice)
    for day in ("2026-10-05", "2026-10-12"):
        visit = {"visit_at": f"{day}T09:00:00+00:00"}
        assert app_client.post(f"/api/patients/{pid}/visits", json=visit, headers=hdr).is_success
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}/outcomes/record?instrument=nprs").text
    options = re.findall(r"(2026-10-\d\d) 09:00 UTC \(visit (\d)\)</option>", html)
    assert options == [("2026-10-12", "2"), ("2026-10-05", "1")]
