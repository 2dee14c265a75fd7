"""The demo clinic lies in the past: nothing it seeds is dated after the moment it was seeded,
and its newest visit is recent enough that the demo looks like a clinic in use (issue 14)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from triggerpoint.db import open_session
from triggerpoint.demo.generator import RECENT_DAYS, seed
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Episode, PainDrawing, Visit
from triggerpoint.treatment.models import (
    AdverseEvent,
    NeedlingSession,
    Screening,
    ScreeningConfirmation,
)

# Every clinical moment the demo writes: what a clinician would see dated on a page.
MOMENTS = [
    Visit.visit_at,
    PainDrawing.drawn_at,
    Measurement.measured_at,
    Screening.screened_at,
    ScreeningConfirmation.confirmed_at,
    Consent.signed_at,
    NeedlingSession.opened_at,
    NeedlingSession.signed_at,
    AdverseEvent.reported_at,
]


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite gives naive UTC


@pytest.fixture
def demo(db):
    """A demo clinic of 8 patients in this test's rolled-back database, and when it began."""
    before = datetime.now(UTC)
    with open_session(clinic_id=None) as s:
        result = seed(s, patients=8, seed=11)
        s.commit()
    return result.clinic_id, before


@pytest.mark.parametrize("column", MOMENTS, ids=lambda c: f"{c.class_.__name__}.{c.key}")
def test_nothing_is_dated_after_the_seed(demo, column):
    clinic_id, before = demo
    entity = column.class_
    with open_session(clinic_id=None) as s:
        rows = s.scalars(select(column).where(entity.clinic_id == clinic_id)).all()
    moments = [_aware(at) for at in rows if at is not None]
    assert moments, f"the demo wrote no {entity.__name__}"
    assert max(moments) <= before, max(moments)


def test_onsets_are_not_in_the_future(demo):
    clinic_id, before = demo
    with open_session(clinic_id=None) as s:
        latest = s.scalar(
            select(func.max(Episode.onset_date)).where(Episode.clinic_id == clinic_id)
        )
    assert latest is not None and latest <= before.date()


def test_the_newest_visit_is_recent(demo):
    """A demo whose patients were all last seen a year ago would look abandoned."""
    clinic_id, before = demo
    with open_session(clinic_id=None) as s:
        newest = s.scalar(select(func.max(Visit.visit_at)).where(Visit.clinic_id == clinic_id))
    assert newest is not None
    assert before - timedelta(days=RECENT_DAYS + 1) <= _aware(newest) <= before


def test_visits_keep_their_weekly_rhythm(demo):
    """Dating the course backwards from its last visit keeps the visits in order, about a
    week apart, as before."""
    clinic_id, _ = demo
    with open_session(clinic_id=None) as s:
        rows = s.execute(
            select(Visit.patient_id, Visit.visit_at)
            .where(Visit.clinic_id == clinic_id)
            .order_by(Visit.patient_id, Visit.visit_at)
        ).all()
    by_patient: dict[int, list[datetime]] = {}
    for pid, at in rows:
        by_patient.setdefault(pid, []).append(_aware(at))
    gaps = [b - a for ats in by_patient.values() for a, b in itertools.pairwise(ats)]
    assert gaps and all(timedelta(days=5) <= g <= timedelta(days=9) for g in gaps), gaps
