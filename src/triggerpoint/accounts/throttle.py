"""Login throttling that slows guessing without letting anyone lock a user out.

Failed logins are counted twice, in the database (`triggerpoint.ratelimit`), so every app
process sees the same counts:

* per **(address, username)**: after `login_max_failures` failures, each further failure
  makes that address wait before its next try for that username: `login_backoff_seconds`,
  then twice that, and so on, up to `login_lockout_minutes`. A correct password from
  another address is not slowed at all, so an attacker cannot lock the admin out. A
  successful login forgets the failures; otherwise they are forgotten
  `login_failure_memory_hours` after the first.
* per **address**, for any usernames: after `login_address_max_failures` failures within
  `login_address_window_minutes`, the same backoff applies to that address as a whole, so
  spraying one password across many usernames is slowed too.

A throttled attempt is refused before its password is checked, and does not extend the
wait (it is backoff, not a lock that an attacker keeps shut).

Each wait is a `limits` fixed window of one hit whose length is the wait for the current
failure count: a failure that reaches the threshold hits the window for its count, and the
next attempt is refused while that window holds its hit.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from sqlalchemy.orm import Session

from triggerpoint.config import get_settings
from triggerpoint.ratelimit import DatabaseStorage, limiter, seconds_until

PAIR, ADDRESS = "address+username", "address"
_BIG = 1_000_000_000  # a counter's "limit": these windows only count, the backoff decides


@dataclass(frozen=True)
class Throttle:
    """Why an attempt is refused, and for how long."""

    scope: str  # PAIR or ADDRESS
    retry_after: int  # seconds


@dataclass(frozen=True)
class _Counter:
    namespace: str
    window: RateLimitItem  # how long failures are remembered
    free: int  # failures allowed before backing off
    per_user: bool

    def identifiers(self, address: str, username: str) -> tuple[str, ...]:
        return (self.namespace, address, username) if self.per_user else (self.namespace, address)


def _counters() -> tuple[_Counter, _Counter]:
    s = get_settings()
    pair = _Counter(
        "login-user",
        RateLimitItemPerSecond(_BIG, max(1, round(s.login_failure_memory_hours * 3600))),
        s.login_max_failures,
        per_user=True,
    )
    address = _Counter(
        "login-address",
        RateLimitItemPerMinute(_BIG, s.login_address_window_minutes),
        s.login_address_max_failures,
        per_user=False,
    )
    return pair, address


def backoff_seconds(failures: int, free: int) -> int:
    """The wait after the `failures`-th failure (0 while failures < free)."""
    if failures < free:
        return 0
    s = get_settings()
    cap = s.login_lockout_minutes * 60
    exponent = min(failures - free, 32)  # 2**32 seconds is past any cap
    return min(s.login_backoff_seconds * 2**exponent, cap)


def _wait_window(failures: int, free: int) -> RateLimitItem:
    return RateLimitItemPerSecond(1, backoff_seconds(failures, free))


def check(session: Session, *, address: str, username: str) -> Throttle | None:
    """None if this address may try this username now, else why not and for how long.

    Locks the counters (PostgreSQL) until the caller's transaction ends, so parallel
    attempts on them are decided one after another, not all against the same count.
    """
    storage = DatabaseStorage(session)
    strategy = limiter(session)
    for counter, scope in zip(_counters(), (PAIR, ADDRESS), strict=True):
        ids = counter.identifiers(address, username)
        n = storage.lock(counter.window.key_for(*ids), counter.window.get_expiry())
        if n < counter.free:
            continue
        wait = _wait_window(n, counter.free)
        if not strategy.test(wait, *ids):
            reset = strategy.get_window_stats(wait, *ids).reset_time
            return Throttle(scope, seconds_until(reset))
    return None


def failed(session: Session, *, address: str, username: str) -> None:
    """Count a failed login; from the threshold on, start the wait it earns."""
    strategy = limiter(session)
    for counter in _counters():
        ids = counter.identifiers(address, username)
        n = strategy.storage.incr(counter.window.key_for(*ids), counter.window.get_expiry())
        if n >= counter.free:
            strategy.hit(_wait_window(n, counter.free), *ids)


def succeeded(session: Session, *, address: str, username: str) -> None:
    """A correct password: forget this address's failures for this username (not the
    address's failures overall, which a sprayer's one lucky guess must not wipe)."""
    pair, _ = _counters()
    limiter(session).clear(pair.window, *pair.identifiers(address, username))


def failures(session: Session, *, address: str, username: str | None = None) -> int:
    """Failures counted now for an address (and username): what tests and admins inspect."""
    pair, by_address = _counters()
    counter = by_address if username is None else pair
    ids = counter.identifiers(address, username or "")
    return DatabaseStorage(session).get(counter.window.key_for(*ids))
