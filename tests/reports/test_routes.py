"""Every report of a patient refuses another clinic (tests/mixins.py): the HTML and the PDF.
The reports write nothing but their audit events (test_pdfs.py: test_reports_are_audited)."""

from __future__ import annotations

from tests.mixins import Call, RefusesAnotherClinic

VISIT = {"visit": "{visit_id}"}


class TestReportRoutes(RefusesAnotherClinic):
    domain = "reports"
    calls = {  # noqa: RUF012 - read by the mixins
        ("GET", "/patients/{patient_id}/reports/visit-note"): Call(query=VISIT),
        ("GET", "/patients/{patient_id}/reports/visit-note.pdf"): Call(query=VISIT),
        ("GET", "/patients/{patient_id}/reports/progress"): Call(),
        ("GET", "/patients/{patient_id}/reports/progress.pdf"): Call(),
        ("GET", "/patients/{patient_id}/reports/consent"): Call(),
        ("GET", "/patients/{patient_id}/reports/consent.pdf"): Call(),
    }
