"""Two clinicians write to one needling session at the same moment, each in a transaction of
its own on its own connection (a shared test connection cannot show a race), on both engines.

The session row is the lock (`treatment.service._open`): without it, PostgreSQL let two
needles take the same number (a 500 from the unique constraint) and let a needle be charted
into a session that was being signed.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.db import unit_of_work
from triggerpoint.errors import Conflict
from triggerpoint.models import NeedleEntry, NeedlingSession
from triggerpoint.treatment import service
from triggerpoint.treatment.schemas import CountIn, EntryIn, SignIn


@pytest.fixture
def clinic(app_client, world) -> Clinic:
    return Clinic(app_client, world.clinician_a)


def _race(engine, clinic_id: int, first, second) -> dict[str, object]:
    """Run `first` in an open transaction, start `second` meanwhile, then commit the first."""
    outcome: dict[str, object] = {}
    tx = unit_of_work(clinic_id=clinic_id, engine=engine)
    first(tx.__enter__())

    def run_second() -> None:
        try:
            with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
                outcome["second"] = second(s)
        except Conflict as exc:
            outcome["second"] = exc

    t = threading.Thread(target=run_second)
    t.start()
    t.join(timeout=1.0)
    outcome["waited"] = t.is_alive()
    tx.__exit__(None, None, None)
    t.join(timeout=30)
    assert not t.is_alive()
    return outcome


def _seqs(engine, clinic_id: int, sid: int) -> list[int]:
    with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
        q = select(NeedleEntry.seq).where(NeedleEntry.needling_id == sid).order_by(NeedleEntry.seq)
        return list(s.scalars(q))


def test_two_needles_charted_at_once_are_numbered_one_and_two(clinic, engine, world):
    _, _, sid = clinic.ready()
    who = world.clinician_a.principal

    def chart(s):
        return service.add_entry(s, principal=who, needling_id=sid, data=EntryIn(**TRAP)).seq

    outcome = _race(engine, world.clinic_a, chart, chart)
    assert outcome["waited"]  # the second needle waited for the first's transaction
    assert outcome["second"] == 2
    assert _seqs(engine, world.clinic_a, sid) == [1, 2]


def test_a_needle_charted_while_the_session_is_being_signed_is_refused(clinic, engine, world):
    _, _, sid = clinic.ready()
    who = world.clinician_a.principal
    with unit_of_work(clinic_id=world.clinic_a, engine=engine) as s:
        service.record_count(s, principal=who, needling_id=sid, data=CountIn(needles_out=0))
        version = s.get(NeedlingSession, sid).version

    def sign(s):
        service.sign(s, principal=who, needling_id=sid, data=SignIn(version=version))

    def chart(s):
        return service.add_entry(s, principal=who, needling_id=sid, data=EntryIn(**TRAP))

    outcome = _race(engine, world.clinic_a, sign, chart)
    assert isinstance(outcome["second"], Conflict)
    assert "signed" in str(outcome["second"])
    assert _seqs(engine, world.clinic_a, sid) == []  # the signed record holds no late needle
