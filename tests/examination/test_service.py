"""The rules of `examination.service`, called as the FHIR import and the pages call them:
each test is one clinical sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session
from triggerpoint.errors import Forbidden, InvalidInput
from triggerpoint.examination import service
from triggerpoint.examination.models import PalpationFinding
from triggerpoint.examination.schemas import FindingIn
from triggerpoint.inference.service import suggest


def _record(alice, visit_id: int, **fields) -> object:
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.record_finding(
            s, principal=alice.principal, visit_id=visit_id, data=FindingIn(**fields)
        )
        s.commit()
        return out


def test_a_finding_keeps_the_time_it_was_found_when_imported(alice, visit_id):
    at = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    with open_session(clinic_id=alice.clinic_id) as s:
        out = service.record_finding(
            s,
            principal=alice.principal,
            visit_id=visit_id,
            data=FindingIn(site="left infraspinatus", finding="tender"),
            recorded_at=at,
        )
        s.commit()
    assert out.recorded_at == at and out.recorded_by_id == alice.principal.user_id


def test_the_audit_names_the_site_and_the_finding_but_not_the_note(alice, visit_id):
    out = _record(alice, visit_id, site="right upper trapezius", finding="familiar", note="secret")
    with open_session(clinic_id=None) as s:
        event = s.scalar(
            select(AuditEvent).where(
                AuditEvent.entity == "palpation_finding", AuditEvent.entity_id == str(out.id)
            )
        )
    assert event is not None and event.action == "create"
    assert event.detail == {
        "visit_id": visit_id,
        "site": "right upper trapezius",
        "finding": "familiar",
    }


def test_a_caller_that_skips_the_schema_still_cannot_store_another_value(alice, visit_id):
    data = FindingIn.model_construct(
        site="right upper trapezius",
        finding="active",
        muscle_id=None,
        side=None,
        trigger_point_id=None,
        twitch=None,
        referral=None,
        note=None,
    )
    with open_session(clinic_id=alice.clinic_id) as s, pytest.raises(InvalidInput) as exc:
        service.record_finding(s, principal=alice.principal, visit_id=visit_id, data=data)
    assert exc.value.field == "finding"


def test_an_assistant_may_not_record_through_the_service_either(bob, visit_id):
    with open_session(clinic_id=bob.clinic_id) as s, pytest.raises(Forbidden):
        service.record_finding(
            s,
            principal=bob.principal,
            visit_id=visit_id,
            data=FindingIn(site="right upper trapezius", finding="none"),
        )


def test_the_engine_reads_the_visits_findings_as_recorded(alice, visit_id):
    pain = ["right temple", "right upper posterior neck"]
    plain = suggest({"pain": pain, "complete": True}, top=40)
    other = next(c for c in plain.candidates if c.muscle_id != "upper_trapezius")
    _record(alice, visit_id, site="right upper trapezius tp1", finding="familiar", twitch=True)
    _record(alice, visit_id, muscle_id=other.muscle_id, side=other.side, finding="none")
    with open_session(clinic_id=alice.clinic_id) as s:
        palpation = service.palpation_for_visit(s, visit_id=visit_id)
    assert palpation == [
        {
            "muscle_id": "upper_trapezius",
            "side": "right",
            "trigger_point_id": "tp1",
            "finding": "familiar",
            "twitch": True,
            "referral": None,
        },
        {
            "muscle_id": other.muscle_id,
            "side": other.side,
            "finding": "none",
            "twitch": None,
            "referral": None,
        },
    ]
    palpated = suggest({"pain": pain, "complete": True, "palpation": palpation}, top=40)
    p = {c.uid: c.probability for c in plain.candidates}
    q = {c.uid: c.probability for c in palpated.candidates}
    trap = "upper_trapezius.tp1.right"
    assert q[trap] > p[trap]  # familiar pain reproduced there makes it likelier active
    # nothing found anywhere in that muscle-side: each of its points is less likely active
    assert q.get(other.uid, 0.0) < p[other.uid]
    with open_session(clinic_id=None) as s:
        rows = s.scalars(select(PalpationFinding).where(PalpationFinding.visit_id == visit_id))
        assert len(list(rows)) == 2
