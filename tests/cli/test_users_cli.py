"""`triggerpoint user list|deactivate|reactivate|reset|role`: the account lifecycle from the
command line, as the system (audit actor `cli`), with `--json` and exit 2 on bad input.

Each test gets a clinic of its own, in a database rolled back when the test ends.
"""

from __future__ import annotations

import json

import pytest

from tests.accounts.kit import audit, browser, login, me, new_staff

USER_FIELDS = {
    "id",
    "username",
    "full_name",
    "role",
    "active",
    "must_change_password",
    "clinic",
    "clinic_id",
}


@pytest.fixture
def staff(db):
    return new_staff()


def _json(cli, *args: str):
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_deactivate_and_reactivate(cli, app_client, staff):
    target = staff.clinician
    data = _json(cli, "user", "deactivate", target.username)
    assert set(data) == USER_FIELDS and data["active"] is False
    assert data["username"] == target.username and data["clinic"] == staff.clinic
    assert me(app_client, target.token) == 401
    assert login(browser(app_client), target.username, target.password).status_code == 401
    [event] = audit("deactivate", entity_id=str(target.user_id))
    assert event.actor == "cli" and event.user_id is None

    again = cli("user", "deactivate", target.username)
    assert again.exit_code == 2 and "USERNAME" in again.stderr and "already" in again.stderr

    data = _json(cli, "user", "reactivate", target.username)
    assert data["active"] is True
    assert login(browser(app_client), target.username, target.password).status_code == 303
    assert me(app_client, target.token) == 401  # old tokens stay revoked


def test_reset_prints_the_one_time_password_once(cli, app_client, staff):
    target = staff.assistant
    result = cli("user", "reset", target.username)
    assert result.exit_code == 0, result.output
    one_time = result.stdout.strip().splitlines()[-1]
    assert len(one_time) >= 16 and result.stdout.count(one_time) == 1
    assert me(app_client, target.token) == 401
    fresh = browser(app_client)
    assert login(fresh, target.username, one_time).status_code == 303
    assert fresh.get("/patients", follow_redirects=False).headers["location"] == (
        "/account/password"
    )
    data = _json(cli, "user", "reset", target.username)
    assert set(data) == USER_FIELDS | {"one_time_password"}
    assert data["must_change_password"] is True and data["one_time_password"] != one_time
    events = audit("reset_password", entity_id=str(target.user_id))
    assert len(events) == 2 and all(e.actor == "cli" for e in events)


def test_role(cli, app_client, staff):
    target = staff.assistant
    data = _json(cli, "user", "role", target.username, "clinician")
    assert data["role"] == "clinician"
    assert app_client.get("/api/me", headers=target.headers).json()["role"] == "clinician"
    bad = cli("user", "role", target.username, "boss")
    assert bad.exit_code == 2 and "ROLE" in bad.stderr and "admin, clinician" in bad.stderr
    same = cli("user", "role", target.username, "clinician")
    assert same.exit_code == 2 and "ROLE" in same.stderr and "already" in same.stderr


def test_the_cli_may_act_on_the_last_admin(cli, staff):
    """The system holds the database credentials: it can always repair, so no last-admin
    rule applies to it (the rule protects admins from locking themselves out in the app)."""
    data = _json(cli, "user", "role", staff.admin.username, "clinician")
    assert data["role"] == "clinician"
    assert _json(cli, "user", "role", staff.admin.username, "admin")["role"] == "admin"


@pytest.mark.parametrize(
    "args",
    [
        ("user", "deactivate", "nobody.here"),
        ("user", "reactivate", "nobody.here"),
        ("user", "reset", "nobody.here"),
        ("user", "role", "nobody.here", "admin"),
    ],
    ids=["deactivate", "reactivate", "reset", "role"],
)
def test_unknown_user_is_bad_input(cli, db_url, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert "USERNAME" in result.stderr and "nobody.here" in result.stderr


def test_list(cli, staff):
    rows = _json(cli, "user", "list", "--clinic", staff.clinic)
    assert all(set(r) == USER_FIELDS for r in rows)
    assert {r["username"] for r in rows} == {
        staff.admin.username,
        staff.clinician.username,
        staff.assistant.username,
    }
    table = cli("user", "list", "--clinic", staff.clinic)
    assert table.exit_code == 0 and staff.admin.username in table.stdout
    unknown = cli("user", "list", "--clinic", "No such clinic")
    assert unknown.exit_code == 2 and "--clinic" in unknown.stderr
