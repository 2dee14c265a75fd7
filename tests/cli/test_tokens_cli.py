"""`triggerpoint token create|revoke|list`: shown once, works on the API, revoked at once, audited.

Each test gets a user of its own, in a database rolled back when the test ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from sqlalchemy import select

from tests.accounts.kit import TOKEN_FIELDS, audit, me
from tests.personas import CLINIC_A, new_person
from triggerpoint.accounts.models import ApiToken, User
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session

Cli = Callable[..., Result]


@pytest.fixture
def owner(cast, db) -> str:
    """A clinician of clinic A of this test's own, with no tokens yet (no pending password
    change, so their tokens work)."""
    return new_person(cast.clinic_a, "clinician", prefix="tok", token=False).username


def _create(cli: Cli, username: str, *args: str) -> dict:
    result = cli("token", "create", username, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _audit(action: str, entity_id: int) -> list[AuditEvent]:
    return audit(action, entity="api_token", entity_id=str(entity_id))


def test_create_json_shape_and_only_the_hash_is_stored(cli, db_url, owner):
    data = _create(cli, owner, "--label", "lab sync")
    assert set(data) == TOKEN_FIELDS | {"token"}
    assert data["user"] == owner and data["label"] == "lab sync" and data["revoked"] is False
    assert data["clinic"] == CLINIC_A and data["token"].startswith("tp_")
    with open_session(clinic_id=None) as s:
        stored = s.get(ApiToken, data["id"])
        assert stored is not None and data["token"] not in stored.token_hash


def test_create_prints_the_token_once(cli, db_url, owner):
    result = cli("token", "create", owner)
    assert result.exit_code == 0, result.output
    secret = next(w for w in result.stdout.split() if w.startswith("tp_"))
    assert result.stdout.count(secret) == 1
    listed = cli("token", "list", owner)
    assert listed.exit_code == 0 and secret not in listed.output


def test_token_works_until_revoked_then_401(cli, app_client, owner):
    data = _create(cli, owner)
    assert me(app_client, data["token"]) == 200
    result = cli("token", "revoke", str(data["id"]), "--json")
    assert result.exit_code == 0, result.output
    revoked = json.loads(result.stdout)
    assert set(revoked) == TOKEN_FIELDS and revoked["revoked"] is True
    assert me(app_client, data["token"]) == 401


def test_create_and_revoke_are_audited_as_the_cli(cli, db_url, owner):
    data = _create(cli, owner, "--label", "audited")
    assert cli("token", "revoke", str(data["id"])).exit_code == 0
    # Creation and revocation are audited under the token's own id: one entity in the trail.
    [created] = _audit("create", data["id"])
    [revoked] = _audit("revoke", data["id"])
    assert created.actor == "cli" and revoked.actor == "cli"
    assert created.detail == {"label": "audited", "user_id": data["user_id"]}
    assert revoked.detail == {"user_id": data["user_id"], "label": "audited"}


def test_list_shows_tokens_without_secrets(cli, db_url, owner):
    first, second = _create(cli, owner, "--label", "one"), _create(cli, owner, "--label", "two")
    assert cli("token", "revoke", str(first["id"])).exit_code == 0
    result = cli("token", "list", owner, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["id"], r["label"], r["revoked"]) for r in rows] == [
        (first["id"], "one", True),
        (second["id"], "two", False),
    ]
    assert all(set(r) == TOKEN_FIELDS for r in rows)
    for secret in (first["token"], second["token"]):
        assert secret not in result.stdout
    everyone = json.loads(cli("token", "list", "--json").stdout)
    assert {first["id"], second["id"]} <= {r["id"] for r in everyone}


def test_list_table(cli, db_url, owner):
    data = _create(cli, owner, "--label", "[bold]x[/]")
    result = cli("token", "list", owner)
    assert result.exit_code == 0, result.output
    assert "[bold]x[/]" in result.stdout and "active" in result.stdout
    assert data["token"] not in result.stdout


@pytest.mark.parametrize(
    "args",
    [("token", "create", "nobody.here"), ("token", "list", "nobody.here")],
    ids=["create", "list"],
)
def test_unknown_user_is_bad_input(cli, db_url, args):
    result = cli(*args)
    assert result.exit_code == 2
    assert "USERNAME" in result.stderr and "nobody.here" in result.stderr


def test_unknown_token_id_is_bad_input(cli, db_url):
    result = cli("token", "revoke", "987654321")
    assert result.exit_code == 2
    assert "TOKEN_ID" in result.stderr and "987654321" in result.stderr


def test_revoking_twice_is_bad_input(cli, db_url, owner):
    data = _create(cli, owner)
    assert cli("token", "revoke", str(data["id"])).exit_code == 0
    again = cli("token", "revoke", str(data["id"]))
    assert again.exit_code == 2 and "already revoked" in again.stderr
    assert len(_audit("revoke", data["id"])) == 1


@pytest.mark.parametrize("label", ["", "   ", "x" * 101], ids=["empty", "blank", "long"])
def test_bad_label_is_bad_input(cli, db_url, owner, label):
    result = cli("token", "create", owner, "--label", label)
    assert result.exit_code == 2 and "--label" in result.stderr


def test_no_token_for_a_deactivated_user(cli, db_url, owner):
    with open_session(clinic_id=None) as s:
        s.scalars(select(User).where(User.username == owner)).one().active = False
        s.commit()
    result = cli("token", "create", owner)
    assert result.exit_code == 2 and "USERNAME" in result.stderr and "deactivated" in result.stderr
    assert json.loads(cli("token", "list", owner, "--json").stdout) == []


def test_tokens_expire_after_90_days_unless_told(cli, db_url, owner):
    default = _create(cli, owner)
    created = datetime.fromisoformat(default["created_at"])
    assert datetime.fromisoformat(default["expires_at"]) - created == timedelta(days=90)
    assert default["expired"] is False
    week = _create(cli, owner, "--expires-days", "7")
    created = datetime.fromisoformat(week["created_at"])
    assert datetime.fromisoformat(week["expires_at"]) - created == timedelta(days=7)
    table = cli("token", "list", owner)
    assert table.exit_code == 0 and "expires" in table.stdout


@pytest.mark.parametrize("days", ["0", "366", "-3"])
def test_expiry_out_of_bounds_is_bad_input(cli, db_url, owner, days):
    result = cli("token", "create", owner, "--expires-days", days)
    assert result.exit_code == 2 and "--expires-days" in result.stderr
    assert "between 1 and 365" in result.stderr


def test_expired_token_gets_401_and_is_listed_as_expired(cli, app_client, owner):
    data = _create(cli, owner)
    assert me(app_client, data["token"]) == 200
    with open_session(clinic_id=None) as s:
        s.get(ApiToken, data["id"]).expires_at = datetime.now(UTC) - timedelta(seconds=1)
        s.commit()
    assert me(app_client, data["token"]) == 401
    [row] = [
        r for r in json.loads(cli("token", "list", owner, "--json").stdout) if r["id"] == data["id"]
    ]
    assert row["expired"] is True and row["revoked"] is False
    assert "expired" in cli("token", "list", owner).stdout
