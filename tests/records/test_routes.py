"""Every records route refuses another clinic, and every records write is audited
(tests/mixins.py). The whole-app matrix of personas and roles is test_isolation_matrix.py."""

from __future__ import annotations

from tests.mixins import CONSENT, Api, AuditsEveryWrite, Call, Ids, RefusesAnotherClinic
from tests.personas import PATIENT


def with_m54_2(api: Api, ids: Ids) -> Ids:
    """`prepare` step: the owned episode has the diagnosis M54.2."""
    api.post(
        f"/api/patients/{ids['patient_id']}/episodes/{ids['episode_id']}/diagnoses",
        {"code": "M54.2"},
    )
    return {}


PAGE_AND_DIAGNOSIS_CALLS = {
    ("POST", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses"): Call(
        json={"code": "M79.12"}, audits=("diagnosis", "create"), entity_id=None
    ),
    ("DELETE", "/api/patients/{patient_id}/episodes/{episode_id}/diagnoses/{code}"): Call(
        path={"code": "M54.2"}, prepare=with_m54_2, audits=("diagnosis", "delete"), entity_id=None
    ),
    ("GET", "/patients/{patient_id}/edit"): Call(),
    ("POST", "/patients/{patient_id}/edit"): Call(
        form={**PATIENT, "given_name": "Owned", "family_name": "Edited", "version": 1},
        audits=("patient", "update"),
        entity_id="{patient_id}",
    ),
    ("GET", "/patients/{patient_id}/consents/research"): Call(),
    ("POST", "/patients/{patient_id}/consents/research"): Call(
        form={"signed_by": "Cons Ent", "signed_at": "2026-11-20T09:00", "agreed": "on"},
        audits=("consent", "create"),
        entity_id=None,
    ),
    ("GET", "/patients/{patient_id}/consents/{consent_id}/withdraw"): Call(),
    ("POST", "/patients/{patient_id}/consents/{consent_id}/withdraw"): Call(
        form={"version": 1}, audits=("consent", "withdraw"), entity_id="{consent_id}"
    ),
    ("POST", "/patients/{patient_id}/visits/start"): Call(
        form={}, audits=("visit", "create"), entity_id="location"
    ),
    ("GET", "/patients/{patient_id}/diagnoses"): Call(),
    ("POST", "/patients/{patient_id}/diagnoses"): Call(
        form={"episode_id": "{episode_id}", "code": "M79.12"},
        audits=("diagnosis", "create"),
        entity_id=None,
    ),
    ("POST", "/patients/{patient_id}/diagnoses/remove"): Call(
        form={"episode_id": "{episode_id}", "code": "M54.2"},
        prepare=with_m54_2,
        audits=("diagnosis", "delete"),
        entity_id=None,
    ),
    ("POST", "/patients/{patient_id}/episodes"): Call(
        form={"complaint": "Shoulder pain", "first_code": "M25.511"},
        audits=("episode", "create"),
        entity_id=None,
    ),
}


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
        **PAGE_AND_DIAGNOSIS_CALLS,
    }
