"""Login, one-time passwords, throttling, CSRF and cookies, through the web app."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.accounts.kit import address
from triggerpoint.accounts.service import create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import open_session


def _login_form(client: TestClient) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def _login(client: TestClient, username: str, password: str):
    token = _login_form(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/atlas"},
        follow_redirects=False,
    )


def _new_user(clinic_id: int, username: str) -> str:
    with open_session(clinic_id=None) as s:
        _, one_time = create_user(
            s,
            clinic_id=clinic_id,
            username=username,
            full_name=username,
            role="clinician",
            actor=Actor.system(),
        )
        s.commit()
    return one_time


def test_one_time_password_must_be_changed(app_client, world):
    client = TestClient(app_client.app)
    one_time = _new_user(world.clinic_a, "newbie")
    resp = _login(client, "newbie", one_time)
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"]
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    # any page now sends them to the password form; the API refuses until they change it
    assert (
        client.get("/admin/users", follow_redirects=False).headers["location"]
        == "/account/password"
    )
    form = client.get("/account/password")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    weak = client.post(
        "/account/password",
        data={
            "current_password": one_time,
            "new_password": "short",
            "confirm_password": "short",
            "csrf_token": csrf,
        },
    )
    assert weak.status_code == 422 and "at least 12 characters" in weak.text
    ok = client.post(
        "/account/password",
        data={
            "current_password": one_time,
            "new_password": "a much better secret",
            "confirm_password": "a much better secret",
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert _login(TestClient(app_client.app), "newbie", "a much better secret").status_code == 303


def test_state_change_without_csrf_is_refused(app_client, world):
    client = TestClient(app_client.app)
    one_time = _new_user(world.clinic_a, "csrfcheck")
    _login(client, "csrfcheck", one_time)
    resp = client.post(
        "/account/password",
        data={"current_password": one_time, "new_password": "x" * 12, "confirm_password": "x" * 12},
    )
    assert resp.status_code == 403
    assert (
        client.post("/login", data={"username": "csrfcheck", "password": one_time}).status_code
        == 403
    )


def test_login_is_throttled_after_repeated_failures(app_client, world):
    client = TestClient(app_client.app, client=(address(), 50000))
    _new_user(world.clinic_a, "throttled")
    resps = [_login(client, "throttled", "wrong password!") for _ in range(6)]
    assert [r.status_code for r in resps[:5]] == [401] * 5
    assert resps[5].status_code == 429
    assert int(resps[5].headers["retry-after"]) > 0 and "try again in" in resps[5].text


def test_wrong_password_and_unknown_user_look_the_same(app_client, world):
    client = TestClient(app_client.app, client=(address(), 50000))
    a = _login(client, "clinician.a", "nope nope nope")
    b = _login(client, "nobody.here", "nope nope nope")
    assert a.status_code == b.status_code == 401
    assert "Wrong username or password" in a.text and "Wrong username or password" in b.text


def test_logout_ends_the_session(app_client, world):
    client = TestClient(app_client.app)
    resp = _login(client, "clinician.a", world.clinician_a.password)
    assert resp.status_code == 303
    page = client.get("/account/password")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    cookie = client.cookies.get("tp_session")
    client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    stale = TestClient(app_client.app, cookies={"tp_session": cookie})
    assert stale.get("/account/password", follow_redirects=False).status_code == 303
