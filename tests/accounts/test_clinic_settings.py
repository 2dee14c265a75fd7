"""The clinic's name and time zone: one service (`accounts.service.update_clinic`) behind the
admin page and `PUT /api/clinic`, and every page's times shown in the clinic's zone."""

from __future__ import annotations

from contextvars import copy_context

import pytest

from tests.accounts.kit import audit
from tests.conftest import logged_in
from tests.personas import Person, new_patient
from triggerpoint.accounts.service import AccountError, check_timezone, update_clinic
from triggerpoint.db import open_session
from triggerpoint.errors import Conflict, Forbidden
from triggerpoint.ui import localtime


def _put(app_client, person: Person, body: dict | str):
    """PUT /api/clinic; a str body is sent as it is (JSON text httpx would not write)."""
    if isinstance(body, str):
        headers = {**person.headers, "content-type": "application/json"}
        return app_client.put("/api/clinic", content=body, headers=headers)
    return app_client.put("/api/clinic", json=body, headers=person.headers)


def _clinic_name(app_client, person: Person) -> str:
    resp = app_client.get("/api/clinic", headers=person.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["name"]


def test_admin_sets_name_and_zone_and_it_is_audited(app_client, dave):
    resp = _put(app_client, dave, {"name": "Dave's physio", "timezone": "Europe/Madrid"})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "id": dave.clinic_id,
        "name": "Dave's physio",
        "timezone": "Europe/Madrid",
        "effective_timezone": "Europe/Madrid",
    }
    events = audit("update", entity="clinic", entity_id=str(dave.clinic_id))
    assert events[-1].detail["timezone"] == {"from": None, "to": "Europe/Madrid"}
    assert events[-1].detail["name"]["to"] == "Dave's physio"
    assert events[-1].user_id == dave.user_id
    # clearing the zone goes back to the server's setting
    back = _put(app_client, dave, {"name": "Dave's physio", "timezone": None}).json()
    assert back["timezone"] is None and back["effective_timezone"] == "UTC"


def test_a_taken_name_is_a_409_on_name(app_client, dave, carol):
    taken = _clinic_name(app_client, carol)
    resp = _put(app_client, dave, {"name": taken, "timezone": None})
    assert resp.status_code == 409 and taken in resp.json()["detail"]
    assert _clinic_name(app_client, dave) != taken


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("Europe/Madird", "Europe/Madrid"), ("europe/madrid", "Europe/Madrid"), ("Madrid", None)],
)
def test_an_unknown_zone_is_a_422_on_timezone_with_near_matches(app_client, dave, typed, meant):
    resp = _put(app_client, dave, {"name": "Any name", "timezone": typed})
    assert resp.status_code == 422, resp.text
    item = resp.json()["detail"][0]
    assert item["loc"] == ["body", "timezone"] and "not an IANA time zone" in item["msg"]
    if meant:
        assert meant in item["suggestions"] and meant in item["msg"]
    assert _clinic_name(app_client, dave) != "Any name"  # nothing half-written


@pytest.mark.parametrize(
    "body",
    [
        {"name": "bad\x00name", "timezone": None},
        '{"name": "\\ud800", "timezone": null}',  # an unpaired surrogate, as JSON text
        {"name": "x" * 5000, "timezone": None},
        {"name": "   ", "timezone": None},
        {"name": "ok", "timezone": "../../etc/passwd"},
        {"name": "ok", "timezone": "Europe/Madrid\x07"},
    ],
)
def test_hostile_input_is_a_422_naming_the_field(app_client, dave, body):
    resp = _put(app_client, dave, body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"][0]["loc"][-1] in {"name", "timezone"}


def test_only_an_admin_may_change_it_and_only_their_own(app_client, alice, dave, carol):
    assert _put(app_client, alice, {"name": "Alice's now", "timezone": None}).status_code == 403
    assert _clinic_name(app_client, alice) == _clinic_name(app_client, dave)
    # carol's change lands on carol's clinic, never on dave's
    assert (
        _put(app_client, carol, {"name": "Carol renamed", "timezone": "Asia/Tokyo"}).status_code
        == 200
    )
    assert _clinic_name(app_client, dave) != "Carol renamed"
    with open_session(clinic_id=None) as s, pytest.raises(Forbidden):
        update_clinic(s, actor=alice.actor, name="x", timezone=None)


def test_service_errors_name_their_field(dave, carol):
    with open_session(clinic_id=None) as s:
        with pytest.raises(AccountError) as bad_zone:
            update_clinic(s, actor=dave.actor, name="Fine", timezone="Mars/Olympus")
        with pytest.raises(Conflict) as taken:
            update_clinic(s, actor=dave.actor, name="Carol's clinic", timezone=None)
    assert bad_zone.value.field == "timezone" and taken.value.field == "name"
    assert check_timezone(" Europe/Madrid ") == "Europe/Madrid"


def test_clinic_page_shows_errors_beside_the_field(app_client, dave, carol):
    browser, csrf = logged_in(app_client, dave)
    page = browser.get("/admin/clinic")
    assert page.status_code == 200 and 'id="timezone"' in page.text
    bad = browser.post(
        "/admin/clinic", data={"csrf_token": csrf, "name": "Dave's", "timezone": "Europe/Madird"}
    )
    assert bad.status_code == 422
    assert 'id="timezone-error"' in bad.text and "Europe/Madrid" in bad.text
    taken = browser.post(
        "/admin/clinic", data={"csrf_token": csrf, "name": "Carol's clinic", "timezone": ""}
    )
    assert taken.status_code == 409 and 'id="name-error"' in taken.text
    ok = browser.post(
        "/admin/clinic", data={"csrf_token": csrf, "name": "Dave's", "timezone": "Europe/Madrid"}
    )
    assert ok.status_code == 200 and "Times now show in Europe/Madrid" in ok.text
    assert ok.text.count("CET") >= 1  # "now it is … CET here", already in the new zone


def test_clinic_page_is_for_admins(app_client, alice):
    browser, _ = logged_in(app_client, alice)
    assert browser.get("/admin/clinic").status_code == 403


def test_a_madrid_clinic_dates_a_late_evening_utc_visit_the_next_day(app_client, alice, dave):
    patient = new_patient(app_client, alice)
    visit = app_client.post(
        f"/api/patients/{patient}/visits",
        json={"visit_at": "2026-11-02T23:30:00+00:00"},
        headers=alice.headers,
    )
    assert visit.status_code == 201, visit.text
    browser, _ = logged_in(app_client, alice)
    in_utc = browser.get(f"/patients/{patient}").text
    assert "2026-11-02 23:30 UTC" in in_utc and "2026-11-03" not in in_utc

    assert (
        _put(app_client, dave, {"name": "Madrid", "timezone": "Europe/Madrid"}).status_code == 200
    )
    in_madrid = browser.get(f"/patients/{patient}").text  # the same session, next request
    assert "2026-11-03 00:30 CET" in in_madrid and "2026-11-02 23:30" not in in_madrid


def test_another_clinics_zone_does_not_leak_into_this_one(app_client, alice, carol):
    assert _put(app_client, carol, {"name": "Tokyo", "timezone": "Asia/Tokyo"}).status_code == 200
    patient = new_patient(app_client, alice)
    app_client.post(
        f"/api/patients/{patient}/visits",
        json={"visit_at": "2026-11-02T23:30:00+00:00"},
        headers=alice.headers,
    )
    carol_browser, _ = logged_in(app_client, carol)
    carol_browser.get("/admin/clinic")  # a request in Tokyo time first
    alice_browser, _ = logged_in(app_client, alice)
    assert "2026-11-02 23:30 UTC" in alice_browser.get(f"/patients/{patient}").text


def test_the_zone_is_per_context_and_falls_back_to_the_setting():
    def in_madrid() -> str:
        localtime.use_zone("Europe/Madrid")
        return localtime.zone_name()

    assert copy_context().run(in_madrid) == "Europe/Madrid"
    assert localtime.zone_name() == "UTC"  # the setting: the other context's value stayed there

    def broken() -> str:
        localtime.use_zone("No/Such_Zone")
        return localtime.clinic_zone().key

    assert copy_context().run(broken) == "UTC"
