"""The demo's visits carry SOAP notes, written through notes.service and signed with the
visit's needling session."""

from __future__ import annotations

from sqlalchemy import select

from triggerpoint.db import open_session
from triggerpoint.demo.generator import seed
from triggerpoint.notes.models import SoapNote
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Visit
from triggerpoint.treatment.models import NeedlingSession


def test_every_demo_visit_has_a_signed_note_matching_its_session(db):
    with open_session(clinic_id=None) as s:
        clinic_id = seed(s, patients=3, seed=11).clinic_id
        s.flush()
        visits = s.scalars(select(Visit).where(Visit.clinic_id == clinic_id)).all()
        notes = {n.visit_id: n for n in s.scalars(select(SoapNote)) if n.clinic_id == clinic_id}
        assert visits and set(notes) == {v.id for v in visits}
        for v in visits:
            note = notes[v.id]
            needling = s.scalar(select(NeedlingSession).where(NeedlingSession.visit_id == v.id))
            pre = s.scalar(
                select(Measurement.score).where(
                    Measurement.visit_id == v.id,
                    Measurement.instrument == "nprs",
                    Measurement.timing == "pre",
                )
            )
            assert note.status == "signed" and note.signed_at == needling.signed_at
            assert note.signed_by == needling.signed_by and note.patient_id == v.patient_id
            assert note.pain_now_nprs == int(pre) and note.red_flags_checked is True
            assert note.subjective and note.assessment and note.plan
            assert "tp1" not in (note.plan or "")  # names, never atlas ids
