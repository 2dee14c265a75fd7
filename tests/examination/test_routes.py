"""Every palpation route refuses another clinic, and every palpation write is audited
(tests/mixins.py). The visit page's palpation forms are routes of treatment/pages.py (the
visit page is treatment's) and are listed with treatment's routes; `palpated` and the forms
in tests/examination/calls.py are what that list uses."""

from __future__ import annotations

from tests.examination.calls import FINDING, palpated
from tests.mixins import AuditsEveryWrite, Call, RefusesAnotherClinic


class TestExaminationRoutes(RefusesAnotherClinic, AuditsEveryWrite):
    domain = "examination"
    calls = {  # noqa: RUF012 - read by the mixins
        ("GET", "/api/visits/{visit_id}/palpation"): Call(prepare=palpated),
        ("POST", "/api/visits/{visit_id}/palpation"): Call(
            json=FINDING, audits=("palpation_finding", "create")
        ),
        ("DELETE", "/api/visits/{visit_id}/palpation/{finding_id}"): Call(
            path={"finding_id": "{finding_id}"},
            prepare=palpated,
            audits=("palpation_finding", "delete"),
            entity_id="{finding_id}",
        ),
    }
