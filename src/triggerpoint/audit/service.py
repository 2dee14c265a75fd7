"""Append to and verify the hash-chained audit log.

Each event's hash covers its own fields and the previous event's hash, so editing a row breaks
its hash and deleting one breaks the link after it. The head row (newest hash and count) makes
deleting the newest rows detectable too. Appends lock the head row, which serialises writers
across processes on PostgreSQL (SQLite serialises writers anyway).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import Connection, event, insert, select, update
from sqlalchemy.orm import Session

from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.db import utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: a user of a clinic, or the system (CLI setup, migrations)."""

    user_id: int | None
    clinic_id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, None, label)


def _canonical(event: AuditEvent) -> str:
    at = event.at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [
        at,
        event.clinic_id,
        event.user_id,
        event.actor,
        event.action,
        event.entity,
        event.entity_id,
        event.detail,
    ]
    return json.dumps(
        [*fields, event.prev_hash], sort_keys=True, separators=(",", ":"), default=str
    )


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(_canonical(event).encode("utf-8")).hexdigest()


HEAD = AuditHead.__table__
EVENTS = AuditEvent.__table__


def _lock_head(conn: Connection) -> tuple[str, int]:
    """The newest hash and the event count, with the head row locked until commit."""
    row = conn.execute(
        select(HEAD.c.last_hash, HEAD.c.count).where(HEAD.c.id == 1).with_for_update()
    ).one_or_none()
    if row is None:
        conn.execute(insert(HEAD).values(id=1, last_hash=GENESIS, count=0))
        return GENESIS, 0
    return row.last_hash, row.count


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Queue one event in the caller's transaction; it is chained and written at commit.

    Writing the transaction's events together takes the head lock once, late, and briefly,
    and a rolled-back transaction leaves no audit rows behind (nothing happened).
    """
    event = AuditEvent(
        at=utcnow(),
        clinic_id=actor.clinic_id,
        user_id=actor.user_id,
        actor=actor.label,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail or {},
    )
    session.info.setdefault(_PENDING, []).append(event)
    return event


_PENDING = "audit_pending"
EVENT_COLUMNS = (
    "at",
    "clinic_id",
    "user_id",
    "actor",
    "action",
    "entity",
    "entity_id",
    "detail",
    "prev_hash",
    "hash",
)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[AuditEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    # Core statements on the session's connection: append-only rows and one counter need
    # none of the unit of work's bookkeeping, and this runs on every audited request.
    conn = session.connection()
    prev, count = _lock_head(conn)
    rows = []
    for ev in pending:
        ev.prev_hash = prev
        ev.hash = prev = event_hash(ev)
        rows.append({c: getattr(ev, c) for c in EVENT_COLUMNS})
    conn.execute(insert(EVENTS), rows)
    conn.execute(
        update(HEAD).where(HEAD.c.id == 1).values(last_hash=prev, count=count + len(pending))
    )
    if (stale := session.identity_map.get(session.identity_key(AuditHead, 1))) is not None:
        session.expire(stale)  # a head loaded earlier in this session (verify) is now old


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_PENDING, None)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    problems: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "problems": self.problems}


def verify(session: Session, *, batch: int = 5000) -> VerifyResult:
    """Recompute the chain; report every edited, deleted or reordered event."""
    problems: list[str] = []
    prev, count, last_id = GENESIS, 0, 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for ev in rows:
            if ev.prev_hash != prev:
                problems.append(
                    f"event {ev.id}: chain broken (an earlier event was deleted or edited)"
                )
            if event_hash(ev) != ev.hash:
                problems.append(f"event {ev.id}: contents do not match its hash (edited)")
            prev, count, last_id = ev.hash, count + 1, ev.id
        session.expunge_all()
    head = session.get(AuditHead, 1)
    if head is not None and (head.count != count or head.last_hash != prev):
        problems.append(
            f"head expects {head.count} events ending in {head.last_hash[:12]}…, found {count} (newest events deleted?)"
        )
    return VerifyResult(not problems, count, problems)
