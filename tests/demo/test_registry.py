"""The bulk registry: complete patients, consistent rows, and ids that later inserts can follow."""

from __future__ import annotations

from sqlalchemy import func, select

from triggerpoint.accounts.service import Principal
from triggerpoint.db import get_engine, open_session
from triggerpoint.demo.registry import VISITS_PER_PATIENT, generate
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records import schemas, service
from triggerpoint.treatment.models import AdverseEvent, NeedleEntry, NeedlingSession


def test_registry_rows_are_complete_and_consistent(db_url, world):
    result = generate(get_engine(), sessions=100, seed=5, batch_patients=7)
    assert result.patients == 100 // VISITS_PER_PATIENT and result.sessions == 100
    with open_session(clinic_id=None) as s:
        cid = result.clinic_id
        n_sessions = s.scalar(
            select(func.count())
            .select_from(NeedlingSession)
            .where(NeedlingSession.clinic_id == cid)
        )
        assert n_sessions == 100
        # Every session's needle count balances its entries.
        unbalanced = s.execute(
            select(NeedlingSession.id)
            .join(NeedleEntry, NeedleEntry.needling_id == NeedlingSession.id)
            .where(NeedlingSession.clinic_id == cid)
            .group_by(NeedlingSession.id, NeedlingSession.needles_out)
            .having(func.count(NeedleEntry.id) != NeedlingSession.needles_out)
        ).all()
        assert unbalanced == []
        pre_post = s.execute(
            select(Measurement.timing, func.count())
            .where(Measurement.clinic_id == cid)
            .group_by(Measurement.timing)
        ).all()
        assert dict(pre_post) == {"pre": 100, "post": 100}
        ae = s.scalar(
            select(func.count()).select_from(AdverseEvent).where(AdverseEvent.clinic_id == cid)
        )
        assert ae == result.rows["adverse_event"]


def test_ordinary_inserts_still_work_after_the_bulk_ids(db_url, world):
    generate(get_engine(), sessions=10, seed=6)
    clinician = world.clinician_a.principal
    with open_session(clinic_id=clinician.clinic_id) as s:
        p = service.create_patient(
            s,
            principal=Principal(
                clinician.user_id, clinician.clinic_id, clinician.username, "clinician"
            ),
            data=schemas.PatientIn(
                given_name="After", family_name="Registry", date_of_birth="1980-01-01", sex="female"
            ),
        )
        s.commit()
        assert p.id > 0


def test_nothing_in_the_registry_is_dated_after_it_was_generated(db_url, world):
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from triggerpoint.db import open_session
    from triggerpoint.outcomes.models import Measurement
    from triggerpoint.records.models import Visit
    from triggerpoint.treatment.models import NeedlingSession

    before = datetime.now(UTC)
    result = generate(get_engine(), sessions=60, seed=7, batch_patients=5)
    with open_session(clinic_id=None) as s:
        for column in (Visit.visit_at, Measurement.measured_at, NeedlingSession.signed_at):
            latest = s.scalar(
                select(func.max(column)).where(column.class_.clinic_id == result.clinic_id)
            )
            assert latest is not None
            assert (latest if latest.tzinfo else latest.replace(tzinfo=UTC)) <= before, column
