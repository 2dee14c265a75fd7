"""Completion rate per instrument of questionnaire requests, against counts made by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.personas import new_clinic, new_patient, new_person
from triggerpoint.dashboard.service import clinic_dashboard, completion_rates
from triggerpoint.db import open_session
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.safety.stats import wilson

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
# (instruments, pain drawing, status, sent)
REQUESTS = [
    (["nprs", "ndi"], True, "submitted", True),
    (["nprs", "ndi"], False, "submitted", True),
    (["nprs"], True, "expired", True),
    (["nprs", "odi"], False, "open", True),
    (["nprs", "ndi"], True, "cancelled", False),  # withdrawn before sending: not counted
    (["ndi"], False, "cancelled", True),  # cancelled after it reached the patient: counted
    (["nprs"], False, "submitted", False),  # a QR handed over in the clinic, never "sent"
]


@pytest.fixture
def clinic_requests(db_url):
    clinic = new_clinic("Completion clinic")
    person = new_person(clinic, "clinician")
    with open_session(clinic_id=clinic) as s:
        pid = new_patient(s, person)
        for k, (instruments, drawing, status, sent) in enumerate(REQUESTS):
            s.add(
                QuestionnaireRequest(
                    patient_id=pid,
                    instruments=instruments,
                    pain_drawing=drawing,
                    token_hash=f"{clinic:08d}{k:056d}",
                    status=status,
                    created_at=T0,
                    expires_at=T0 + timedelta(days=7),
                    sent_at=T0 if sent else None,
                    submitted_at=T0 + timedelta(days=1) if status == "submitted" else None,
                    channel="email" if sent else "qr",
                )
            )
        s.commit()
    return clinic, person


def test_completion_per_instrument_matches_hand_counts(clinic_requests):
    clinic, _ = clinic_requests
    with open_session(clinic_id=clinic) as s:
        listed = completion_rates(s, clinic_id=clinic)
    rows = {r["instrument"]: r for r in listed}
    # nprs: requests 0,1,2,3,6 sent (4 is cancelled unsent); submitted 0,1,6; open 3.
    assert (rows["nprs"]["sent"], rows["nprs"]["submitted"], rows["nprs"]["open"]) == (5, 3, 1)
    assert rows["nprs"]["rate"] == pytest.approx(3 / 5)
    assert rows["nprs"]["ci95"] == pytest.approx(list(wilson(3, 5)))
    # ndi: 0, 1 submitted and 5 (cancelled after sending) not returned.
    assert (rows["ndi"]["sent"], rows["ndi"]["submitted"]) == (3, 2)
    assert (rows["odi"]["sent"], rows["odi"]["submitted"], rows["odi"]["open"]) == (1, 0, 1)
    assert (rows["pain_drawing"]["sent"], rows["pain_drawing"]["submitted"]) == (2, 1)
    assert rows["pain_drawing"]["name"] == "Pain drawing"
    assert [r["instrument"] for r in listed][-1] == "pain_drawing"  # after the instruments
    assert "quickdash" not in rows  # never requested: no row, not a 0 of 0


def test_completion_is_per_clinic_and_on_the_page(app_client, clinic_requests, db_url):
    clinic, person = clinic_requests
    other = new_clinic("Completion other")
    with open_session(clinic_id=other) as s:
        assert completion_rates(s, clinic_id=other) == []
    with open_session(clinic_id=clinic) as s:
        d = clinic_dashboard(s, principal=person.principal)
        s.commit()
    assert {r["instrument"] for r in d["completion"]} == {"nprs", "ndi", "odi", "pain_drawing"}
    page = app_client.get("/dashboard", headers=person.headers)
    assert page.status_code == 200
    assert 'id="completion"' in page.text and 'data-instrument="ndi"' in page.text
    assert "Neck Disability Index" in page.text and "60% (" in page.text  # nprs 3 of 5
    lonely = new_person(other, "clinician")
    empty = app_client.get("/dashboard", headers=lonely.headers)
    assert empty.status_code == 200 and 'id="no-completion"' in empty.text
