"""Record pages: search, forms that keep input on errors, the timeline, role-aware notes."""

from __future__ import annotations

from tests.conftest import logged_in
from tests.personas import new_patient


def test_pages_require_login(app_client):
    from fastapi.testclient import TestClient

    resp = TestClient(app_client.app).get("/patients", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next=/patients")


def test_new_patient_form_keeps_input_and_names_fields(app_client, alice):
    client, csrf = logged_in(app_client, alice)
    form = {
        "csrf_token": csrf,
        "given_name": "Keep",
        "family_name": "Mine",
        "date_of_birth": "2999-01-01",
        "sex": "",
        "height_cm": "170",
    }
    resp = client.post("/patients/new", data=form)
    assert resp.status_code == 422
    assert (
        'value="Keep"' in resp.text and 'value="Mine"' in resp.text and 'value="170"' in resp.text
    )
    assert "Date of birth must not be in the future" in resp.text
    assert 'id="sex-error"' in resp.text
    assert (
        client.get("/patients", params={"q": "Mine"}).text.count("Mine, Keep") == 0
    )  # nothing saved


def test_new_patient_then_timeline(app_client, alice):
    client, csrf = logged_in(app_client, alice)
    resp = client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "given_name": "Tim",
            "family_name": "Eline",
            "date_of_birth": "1970-03-04",
            "sex": "male",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303
    pid = int(resp.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/patients/{pid}")
    assert "Tim Eline" in page.text and "none on file" in page.text and "No visits yet" in page.text
    assert "Eline, Tim" in client.get("/patients", params={"q": "eline"}).text


def test_timeline_numbers_visits_per_patient_newest_first(app_client, alice):
    import re

    hdr = alice.headers
    pid = new_patient(app_client, alice, given_name="Num", family_name="Bered")
    for day in ("2026-11-02", "2026-11-09"):
        visit = {"visit_at": f"{day}T10:00:00+00:00"}
        assert app_client.post(f"/api/patients/{pid}/visits", json=visit, headers=hdr).is_success
    client, _ = logged_in(app_client, alice)
    html = client.get(f"/patients/{pid}").text
    assert re.findall(r"(2026-11-\d\d) 10:00 UTC <span class=\"muted\">visit (\d) of 2", html) == [
        ("2026-11-09", "2"),
        ("2026-11-02", "1"),
    ]


def test_patient_list_is_paginated(app_client, dave):
    for i in range(30):
        new_patient(app_client, dave, given_name=f"P{i:02d}", family_name="Pagetest")
    client, _ = logged_in(app_client, dave)
    first = client.get("/patients", params={"q": "pagetest"}).text
    assert "30 patients" in first and "Page 1 of 2" in first
    second = client.get("/patients", params={"q": "pagetest", "page": 2}).text
    assert second.count("Pagetest, P") == 5


def test_other_clinic_patient_page_is_404(app_client, alice, carol):
    pid = new_patient(app_client, alice, given_name="A", family_name="Only")
    client, _ = logged_in(app_client, carol)
    assert client.get(f"/patients/{pid}").status_code == 404
