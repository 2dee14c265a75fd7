"""A clinic of demo patients for the twitch analysis: the demo generator's own patients and
care, written into a persona's clinic, research consents recorded through records.service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from tests.conftest import Person
from triggerpoint.db import open_session
from triggerpoint.demo.generator import populate
from triggerpoint.records.models import Consent
from triggerpoint.records.service import RESEARCH


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
