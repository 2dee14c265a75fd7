"""The admin's audit log page: its filter read from the query string, one page of the clinic's
events, and the chain's last verdict.

The route itself is `/admin/audit` in `accounts/router.py`: it needs the page principal
(`accounts.deps`), and accounts imports audit (every account action is audited), so a route
here would make a cycle of packages. This module holds what the page shows and how it reads
its filter; the events come from `audit.service` (`clinic_events`, `verify`).

Verifying recomputes every MAC of the clinic's own chain (issue 19: one chain per clinic, so
a clinic's page neither waits for nor reports on other clinics' events). Measured on SQLite on the 2-core development machine, 50,001 events took 10.4 s (about
4,800 a second). So the page verifies by itself only while nothing is known yet and the
chain has at most VERIFY_ON_VIEW events (about a second); otherwise it shows the last
verdict this server process reached, how many events came after it, and a "Verify now"
button (which takes as long as it takes: `triggerpoint audit verify` is the tool for big
chains).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.audit.keys import AuditKeyError
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import (
    EventFilter,
    VerifyResult,
    chain_of,
    clinic_actions,
    clinic_events,
)
from triggerpoint.audit.service import verify as verify_chain
from triggerpoint.db import utcnow
from triggerpoint.inputs import EARLIEST_DATE, LATEST_DATE
from triggerpoint.ui import localtime

PAGE_SIZE = 50
VERIFY_ON_VIEW = 5_000  # a chain up to this many events is verified when the page opens
MAX_TEXT = {"action": 40, "entity": 40, "entity_id": 64}  # the columns' widths
MAX_ID = 2**31 - 1
FILTER_FIELDS = ("user", "action", "entity", "entity_id", "since", "until")


@dataclass(frozen=True)
class ChainStatus:
    """The chain's verdict: ok, the problems and warnings (the first few), when, over how
    many events, and whether events were appended since (`events_now`)."""

    ok: bool
    events: int
    events_now: int
    at: datetime
    problems: list[str]
    warnings: list[str]
    error: str | None = None  # the audit key could not be used

    @property
    def stale(self) -> bool:
        return self.events_now != self.events


_last: dict[tuple[str, int], ChainStatus] = {}  # (database URL, chain) -> the last verdict


@dataclass
class AuditQuery:
    """The page's filter as typed (to show back in the form) and as parsed."""

    raw: dict[str, str]
    where: EventFilter = field(default_factory=EventFilter)
    before_id: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def link(self, **changes: str | int | None) -> str:
        """The query string of this filter with `changes` (None drops a key)."""
        from urllib.parse import urlencode

        params = {k: v for k, v in self.raw.items() if v and k in FILTER_FIELDS}
        params |= {k: str(v) for k, v in changes.items() if v is not None}
        return "?" + urlencode(params) if params else "?"


def _text(raw: dict[str, str], name: str, errors: dict[str, str]) -> str | None:
    value = raw.get(name, "").strip()
    if not value:
        return None
    if len(value) > MAX_TEXT[name] or not value.isprintable():
        errors[name] = f"at most {MAX_TEXT[name]} printable characters"
        return None
    return value


def _day(raw: dict[str, str], name: str, errors: dict[str, str]) -> date | None:
    value = raw.get(name, "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        errors[name] = "must be a date, YYYY-MM-DD"
    elif not EARLIEST_DATE <= day <= LATEST_DATE:
        errors[name] = f"must be between {EARLIEST_DATE} and {LATEST_DATE}"
        day = None
    return day


def _start_of(day: date) -> datetime:
    """Midnight of `day` in the clinic's zone (what a person means by "from that day")."""
    return datetime.combine(day, time(), tzinfo=localtime.clinic_zone())


def parse_query(raw: dict[str, str], users: dict[str, int]) -> AuditQuery:
    """Read the filter; each bad value is named in `errors` (the page shows them, 422),
    never raised. `users`: the clinic's usernames and ids (a name from elsewhere is
    unknown here). Dates are whole days in the clinic's zone, `until` included."""
    errors: dict[str, str] = {}
    user_id = None
    if username := raw.get("user", "").strip():
        user_id = users.get(username.lower())
        if user_id is None:
            errors["user"] = f"no user called {username[:80]!r} in this clinic"
    since, until = _day(raw, "since", errors), _day(raw, "until", errors)
    if since and until and since > until:
        errors["until"] = "must not be before the start date"
    before_id = None
    if before := raw.get("before", "").strip():
        if before.isdigit() and 1 <= int(before) <= MAX_ID:
            before_id = int(before)
        else:
            errors["before"] = "must be an event id (a whole number)"
    where = EventFilter(
        user_id=user_id,
        action=_text(raw, "action", errors),
        entity=_text(raw, "entity", errors),
        entity_id=_text(raw, "entity_id", errors),
        since=_start_of(since) if since else None,
        until=_start_of(until + timedelta(days=1)) if until else None,
    )
    return AuditQuery(raw=raw, where=where, before_id=before_id, errors=errors)


def _detail(event: AuditEvent) -> str:
    text = json.dumps(event.detail or {}, sort_keys=True, ensure_ascii=False, default=str)
    return "" if text == "{}" else text if len(text) <= 300 else text[:299] + "…"


def _events_now(session: Session, chain: int) -> int:
    return session.scalar(select(AuditHead.count).where(AuditHead.chain == chain)) or 0


def chain_status(session: Session, *, refresh: bool = False) -> ChainStatus | None:
    """The verdict on the session's clinic's chain: verified now when asked (`refresh`) or
    when nothing is known yet and the chain is small; else the last one this process reached
    (None: none yet).

    In the request's own session: on SQLite a second one would wait for the write lock the
    request's transaction holds. Verifying detaches what it read (`expunge_all`), so call it
    after the page's other reads."""
    chain = chain_of(session.info.get("clinic_id"))
    url = session.get_bind().engine.url.render_as_string(hide_password=True)
    count = _events_now(session, chain)
    last = _last.get((url, chain))
    if refresh or (last is None and count <= VERIFY_ON_VIEW):
        last = _last[(url, chain)] = _verify(session, count, chain)
    if last is None:
        return None
    return ChainStatus(
        last.ok, last.events, count, last.at, last.problems, last.warnings, last.error
    )


def _verify(session: Session, count: int, chain: int) -> ChainStatus:
    try:
        result: VerifyResult = verify_chain(session, chains=[chain])
    except AuditKeyError as exc:
        return ChainStatus(False, count, count, utcnow(), [], [], error=str(exc))
    return ChainStatus(
        result.ok, result.events, result.events, utcnow(), result.problems[:20], result.warnings
    )


def page_context(session: Session, *, clinic_id: int, query: AuditQuery) -> dict[str, Any]:
    """What the audit log template shows: the events (none while the filter has errors),
    the link to the next (older) page, the filter's choices and the chain's verdict."""
    rows: list[AuditEvent] = []
    if not query.errors:
        rows = clinic_events(
            session,
            clinic_id=clinic_id,
            where=query.where,
            before_id=query.before_id,
            limit=PAGE_SIZE,
        )
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return {
        "events": [(ev, _detail(ev)) for ev in rows],
        "older": query.link(before=rows[-1].id) if more else None,
        "newest": query.link() if query.before_id else None,
        "query": query,
        "actions": clinic_actions(session, clinic_id=clinic_id),
        "chain": chain_status(session),
        "page_size": PAGE_SIZE,
    }
