"""The data layer's clinic isolation (db.py), on both engines: reads, flushes and bulk statements."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import delete, func, insert, select, update

from triggerpoint.db import IsolationError, open_session
from triggerpoint.records.models import PainDrawing, PainMark, Patient


def _patient_with_drawing(clinic_id: int, family: str) -> tuple[int, int]:
    with open_session(clinic_id=clinic_id) as s:
        p = Patient(
            given_name="Iso",
            family_name=family,
            search_name=f"{family.lower()} iso",
            date_of_birth=date(1980, 1, 1),
            sex="female",
        )
        s.add(p)
        s.flush()
        d = PainDrawing(patient_id=p.id, complete=True)
        s.add(d)
        s.commit()
        return p.id, d.id


def _marks(drawing_id: int) -> int:
    with open_session(clinic_id=None) as s:
        return s.scalar(select(func.count()).where(PainMark.drawing_id == drawing_id))


def test_bulk_insert_rows_join_the_sessions_clinic(world):
    _, drawing = _patient_with_drawing(world.clinic_a, "Bulkfill")
    with open_session(clinic_id=world.clinic_a) as s:
        s.execute(insert(PainMark), [{"drawing_id": drawing, "region_id": "right_eye"}])
        s.commit()
    with open_session(clinic_id=None) as s:
        assert s.scalar(select(PainMark.clinic_id).where(PainMark.drawing_id == drawing)) == (
            world.clinic_a
        )


def test_bulk_insert_into_another_clinic_is_refused_and_writes_nothing(world):
    _, drawing = _patient_with_drawing(world.clinic_a, "Bulkrefuse")
    rows = [
        {"drawing_id": drawing, "region_id": "right_eye"},
        {"drawing_id": drawing, "region_id": "left_eye", "clinic_id": world.clinic_b},
    ]
    with open_session(clinic_id=world.clinic_a) as s, pytest.raises(IsolationError):
        s.execute(insert(PainMark), rows)
    assert _marks(drawing) == 0


def test_bulk_update_and_delete_cannot_reach_another_clinic(world):
    theirs, _ = _patient_with_drawing(world.clinic_b, "Bulkreach")
    with open_session(clinic_id=world.clinic_a) as s:
        changed = s.execute(
            update(Patient).where(Patient.id == theirs).values(given_name="Changed")
        ).rowcount
        deleted = s.execute(delete(PainDrawing).where(PainDrawing.patient_id == theirs)).rowcount
        s.commit()
    assert (changed, deleted) == (0, 0)
    with open_session(clinic_id=world.clinic_b) as s:
        assert s.get(Patient, theirs).given_name == "Iso"
        assert s.scalar(select(func.count()).where(PainDrawing.patient_id == theirs)) == 1


def test_column_selects_are_confined_too(world):
    """records.service.require_record selects only an id: the clinic filter must still apply."""
    theirs, _ = _patient_with_drawing(world.clinic_b, "Colsel")
    with open_session(clinic_id=world.clinic_a) as s:
        assert s.scalar(select(Patient.id).where(Patient.id == theirs)) is None
    with open_session(clinic_id=world.clinic_b) as s:
        assert s.scalar(select(Patient.id).where(Patient.id == theirs)) == theirs
