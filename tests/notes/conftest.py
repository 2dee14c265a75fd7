"""Visits to write notes at: alice's, one without needling and one with an open session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.calls import ApiCalls
from tests.personas import Person, new_patient
from tests.treatment.test_needling_flow import TRAP, Clinic

NOTE = {
    "subjective": "Right neck pain since a long drive; worse by evening.",
    "pain_now_nprs": 6,
    "aggravating": "Driving, desk work",
    "easing": "Heat",
    "red_flags_checked": True,
    "objective": "Cervical rotation limited to the right.",
    "rom_findings": "Rotation R 50°, L 70°",
    "palpation_summary": "Active trigger point in right upper trapezius reproduces the familiar headache",
    "assessment": "Myofascial pain, right upper trapezius.",
    "plan": "Dry needling today; review in a week.",
    "next_visit_in_days": 7,
    "home_exercise": "Levator and trapezius stretch twice daily",
}


class Notes(ApiCalls):
    """A person's calls to the notes API, each asserted to answer `expect`."""

    def put(self, visit_id: int, body: Any, expect: int = 200) -> Any:
        return self.call("PUT", f"/api/visits/{visit_id}/note", body, expect)

    def get(self, visit_id: int, expect: int = 200) -> Any:
        return self.call("GET", f"/api/visits/{visit_id}/note", None, expect)

    def sign(self, visit_id: int, version: int, expect: int = 200) -> Any:
        return self.call("POST", f"/api/visits/{visit_id}/note/sign", {"version": version}, expect)

    def addendum(self, visit_id: int, text: str, expect: int = 201) -> Any:
        return self.call("POST", f"/api/visits/{visit_id}/note/addenda", {"text": text}, expect)


def plain_visit(client: TestClient, person: Person) -> int:
    """A visit without needling, of a new patient of `person`'s clinic."""
    pid = new_patient(client, person, given_name="Soap", family_name="Owner")
    r = client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-20T10:00:00+00:00"},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
def notes(app_client, alice) -> Notes:
    return Notes(app_client, alice)


@pytest.fixture
def visit_id(app_client, alice) -> int:
    return plain_visit(app_client, alice)


@dataclass
class Needled:
    clinic: Clinic
    patient_id: int
    visit_id: int
    session_id: int

    def count_and_sign(self) -> dict:
        c = self.clinic
        c.post(f"/api/needling-sessions/{self.session_id}/entries", TRAP, 201)
        s = c.post(f"/api/needling-sessions/{self.session_id}/count", {"needles_out": 1}, 200)
        return c.post(
            f"/api/needling-sessions/{self.session_id}/sign", {"version": s.json()["version"]}, 200
        ).json()


@pytest.fixture
def needled(app_client, alice) -> Needled:
    c = Clinic(app_client, alice)
    pid, vid, sid = c.ready()
    return Needled(c, pid, vid, sid)
