"""Every outcomes route refuses another clinic, and every outcomes write is audited
(tests/mixins.py)."""

from __future__ import annotations

from tests.mixins import AuditsEveryWrite, Call, RefusesAnotherClinic

NPRS = {"instrument": "nprs", "data": {"current": 5}, "measured_at": "2026-11-02T10:00:00+00:00"}
NPRS_FORM = {"instrument": "nprs", "current": "5", "measured_at": "2026-11-02T10:00"}


class TestOutcomesRoutes(RefusesAnotherClinic, AuditsEveryWrite):
    domain = "outcomes"
    calls = {  # noqa: RUF012 - read by the mixins
        ("GET", "/api/patients/{patient_id}/measurements"): Call(),
        ("POST", "/api/patients/{patient_id}/measurements"): Call(
            json={**NPRS, "visit_id": "{visit_id}"}, audits=("measurement", "create")
        ),
        ("GET", "/api/patients/{patient_id}/outcomes"): Call(),
        ("GET", "/patients/{patient_id}/outcomes"): Call(),
        ("GET", "/patients/{patient_id}/outcomes/record"): Call(query={"instrument": "ppt"}),
        ("POST", "/patients/{patient_id}/outcomes/record"): Call(
            form=NPRS_FORM, audits=("measurement", "create"), entity_id=None
        ),
    }
