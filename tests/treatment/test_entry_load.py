"""Charting a needle reads what its rules need, not the whole session (issue 19).

`add_entry` locks the needling session without its eager collections: the entries are read
(for the needle's number) after the lock, and the targets, adverse events and addenda are
not read at all. The statements sent to the database say so; the plain lock, the control,
reads all four.
"""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.db import open_session
from triggerpoint.treatment import service
from triggerpoint.treatment.schemas import EntryIn, TargetIn

UNUSED = ("planned_target", "adverse_event", "addendum")


@contextmanager
def statements(engine):
    sent: list[str] = []

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        sent.append(" ".join(statement.split()).lower())

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def _reads(sent: list[str], table: str) -> bool:
    return any(s.startswith("select") and f"from {table}" in s for s in sent)


def test_charting_a_needle_reads_the_entries_not_the_other_collections(app_client, alice, engine):
    _, _, sid = Clinic(app_client, alice).ready()
    with open_session(clinic_id=alice.clinic_id) as s:
        service.add_target(
            s,
            principal=alice.principal,
            needling_id=sid,
            data=TargetIn(muscle="upper trapezius", side="left"),
        )
        service.add_entry(s, principal=alice.principal, needling_id=sid, data=EntryIn(**TRAP))
        s.commit()
    with open_session(clinic_id=alice.clinic_id) as s, statements(engine) as sent:
        entry = service.add_entry(
            s, principal=alice.principal, needling_id=sid, data=EntryIn(**TRAP)
        )
        assert entry.seq == 2  # numbered after the entry read once the row was locked
    assert _reads(sent, "needle_entry")
    assert not [t for t in UNUSED if _reads(sent, t)], sent
    with open_session(clinic_id=alice.clinic_id) as s, statements(engine) as sent:
        service._open(s, alice.principal, sid)  # the control: the plain lock reads them all
    assert all(_reads(sent, t) for t in UNUSED), sent
