"""Listing and revoking API tokens: your own, or (admins) any of the clinic; web and API;
and token expiry (default, chosen, bounded, enforced, and given to old tokens by the
migration)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text, update

from tests.accounts.kit import TOKEN_FIELDS as INFO_FIELDS
from tests.accounts.kit import add_member, audit, logged_in, me
from triggerpoint.accounts.models import ApiToken
from triggerpoint.db import make_engine, open_session, utcnow
from triggerpoint.migrate import alembic_config
from triggerpoint.migrate import upgrade as upgrade_to_head


def _new_token(app_client, member, **body) -> dict:
    resp = app_client.post("/api/tokens", json={"label": "script", **body}, headers=member.headers)
    assert resp.status_code == 201, resp.text
    return resp.json()


def _list(app_client, member, **params) -> list[dict]:
    resp = app_client.get("/api/tokens", headers=member.headers, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_users_see_their_own_tokens_admins_the_clinics(app_client, staff, world):
    mine = _new_token(app_client, staff.clinician)
    theirs = _new_token(app_client, staff.assistant)
    seen = _list(app_client, staff.clinician)
    assert {t["user"] for t in seen} == {staff.clinician.username}
    assert mine["id"] in {t["id"] for t in seen} and theirs["id"] not in {t["id"] for t in seen}
    assert all(set(t) == INFO_FIELDS for t in seen)
    assert mine["token"] not in str(seen)
    admin_view = _list(app_client, staff.admin)
    assert {t["user"] for t in admin_view} == {
        staff.admin.username,
        staff.clinician.username,
        staff.assistant.username,
    }
    assert {t["user"] for t in _list(app_client, staff.admin, mine="true")} == {
        staff.admin.username
    }
    # another clinic's admin sees none of them
    other = app_client.get(
        "/api/tokens", headers={"Authorization": f"Bearer {world.admin_b.token}"}
    ).json()
    assert not {t["id"] for t in other} & {mine["id"], theirs["id"]}


def test_revoke_own_and_as_admin(app_client, staff):
    own = _new_token(app_client, staff.clinician)
    resp = app_client.post(f"/api/tokens/{own['id']}/revoke", headers=staff.clinician.headers)
    assert resp.status_code == 200 and resp.json()["revoked"] is True
    assert me(app_client, own["token"]) == 401
    [event] = audit("revoke", entity="api_token", entity_id=str(own["id"]))
    assert event.user_id == staff.clinician.user_id

    someone = _new_token(app_client, staff.assistant)
    resp = app_client.post(f"/api/tokens/{someone['id']}/revoke", headers=staff.admin.headers)
    assert resp.status_code == 200 and me(app_client, someone["token"]) == 401


def test_revoke_refusals_name_the_field(app_client, staff, world):
    theirs = _new_token(app_client, staff.assistant)
    # not theirs to revoke
    forbidden = app_client.post(
        f"/api/tokens/{theirs['id']}/revoke", headers=staff.clinician.headers
    )
    assert forbidden.status_code == 403
    # another clinic's admin: no such token, as far as they can see
    hidden = app_client.post(
        f"/api/tokens/{theirs['id']}/revoke",
        headers={"Authorization": f"Bearer {world.admin_b.token}"},
    )
    assert hidden.status_code == 404 and hidden.json()["detail"][0]["loc"] == ["path", "token_id"]
    # the token this very request uses
    current = app_client.get("/api/tokens", headers=staff.assistant.headers).json()
    current_id = next(t["id"] for t in current if t["label"] == "tests" and not t["revoked"])
    itself = app_client.post(f"/api/tokens/{current_id}/revoke", headers=staff.assistant.headers)
    assert itself.status_code == 422 and itself.json()["detail"][0]["loc"] == ["path", "token_id"]
    assert me(app_client, staff.assistant.token) == 200
    # twice
    assert app_client.post(
        f"/api/tokens/{theirs['id']}/revoke", headers=staff.admin.headers
    ).is_success
    twice = app_client.post(f"/api/tokens/{theirs['id']}/revoke", headers=staff.admin.headers)
    assert twice.status_code == 422 and "already revoked" in twice.json()["detail"][0]["msg"]
    unknown = app_client.post("/api/tokens/987654321/revoke", headers=staff.admin.headers)
    assert unknown.status_code == 404


def test_tokens_page_lists_creates_and_revokes(app_client, staff):
    client, csrf = logged_in(app_client, staff.clinician)
    made = client.post(
        "/account/tokens", data={"label": "page token", "expires_days": "7", "csrf_token": csrf}
    )
    assert made.status_code == 200 and 'id="token-secret"' in made.text
    secret = made.text.split('id="token-secret">')[1].split("<")[0]
    assert secret.startswith("tp_") and me(app_client, secret) == 200
    token_id = next(
        t["id"] for t in _list(app_client, staff.clinician) if t["label"] == "page token"
    )
    page = client.get("/account/tokens")
    assert f"/account/tokens/{token_id}/revoke" in page.text and secret not in page.text
    gone = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert gone.status_code == 200 and f"Revoked API token {token_id}" in gone.text
    assert me(app_client, secret) == 401
    bad = client.post(
        "/account/tokens", data={"label": "x", "expires_days": "400", "csrf_token": csrf}
    )
    assert bad.status_code == 422 and "between 1 and 365" in bad.text


def test_admin_revokes_a_clinic_token_from_the_page(app_client, staff):
    theirs = _new_token(app_client, staff.assistant)
    client, csrf = logged_in(app_client, staff.admin)
    assert f"/account/tokens/{theirs['id']}/revoke" in client.get("/account/tokens").text
    resp = client.post(f"/account/tokens/{theirs['id']}/revoke", data={"csrf_token": csrf})
    assert resp.status_code == 200 and me(app_client, theirs["token"]) == 401
    # a clinician cannot revoke someone else's from the page either
    other = _new_token(app_client, staff.admin)
    clin, clin_csrf = logged_in(app_client, staff.clinician)
    refused = clin.post(f"/account/tokens/{other['id']}/revoke", data={"csrf_token": clin_csrf})
    assert refused.status_code == 403 and me(app_client, other["token"]) == 200


# --- expiry ---


def test_tokens_expire_after_90_days_by_default_or_as_asked(app_client, staff):
    before = utcnow()
    default = _new_token(app_client, staff.clinician)
    expires = datetime.fromisoformat(default["expires_at"])
    assert timedelta(days=90) <= expires - before <= timedelta(days=90, minutes=5)
    short = _new_token(app_client, staff.clinician, expires_days=1)
    assert datetime.fromisoformat(short["expires_at"]) - before < timedelta(days=1, minutes=5)


@pytest.mark.parametrize("days", [0, 366, -1, "soon"])
def test_expiry_out_of_bounds_is_a_422_on_expires_days(app_client, staff, days):
    resp = app_client.post(
        "/api/tokens", json={"label": "x", "expires_days": days}, headers=staff.clinician.headers
    )
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"][-1] == "expires_days"


def test_token_days_setting_sets_the_default(app_client, settings_env, staff):
    settings_env(token_days=7)
    before = utcnow()
    made = _new_token(app_client, staff.clinician)
    assert datetime.fromisoformat(made["expires_at"]) - before < timedelta(days=7, minutes=5)


def test_an_expired_token_is_refused(app_client, staff):
    member = add_member(staff.clinic_id, "clinician")
    assert me(app_client, member.token) == 200
    with open_session(clinic_id=None) as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.user_id == member.user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        s.commit()
    assert me(app_client, member.token) == 401
    listed = _list(app_client, staff.admin)
    mine = [t for t in listed if t["user"] == member.username]
    assert mine and all(t["expired"] and not t["revoked"] for t in mine)


def test_migration_expires_existing_tokens_90_days_after_creation(db_url, request, tmp_path):
    """Tokens made before expiry existed are not immortal: created_at + 90 days."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/before.sqlite3"
        created = "2026-03-01 09:15:02.123456"
    else:
        url = request.getfixturevalue("pg_server").create_database("tp_token_expiry_migration")
        created = "2026-03-01 09:15:02.123456+00"
    engine = make_engine(url)
    try:
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "7b2e4c6d8f10")
            conn.execute(
                text("INSERT INTO clinic (id, name, created_at) VALUES (1, 'Old', :c)"),
                {"c": created},
            )
            conn.execute(
                text(
                    "INSERT INTO user_account (id, username, full_name, role, password_hash,"
                    " must_change_password, active, created_at, version, clinic_id)"
                    " VALUES (1, 'old.user', 'Old User', 'clinician', 'x', false, true, :c, 1, 1)"
                ),
                {"c": created},
            )
            conn.execute(
                text(
                    "INSERT INTO api_token (id, token_hash, user_id, label, created_at, revoked)"
                    " VALUES (1, 'h', 1, 'old', :c, false)"
                ),
                {"c": created},
            )
        upgrade_to_head(engine)
        with open_session(clinic_id=None, engine=engine) as s:
            token = s.get(ApiToken, 1)
            assert token.expires_at - token.created_at == timedelta(days=90)
            assert token.expires_at.isoformat() == "2026-05-30T09:15:02.123456+00:00"
    finally:
        engine.dispose()
