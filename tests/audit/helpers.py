"""Writing to and tampering with an audit chain, as the tests' attacker does."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, text

from triggerpoint.audit.keys import AuditKey, _key_from_secret
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import GENESIS, Actor, record, take_checkpoint, verify
from triggerpoint.db import open_session


def append(engine, n: int, *, start: int = 0, clinic_id: int = 1) -> None:
    """`n` audited reads in one transaction, by a user of `clinic_id` (its chain)."""
    with open_session(clinic_id=None, engine=engine) as s:
        for i in range(start, start + n):
            record(
                s,
                actor=Actor(7, clinic_id, "alice"),
                action="read",
                entity="patient",
                entity_id=i,
                detail={"i": i},
            )
        s.commit()


def check(engine, **kwargs):
    with open_session(clinic_id=None, engine=engine) as s:
        return verify(s, **kwargs)


def checkpoint(engine, path=None, *, chain: int | None = 1) -> dict:
    """Checkpoint every chain; returns the line of `chain` (clinic 1's: `append` writes there)."""
    (line,) = [ln for ln in checkpoint_all(engine, path) if ln["chain"] == chain]
    return line


def checkpoint_all(engine, path=None) -> list[dict]:
    with open_session(clinic_id=None, engine=engine) as s:
        lines, _ = take_checkpoint(s, path)
    return lines


def count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one()


def other_key() -> AuditKey:
    return _key_from_secret(Path(os.devnull), os.urandom(32))


def rehash(engine, hasher: Callable[[AuditEvent], str]) -> None:
    """Recompute every link and hash with `hasher`, chain by chain in order, and move each
    chain's head to match."""
    with open_session(clinic_id=None, engine=engine) as s:
        events = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        by_chain: dict[int | None, list[AuditEvent]] = {}
        for ev in events:
            by_chain.setdefault(ev.chain, []).append(ev)
        for chain, evs in by_chain.items():
            prev = GENESIS
            for ev in evs:
                ev.prev_hash = prev
                ev.hash = prev = hasher(ev)
            head = s.scalars(
                select(AuditHead).where(
                    AuditHead.chain.is_(None) if chain is None else AuditHead.chain == chain
                )
            ).one()
            head.last_hash, head.count = prev, len(evs)
        s.commit()


def cut_tail(engine, keep: int, *, chain: int = 1) -> None:
    """Delete every event after id `keep` and rewind `chain`'s head onto it."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE id > :k"), {"k": keep})
        last = conn.execute(
            text("SELECT hash FROM audit_event WHERE id = :k"), {"k": keep}
        ).scalar_one()
        left = conn.execute(
            text("SELECT count(*) FROM audit_event WHERE chain = :c"), {"c": chain}
        ).scalar_one()
        conn.execute(
            text("UPDATE audit_head SET last_hash = :h, count = :n WHERE chain = :c"),
            {"h": last, "n": left, "c": chain},
        )


def swap(engine, a: int, b: int) -> None:
    """Two events exchange places (their ids)."""
    with engine.begin() as conn:
        for old, new in ((a, 1_000_000), (b, a), (1_000_000, b)):
            conn.execute(
                text("UPDATE audit_event SET id = :new WHERE id = :old"), {"new": new, "old": old}
            )
