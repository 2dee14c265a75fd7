"""Every records route refuses another clinic, and every records write is audited
(tests/mixins.py). The whole-app matrix of personas and roles is test_isolation_matrix.py."""

from __future__ import annotations

from tests.mixins import CONSENT, AuditsEveryWrite, Call, RefusesAnotherClinic
from tests.personas import PATIENT


class TestRecordsRoutes(RefusesAnotherClinic, AuditsEveryWrite):
    domain = "records"
    calls = {  # noqa: RUF012 - read by the mixins
        ("POST", "/api/patients"): Call(json=PATIENT, audits=("patient", "create")),
        ("GET", "/api/patients/{patient_id}"): Call(),
        ("PUT", "/api/patients/{patient_id}"): Call(
            json={**PATIENT, "given_name": "Owned", "family_name": "Renamed", "version": 1},
            audits=("patient", "update"),
        ),
        ("GET", "/api/patients/{patient_id}/episodes"): Call(),
        ("POST", "/api/patients/{patient_id}/episodes"): Call(
            json={"complaint": "Low back pain"}, audits=("episode", "create")
        ),
        ("GET", "/api/patients/{patient_id}/visits"): Call(),
        ("POST", "/api/patients/{patient_id}/visits"): Call(
            json={"visit_at": "2026-11-09T10:00:00+00:00", "episode_id": "{episode_id}"},
            audits=("visit", "create"),
        ),
        ("GET", "/api/patients/{patient_id}/pain-drawings"): Call(),
        ("POST", "/api/patients/{patient_id}/pain-drawings"): Call(
            json={"complete": False, "marks": [{"region": "right temple"}]},
            query={"visit_id": "{visit_id}"},
            audits=("pain_drawing", "create"),
        ),
        ("GET", "/api/patients/{patient_id}/consents"): Call(),
        ("POST", "/api/patients/{patient_id}/consents"): Call(
            json=CONSENT, audits=("consent", "create")
        ),
        ("POST", "/api/consents/{consent_id}/withdraw"): Call(
            json={"version": 1}, audits=("consent", "withdraw"), entity_id="{consent_id}"
        ),
        ("POST", "/patients/new"): Call(
            form=PATIENT, audits=("patient", "create"), entity_id="location"
        ),
        ("GET", "/patients/{patient_id}"): Call(),
        ("GET", "/patients/{patient_id}/draw"): Call(),
        ("POST", "/patients/{patient_id}/draw"): Call(
            form={"visit_at": "2026-11-03T10:00", "mark": "right_temple:5", "complete": "partial"},
            audits=("pain_drawing", "create"),
            entity_id=None,
        ),
    }
