"""Per-user rate limits on expensive endpoints (suggest, PDFs, FHIR): 429 with Retry-After,
counted per user (per client address without a login), in the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.accounts.kit import add_member, browser, logged_in
from triggerpoint.db import open_session
from triggerpoint.ratelimit import RateLimitHit

DRAWING = {"pain": ["right temple"]}


def _too_many(resp) -> None:
    assert resp.status_code == 429, resp.text
    wait = int(resp.headers["retry-after"])
    assert 0 < wait <= 60
    assert "try again in" in resp.json()["detail"]


def test_suggest_is_limited_per_user(app_client, settings_env, staff):
    settings_env(rate_limit_suggest="3/minute")
    first, second = staff.clinician, add_member(staff.clinic_id, "clinician")
    codes = [
        app_client.post("/api/suggest", json=DRAWING, headers=first.headers).status_code
        for _ in range(3)
    ]
    assert 429 not in codes
    _too_many(app_client.post("/api/suggest", json=DRAWING, headers=first.headers))
    # another user of the same clinic has a budget of their own
    assert app_client.post("/api/suggest", json=DRAWING, headers=second.headers).status_code != 429


def test_without_a_login_the_limit_is_per_client_address(app_client, settings_env, world):
    settings_env(rate_limit_suggest="2/minute")
    anonymous = browser(app_client)
    codes = [anonymous.post("/api/suggest", json=DRAWING).status_code for _ in range(2)]
    assert 429 not in codes  # 200 while suggest is public, 401 once it needs a login
    _too_many(anonymous.post("/api/suggest", json=DRAWING))
    assert browser(app_client).post("/api/suggest", json=DRAWING).status_code != 429


def test_pdf_routes_are_limited_per_user(app_client, settings_env, staff):
    settings_env(rate_limit_pdf="2/minute")
    member = staff.clinician
    # An unknown patient answers fast (no PDF is rendered) and still counts as a request.
    paths = [
        "/patients/999999/reports/progress.pdf",
        "/patients/999999/reports/consent.pdf",
    ]
    for path in paths:
        assert app_client.get(path, headers=member.headers).status_code == 404
    _too_many(
        app_client.get("/patients/999999/reports/visit-note.pdf?visit=1", headers=member.headers)
    )
    other = add_member(staff.clinic_id, "clinician")
    assert app_client.get(paths[0], headers=other.headers).status_code == 404


def test_fhir_export_and_import_share_a_per_user_limit(app_client, settings_env, staff):
    settings_env(rate_limit_fhir="2/minute")
    member = staff.clinician
    assert app_client.get("/api/patients/999999/fhir", headers=member.headers).status_code == 404
    assert app_client.post("/api/fhir/import", json={}, headers=member.headers).status_code in (
        400,
        422,
    )
    _too_many(app_client.post("/api/fhir/import", json={}, headers=member.headers))
    _too_many(app_client.get("/api/patients/999999/fhir", headers=member.headers))
    # the limit is per user: the clinic's admin still exports
    admin = staff.admin
    assert app_client.get("/api/patients/999999/fhir", headers=admin.headers).status_code == 404


def test_limit_counters_are_rows_in_the_database(app_client, settings_env, staff):
    settings_env(rate_limit_fhir="5/minute")
    member = staff.assistant
    for _ in range(3):
        app_client.get("/api/patients/999999/fhir", headers=member.headers)
    with open_session(clinic_id=None) as s:
        rows = list(
            s.scalars(
                select(RateLimitHit).where(RateLimitHit.key.like(f"%fhir/user:{member.user_id}/%"))
            )
        )
    assert [r.count for r in rows] == [3]


def test_a_limit_setting_that_is_not_a_limit_is_refused(settings_env):
    from pydantic import ValidationError

    from triggerpoint.config import get_settings

    settings_env(rate_limit_pdf="lots")
    with pytest.raises(ValidationError, match="rate_limit_pdf"):
        get_settings()


def test_cookie_sessions_are_limited_too(app_client, settings_env, staff):
    settings_env(rate_limit_pdf="1/minute")
    client, _ = logged_in(app_client, staff.admin)
    assert client.get("/patients/999999/reports/progress.pdf").status_code == 404
    _too_many(client.get("/patients/999999/reports/progress.pdf"))
    # the same user by bearer token: one budget per user, however they authenticate
    _too_many(app_client.get("/patients/999999/reports/progress.pdf", headers=staff.admin.headers))
