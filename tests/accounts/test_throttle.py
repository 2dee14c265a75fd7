"""Login throttling: backoff per (address, username) and per address, that cannot lock anyone
out from elsewhere, is audited, and keeps its counters in the database (shared by every
app process)."""

from __future__ import annotations

import threading

import pytest

from tests.accounts.kit import address, audit, browser, login
from triggerpoint import ratelimit
from triggerpoint.accounts import throttle
from triggerpoint.accounts.service import LoginThrottled, authenticate
from triggerpoint.db import make_engine, open_session
from triggerpoint.ratelimit import DatabaseStorage


class Clock:
    """Stands in for the `time` module of triggerpoint.ratelimit (the counters' only clock)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    import time

    fake = Clock(time.time())
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def _attempt(username: str, password: str, where: str) -> str:
    """One login through the service, in its own transaction: "ok", "wrong" or "throttled"."""
    with open_session(clinic_id=None) as s:
        try:
            user = authenticate(s, username=username, password=password, address=where)
        except LoginThrottled:
            s.commit()
            return "throttled"
        s.commit()
    return "ok" if user is not None else "wrong"


def test_correct_password_from_another_address_gets_in_while_one_is_throttled(app_client, staff):
    victim = staff.admin
    attacker = browser(app_client)
    codes = [login(attacker, victim.username, "not the password").status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
    # The attacker's address is refused even with the right password...
    assert login(attacker, victim.username, victim.password).status_code == 429
    # ...but the admin, from their own address, is not slowed at all.
    assert login(browser(app_client), victim.username, victim.password).status_code == 303


def test_spraying_one_password_across_many_usernames_is_throttled_per_address(app_client, staff):
    sprayer = browser(app_client)
    codes = [login(sprayer, f"nobody.{i}", "Summer2024!").status_code for i in range(30)]
    assert codes[:20] == [401] * 20  # TRIGGERPOINT_LOGIN_ADDRESS_MAX_FAILURES
    assert set(codes[20:]) == {429}
    # a real user's correct password from the spraying address waits too; elsewhere it works
    member = staff.clinician
    assert login(sprayer, member.username, member.password).status_code == 429
    assert login(browser(app_client), member.username, member.password).status_code == 303


def test_throttled_attempts_are_audited_with_address_and_username(app_client, staff):
    where = address()
    client = browser(app_client, where)
    for _ in range(5):
        login(client, staff.assistant.username, "wrong guess here")
    for _ in range(2):
        assert login(client, staff.assistant.username, "wrong guess here").status_code == 429
    events = [e for e in audit("login_throttled") if e.detail.get("address") == where]
    assert len(events) == 2
    for event in events:
        assert event.detail["username"] == staff.assistant.username
        assert event.detail["scope"] == throttle.PAIR and event.detail["retry_after"] > 0
        assert event.entity == "user" and event.entity_id == str(staff.assistant.user_id)
        assert event.clinic_id == staff.clinic_id
    failed = [e for e in audit("login_failed") if e.detail.get("address") == where]
    assert len(failed) == 5


def test_backoff_doubles_and_ends_it_is_not_a_lock(clock, staff):
    where, name = address(), staff.clinician.username
    assert [_attempt(name, "wrong guess here", where) for _ in range(5)] == ["wrong"] * 5
    waits = []
    for _ in range(4):
        with open_session(clinic_id=None) as s:
            blocked = throttle.check(s, address=where, username=name)
            s.rollback()
        assert blocked is not None and blocked.scope == throttle.PAIR
        waits.append(blocked.retry_after)
        assert _attempt(name, "wrong guess here", where) == "throttled"  # does not extend it
        clock.now += blocked.retry_after + 1
        assert _attempt(name, "wrong guess here", where) == "wrong"  # one more try, then wait
    assert waits == [30, 60, 120, 240]  # TRIGGERPOINT_LOGIN_BACKOFF_SECONDS, doubling
    clock.now += 10_000
    assert _attempt(name, staff.clinician.password, where) == "ok"
    # a success forgets this address's failures for this username
    with open_session(clinic_id=None) as s:
        assert throttle.failures(s, address=where, username=name) == 0


def test_backoff_is_capped(settings_env, clock, staff):
    settings_env(login_lockout_minutes=1, login_max_failures=2)
    where, name = address(), staff.clinician.username
    for i in range(8):
        clock.now += 3600 if i else 0  # past each wait: every attempt is checked, and fails
        assert _attempt(name, "wrong guess here", where) == "wrong"
    with open_session(clinic_id=None) as s:
        blocked = throttle.check(s, address=where, username=name)
        s.rollback()
    assert blocked is not None and blocked.retry_after == 60
    assert throttle.backoff_seconds(40, 2) == 60  # no overflow however many failures


def test_forwarded_for_is_ignored_unless_behind_a_proxy(app_client, settings_env, staff):
    where = address()
    client = browser(app_client, where)
    for _ in range(5):
        login(client, staff.clinician.username, "wrong guess here")
    spoofed = {"X-Forwarded-For": address()}
    client.headers.update(spoofed)
    assert login(client, staff.clinician.username, "wrong guess here").status_code == 429
    settings_env(proxy_hops=1)  # now the proxy's X-Forwarded-For entry is the address
    assert login(client, staff.clinician.username, staff.clinician.password).status_code == 303


def test_counters_live_in_the_database(db_url, staff):
    """What one app process counted, another (its own engine and pool) sees, and adds to."""
    where, name = address(), staff.assistant.username
    for _ in range(5):
        _attempt(name, "wrong guess here", where)
    other = make_engine(db_url)
    try:
        with open_session(clinic_id=None, engine=other) as s:
            assert throttle.failures(s, address=where, username=name) == 5
            assert throttle.failures(s, address=where) == 5
            blocked = throttle.check(s, address=where, username=name)
            assert blocked is not None and blocked.retry_after > 0
            s.rollback()
        with open_session(clinic_id=None, engine=other) as s:
            with pytest.raises(LoginThrottled):
                authenticate(s, username=name, password=staff.assistant.password, address=where)
            s.rollback()
    finally:
        other.dispose()


def test_storage_increments_atomically_across_engines(db_url):
    """Eight 'processes' (engines) incrementing one key 5 times each, concurrently: 40."""
    key = f"test/{address()}"
    engines = [make_engine(db_url) for _ in range(8)]
    errors: list[BaseException] = []

    def work(engine) -> None:
        try:
            for _ in range(5):
                with open_session(clinic_id=None, engine=engine) as s:
                    DatabaseStorage(s).incr(key, 60)
                    s.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with open_session(clinic_id=None, engine=engines[0]) as s:
            storage = DatabaseStorage(s)
            assert storage.get(key) == 40
            assert storage.get_expiry(key) > 0
            storage.clear(key)
            assert storage.get(key) == 0
            s.commit()
    finally:
        for e in engines:
            e.dispose()


def test_expired_counter_restarts(clock, db_url):
    key = f"test/{address()}"
    with open_session(clinic_id=None) as s:
        storage = DatabaseStorage(s)
        assert [storage.incr(key, 10) for _ in range(3)] == [1, 2, 3]
        clock.now += 11
        assert storage.get(key) == 0
        assert storage.incr(key, 10) == 1
        assert storage.check()
        s.rollback()
