"""`POST /api/suggest`'s login check (`inference.router.logged_in`): a read-only lookup, so
a bearer-token suggestion takes no write transaction for it, and a cookie session's sliding
expiry, when due, is still written (in the short write after the read)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, select, update

from tests.conftest import as_person, logged_in
from tests.ratelimits import generous_rate_limits
from triggerpoint.accounts import service as accounts
from triggerpoint.accounts.models import LoginSession
from triggerpoint.db import READ_ONLY, open_session, unit_of_work, utcnow

DRAWING = {"pain": ["right temple"], "pain_free": [], "complete": False, "intensity": {}}


@pytest.fixture(autouse=True)
def _generous_rate_limits(db_url):
    with generous_rate_limits():
        yield


def _expiry(token_hash: str):
    with open_session(clinic_id=None, read_only=True) as s:
        return s.scalar(
            select(LoginSession.expires_at).where(LoginSession.token_hash == token_hash)
        )


def test_a_cookie_suggestion_slides_the_session_when_due(app_client, world):
    browser, csrf = logged_in(app_client, world.clinician_a)
    token_hash = accounts._digest(browser.cookies["tp_session"])
    old = utcnow() + timedelta(minutes=5)  # last slid long ago: a slide is due
    with unit_of_work(clinic_id=None) as s:
        s.execute(
            update(LoginSession).where(LoginSession.token_hash == token_hash).values(expires_at=old)
        )
    resp = browser.post("/api/suggest", json=DRAWING, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 200, resp.text
    assert _expiry(token_hash) > old + timedelta(minutes=30)


def test_a_bearer_suggestion_looks_its_principal_up_read_only(app_client, world, engine):
    """Only the rate-limit counter writes: one BEGIN IMMEDIATE on SQLite (before, the login
    check took a second); on PostgreSQL the lookup's transaction is READ ONLY."""
    begins: list[bool] = []

    def on_begin(conn) -> None:
        begins.append(bool(conn.get_execution_options().get(READ_ONLY)))

    event.listen(engine, "begin", on_begin)
    try:
        resp = app_client.post(
            "/api/suggest", json=DRAWING, headers=as_person(app_client, world.clinician_a)
        )
    finally:
        event.remove(engine, "begin", on_begin)
    assert resp.status_code == 200, resp.text
    assert begins.count(False) == 1  # the rate-limit hit
    assert begins.count(True) >= 1  # the login check (and the limiter's principal lookup)
