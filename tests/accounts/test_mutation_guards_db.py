"""The credential lookups and throttle counters that read the database (issue 18: survivors
of the accounts mutation run, each written as a security sentence)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.accounts.kit import address
from tests.accounts.test_throttle import _attempt
from triggerpoint.accounts import throttle
from triggerpoint.accounts.models import Clinic, LoginSession, User
from triggerpoint.accounts.service import (
    principal_from_api_token,
    principal_from_session,
    start_session,
)
from triggerpoint.db import open_session


def test_a_token_of_a_user_who_must_change_their_password_says_so(staff):
    with open_session(clinic_id=None) as s:
        before = principal_from_api_token(s, token=staff.clinician.token)
        assert before is not None and before.must_change_password is False
        s.get(User, staff.clinician.user_id).must_change_password = True
        s.flush()
        principal = principal_from_api_token(s, token=staff.clinician.token)
        assert principal is not None and principal.must_change_password is True
        s.rollback()


def test_a_token_carries_its_clinics_time_zone(staff):
    with open_session(clinic_id=None) as s:
        assert principal_from_api_token(s, token=staff.admin.token).timezone is None
        s.get(Clinic, staff.clinic_id).timezone = "Europe/Vienna"
        s.flush()
        principal = principal_from_api_token(s, token=staff.admin.token)
        assert principal is not None and principal.timezone == "Europe/Vienna"
        s.rollback()


def test_failures_for_one_username_are_not_the_addresss_failures_for_all(staff):
    """What an admin inspects per username counts that username's failures from the
    address; per address alone, every username's."""
    where = address()
    for _ in range(2):
        assert _attempt(staff.clinician.username, "wrong guess here", where) == "wrong"
    assert _attempt(staff.assistant.username, "wrong guess here", where) == "wrong"
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where, username=staff.clinician.username) == 2
        assert throttle.failures(s, address=where, username=staff.assistant.username) == 1
        assert throttle.failures(s, address=where) == 3
        s.rollback()


def test_a_login_session_ends_at_its_expiry_not_after_it(staff):
    """Refused at the very instant it expires; accepted a microsecond before."""
    with open_session(clinic_id=None) as s:
        token = start_session(s, user=s.get(User, staff.assistant.user_id))
        expires = s.scalar(select(LoginSession.expires_at).order_by(LoginSession.id.desc()))
        assert principal_from_session(s, token=token, now=expires) is None
        before = expires - timedelta(microseconds=1)
        principal = principal_from_session(s, token=token, now=before)
        assert principal is not None and principal.user_id == staff.assistant.user_id
        s.rollback()
