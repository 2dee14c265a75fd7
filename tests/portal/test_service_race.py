"""Two submissions of one link at the same moment, each in its own transaction on its own
connection (a shared test connection cannot show a race): exactly one is stored, the other is
told the link is used (410), on both engines."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from tests.personas import add_clinic, add_person, new_patient

from triggerpoint.db import unit_of_work
from triggerpoint.errors import LinkGone
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal import service
from triggerpoint.portal.schemas import RequestIn, SubmissionIn

ANSWERS = SubmissionIn(answers={"nprs": {"current": 7}})


def test_two_submissions_at_once_store_one(fresh_db):
    with unit_of_work(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, "Race clinic")
        alice = add_person(
            s, clinic_id=clinic, username="race.alice", role="clinician", token=False
        )
    with unit_of_work(clinic_id=clinic, engine=fresh_db) as s:
        pid = new_patient(s, alice)
        _, token = service.create_request(
            s, principal=alice.principal, patient_id=pid, data=RequestIn(instruments=["nprs"])
        )

    outcome: dict[str, object] = {}
    first = unit_of_work(clinic_id=None, engine=fresh_db)
    s1 = first.__enter__()
    service.submit_request(s1, token=token, data=ANSWERS)  # claimed, not yet committed

    def second() -> None:
        try:
            with unit_of_work(clinic_id=None, engine=fresh_db) as s2:
                service.submit_request(s2, token=token, data=ANSWERS)
            outcome["second"] = "stored"
        except LinkGone as exc:
            outcome["second"] = exc.reason

    t = threading.Thread(target=second)
    t.start()
    t.join(timeout=1.0)
    assert t.is_alive() or outcome.get("second") == "submitted"  # waits for the first, or saw it
    first.__exit__(None, None, None)  # the first commits
    t.join(timeout=20)
    assert not t.is_alive()
    assert outcome["second"] == "submitted"
    with unit_of_work(clinic_id=clinic, engine=fresh_db) as s:
        assert s.scalar(select(func.count()).select_from(Measurement)) == 1
