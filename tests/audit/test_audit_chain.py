"""The audit log is a chain of HMACs: any edited or deleted row is detected, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.audit.helpers import append, check, checkpoint
from triggerpoint.audit.models import AuditEvent
from triggerpoint.audit.service import KEYED, Actor, record
from triggerpoint.db import open_session

pytestmark = pytest.mark.usefixtures("audit_files")


def test_intact_chain_verifies(fresh_db):
    append(fresh_db, 20)
    result = check(fresh_db)
    assert result.ok and result.events == 21, result.problems  # 20 and the chain_keyed event
    with open_session(clinic_id=None, engine=fresh_db) as s:
        first = s.scalars(select(AuditEvent).order_by(AuditEvent.id)).first()
    assert first.action == KEYED and first.detail["legacy_events"] == 0


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE audit_event SET actor = 'mallory' WHERE id = 5", "event 5: contents do not match"),
        ("UPDATE audit_event SET entity_id = '99' WHERE id = 2", "event 2: contents do not match"),
        ("UPDATE audit_event SET detail = '{}' WHERE id = 1", "event 1: contents do not match"),
        ("DELETE FROM audit_event WHERE id = 10", "event 11: chain broken"),
        ("DELETE FROM audit_event WHERE id = 1", "event 2: chain broken"),
        ("DELETE FROM audit_event WHERE id = 21", "newest events deleted"),
    ],
)
def test_tampering_is_detected(fresh_db, tamper, expected):
    append(fresh_db, 20)
    with fresh_db.begin() as conn:
        conn.execute(text(tamper))
    result = check(fresh_db)
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems


def test_rewriting_a_row_with_a_fresh_mac_still_breaks_the_chain(fresh_db):
    """Even with the key, a rewritten row's new MAC breaks the link of the row after it."""
    append(fresh_db, 5)
    from triggerpoint.audit.service import event_hash

    with open_session(clinic_id=None, engine=fresh_db) as s:
        ev = s.get(AuditEvent, 3)
        ev.actor = "mallory"
        ev.hash = event_hash(ev)  # someone holding the key recomputes this row's MAC...
        s.commit()
    result = check(fresh_db)
    assert any("event 4: chain broken" in p for p in result.problems)  # ...but the next link breaks


def test_audit_rows_roll_back_with_the_change(fresh_db):
    with open_session(clinic_id=None, engine=fresh_db) as s:
        record(s, actor=Actor.system(), action="create", entity="patient", entity_id=1)
        s.rollback()
    assert check(fresh_db).events == 0


def test_appending_in_a_second_transaction_extends_the_chain(fresh_db):
    append(fresh_db, 3)
    first = check(fresh_db)
    assert first.ok and first.events == 4
    checkpoint(fresh_db)
    append(fresh_db, 4, start=3)
    with open_session(clinic_id=None, engine=fresh_db) as s:  # and a third, in another session
        record(s, actor=Actor.system(), action="create", entity="patient", entity_id=99)
        s.commit()
    result = check(fresh_db)
    # clinic 1: 1 marker + 3 + the checkpoint event + 4; the checkpoint (at 4) still matches.
    # The system event starts the system chain: its own marker + 1.
    assert result.ok and result.events == 11, result.problems
    assert [(c.chain, c.events, c.ok) for c in result.chains] == [(0, 2, True), (1, 9, True)]
    assert result.checkpoints == 1 and not result.warnings
    with open_session(clinic_id=None, engine=fresh_db) as s:
        keyed = s.scalars(select(AuditEvent).where(AuditEvent.action == KEYED)).all()
        seqs = s.execute(
            select(AuditEvent.seq).where(AuditEvent.chain == 1).order_by(AuditEvent.id)
        ).scalars()
        assert list(seqs) == list(range(1, 10))  # numbered on across transactions
    # later transactions chain on; only a new chain gets a marker, one per chain
    assert sorted(k.chain for k in keyed) == [0, 1]
