"""The administration pages: the landing page (/admin), users (add, reset: printed passwords
that must be changed), the clinic's API tokens, all over the accounts services."""

from __future__ import annotations

import re

import pytest

from tests.accounts.kit import browser, login
from tests.conftest import CSRF_RE, logged_in
from tests.personas import Person, new_patient
from triggerpoint.accounts.service import issue_api_token
from triggerpoint.db import open_session
from triggerpoint.demo.generator import DEMO_LOGIN, seed

ONE_TIME = re.compile(r'id="one-time-password">([^<]+)<')


def _me(app_client, token: str) -> int:
    return app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code


# --- the landing page ---


def test_admin_sees_what_the_clinic_has(app_client, dave, alice):
    new_patient(app_client, alice)
    new_patient(app_client, alice)
    admin, _ = logged_in(app_client, dave)
    page = admin.get("/admin")
    assert page.status_code == 200
    facts = page.text[page.text.index('id="clinic-facts"') :]
    assert re.search(r'id="fact-patients"><a href="/patients">2<', facts)
    assert re.search(r'id="fact-users"><a href="/admin/users">3 active', facts)  # alice bob dave
    assert 'id="demo-elsewhere' not in page.text and 'id="no-patients"' not in page.text


def test_landing_page_is_for_admins(app_client, alice, bob):
    for person in (alice, bob):
        client, _ = logged_in(app_client, person)
        assert client.get("/admin").status_code == 403


def test_admin_is_told_where_the_demo_lives_and_how_to_log_in(app_client, dave, carol):
    with open_session(clinic_id=None) as s:
        result = seed(s, patients=1, seed=3)  # many clinics exist: a clinic of its own
        s.commit()
    assert result.clinic_id not in (dave.clinic_id, carol.clinic_id)
    admin, _ = logged_in(app_client, dave)
    page = admin.get("/admin").text
    note = page[page.index(f'id="demo-elsewhere-{result.clinic_id}"') :]
    assert "Demo clinic" in note and f"<code>{DEMO_LOGIN}</code> (clinician)" in note
    assert "1 synthetic demo patients" in note and "must be changed at first login" in note


# --- users: a printed password is changed at first login ---


def _add_user(admin, csrf: str, username: str, role: str = "clinician") -> str:
    resp = admin.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": username, "full_name": "New Person", "role": role},
    )
    assert resp.status_code == 200, resp.text
    return ONE_TIME.search(resp.text).group(1)


def test_a_user_added_on_the_page_must_change_the_printed_password(app_client, dave):
    admin, csrf = logged_in(app_client, dave)
    one_time = _add_user(admin, csrf, "new.physio")
    newcomer = browser(app_client)
    assert login(newcomer, "new.physio", one_time).status_code == 303
    for path in ("/patients", "/admin", "/account/tokens", "/"):
        resp = newcomer.get(path, follow_redirects=False)
        if path == "/":  # the public home page asks for no login, so it sends nobody away
            assert resp.status_code == 200
            continue
        assert resp.status_code == 303 and resp.headers["location"] == "/account/password"
    # the JSON API with the session cookie says what is needed
    api = newcomer.get("/api/me")
    assert api.status_code == 403 and "password change required" in api.json()["detail"]
    form = newcomer.get("/account/password")
    assert "one-time password" in form.text
    csrf_new = re.search(CSRF_RE, form.text).group(1)
    changed = newcomer.post(
        "/account/password",
        data={
            "csrf_token": csrf_new,
            "current_password": one_time,
            "new_password": "granite otter lantern 7",
            "confirm_password": "granite otter lantern 7",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert newcomer.get("/patients", follow_redirects=False).status_code == 200
    assert newcomer.get("/api/me").status_code == 200


def test_an_api_token_is_not_held_up_by_a_pending_password_change(app_client, dave):
    admin, csrf = logged_in(app_client, dave)
    _add_user(admin, csrf, "scripted.user")
    with open_session(clinic_id=None) as s:
        _, secret = issue_api_token(s, actor=dave.actor, username="scripted.user", label="job")
        s.commit()
    assert _me(app_client, secret) == 200


def test_a_user_with_a_pending_change_may_still_log_out(app_client, dave):
    admin, csrf = logged_in(app_client, dave)
    one_time = _add_user(admin, csrf, "leaving.soon")
    newcomer = browser(app_client)
    login(newcomer, "leaving.soon", one_time)
    csrf_new = re.search(CSRF_RE, newcomer.get("/account/password").text).group(1)
    out = newcomer.post("/logout", data={"csrf_token": csrf_new}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (
        newcomer.get("/patients", follow_redirects=False).headers["location"].startswith("/login")
    )


def test_a_reset_on_the_page_prints_a_new_one_time_password(app_client, dave, alice):
    admin, csrf = logged_in(app_client, dave)
    resp = admin.post(f"/admin/users/{alice.username}/reset-password", data={"csrf_token": csrf})
    assert resp.status_code == 200 and 'id="reset-user"' in resp.text
    one_time = ONE_TIME.search(resp.text).group(1)
    assert _me(app_client, alice.token) == 401  # her tokens ended with the reset
    assert login(browser(app_client), alice.username, alice.password).status_code == 401
    again = browser(app_client)
    assert login(again, alice.username, one_time).status_code == 303
    assert again.get("/patients", follow_redirects=False).headers["location"] == (
        "/account/password"
    )


def test_page_errors_name_the_field(app_client, dave, alice):
    admin, csrf = logged_in(app_client, dave)
    taken = admin.post(
        "/admin/users",
        data={
            "csrf_token": csrf,
            "username": alice.username,
            "full_name": "X",
            "role": "clinician",
        },
    )
    assert taken.status_code == 422 and 'id="username-error"' in taken.text
    bad_role = admin.post(
        "/admin/users",
        data={"csrf_token": csrf, "username": "ok.name", "full_name": "X", "role": "wizard"},
    )
    assert bad_role.status_code == 422 and "Role must be one of" in bad_role.text
    # dave is the clinic's only admin: he may not demote or deactivate himself
    for action, form in (("role", {"role": "clinician"}), ("deactivate", {})):
        resp = admin.post(
            f"/admin/users/{dave.username}/{action}", data={"csrf_token": csrf, **form}
        )
        assert resp.status_code == 422 and "last active admin" in resp.text
    assert admin.get("/admin/users").status_code == 200  # still an admin, still logged in


# --- the clinic's API tokens ---


def _token_id(app_client, person: Person) -> int:
    mine = app_client.get("/api/tokens?mine=true", headers=person.headers).json()
    return mine[0]["id"]


def test_admin_lists_and_revokes_the_clinics_tokens(app_client, dave, alice, bob):
    admin, csrf = logged_in(app_client, dave)
    page = admin.get("/admin/tokens")
    assert page.status_code == 200
    for person in (alice, bob, dave):
        assert f'id="token-{_token_id(app_client, person)}"' in page.text
    token_id = _token_id(app_client, alice)
    resp = admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert resp.status_code == 200 and f"Revoked API token {token_id}" in resp.text
    assert _me(app_client, alice.token) == 401 and _me(app_client, bob.token) == 200
    twice = admin.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert twice.status_code == 422 and "already revoked" in twice.text


def test_another_clinics_token_is_not_found(app_client, carol, alice):
    admin_b, csrf = logged_in(app_client, carol)
    token_id = _token_id(app_client, alice)
    assert f'id="token-{token_id}"' not in admin_b.get("/admin/tokens").text
    resp = admin_b.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert resp.status_code == 404 and 'id="token-error"' in resp.text
    assert _me(app_client, alice.token) == 200


@pytest.mark.parametrize("path", ["/admin/tokens", "/admin/users", "/admin/audit"])
def test_admin_pages_refuse_a_clinician(app_client, alice, path):
    client, csrf = logged_in(app_client, alice)
    assert client.get(path).status_code == 403
    if path == "/admin/tokens":
        token_id = _token_id(app_client, alice)
        resp = client.post(f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf})
        assert resp.status_code == 403 and _me(app_client, alice.token) == 200
