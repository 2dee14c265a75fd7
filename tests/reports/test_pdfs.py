"""Each report as a page and as a PDF: the PDF's extracted text holds what the report promises."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.conftest import as_person
from tests.personas import new_patient


def pdf_text(response) -> str:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(response.content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


def test_visit_note_pdf_has_entries_screening_ae_and_signature(app_client, world, course):
    hdr = as_person(app_client, world.clinician_a)
    pid, vid = course.patient_id, course.visits[0]
    text = pdf_text(
        app_client.get(f"/patients/{pid}/reports/visit-note.pdf?visit={vid}", headers=hdr)
    )
    assert "Visit note: Reta Porter" in text
    assert "Upper trapezius (right)" in text and "Levator scapulae (right)" in text
    assert "Screening" in text and "cleared" in text
    assert "Bruising" in text and "Pressure applied" in text
    assert "Electronically signed by clinician_a" in text
    assert "CPT 20560" in text
    page = app_client.get(f"/patients/{pid}/reports/visit-note?visit={vid}", headers=hdr)
    assert page.status_code == 200 and "Levator scapulae (right)" in page.text


def test_visit_of_another_patient_is_404(app_client, world, course):
    hdr = as_person(app_client, world.clinician_a)
    r = app_client.get(
        f"/patients/{course.empty_patient_id}/reports/visit-note.pdf?visit={course.visits[0]}",
        headers=hdr,
    )
    assert r.status_code == 404


def test_progress_report_pdf_has_diagnosis_treatment_and_responder_status(
    app_client, world, course
):
    hdr = as_person(app_client, world.clinician_a)
    text = pdf_text(
        app_client.get(f"/patients/{course.patient_id}/reports/progress.pdf", headers=hdr)
    )
    assert "Progress report: Reta Porter" in text
    assert "M79.12" in text and "Right-sided neck pain" in text
    assert "2 dry-needling sessions between 01 Oct 2026 and 08 Oct 2026" in text
    assert "2 dry-needling sessions" in text and "6 local twitch responses" in text
    # NPRS 7 -> 3 (post at the last visit): -4, beyond the MCID of 2: responder.
    # ODI 60 -> 30: -30 <= -10: responder. PPT 2.1 -> 2.7: +0.6, beyond MCID and MDC95.
    assert text.count("responder") >= 3
    assert "MDC95 0.34" in text and "MCID 0.21" in text
    assert "beyond measurement error (MDC95)" in text
    assert "Farrar" in text and "Ostelo" in text


def test_progress_report_for_patient_without_data_says_so(app_client, world, course):
    hdr = as_person(app_client, world.clinician_a)
    text = pdf_text(
        app_client.get(f"/patients/{course.empty_patient_id}/reports/progress.pdf", headers=hdr)
    )
    assert "No clinical data recorded for this patient yet" in text
    page = app_client.get(f"/patients/{course.empty_patient_id}/reports/progress", headers=hdr)
    assert page.status_code == 200 and 'id="no-data"' in page.text


def test_visit_note_without_needling_says_so(app_client, alice):
    pid = new_patient(app_client, alice, given_name="Nodata", family_name="Person", sex="male")
    vid = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-02T09:00:00+00:00"},
        headers=alice.headers,
    ).json()["id"]
    text = pdf_text(
        app_client.get(f"/patients/{pid}/reports/visit-note.pdf?visit={vid}", headers=alice.headers)
    )
    assert "No needling at this visit" in text and "No screening on file" in text


def test_consent_pdf_lists_risks_with_published_frequencies(app_client, world, course):
    hdr = as_person(app_client, world.clinician_a)
    text = pdf_text(
        app_client.get(f"/patients/{course.patient_id}/reports/consent.pdf", headers=hdr)
    )
    assert "Consent to dry needling" in text and "Reta Porter" in text
    assert "7.55% of sessions (about 1 in 13)" in text  # bruising, Brady 2014
    assert "16% of sessions (about 1 in 6)" in text  # bleeding, Boyce 2020
    assert "Pneumothorax" in text and "upper 95% limit 0.04%" in text
    assert "withdraw" in text and "short of breath" in text


def test_education_handout_pdf(app_client):
    text = pdf_text(app_client.get("/education/handout.pdf"))
    assert "hurts on its own" in text and "painful only when it is pressed" in text
    assert "24 to 72 hours" in text and "breathless" in text
    assert "Quintner" in text and "local twitch response" in text
    assert 'not a "knot"' in text or "not a “knot”" in text or 'not a "knot"' in text


@pytest.mark.parametrize(
    "path",
    [
        "/patients/{pid}/reports/visit-note.pdf?visit={vid}",
        "/patients/{pid}/reports/visit-note?visit={vid}",
        "/patients/{pid}/reports/progress.pdf",
        "/patients/{pid}/reports/progress",
        "/patients/{pid}/reports/consent.pdf",
        "/patients/{pid}/reports/consent",
        "/patients/{pid}/outcomes",
        "/patients/{pid}/outcomes/record",
    ],
)
def test_other_clinic_gets_404_on_every_patient_route(app_client, world, course, path):
    url = path.format(pid=course.patient_id, vid=course.visits[0])
    assert app_client.get(url, headers=as_person(app_client, world.clinician_b)).status_code == 404
    assert app_client.get(url, headers=as_person(app_client, world.clinician_a)).status_code == 200


def test_reports_are_audited(app_client, world, course):
    from sqlalchemy import select

    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    hdr = as_person(app_client, world.clinician_a)
    app_client.get(f"/patients/{course.patient_id}/reports/progress.pdf", headers=hdr)
    with open_session(clinic_id=None) as s:
        last = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "needling_session", AuditEvent.action == "list")
            .order_by(AuditEvent.id.desc())
            .limit(1)
        ).one()
    assert last.user_id == world.clinician_a.principal.user_id
    assert last.detail["patient_id"] == course.patient_id
