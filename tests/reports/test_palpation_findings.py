"""The visit note and the progress report name each palpation finding of the visit, in words a
referrer reads without the app: "right upper trapezius: familiar pain reproduced".

The findings are recorded over the API at the first visit, before its needling session is
signed, and a second visit a week later finds the same muscle tender only (the treated point
no longer reproduces the complaint)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import as_person
from tests.personas import new_patient
from tests.reports.conftest import ENTRY, NO, Api
from tests.reports.test_pdfs import pdf_text

FIRST = [
    {"site": "right upper trapezius", "finding": "familiar", "twitch": True},
    {"site": "right levator scapulae upper", "finding": "tender", "referral": False},
    {"site": "left upper trapezius", "finding": "none"},
]
SECOND = [{"site": "right upper trapezius", "finding": "tender", "twitch": False}]

# What the reports must say, written out here (not built from the code under test).
FIRST_TEXT = [
    "right upper trapezius: familiar pain reproduced; local twitch response.",
    # a named trigger point is printed with the atlas's name for it, not its id
    "right levator scapulae upper trigger point (angle of the neck): tender, not the familiar"
    " pain; no referral on compression.",
    "left upper trapezius: no tender spot",
]
SECOND_TEXT = "right upper trapezius: tender, not the familiar pain; no local twitch response."


@dataclass
class Examined:
    patient_id: int
    visits: list[int]
    bare_visit: int  # a third visit: nothing palpated


@pytest.fixture(scope="module")
def examined(app_client, world) -> Examined:
    api = Api(app_client, world.clinician_a)
    pid = new_patient(
        app_client,
        world.clinician_a,
        given_name="Palpa",
        family_name="Tion",
        date_of_birth="1980-05-02",
        height_cm=170,
        weight_kg=65,
    )
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": "Palpa Tion",
            "signed_at": "2026-10-01T09:00:00+00:00",
        },
    )
    visits = []
    for day, findings in (("2026-10-01", FIRST), ("2026-10-08", SECOND), ("2026-10-15", [])):
        vid = api.post(f"/api/patients/{pid}/visits", {"visit_at": f"{day}T10:00:00+00:00"})["id"]
        for body in findings:
            api.post(f"/api/visits/{vid}/palpation", body)
        visits.append(vid)
    # The first visit is then treated and signed: its findings stay on its note.
    api.post(f"/api/visits/{visits[0]}/screening-confirmation", None, 200)
    sid = api.post("/api/needling-sessions", {"visit_id": visits[0]})["id"]
    api.post(
        f"/api/needling-sessions/{sid}/entries",
        {**ENTRY, "muscle": "upper_trapezius", "twitch_count": 1},
    )
    s = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200)
    api.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    return Examined(pid, visits[:2], visits[2])


def _note(client, person, pid, vid, pdf=False):
    suffix = ".pdf" if pdf else ""
    return client.get(
        f"/patients/{pid}/reports/visit-note{suffix}?visit={vid}", headers=as_person(client, person)
    )


def test_the_visit_note_names_every_finding_of_its_visit(app_client, world, examined):
    page = _note(app_client, world.clinician_a, examined.patient_id, examined.visits[0])
    assert page.status_code == 200
    text = " ".join(page.text.replace("<strong>", "").replace("</strong>", "").split())
    for line in FIRST_TEXT:
        assert line in text
    # the second visit's finding belongs to the second visit's note only
    assert SECOND_TEXT not in text
    assert "Electronically signed by" in text  # signed, and the findings are still there


def test_the_visit_note_pdf_prints_the_findings(app_client, world, examined):
    text = pdf_text(
        _note(app_client, world.clinician_a, examined.patient_id, examined.visits[0], pdf=True)
    )
    assert "Palpation findings" in text
    for line in FIRST_TEXT:
        assert line in text
    second = pdf_text(
        _note(app_client, world.clinician_a, examined.patient_id, examined.visits[1], pdf=True)
    )
    assert SECOND_TEXT in second
    assert "familiar pain reproduced; local twitch response" not in second


def test_a_visit_without_palpation_says_so(app_client, world, examined):
    page = _note(app_client, world.clinician_a, examined.patient_id, examined.bare_visit)
    assert page.status_code == 200
    assert "No palpation findings recorded at this visit." in page.text
    assert 'id="palpation-findings"' not in page.text


def test_the_progress_report_lists_the_findings_by_visit(app_client, world, examined):
    hdr = as_person(app_client, world.clinician_a)
    text = pdf_text(
        app_client.get(f"/patients/{examined.patient_id}/reports/progress.pdf", headers=hdr)
    )
    section = text[text.index("Palpation findings") : text.index("Treatment summary")]
    first, second = section.index("01 Oct 2026"), section.index("08 Oct 2026")
    assert first < second
    for line in FIRST_TEXT:
        assert first < section.index(line) < second
    assert section.index(SECOND_TEXT) > second
    assert "15 Oct 2026" not in section  # a visit with no findings is not listed


def test_a_patient_never_palpated_has_no_findings_in_the_progress_report(app_client, world, course):
    hdr = as_person(app_client, world.clinician_a)
    page = app_client.get(f"/patients/{course.patient_id}/reports/progress", headers=hdr)
    assert page.status_code == 200
    assert "No palpation findings recorded." in page.text


def test_another_clinic_reads_no_findings(app_client, world, examined):
    r = _note(app_client, world.admin_b, examined.patient_id, examined.visits[0])
    assert r.status_code == 404
    assert "familiar pain reproduced" not in r.text
