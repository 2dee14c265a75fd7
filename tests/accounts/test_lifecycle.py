"""Account lifecycle: deactivate, reactivate, reset a password, change a role; the rule in
one service function each, and the same behaviour through the API and the admin pages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.accounts.kit import (
    add_member,
    audit,
    browser,
    csrf_of,
    logged_in,
    login,
    me,
)
from triggerpoint.accounts.models import LoginSession, User
from triggerpoint.accounts.service import (
    AccountError,
    Forbidden,
    UnknownAccount,
    change_role,
    deactivate_user,
    reactivate_user,
    reset_password,
)
from triggerpoint.audit.service import Actor
from triggerpoint.db import open_session


def _post(app_client, member, path: str, **kwargs):
    return app_client.post(path, headers=member.headers, **kwargs)


def _sessions(user_id: int) -> int:
    with open_session(clinic_id=None) as s:
        return s.scalar(
            select(func.count()).select_from(LoginSession).where(LoginSession.user_id == user_id)
        )


def _user(user_id: int) -> User:
    with open_session(clinic_id=None) as s:
        return s.get(User, user_id)


# --- JSON API ---


def test_deactivated_user_is_cut_off_at_once(app_client, staff):
    target = staff.clinician
    browser_, _ = logged_in(app_client, target)
    assert browser_.get("/account/password", follow_redirects=False).status_code == 200
    assert me(app_client, target.token) == 200

    resp = _post(app_client, staff.admin, f"/api/users/{target.username}/deactivate")
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False and resp.json()["username"] == target.username

    # cookie session and token stop on the very next request; no new login either
    assert browser_.get("/account/password", follow_redirects=False).status_code == 303
    assert me(app_client, target.token) == 401
    assert login(browser(app_client), target.username, target.password).status_code == 401
    assert _sessions(target.user_id) == 0
    [event] = audit("deactivate", entity_id=str(target.user_id))
    assert event.user_id == staff.admin.user_id and event.detail["sessions_ended"] == 1
    assert event.detail["tokens_revoked"]


def test_reactivated_user_logs_in_again_but_old_tokens_stay_revoked(app_client, staff):
    target = staff.assistant
    assert _post(app_client, staff.admin, f"/api/users/{target.username}/deactivate").is_success
    resp = _post(app_client, staff.admin, f"/api/users/{target.username}/reactivate")
    assert resp.status_code == 200 and resp.json()["active"] is True
    assert login(browser(app_client), target.username, target.password).status_code == 303
    assert me(app_client, target.token) == 401
    assert audit("reactivate", entity_id=str(target.user_id))


def test_reset_password_gives_a_one_time_password_and_ends_everything(app_client, staff):
    target = staff.clinician
    old_browser, _ = logged_in(app_client, target)
    resp = _post(app_client, staff.admin, f"/api/users/{target.username}/reset-password")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["must_change_password"] is True and len(body["one_time_password"]) >= 16

    assert old_browser.get("/account/password", follow_redirects=False).status_code == 303
    assert me(app_client, target.token) == 401
    assert login(browser(app_client), target.username, target.password).status_code == 401
    fresh = browser(app_client)
    assert login(fresh, target.username, body["one_time_password"]).status_code == 303
    assert fresh.get("/patients", follow_redirects=False).headers["location"] == (
        "/account/password"
    )
    [event] = audit("reset_password", entity_id=str(target.user_id))
    assert body["one_time_password"] not in str(event.detail)


def test_change_role_applies_from_the_next_request(app_client, staff):
    target = staff.assistant
    assert me(app_client, target.token) == 200
    resp = _post(
        app_client, staff.admin, f"/api/users/{target.username}/role", json={"role": "clinician"}
    )
    assert resp.status_code == 200 and resp.json()["role"] == "clinician"
    got = app_client.get("/api/me", headers=target.headers).json()
    assert got["role"] == "clinician"
    [event] = audit("change_role", entity_id=str(target.user_id))
    assert event.detail == {"username": target.username, "from": "assistant", "to": "clinician"}


def test_admins_list_their_clinic_only(app_client, staff, world):
    resp = app_client.get("/api/users", headers=staff.admin.headers)
    assert resp.status_code == 200
    names = {u["username"] for u in resp.json()}
    assert names == {staff.admin.username, staff.clinician.username, staff.assistant.username}
    assert app_client.get("/api/users", headers=staff.clinician.headers).status_code == 403


@pytest.mark.parametrize(
    "action,body",
    [
        ("deactivate", None),
        ("reactivate", None),
        ("reset-password", None),
        ("role", {"role": "admin"}),
    ],
)
def test_only_an_admin_of_the_clinic_may(app_client, staff, world, action, body):
    target = staff.assistant.username
    for who in (staff.clinician, staff.assistant):
        resp = _post(app_client, who, f"/api/users/{target}/{action}", json=body)
        assert resp.status_code == 403, resp.text
    # another clinic's admin does not even see the user
    other = app_client.post(
        f"/api/users/{target}/{action}",
        json=body,
        headers={"Authorization": f"Bearer {world.admin_b.token}"},
    )
    assert other.status_code == 404 and other.json()["detail"][0]["loc"] == ["path", "username"]
    assert (
        _user(staff.assistant.user_id).active and _user(staff.assistant.user_id).role == "assistant"
    )


def test_errors_name_the_field(app_client, staff):
    admin = staff.admin
    unknown = _post(app_client, admin, "/api/users/nobody.here/deactivate")
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["path", "username"]
    bad_role = _post(
        app_client, admin, f"/api/users/{staff.clinician.username}/role", json={"role": "boss"}
    )
    assert bad_role.status_code == 422 and bad_role.json()["detail"][0]["loc"][-1] == "role"
    same = _post(
        app_client, admin, f"/api/users/{staff.clinician.username}/role", json={"role": "clinician"}
    )
    assert same.status_code == 422 and same.json()["detail"][0]["loc"] == ["body", "role"]
    again = _post(app_client, admin, f"/api/users/{staff.clinician.username}/reactivate")
    assert again.status_code == 422 and "already active" in again.json()["detail"][0]["msg"]
    weird = _post(app_client, admin, "/api/users/bad%00name/deactivate")
    assert weird.status_code == 422 and weird.json()["detail"][0]["loc"] == ["path", "username"]


def test_last_active_admin_cannot_deactivate_or_demote_themselves(app_client, staff):
    admin = staff.admin
    for action, body in (("deactivate", None), ("role", {"role": "clinician"})):
        resp = _post(app_client, admin, f"/api/users/{admin.username}/{action}", json=body)
        assert resp.status_code == 422, resp.text
        assert resp.json()["detail"][0]["loc"] == ["path", "username"]
        assert "last active admin" in resp.json()["detail"][0]["msg"]
    # with a second admin, stepping down is fine
    add_member(staff.clinic_id, "admin")
    resp = _post(app_client, admin, f"/api/users/{admin.username}/role", json={"role": "clinician"})
    assert resp.status_code == 200 and resp.json()["role"] == "clinician"


# --- the service functions: one rule each, whoever calls ---


def test_service_rules(staff, world):
    system = Actor.system("tests")
    with open_session(clinic_id=None) as s:
        with pytest.raises(Forbidden):  # another clinic's admin, in an unscoped session
            deactivate_user(
                s, actor=world.admin_b.principal.actor, username=staff.clinician.username
            )
        with pytest.raises(Forbidden):  # not an admin
            change_role(
                s, actor=staff.clinician.actor, username=staff.assistant.username, role="admin"
            )
        with pytest.raises(UnknownAccount):
            reactivate_user(s, actor=system, username="nobody.here")
        s.rollback()
    # the system (CLI) may act on anyone, even the last admin: it can always repair
    with open_session(clinic_id=None) as s:
        deactivate_user(s, actor=system, username=staff.admin.username)
        with pytest.raises(AccountError) as err:
            reset_password(s, actor=system, username=staff.admin.username)
        assert err.value.field == "username" and "deactivated" in str(err.value)
        reactivate_user(s, actor=system, username=staff.admin.username)
        result = reset_password(s, actor=system, username=staff.admin.username)
        assert result.user.must_change_password and result.session_token is None
        s.commit()
    actions = [e.action for e in audit("deactivate", entity_id=str(staff.admin.user_id))]
    assert actions == ["deactivate"]


def test_a_deactivated_admin_loses_their_powers(staff):
    second = add_member(staff.clinic_id, "admin")
    with open_session(clinic_id=None) as s:
        deactivate_user(s, actor=staff.admin.actor, username=second.username)
        s.commit()
    with open_session(clinic_id=None) as s, pytest.raises(Forbidden):
        reset_password(s, actor=second.actor, username=staff.clinician.username)


# --- the admin pages ---


def test_admin_pages_run_every_action(app_client, staff):
    client, csrf = logged_in(app_client, staff.admin)
    target = staff.clinician.username

    page = client.get("/admin/users")
    assert page.status_code == 200 and f"/admin/users/{target}/deactivate" in page.text

    reset = client.post(f"/admin/users/{target}/reset-password", data={"csrf_token": csrf})
    assert reset.status_code == 200 and 'id="one-time-password"' in reset.text
    one_time = reset.text.split('id="one-time-password">')[1].split("<")[0]
    assert login(browser(app_client), target, one_time).status_code == 303

    role = client.post(
        f"/admin/users/{target}/role", data={"role": "assistant", "csrf_token": csrf}
    )
    assert role.status_code == 200 and f"{target} is now assistant" in role.text
    assert _user(staff.clinician.user_id).role == "assistant"

    off = client.post(f"/admin/users/{target}/deactivate", data={"csrf_token": csrf})
    assert off.status_code == 200 and "Deactivated" in off.text
    assert f"/admin/users/{target}/reactivate" in off.text
    on = client.post(f"/admin/users/{target}/reactivate", data={"csrf_token": csrf})
    assert on.status_code == 200 and "Reactivated" in on.text
    assert _user(staff.clinician.user_id).active


def test_admin_page_errors_are_shown(app_client, staff):
    client, csrf = logged_in(app_client, staff.admin)
    resp = client.post(f"/admin/users/{staff.admin.username}/deactivate", data={"csrf_token": csrf})
    assert resp.status_code == 422 and "last active admin" in resp.text
    unknown = client.post("/admin/users/nobody.here/reactivate", data={"csrf_token": csrf})
    assert unknown.status_code == 404 and "no user called" in unknown.text
    no_csrf = client.post(f"/admin/users/{staff.clinician.username}/deactivate")
    assert no_csrf.status_code == 403
    assert _user(staff.clinician.user_id).active


def test_admin_pages_are_for_admins(app_client, staff):
    client, csrf = logged_in(app_client, staff.clinician)
    resp = client.post(
        f"/admin/users/{staff.assistant.username}/deactivate", data={"csrf_token": csrf}
    )
    assert resp.status_code == 403 and staff.assistant.username not in resp.text
    assert _user(staff.assistant.user_id).active


def test_admin_resetting_themselves_keeps_their_session_with_a_new_identity(app_client, staff):
    client, csrf = logged_in(app_client, staff.admin)
    old_cookie = client.cookies.get("tp_session")
    other, _ = logged_in(app_client, staff.admin)  # another device
    resp = client.post(
        f"/admin/users/{staff.admin.username}/reset-password",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/account/password"
    new_cookie = client.cookies.get("tp_session")
    assert new_cookie and new_cookie != old_cookie
    assert client.get("/account/password", follow_redirects=False).status_code == 200
    assert csrf_of(client) != csrf
    stale = browser(app_client)
    stale.cookies.set("tp_session", old_cookie)
    assert stale.get("/account/password", follow_redirects=False).status_code == 303
    assert other.get("/account/password", follow_redirects=False).status_code == 303


def test_admin_deactivating_themselves_is_logged_out(app_client, staff):
    add_member(staff.clinic_id, "admin")
    client, csrf = logged_in(app_client, staff.admin)
    resp = client.post(
        f"/admin/users/{staff.admin.username}/deactivate",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert client.get("/admin/users", follow_redirects=False).status_code == 303
