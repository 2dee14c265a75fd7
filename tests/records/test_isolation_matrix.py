"""Every patient-data endpoint, called as every persona: other clinics get 404, roles get 403.

The routes are read from the app itself, so a new endpoint without an entry in BODIES fails
here until someone decides what it should accept (NetBox-style generic permission test).
"""

from __future__ import annotations

import pytest

from tests.conftest import as_person
from tests.routes import api_routes

PATIENT = {
    "given_name": "Iso",
    "family_name": "Lation",
    "date_of_birth": "1975-01-01",
    "sex": "male",
}
CONSENT = {
    "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Iso Lation",
    "signed_at": "2026-11-01T10:00:00+00:00",
}
BODIES = {
    ("GET", "/api/patients"): None,
    ("POST", "/api/patients"): PATIENT,
    ("GET", "/api/patients/{patient_id}"): None,
    ("PUT", "/api/patients/{patient_id}"): {**PATIENT, "version": 1},
    ("GET", "/api/patients/{patient_id}/episodes"): None,
    ("POST", "/api/patients/{patient_id}/episodes"): {"complaint": "Neck pain"},
    ("GET", "/api/patients/{patient_id}/visits"): None,
    ("POST", "/api/patients/{patient_id}/visits"): {"visit_at": "2026-11-02T10:00:00+00:00"},
    ("GET", "/api/patients/{patient_id}/pain-drawings"): None,
    ("POST", "/api/patients/{patient_id}/pain-drawings"): {
        "complete": False,
        "marks": [{"region": "right temple"}],
    },
    ("GET", "/api/patients/{patient_id}/consents"): None,
    ("POST", "/api/patients/{patient_id}/consents"): CONSENT,
    ("POST", "/api/consents/{consent_id}/withdraw"): {"version": 1},
    ("POST", "/api/patients/{patient_id}/screenings"): {"answers": {}},
    ("POST", "/api/visits/{visit_id}/screening-confirmation"): None,
    ("POST", "/api/needling-sessions"): {"visit_id": 1},
    ("GET", "/api/needling-sessions/{session_id}"): None,
    ("POST", "/api/needling-sessions/{session_id}/targets"): {
        "muscle": "upper trapezius",
        "side": "right",
    },
    ("POST", "/api/needling-sessions/{session_id}/entries"): {
        "muscle": "upper trapezius",
        "side": "right",
        "needle_diameter_mm": 0.25,
        "needle_length_mm": 40,
        "technique": "static",
        "depth_mm": 10,
        "twitch_count": 0,
        "familiar_pain": False,
        "duration_s": 10,
    },
    ("POST", "/api/needling-sessions/{session_id}/count"): {"needles_out": 0},
    ("POST", "/api/needling-sessions/{session_id}/adverse-events"): {
        "type": "bruising",
        "severity": "mild",
        "action_taken": "pressure",
    },
    ("POST", "/api/needling-sessions/{session_id}/sign"): {"version": 1},
    ("POST", "/api/needling-sessions/{session_id}/addenda"): {"text": "late note"},
    ("GET", "/api/needling-sessions/{session_id}/billing"): None,
    ("GET", "/api/safety/adverse-event-rates"): None,
    ("GET", "/api/dashboard/unsigned-sessions"): None,
    ("POST", "/api/patients/{patient_id}/measurements"): {
        "instrument": "nprs",
        "data": {"current": 5},
        "measured_at": "2026-11-02T10:00:00+00:00",
    },
    ("GET", "/api/patients/{patient_id}/measurements"): None,
    ("GET", "/api/patients/{patient_id}/outcomes"): None,
    ("GET", "/api/patients/{patient_id}/fhir"): None,
}
# Endpoints whose data is not patient data (atlas, regions, own account).
NOT_PATIENT_DATA = {
    "/api/atlas",
    "/api/regions",
    "/api/me",
    "/api/tokens",
    "/api/suggest",
    "/api/fhir/import",
}
CLINICAL_WRITE = {
    ("POST", "/api/patients/{patient_id}/episodes"),
    ("POST", "/api/patients/{patient_id}/screenings"),
    ("POST", "/api/visits/{visit_id}/screening-confirmation"),
    ("POST", "/api/needling-sessions/{session_id}/entries"),
    ("GET", "/api/needling-sessions/{session_id}"),
}


def _patient_routes(app) -> list[tuple[str, str]]:
    return [
        (m, r.path)
        for r in api_routes(app)
        if not any(r.path.startswith(p) for p in NOT_PATIENT_DATA)
        for m in sorted(r.methods)
    ]


def test_every_patient_route_is_in_the_matrix(app_client):
    missing = [rt for rt in _patient_routes(app_client.app) if rt not in BODIES]
    assert not missing, f"add these routes to BODIES: {missing}"


@pytest.fixture(scope="module")
def owned(app_client, world):
    """One of everything, owned by clinic A, ready for a needling session."""
    from triggerpoint.safety.screening import rulebook

    hdr = as_person(app_client, world.clinician_a)
    pid = app_client.post("/api/patients", json=PATIENT, headers=hdr).json()["id"]
    cid = app_client.post(f"/api/patients/{pid}/consents", json=CONSENT, headers=hdr).json()["id"]
    vid = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-02T10:00:00+00:00"}, headers=hdr
    ).json()["id"]
    app_client.post(
        f"/api/patients/{pid}/screenings",
        json={"answers": {r.id: {"present": False} for r in rulebook().rules}},
        headers=hdr,
    )
    app_client.post(f"/api/visits/{vid}/screening-confirmation", headers=hdr)
    sid = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=hdr).json()[
        "id"
    ]
    return {"patient_id": pid, "consent_id": cid, "visit_id": vid, "session_id": sid}


def _call(client, method, path, ids, headers):
    return client.request(method, path.format(**ids), json=BODIES[(method, path)], headers=headers)


@pytest.mark.parametrize("persona", ["admin_b", "clinician_b"])
def test_other_clinic_gets_404_everywhere(app_client, world, owned, persona):
    person = getattr(world, persona)
    failures = []
    for method, path in BODIES:
        if "{" not in path:
            continue
        resp = _call(app_client, method, path, owned, as_person(app_client, person))
        if resp.status_code != 404:
            failures.append((method, path, resp.status_code))
    assert not failures


def test_other_clinic_lists_show_nothing_of_ours(app_client, world, owned):
    rows = app_client.get(
        "/api/patients", params={"limit": 200}, headers=as_person(app_client, world.admin_b)
    ).json()["items"]
    assert owned["patient_id"] not in {r["id"] for r in rows}
    assert all(r["clinic_id"] == world.clinic_b for r in rows)


def test_unauthenticated_gets_401_everywhere(app_client, owned):
    failures = [(m, p) for m, p in BODIES if _call(app_client, m, p, owned, {}).status_code != 401]
    assert not failures


def test_assistant_gets_403_on_clinical_writes(app_client, world, owned):
    for method, path in CLINICAL_WRITE:
        assert (
            _call(
                app_client, method, path, owned, as_person(app_client, world.assistant_a)
            ).status_code
            == 403
        )


def test_own_clinic_roles_succeed(app_client, world, owned):
    for persona in ("admin_a", "clinician_a", "assistant_a"):
        hdr = as_person(app_client, getattr(world, persona))
        assert (
            app_client.get(f"/api/patients/{owned['patient_id']}", headers=hdr).status_code == 200
        )
