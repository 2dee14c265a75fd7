"""A clinic of demo patients for the twitch analysis: the demo generator's own patients and
care, written into a persona's clinic, research consents recorded through records.service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.conftest import Person
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.demo.generator import populate
from triggerpoint.records.models import Consent
from triggerpoint.records.service import RESEARCH
from triggerpoint.research.ltr import jobs, service


@dataclass
class Treated:
    clinic_id: int
    patients: int
    consented: int  # research consent in force
    withdrawn: int


def treat(person: Person, *, patients: int, seed: int) -> Treated:
    """`patients` demo patients in `person`'s clinic, `person` recording the consents."""
    with open_session(clinic_id=None) as s:
        populate(s, staff=person.principal, patients=patients, seed=seed)
        counts = dict(
            s.execute(
                select(Consent.status, func.count())
                .where(Consent.clinic_id == person.clinic_id, Consent.kind == RESEARCH)
                .group_by(Consent.status)
            ).all()
        )
        s.commit()
    return Treated(person.clinic_id, patients, counts.get("active", 0), counts.get("withdrawn", 0))


@pytest.fixture
def treated_a(alice) -> Treated:
    """36 demo patients of clinic A, most with research consent (rolled back after the test)."""
    return treat(alice, patients=36, seed=11)


def refit(person: Person, instrument: str = "nprs") -> None:
    """Persist a fresh fit of `person`'s clinic now, as a read and then the worker would."""
    with unit_of_work(clinic_id=person.clinic_id) as s:
        assert service.queue_refit(
            s, clinic_id=person.clinic_id, instrument=instrument, now=utcnow()
        )
    assert jobs.execute(person.clinic_id, instrument) is True


def withdraw_one(person: Person) -> int:
    """Withdraw one research consent in force in `person`'s clinic (committed); its patient."""
    from triggerpoint.records.service import withdraw_consent

    with open_session(clinic_id=person.clinic_id) as s:
        consent = s.scalars(
            select(Consent)
            .where(Consent.kind == RESEARCH, Consent.status == "active")
            .order_by(Consent.id)
            .limit(1)
        ).one()
        withdraw_consent(
            s, principal=person.principal, consent_id=consent.id, version=consent.version
        )
        s.commit()
        return consent.patient_id
