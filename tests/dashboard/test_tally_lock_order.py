"""The tallies lock a measurement's patient before the measurement row goes in.

Inserting a measurement takes a KEY SHARE lock on its patient (the foreign key). When the
tallies locked the patient FOR UPDATE only after the flush, two clinicians recording for one
patient at the same moment each held a KEY SHARE the other's FOR UPDATE waited for:
PostgreSQL's "deadlock detected", a 500 that bench/load.py found (2 of 1,809 requests, 2
workers, 16 clients). Locking first makes the second writer queue instead. The order of the
statements is checked, not a race, so the test cannot pass by luck.
"""

from __future__ import annotations

from sqlalchemy import event

from tests.personas import new_patient
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.outcomes.service import record_measurement


def test_a_measurements_patient_is_locked_before_the_measurement_is_inserted(alice, engine):
    with open_session(clinic_id=alice.clinic_id) as s:
        pid = new_patient(s, alice)
        s.commit()
    seen: list[str] = []

    def capture(_conn, _cursor, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with unit_of_work(clinic_id=alice.clinic_id, engine=engine) as s:
            record_measurement(
                s,
                principal=alice.principal,
                patient_id=pid,
                data=MeasurementIn(instrument="nprs", data={"current": 4}, measured_at=utcnow()),
            )
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    insert = next(i for i, q in enumerate(seen) if q.startswith("INSERT INTO measurement"))
    lock = next(
        (i for i, q in enumerate(seen) if q.startswith("SELECT patient.id FROM patient")), None
    )
    assert lock is not None and lock < insert, seen[: insert + 3]
    if engine.dialect.name == "postgresql":
        assert seen[lock].endswith("FOR UPDATE")
