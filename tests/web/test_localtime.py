"""Clinic-local time: pages show times, and forms read them, in TRIGGERPOINT_TIMEZONE."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tests.conftest import as_person, logged_in, new_patient
from triggerpoint.config import Settings, get_settings
from triggerpoint.ui import localtime


@pytest.fixture
def madrid(monkeypatch):
    monkeypatch.setenv("TRIGGERPOINT_TIMEZONE", "Europe/Madrid")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("TRIGGERPOINT_TIMEZONE")
    get_settings.cache_clear()


def test_times_are_shown_in_the_clinic_zone_with_its_name(madrid):
    winter = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert localtime.when(winter) == "2026-11-24 10:30 CET"
    assert localtime.when(summer) == "2026-07-01 11:30 CEST"
    assert localtime.day(datetime(2026, 11, 24, 23, 30, tzinfo=UTC)) == "2026-11-25"


def test_form_times_are_clinic_time_across_daylight_saving(madrid):
    assert localtime.from_form("2026-11-24T10:30") == "2026-11-24T10:30:00+01:00"
    assert localtime.from_form("2026-07-01T10:30") == "2026-07-01T10:30:00+02:00"
    assert localtime.from_form("2026-07-01T10:30+00:00") == "2026-07-01T10:30:00+00:00"
    assert localtime.from_form("yesterday") == "yesterday"  # left for the validator to name


def test_an_unknown_zone_is_refused_naming_the_setting():
    with pytest.raises(ValidationError, match="timezone") as exc:
        Settings(timezone="Mars/Olympus_Mons")
    assert "unknown IANA time zone" in str(exc.value)


def test_visit_drawn_at_10_30_madrid_is_stored_as_09_30_utc_and_shown_as_10_30(
    app_client, world, madrid
):
    hdr = as_person(app_client, world.clinician_a)
    pid = new_patient(app_client, world.clinician_a, given_name="Hora", family_name="Local")
    client, csrf = logged_in(app_client, world.clinician_a)
    form = {"csrf_token": csrf, "visit_at": "2026-11-20T10:30", "complete": "complete"}
    resp = client.post(
        f"/patients/{pid}/draw", data={**form, "mark": "right_temple:5"}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    (visit,) = app_client.get(f"/api/patients/{pid}/visits", headers=hdr).json()
    assert datetime.fromisoformat(visit["visit_at"]) == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    page = client.get(f"/patients/{pid}").text
    assert re.search(r"2026-11-20 10:30 CET <span", page)
    assert "Visit date and time (Europe/Madrid)" in client.get(f"/patients/{pid}/draw").text
