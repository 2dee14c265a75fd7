"""Patient-reported entries read "reported by the patient, 2 days before the visit" on the
timeline and in the visit (calendar days in the clinic's zone), and count in the outcomes."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from tests.personas import new_clinic, new_patient, new_person
from triggerpoint.db import open_session, utcnow
from triggerpoint.interop import questionnaires as q
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.models import Visit
from triggerpoint.ui import localtime
from triggerpoint.ui.templating import templates

VISIT = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)  # 09:00 in New York


def _label(source, at, visit_at=VISIT, zone="UTC"):
    macro = templates().env.get_template("records/_reported.html").module.reported
    localtime.use_zone(zone)
    try:
        return " ".join(
            str(macro(SimpleNamespace(source=source, measured_at=at), visit_at)).split()
        )
    finally:
        localtime.use_zone(None)


@pytest.mark.parametrize(
    ("at", "zone", "words"),
    [
        (VISIT - timedelta(days=2), "UTC", "2 days before the visit"),
        (VISIT - timedelta(days=1), "UTC", "1 day before the visit"),
        (VISIT - timedelta(hours=3), "UTC", "on the day of the visit"),
        (VISIT + timedelta(hours=2), "UTC", "on the day of the visit"),
        (VISIT + timedelta(days=3), "UTC", "3 days after the visit"),
        # 03:30 UTC on the 20th is 22:30 on the 19th in New York: the evening before.
        (datetime(2026, 11, 20, 3, 30, tzinfo=UTC), "America/New_York", "1 day before the visit"),
        (datetime(2026, 11, 20, 3, 30, tzinfo=UTC), "UTC", "on the day of the visit"),
    ],
)
def test_label_counts_calendar_days_in_the_clinic_zone(at, zone, words):
    assert _label("patient", at, zone=zone).endswith(f"reported by the patient, {words}</span>")


def test_clinician_entries_and_loose_reports():
    assert _label("clinician", VISIT - timedelta(days=2)) == ""
    assert _label(None, VISIT) == ""
    loose = _label("patient", VISIT - timedelta(days=2), visit_at=None)
    assert "reported by the patient on 2026-11-18" in loose


def _submitted(app_client, days_before: int):
    """A patient-reported NPRS and drawing for a visit `days_before` days ahead, through the
    FHIR import (the portal's submission)."""
    clinic = new_clinic("Timeline clinic")
    person = new_person(clinic, "clinician")
    token = secrets.token_urlsafe(32)
    with open_session(clinic_id=clinic) as s:
        pid = new_patient(s, person)
        visit = Visit(patient_id=pid, visit_at=utcnow() + timedelta(days=days_before, seconds=30))
        s.add(visit)
        s.flush()
        s.add(
            QuestionnaireRequest(
                patient_id=pid,
                visit_id=visit.id,
                instruments=["nprs"],
                pain_drawing=True,
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                expires_at=utcnow() + timedelta(days=7),
            )
        )
        s.commit()
        vid = visit.id

    def qr(instrument, items):
        return {
            "resource": {
                "resourceType": "QuestionnaireResponse",
                "questionnaire": f"urn:triggerpoint:questionnaire:{instrument}",
                "identifier": {"system": q.PATIENT_LINK, "value": token},
                "status": "completed",
                "item": items,
            }
        }

    body = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            qr("nprs", [{"linkId": "current", "answer": [{"valueInteger": 7}]}]),
            qr(
                "pain-drawing",
                [
                    {
                        "linkId": "regions",
                        "answer": [{"valueCoding": {"system": q.REGION, "code": "vertex"}}],
                    },
                    {"linkId": "complete", "answer": [{"valueBoolean": True}]},
                ],
            ),
        ],
    }
    r = app_client.post("/api/fhir/QuestionnaireResponse", json=body)
    assert r.status_code == 201, r.text
    return person, pid, vid


def test_timeline_and_visit_show_who_reported_it(app_client, db_url):
    person, pid, vid = _submitted(app_client, days_before=2)
    page = app_client.get(f"/patients/{pid}", headers=person.headers)
    assert page.status_code == 200
    assert "reported by the patient, 2 days before the visit" in page.text
    visit = app_client.get(f"/visits/{vid}", headers=person.headers)
    assert visit.status_code == 200
    # the drawing and the NPRS "before needling" value both say so
    assert visit.text.count("reported by the patient, 2 days before the visit") == 2
    assert 'id="nprs-pre-value">Recorded: <strong>7</strong>' in visit.text


def test_patient_reports_count_in_the_outcomes(app_client, db_url):
    person, pid, _ = _submitted(app_client, days_before=1)
    r = app_client.get(f"/api/patients/{pid}/measurements", headers=person.headers)
    assert r.status_code == 200, r.text
    rows = r.json() if isinstance(r.json(), list) else r.json()["items"]
    assert [(m["instrument"], m["score"], m["timing"]) for m in rows] == [("nprs", 7.0, "pre")]


def _reported_by_visit(session, principal, patient_id):
    """What the patient page's extra (PATIENT_PAGE_EXTRAS) is asked to give: the patient's
    own reports, by visit."""
    from triggerpoint.outcomes.service import list_measurements

    out: dict = {}
    for m in list_measurements(session, principal=principal, patient_id=patient_id):
        if m.source == "patient":
            out.setdefault(m.visit_id, []).append(m)
    return {"reported_by_visit": out}


def test_timeline_lists_reported_measures_given_by_a_page_extra(app_client, db_url, monkeypatch):
    from triggerpoint.records import pages

    monkeypatch.setattr(
        pages, "PATIENT_PAGE_EXTRAS", [*pages.PATIENT_PAGE_EXTRAS, _reported_by_visit]
    )
    person, pid, _ = _submitted(app_client, days_before=3)
    page = app_client.get(f"/patients/{pid}", headers=person.headers)
    assert page.status_code == 200
    assert (
        'NPRS: <strong>7</strong> <span class="badge reported" data-source="patient"' in page.text
    )
    assert page.text.count("reported by the patient, 3 days before the visit") == 2


def test_visit_lists_other_reported_measures_when_given(app_client, db_url, monkeypatch):
    from triggerpoint.outcomes.service import list_measurements
    from triggerpoint.treatment import pages

    plain = pages._visit_context

    def with_reports(session, principal, visit, *args, **kwargs):
        ctx = plain(session, principal, visit, *args, **kwargs)
        rows = list_measurements(session, principal=principal, patient_id=visit.patient_id)
        ctx["reported_measures"] = [m for m in rows if m.source == "patient"]
        return ctx

    monkeypatch.setattr(pages, "_visit_context", with_reports)
    person, _, vid = _submitted(app_client, days_before=2)
    page = app_client.get(f"/visits/{vid}", headers=person.headers)
    assert page.status_code == 200
    assert 'id="reported-measures"' in page.text and "NPRS: <strong>7</strong>" in page.text
    assert page.text.count("reported by the patient, 2 days before the visit") == 3
