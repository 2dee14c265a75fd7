"""A patient with a full course of care, built over the API, for the report tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.personas import Api as PersonApi
from tests.personas import new_patient
from triggerpoint.safety.screening import rulebook

NO = {r.id: {"present": False} for r in rulebook().rules}
ENTRY = {
    "side": "right",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "pistoning",
    "depth_mm": 12,
    "familiar_pain": True,
    "duration_s": 30,
}


@dataclass
class Course:
    patient_id: int
    visits: list[int]
    sessions: list[int]
    empty_patient_id: int


class Api(PersonApi):
    def measure(self, pid, vid, instrument, data, at, timing="", context=""):
        return self.post(
            f"/api/patients/{pid}/measurements",
            {
                "instrument": instrument,
                "data": data,
                "visit_id": vid,
                "timing": timing,
                "context": context,
                "measured_at": at,
            },
        )


def build_course(client, person, *, given="Reta", family="Porter") -> Course:
    """Two visits a week apart with signed needling sessions, NPRS pre/post, PPT, ODI, an AE."""
    api = Api(client, person)
    pid = new_patient(
        client,
        person,
        given_name=given,
        family_name=family,
        date_of_birth="1975-03-14",
        height_cm=170,
        weight_kg=65,
    )
    api.post(
        f"/api/patients/{pid}/episodes",
        {"complaint": "Right-sided neck pain", "diagnoses": [{"code": "M79.12"}]},
    )
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": f"{given} {family}",
            "signed_at": "2026-10-01T09:00:00+00:00",
        },
    )
    visits, sessions = [], []
    plan = [  # day, muscles needled (twitches), NPRS pre/post, PPT, ODI
        ("2026-10-01", [("upper_trapezius", 3), ("levator_scapulae", 1)], 7, 5, [2.0, 2.2], 40),
        ("2026-10-08", [("upper_trapezius", 2)], 4, 3, [2.6, 2.8], 24),
    ]
    for day, muscles, pre, post, ppt, odi in plan:
        vid = api.post(f"/api/patients/{pid}/visits", {"visit_at": f"{day}T10:00:00+00:00"})["id"]
        api.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
        sid = api.post("/api/needling-sessions", {"visit_id": vid})["id"]
        for muscle, tw in muscles:
            api.post(
                f"/api/needling-sessions/{sid}/entries",
                {**ENTRY, "muscle": muscle, "twitch_count": tw},
            )
        s = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": len(muscles)}, 200)
        if not visits:
            api.post(
                f"/api/needling-sessions/{sid}/adverse-events",
                {"type": "bruising", "severity": "mild", "action_taken": "Pressure applied"},
            )
        api.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
        api.measure(pid, vid, "nprs", {"current": pre}, f"{day}T10:05:00+00:00", "pre")
        api.measure(pid, vid, "nprs", {"current": post}, f"{day}T10:45:00+00:00", "post")
        api.measure(
            pid,
            vid,
            "ppt",
            {"trials": ppt},
            f"{day}T10:06:00+00:00",
            "pre",
            "Upper trapezius tp1 (right)",
        )
        items = [odi // 10] * 5 + [odi // 20] * 5
        api.measure(pid, vid, "odi", {"items": items}, f"{day}T10:02:00+00:00")
        visits.append(vid)
        sessions.append(sid)
    empty = new_patient(
        client,
        person,
        given_name="Nodata",
        family_name="Person",
        date_of_birth="1990-01-01",
        sex="male",
    )
    return Course(pid, visits, sessions, empty)


@pytest.fixture(scope="session")
def course(app_client, world) -> Course:
    return build_course(app_client, world.clinician_a)
