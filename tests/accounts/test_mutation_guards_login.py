"""Logins, sessions and the throttle's memory (issue 18, session 20: survivors of the accounts
mutation run with cheap Argon2, each written as a security sentence)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.accounts.kit import address, audit
from tests.accounts.test_throttle import _attempt, clock  # noqa: F401 (the clock fixture)
from triggerpoint.accounts import throttle
from triggerpoint.accounts.models import LoginSession, User
from triggerpoint.accounts.service import (
    SLIDE_EVERY,
    LoginThrottled,
    authenticate,
    principal_from_session,
    start_session,
)
from triggerpoint.config import get_settings
from triggerpoint.db import open_session


def _events(action: str, where: str):
    return [e for e in audit(action) if e.detail.get("address") == where]


def test_a_login_and_a_failed_one_are_audited_as_that_user_of_that_clinic(staff):
    person, where = staff.clinician, address()
    assert _attempt(person.username, person.password + "!", where) == "wrong"
    assert _attempt(person.username, person.password, where) == "ok"
    for action in ("login_failed", "login"):
        (event,) = _events(action, where)
        assert (event.user_id, event.clinic_id, event.actor) == (
            person.user_id,
            staff.clinic_id,
            person.username,
        )
        assert (event.entity, event.entity_id) == ("user", str(person.user_id))


def test_a_throttled_login_is_audited_as_the_user_it_was_for(staff, settings_env, world):
    """Even when the attempt comes through a session confined to another clinic."""
    settings_env(login_max_failures=1)
    person, where = staff.assistant, address()
    assert _attempt(person.username, "wrong guess here", where) == "wrong"
    with open_session(clinic_id=world.clinic_a) as s:
        with pytest.raises(LoginThrottled):
            authenticate(s, username=person.username, password=person.password, address=where)
        s.commit()
    (event,) = _events("login_throttled", where)
    assert (event.user_id, event.clinic_id, event.actor) == (
        person.user_id,
        staff.clinic_id,
        person.username,
    )


def test_an_over_long_username_is_read_as_the_80_characters_a_username_can_have(staff):
    where = address()
    typed = "x" * 90
    assert _attempt(typed, "wrong guess here", where) == "wrong"
    (event,) = _events("login_failed", where)
    assert event.actor == "x" * 80
    assert (event.user_id, event.clinic_id, event.entity_id) == (None, None, None)


def test_a_login_finds_its_user_even_from_a_session_confined_to_another_clinic(staff, world):
    """The login and the session cookie are looked up across clinics (`skip_tenancy`): a
    session confined to one clinic must not turn another clinic's staff away."""
    person, other = staff.admin, world.clinic_a
    assert other != staff.clinic_id
    with open_session(clinic_id=other) as s:
        user = authenticate(
            s, username=person.username, password=person.password, address=address()
        )
        assert user is not None and user.id == person.user_id
        token = start_session(s, user=user)
        s.flush()
        principal = principal_from_session(s, token=token)
        assert principal is not None and principal.user_id == person.user_id
        s.rollback()


def test_a_session_of_a_deactivated_user_lets_nobody_in(staff):
    with open_session(clinic_id=None) as s:
        user = s.get(User, staff.clinician.user_id)
        token = start_session(s, user=user)
        assert principal_from_session(s, token=token) is not None
        user.active = False
        s.flush()
        assert principal_from_session(s, token=token) is None
        s.rollback()


def _expiry(s) -> object:
    return s.scalar(select(LoginSession.expires_at).order_by(LoginSession.id.desc()))


def test_a_session_in_use_is_extended_from_a_minute_after_its_last_extension(staff):
    """A minute after the last extension, use extends it to a full lifetime from now; a
    moment before, the expiry is left as it is (at most one write a minute)."""
    lifetime = timedelta(hours=get_settings().session_hours)
    with open_session(clinic_id=None) as s:
        token = start_session(s, user=s.get(User, staff.clinician.user_id))
        s.flush()
        expires = _expiry(s)
        last = expires - lifetime
        early = last + SLIDE_EVERY - timedelta(microseconds=1)
        assert principal_from_session(s, token=token, now=early) is not None
        assert _expiry(s) == expires
        due = last + SLIDE_EVERY
        assert principal_from_session(s, token=token, now=due) is not None
        assert _expiry(s) == due + lifetime
        s.rollback()


def test_failures_from_an_address_are_remembered_for_the_whole_window(
    staff,
    settings_env,
    clock,  # noqa: F811
):
    settings_env(login_address_window_minutes=60)
    where = address()
    assert _attempt(staff.assistant.username, "wrong guess here", where) == "wrong"
    clock.now += 59 * 60
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where) == 1
        s.rollback()
    clock.now += 2 * 60
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where) == 0
        s.rollback()


def test_failures_for_a_username_are_remembered_for_the_hours_set_and_no_longer(
    staff,
    settings_env,
    clock,  # noqa: F811
):
    settings_env(login_failure_memory_hours=1)
    person, where = staff.assistant, address()
    assert _attempt(person.username, "wrong guess here", where) == "wrong"
    clock.now += 3600 - 0.5
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where, username=person.username) == 1
        s.rollback()
    clock.now += 1.0
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where, username=person.username) == 0
        s.rollback()
