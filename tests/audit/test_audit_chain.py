"""The audit log is hash-chained: any edited or deleted row is detected, on both engines."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from triggerpoint.audit.service import Actor, record, verify
from triggerpoint.db import open_session


def _append(engine, n: int) -> None:
    with open_session(clinic_id=None, engine=engine) as s:
        for i in range(n):
            record(
                s,
                actor=Actor(7, 1, "alice"),
                action="read",
                entity="patient",
                entity_id=i,
                detail={"i": i},
            )
        s.commit()


def _verify(engine):
    with open_session(clinic_id=None, engine=engine) as s:
        return verify(s)


def test_intact_chain_verifies(fresh_db):
    _append(fresh_db, 20)
    result = _verify(fresh_db)
    assert result.ok and result.events == 20


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        ("UPDATE audit_event SET actor = 'mallory' WHERE id = 5", "event 5: contents do not match"),
        ("UPDATE audit_event SET entity_id = '99' WHERE id = 1", "event 1: contents do not match"),
        ("DELETE FROM audit_event WHERE id = 10", "event 11: chain broken"),
        ("DELETE FROM audit_event WHERE id = 20", "newest events deleted"),
    ],
)
def test_tampering_is_detected(fresh_db, tamper, expected):
    _append(fresh_db, 20)
    with fresh_db.begin() as conn:
        conn.execute(text(tamper))
    result = _verify(fresh_db)
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems


def test_rewriting_a_row_with_a_fresh_hash_still_breaks_the_chain(fresh_db):
    _append(fresh_db, 5)
    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.audit.service import event_hash

    with open_session(clinic_id=None, engine=fresh_db) as s:
        ev = s.get(AuditEvent, 3)
        ev.actor = "mallory"
        ev.hash = event_hash(ev)  # an attacker recomputes this row's hash...
        s.commit()
    result = _verify(fresh_db)
    assert any("event 4: chain broken" in p for p in result.problems)  # ...but the next link breaks


def test_audit_rows_roll_back_with_the_change(fresh_db):
    with open_session(clinic_id=None, engine=fresh_db) as s:
        record(s, actor=Actor.system(), action="create", entity="patient", entity_id=1)
        s.rollback()
    assert _verify(fresh_db).events == 0
