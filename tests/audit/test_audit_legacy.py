"""Chains written before the audit key (plain SHA-256) keep verifying once sealed by the key."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text

from tests.audit.helpers import append, check, rehash
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import EVENT_COLUMNS, GENESIS, KEYED, legacy_hash, prepare_key
from triggerpoint.db import open_session


def _old_chain(engine, n: int) -> None:
    """What the previous release wrote: SHA-256 links, no key anywhere."""
    prev, rows = GENESIS, []
    t0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    for i in range(n):
        ev = AuditEvent(
            at=t0 + timedelta(minutes=i),
            clinic_id=1,
            user_id=7,
            actor="alice",
            action="read",
            entity="patient",
            entity_id=str(i),
            detail={"i": i},
            prev_hash=prev,
        )
        ev.hash = prev = legacy_hash(ev)
        rows.append({c: getattr(ev, c) for c in EVENT_COLUMNS})
    with engine.begin() as conn:
        conn.execute(insert(AuditEvent.__table__), rows)
        conn.execute(insert(AuditHead.__table__).values(last_hash=prev, count=n))  # id 1


def _markers(engine) -> list[AuditEvent]:
    with open_session(clinic_id=None, engine=engine) as s:
        return list(
            s.scalars(
                select(AuditEvent).where(AuditEvent.action == KEYED, AuditEvent.chain.is_(None))
            )
        )


def test_old_chain_is_sealed_by_the_first_keyed_append(fresh_db, audit_files, caplog):
    _old_chain(fresh_db, 15)
    before = check(fresh_db)  # no key yet: the old events check out, but nothing seals them
    assert any("run `triggerpoint setup`" in p for p in before.problems), before.problems
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        append(fresh_db, 5)
    assert "AUDIT KEY CREATED" in caplog.text
    (marker,) = _markers(fresh_db)  # the old chain's; clinic 1's new chain has its own
    assert marker.id == 16 and marker.detail["legacy_events"] == 15
    result = check(fresh_db)
    assert result.ok, result.problems
    # 15 old + the seal (chain_keyed, chain_split), then clinic 1: its marker + 5
    assert result.events == 23 and result.legacy_events == 15
    assert [(c.chain, c.events) for c in result.chains] == [(None, 17), (1, 6)]


def test_setup_seals_an_old_chain(fresh_db, audit_files):
    _old_chain(fresh_db, 8)
    with open_session(clinic_id=None, engine=fresh_db) as s:
        assert prepare_key(s).created
    (marker,) = _markers(fresh_db)
    assert marker.detail["legacy_events"] == 8
    append(fresh_db, 2)
    result = check(fresh_db)
    assert result.ok and result.legacy_events == 8 and result.events == 13


def test_edited_old_event_is_still_detected(fresh_db, audit_files):
    _old_chain(fresh_db, 10)
    append(fresh_db, 3)
    with fresh_db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 4"))
    result = check(fresh_db)
    assert any("event 4: contents do not match its SHA-256 hash" in p for p in result.problems)


def test_old_events_rehashed_after_sealing_break_the_seal(fresh_db, audit_files):
    """Old events are SHA-256 and recomputable, but the keyed marker's MAC covers their head."""
    _old_chain(fresh_db, 10)
    append(fresh_db, 3)
    with fresh_db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 4"))
    rehash(fresh_db, legacy_hash)  # re-hashing everything: the keyed events become SHA-256
    result = check(fresh_db)
    legacy, clinic = result.chains
    # the old chain's seal (chain_keyed 11, chain_split 12), and all of clinic 1's chain
    assert any(
        "events 11-12 (2 events): re-hashed with plain SHA-256" in p for p in legacy.problems
    )
    assert any(
        "events 13-16 (4 events): re-hashed with plain SHA-256" in p for p in clinic.problems
    )
    assert legacy.first_broken_event == 11 and clinic.first_broken_event == 13
