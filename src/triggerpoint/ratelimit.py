"""Rate limits whose counters live in the database, so every app process sees the same counts.

`limits` (https://limits.readthedocs.io) supplies the rate-limit items ("30/minute") and the
fixed-window strategy; it has no SQL storage, so `DatabaseStorage` implements its small
`Storage` interface on the `rate_limit_hit` table. Each increment is one atomic
`INSERT … ON CONFLICT DO UPDATE … RETURNING` (PostgreSQL and SQLite alike), run in the
caller's transaction: on PostgreSQL the row stays locked until commit, so concurrent
requests on one key queue up rather than all slipping under the limit.

Two users of it:

* the login throttle (`accounts.throttle`), in the login's own transaction;
* `rate_limit(group)`, a route dependency limiting expensive endpoints per user (per client
  address when nobody is logged in), answering 429 with `Retry-After`.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
from typing import Any

from fastapi import Depends, HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter
from sqlalchemy import Float, Integer, String, bindparam, case, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from triggerpoint.config import get_settings
from triggerpoint.db import Base, open_session, rowcount


class RateLimitHit(Base):
    """One rate-limit counter (`DatabaseStorage`): how many hits `key` has had in the window
    that ends at `expires_at` (Unix time, seconds).

    Kept in the database rather than in memory so that every app process sharing it sees,
    and atomically updates, the same counts.
    """

    __tablename__ = "rate_limit_hit"
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


TABLE = RateLimitHit.__table__
MAX_KEY = 255  # the width of rate_limit_hit.key
PRUNE_ONE_IN = 200  # about one increment in this many also deletes long-expired counters


def _key(key: str) -> str:
    """Keys longer than the column (long usernames or addresses) are stored as a digest."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(TABLE)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(TABLE)
    raise RuntimeError(  # pragma: no cover - the app supports these two
        f"rate limits need PostgreSQL or SQLite, not {dialect}"
    )


_increments: dict[str, Any] = {}


def _increment(session: Session) -> Any:
    """The one atomic upsert of a counter, built once per dialect (every suggest, PDF and
    login counts through it, and building it costs more CPU than running it): starts a
    window of `amount` hits ending at `expires` unless one is live at `now`, else adds."""
    dialect = session.get_bind().dialect.name
    stmt = _increments.get(dialect)
    if stmt is None:
        ins = _insert(session).values(
            key=bindparam("key"), count=bindparam("amount"), expires_at=bindparam("expires")
        )
        expired = TABLE.c.expires_at <= bindparam("now")
        stmt = _increments[dialect] = ins.on_conflict_do_update(
            index_elements=[TABLE.c.key],
            set_={
                "count": case(
                    (expired, ins.excluded["count"]), else_=TABLE.c["count"] + ins.excluded["count"]
                ),
                "expires_at": case((expired, ins.excluded.expires_at), else_=TABLE.c.expires_at),
            },
        ).returning(TABLE.c["count"])
    return stmt


class DatabaseStorage(Storage):
    """`limits` storage on the `rate_limit_hit` table, in the caller's session/transaction.

    Semantics are those of `limits`' own storages for the fixed-window strategy: `incr`
    starts a window of `expiry` seconds at the first hit and counts hits until it ends; an
    expired counter reads as 0 and restarts at the next hit.
    """

    STORAGE_SCHEME = None  # not created from a URI: it needs the caller's session

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session

    @property
    def base_exceptions(self) -> type[Exception]:
        return SQLAlchemyError

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        params = {"key": _key(key), "amount": amount, "expires": now + expiry, "now": now}
        count = int(self.session.execute(_increment(self.session), params).scalar_one())
        if random.randrange(PRUNE_ONE_IN) == 0:
            self.prune(older_than=3600)
        return count

    def _live(self, key: str) -> tuple[int, float] | None:
        row = self.session.execute(
            select(TABLE.c["count"], TABLE.c.expires_at).where(
                TABLE.c.key == _key(key), TABLE.c.expires_at > time.time()
            )
        ).one_or_none()
        return None if row is None else (int(row[0]), float(row[1]))

    def get(self, key: str) -> int:
        live = self._live(key)
        return 0 if live is None else live[0]

    def get_expiry(self, key: str) -> float:
        live = self._live(key)
        return time.time() if live is None else live[1]

    def check(self) -> bool:
        try:
            self.session.execute(select(TABLE.c.key).limit(1))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        return rowcount(self.session.execute(delete(TABLE)))

    def clear(self, key: str) -> None:
        self.session.execute(delete(TABLE).where(TABLE.c.key == _key(key)))

    def lock(self, key: str, expiry: float) -> int:
        """Create the counter if need be (at 0) and, on PostgreSQL, lock it until commit;
        returns its current count. Callers that read, decide, then write take this first."""
        return self.incr(key, expiry, amount=0)

    def prune(self, *, older_than: float = 0) -> int:
        """Delete counters that expired more than `older_than` seconds ago (they read as 0
        anyway); keeps the table as small as the set of recently active keys."""
        cutoff = time.time() - older_than
        return rowcount(self.session.execute(delete(TABLE).where(TABLE.c.expires_at < cutoff)))


def limiter(session: Session) -> FixedWindowRateLimiter:
    return FixedWindowRateLimiter(DatabaseStorage(session))


def seconds_until(reset_time: float) -> int:
    """Whole seconds to wait (at least 1): what a `Retry-After` header says."""
    return max(1, math.ceil(reset_time - time.time()))


def client_address(request: Request) -> str:
    """The client's IP address. `X-Forwarded-For` is believed only when the app is told it
    runs behind that many reverse proxies (`TRIGGERPOINT_PROXY_HOPS`); otherwise anyone
    could claim any address and dodge per-address limits."""
    hops = get_settings().proxy_hops
    if hops:
        forwarded = [
            a.strip() for a in request.headers.get("x-forwarded-for", "").split(",") if a.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops][:64]
    return request.client.host if request.client else "unknown"


# --- per-user limits on expensive endpoints ---

GROUPS = {
    "suggest": "rate_limit_suggest",
    "pdf": "rate_limit_pdf",
    "fhir": "rate_limit_fhir",
}


class RateLimited(HTTPException):
    """429 with `Retry-After`; the default handler answers `{"detail": message}`."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, detail=message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def group_limit(group: str) -> RateLimitItem:
    return parse(getattr(get_settings(), GROUPS[group]))


def hit(session: Session, *, group: str, who: str) -> int | None:
    """Count one request of `who` (e.g. "user:7", "address:10.0.0.3") against `group`'s
    limit; None if allowed, else the seconds to wait."""
    item = group_limit(group)
    strategy = limiter(session)
    if strategy.hit(item, group, who):
        return None
    return seconds_until(strategy.get_window_stats(item, group, who).reset_time)


def rate_limit(group: str) -> Any:
    """A route dependency: `dependencies=[rate_limit("pdf")]`.

    Keyed on the logged-in user (bearer token or session cookie), or on the client address
    when there is none. It runs before the route's own authentication, in a short
    transaction of its own, and caches the principal it found on `request.state` (page
    routes then reuse it).
    """
    if group not in GROUPS:
        raise ValueError(f"unknown rate-limit group {group!r}; one of {', '.join(GROUPS)}")

    def limit_requests(request: Request) -> None:
        # accounts' lookup, which the app factory plugs in (web/app.py): accounts sits above
        # this module (its login throttle counts here), so this module does not import it
        principal = request.app.state.principal_lookup(request)
        who = (
            f"user:{principal.user_id}"
            if principal is not None
            else f"address:{client_address(request)}"
        )
        with open_session(clinic_id=None) as session:
            wait = hit(session, group=group, who=who)
            session.commit()
        if wait is not None:
            item = group_limit(group)
            raise RateLimited(
                f"too many {group} requests: at most {item.amount} per "
                f"{_window(item)}; try again in {wait} seconds",
                wait,
            )

    limit_requests.__name__ = f"rate_limit_{group}"
    return Depends(limit_requests)


def _window(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return unit if item.multiples == 1 else f"{item.multiples} {unit}s"
