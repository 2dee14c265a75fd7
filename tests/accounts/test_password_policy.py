"""Password policy (NIST SP 800-63B) and what a password change ends."""

from __future__ import annotations

import unicodedata
from itertools import pairwise

import pytest
from sqlalchemy import func, select

from tests.accounts.kit import browser, csrf_of, logged_in, login, me
from tests.conftest import PASSWORD as WORLD_PASSWORD
from triggerpoint.accounts.models import PasswordHistory
from triggerpoint.accounts.service import (
    PASSWORD_HISTORY,
    AccountError,
    change_password,
    check_password_strength,
    create_user,
)
from triggerpoint.audit.service import Actor
from triggerpoint.db import open_session

USERNAME = "pat.smith"
REFUSED = {
    "aaaaaaaaaa": "at least 12 characters",
    "1234567890": "at least 12 characters",
    "password12": "at least 12 characters",
    "aaaaaaaaaaaa": "too easy to guess",
    "123456789012": "too easy to guess",
    "password1234": "too easy to guess",
    " " * 10: "only spaces or invisible characters",
    "\u200b" * 12: "only spaces or invisible characters",
    "\u3000\t\u00a0\u200d" * 4: "only spaces or invisible characters",
    f"{USERNAME}2024!x": "must not contain the username",
    "PAT.SMITH is my name": "must not contain the username",
    "abc\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200b\u200bdefgh": "at least 12 characters",
    "Smith Clinic rocks 2024": "must not contain 'Smith Clinic'",
}
ACCEPTED = [
    "correct horse battery staple",
    "bedside needles 4 tests",
    "imports only 12345",
    "steady state 12345",
    "a long enough password",
    "reads only 123456",
    "timing runs only 1",
    "a much better secret",
    "ｆｕｌｌ ｗｉｄｔｈ ｔｅａ ｋｅｔｔｌｅ",  # NFKC: full-width letters count as letters
    "Grüße aus dem Nadelzimmer",
]


@pytest.mark.parametrize("password", list(REFUSED), ids=repr)
def test_refused_with_the_reason(password):
    with pytest.raises(AccountError) as err:
        check_password_strength(password, username=USERNAME, user_inputs=["Smith Clinic"])
    assert err.value.field == "password"
    assert REFUSED[password] in str(err.value)


@pytest.mark.parametrize("password", ACCEPTED)
def test_passphrases_pass(password):
    check_password_strength(password, username=USERNAME, user_inputs=["Smith Clinic"])


def test_the_world_fixture_password_passes():
    check_password_strength(WORLD_PASSWORD, username="admin.a", user_inputs=["Clinic A"])


def test_no_composition_rules():
    # all lower case, no digit, no symbol: long and unguessable is enough
    check_password_strength("velvet otters juggle quietly", username=USERNAME)


def test_create_user_checks_the_password_against_username_and_clinic(world):
    with open_session(clinic_id=None) as s:
        with pytest.raises(AccountError) as err:
            create_user(
                s,
                clinic_id=world.clinic_a,
                username="weak.one",
                full_name="Weak One",
                role="clinician",
                actor=Actor.system("tests"),
                password="Clinic A 2024 forever",
            )
        s.rollback()
    assert err.value.field == "password" and "Clinic A" in str(err.value)


def _change(member, current: str, new: str, keep: str | None = None) -> str | None:
    with open_session(clinic_id=None) as s:
        cookie = change_password(
            s,
            user_id=member.user_id,
            current=current,
            new=new,
            actor=member.actor,
            keep_session=keep,
        )
        s.commit()
    return cookie


def test_previous_passwords_are_refused(staff, settings_env):
    # A cheap Argon2 for this test's dozen changes (each checks up to six hashes); the
    # parameters live in each hash, so verification follows whichever made it.
    settings_env(argon2_time_cost=1, argon2_memory_cost=1024)
    member = staff.clinician
    passwords = [member.password] + [f"rotating secret number {w}" for w in "abcdef"]
    for current, new in pairwise(passwords):
        _change(member, current, new)
    current = passwords[-1]
    for old in passwords[-1 - PASSWORD_HISTORY : -1]:  # the last five before the current one
        with pytest.raises(AccountError) as err:
            _change(member, current, old)
        assert err.value.field == "new_password" and "last 5" in str(err.value)
    _change(member, current, passwords[0])  # six changes ago: allowed again
    with open_session(clinic_id=None) as s:
        kept = s.scalar(
            select(func.count())
            .select_from(PasswordHistory)
            .where(PasswordHistory.user_id == member.user_id)
        )
    assert kept == PASSWORD_HISTORY


def test_normalised_before_hashing(app_client, staff):
    member = staff.assistant
    composed = "Crème brûlée für alle Nadeln"
    _change(member, member.password, composed)
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    # the same password typed as decomposed characters (another keyboard) still matches
    assert login(browser(app_client), member.username, decomposed).status_code == 303
    _change(member, decomposed, "another fine secret phrase")


def test_web_form_says_why(app_client, staff):
    client, csrf = logged_in(app_client, staff.clinician)
    for new, why in (
        ("password1234", "too easy to guess"),
        ("\u200b" * 12, "only spaces or invisible characters"),
        (staff.clinician.username + "2024!x", "must not contain the username"),
    ):
        resp = client.post(
            "/account/password",
            data={
                "current_password": staff.clinician.password,
                "new_password": new,
                "confirm_password": new,
                "csrf_token": csrf,
            },
        )
        assert resp.status_code == 422 and why in resp.text
        assert 'id="new_password-error"' in resp.text


def test_password_change_ends_other_sessions_and_tokens_keeps_this_one(app_client, staff):
    member = staff.clinician
    client, csrf = logged_in(app_client, member)
    old_cookie = client.cookies.get("tp_session")
    other, _ = logged_in(app_client, member)
    assert me(app_client, member.token) == 200
    new = "fresh mint needles tuesday"
    resp = client.post(
        "/account/password",
        data={
            "current_password": member.password,
            "new_password": new,
            "confirm_password": new,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    # this session stays, under a new token and CSRF token
    new_cookie = client.cookies.get("tp_session")
    assert new_cookie and new_cookie != old_cookie
    assert client.get("/account/password", follow_redirects=False).status_code == 200
    assert csrf_of(client) != csrf
    # the old cookie value, the other device and the API token are all done
    stale = browser(app_client)
    stale.cookies.set("tp_session", old_cookie)
    assert stale.get("/account/password", follow_redirects=False).status_code == 303
    assert other.get("/account/password", follow_redirects=False).status_code == 303
    assert me(app_client, member.token) == 401
    assert login(browser(app_client), member.username, new).status_code == 303
