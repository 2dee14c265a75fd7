"""A patient with one of everything, built through the API like a clinician would."""

from __future__ import annotations

import pytest

from tests.conftest import as_person
from tests.personas import Person, new_clinic, new_person
from tests.treatment.test_needling_flow import TRAP, Clinic


@pytest.fixture
def full_patient(app_client, world):
    c = Clinic(app_client, world.clinician_a)
    pid = c.patient(weight=72, height=178)
    c.post(
        f"/api/patients/{pid}/episodes",
        {
            "complaint": "Right-sided temple headache and neck pain",
            "onset_date": "2026-09-01",
            "diagnoses": [{"code": "M79.12"}, {"code": "M54.2"}],
        },
        201,
    )
    _, vid, sid = c.ready(pid)
    c.post(
        f"/api/patients/{pid}/pain-drawings?visit_id={vid}",
        {"complete": True, "marks": [{"region": "right temple", "intensity": 6}]},
        201,
    )
    c.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    c.post(
        f"/api/needling-sessions/{sid}/entries",
        {**TRAP, "muscle": "upper trapezius", "side": "left", "depth_mm": 10, "twitch_count": 1},
        201,
    )
    s = c.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 2}, 200).json()
    c.post(
        f"/api/needling-sessions/{sid}/adverse-events",
        {"type": "bruising", "severity": "mild", "action_taken": "pressure"},
        201,
    )
    c.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    hdr = as_person(app_client, world.clinician_a)
    for body in (
        {
            "instrument": "nprs",
            "data": {"current": 7, "worst_24h": 8},
            "timing": "pre",
            "visit_id": vid,
            "measured_at": "2026-11-20T10:00:00+00:00",
        },
        {
            "instrument": "nprs",
            "data": {"current": 4},
            "timing": "post",
            "visit_id": vid,
            "measured_at": "2026-11-20T10:45:00+00:00",
        },
        {
            "instrument": "odi",
            "data": {"items": [2, 1, 3, 2, 1, 0, 2, 1, 2, 1]},
            "measured_at": "2026-11-20T10:05:00+00:00",
        },
        {
            "instrument": "ndi",
            "data": {"items": [1, 2, None, None, None, 1, 1, 1, 1, 1]},
            "measured_at": "2026-11-20T10:06:00+00:00",
        },
        {
            "instrument": "ppt",
            "data": {"trials": [2.1, 2.3, 2.2]},
            "context": "upper_trapezius.tp1.right",
            "measured_at": "2026-11-20T10:07:00+00:00",
        },
    ):
        assert (
            app_client.post(f"/api/patients/{pid}/measurements", json=body, headers=hdr).status_code
            == 201
        )
    return pid


@pytest.fixture
def importer(app_client, world) -> Person:
    """A clinician alone in an empty clinic: the target of an import (`.headers`,
    `.principal`)."""
    return new_person(new_clinic("Import clinic"), "clinician", prefix="importer")


@pytest.fixture
def lymph_patient(app_client, world):
    """Lymphoedema of the right arm, and one allowed needle (right upper trapezius, at the
    angle of the neck) in a signed session."""
    c = Clinic(app_client, world.clinician_a)
    pid, _, sid = c.ready(lymphoedema="right arm")
    c.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    s = c.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    c.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    return pid
