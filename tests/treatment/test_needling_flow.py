"""The needling flow over the API on both engines, and every way around the guards."""

from __future__ import annotations

import pytest

from tests.personas import new_patient
from triggerpoint.safety.screening import rulebook

NO = {r.id: {"present": False} for r in rulebook().rules}
RISKS = ["bruising", "post_needling_soreness", "pneumothorax", "bleeding"]
TRAP = {
    "muscle": "upper trapezius",
    "side": "right",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "pistoning",
    "depth_mm": 12,
    "twitch_count": 3,
    "familiar_pain": True,
    "duration_s": 30,
}


class Clinic:
    """A small driver so each test reads like the clinical flow it exercises."""

    def __init__(self, client, person):
        self.c, self.person, self.h = client, person, person.headers

    def post(self, path, body=None, expect=None):
        r = self.c.post(path, json=body, headers=self.h)
        if expect is not None:
            assert r.status_code == expect, f"{path}: {r.status_code} {r.text}"
        return r

    def patient(self, weight=70.0, height=175.0):
        body = {"given_name": "Nee", "family_name": "Dle", "height_cm": height, "weight_kg": weight}
        return new_patient(self.c, self.person, **body)

    def visit(self, pid):
        return self.post(
            f"/api/patients/{pid}/visits", {"visit_at": "2026-11-20T10:00:00+00:00"}, 201
        ).json()["id"]

    def screen(self, pid, **present):
        answers = dict(NO) | {k: {"present": True, "detail": v} for k, v in present.items()}
        return self.post(f"/api/patients/{pid}/screenings", {"answers": answers}, 201).json()

    def consent(self, pid):
        return self.post(
            f"/api/patients/{pid}/consents",
            {
                "risks_disclosed": RISKS,
                "signed_by": "Nee Dle",
                "signed_at": "2026-11-20T09:00:00+00:00",
            },
            201,
        ).json()

    def ready(self, pid=None, **present):
        pid = pid or self.patient()
        vid = self.visit(pid)
        self.screen(pid, **present)
        self.consent(pid)
        self.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
        sid = self.post("/api/needling-sessions", {"visit_id": vid}, 201).json()["id"]
        return pid, vid, sid


@pytest.fixture
def clinic(app_client, alice):
    return Clinic(app_client, alice)


def test_whole_flow_to_signed_session(clinic):
    _pid, _vid, sid = clinic.ready()
    clinic.post(
        f"/api/needling-sessions/{sid}/targets",
        {
            "muscle": "upper_trapezius",
            "side": "right",
            "trigger_point_id": "tp1",
            "source": "suggestion",
            "probability": 0.62,
        },
        201,
    )
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    clinic.post(
        f"/api/needling-sessions/{sid}/entries", {**TRAP, "side": "left", "twitch_count": 0}, 201
    )
    s = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 2}, 200).json()
    assert s["needles_in"] == 2 and s["needles_out"] == 2
    assert s["thorax_limit_mm"] == 17 and "Seol 2014" in s["thorax_limit_explained"]  # BMI 22.9
    ae = clinic.post(
        f"/api/needling-sessions/{sid}/adverse-events",
        {"type": "bruising", "severity": "mild", "action_taken": "Pressure applied"},
        201,
    ).json()
    assert ae["urgent"] is False
    signed = clinic.post(
        f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200
    ).json()
    assert signed["status"] == "signed" and signed["signed_at"]
    bill = clinic.c.get(f"/api/needling-sessions/{sid}/billing", headers=clinic.h).json()
    assert bill["cpt"] == "20560" and bill["icd10cm"] == [
        {"code": "M79.12", "display": "Myalgia of auxiliary muscles, head and neck"}
    ]
    assert "Suggestions" in bill["label"]


def test_cannot_open_without_screening_consent_or_confirmation(clinic):
    pid = clinic.patient()
    vid = clinic.visit(pid)
    assert "not been screened" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text
    clinic.screen(pid)
    assert "re-confirm" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text
    clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    assert "consent" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text
    c = clinic.consent(pid)
    clinic.post(f"/api/consents/{c['id']}/withdraw", {"version": 1}, 200)
    assert "consent" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text


def test_not_cleared_patient_cannot_be_needled(clinic):
    pid = clinic.patient()
    vid = clinic.visit(pid)
    assert clinic.screen(pid, needle_phobia=None)["outcome"] == "not_cleared"
    clinic.consent(pid)
    clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    assert "not cleared" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text


def test_confirmation_of_an_older_screening_does_not_count(clinic):
    pid = clinic.patient()
    vid = clinic.visit(pid)
    clinic.screen(pid)
    clinic.consent(pid)
    clinic.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
    clinic.screen(pid, epilepsy=None)  # new information after the confirmation
    assert "re-confirm" in clinic.post("/api/needling-sessions", {"visit_id": vid}, 409).text


def test_one_session_per_visit(clinic):
    _, vid, _ = clinic.ready()
    clinic.post("/api/needling-sessions", {"visit_id": vid}, 409)


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        ({"depth_mm": -1}, "depth_mm", "greater than or equal to 0"),
        ({"depth_mm": 45, "needle_length_mm": 40}, "depth_mm", "greater than the needle length"),
        ({"twitch_count": -1}, "twitch_count", "greater than or equal to 0"),
        ({"muscle": "upper trapezuis"}, "muscle", "unknown muscle"),
        ({"trigger_point_id": "tp9"}, "trigger_point_id", "has no trigger point"),
        ({"technique": "electrical"}, "estim", "estim parameters are required"),
    ],
)
def test_bad_entries_are_rejected_and_nothing_saved(clinic, change, field, text):
    _, _, sid = clinic.ready()
    r = clinic.post(f"/api/needling-sessions/{sid}/entries", {**TRAP, **change})
    assert r.status_code == 422 and text in r.text
    assert field in {str(e["loc"][-1]) for e in r.json()["detail"]}, r.json()
    assert clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()["needles_in"] == 0


def test_thorax_depth_beyond_limit_needs_a_reason(clinic):
    pid = clinic.patient(weight=50, height=175)  # BMI 16.3: the pleura formula governs
    _, _, sid = clinic.ready(pid)
    limit = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()[
        "thorax_limit_mm"
    ]
    deep = {**TRAP, "depth_mm": limit + 3}
    r = clinic.post(f"/api/needling-sessions/{sid}/entries", deep)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "over_limit_reason"]
    ok = clinic.post(
        f"/api/needling-sessions/{sid}/entries",
        {**deep, "over_limit_reason": "Pincer grip, needle directed into fingers"},
        201,
    ).json()
    assert ok["over_limit_reason"].startswith("Pincer") and ok["depth_limit_mm"] == limit


def test_missing_bmi_applies_the_most_conservative_limit(clinic):
    pid = new_patient(clinic.c, clinic.person, given_name="No", family_name="Bmi", sex="male")
    _, _, sid = clinic.ready(pid)
    from triggerpoint.safety.depth import max_thorax_depth

    assert (
        clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()["thorax_limit_mm"]
        == max_thorax_depth(None).max_depth_mm
    )


def test_restrictions_block_the_limb_and_electrical_stimulation_each_on_its_own(clinic):
    _, _, sid = clinic.ready(lymphoedema="left arm", pacemaker=None)
    estim = {"frequency_hz": 2, "pulse_width_us": 250, "intensity_ma": 5}
    url = f"/api/needling-sessions/{sid}/entries"
    r = clinic.post(url, {**TRAP, "technique": "electrical", "estim": estim})
    assert r.status_code == 409 and "electrical" in r.text
    arm = {**TRAP, "muscle": "deltoid", "side": "left", "trigger_point_id": "middle"}
    r = clinic.post(url, arm)
    assert r.status_code == 409 and "left upper limb" in r.text and "Deltoid" in r.text
    clinic.post(url, {**arm, "side": "right"}, 201)  # the other arm is allowed
    session = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()
    assert any("Lymphoedema" in p for p in session["precautions"])
    assert sorted(r["scope"] for r in session["restrictions"]) == ["electrical", "limb"]


def test_cannot_sign_with_a_needle_unaccounted_for(clinic):
    _, _, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    assert (
        "count the needles"
        in clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": 1}, 409).text
    )
    s = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    assert (
        "1 needle(s) unaccounted"
        in clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 409).text
    )
    clinic.post(
        f"/api/needling-sessions/{sid}/adverse-events",
        {
            "type": "broken_or_retained_needle",
            "severity": "moderate",
            "action_taken": "Searched the couch and floor; patient informed; incident form filed",
            "needles_unaccounted": 1,
        },
        201,
    )
    assert (
        clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200).json()[
            "status"
        ]
        == "signed"
    )


def test_signed_session_is_immutable_but_takes_addenda(clinic):
    _, _, sid = clinic.ready()
    clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    s = clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    assert (
        clinic.post(f"/api/needling-sessions/{sid}/addenda", {"text": "early"}, 409).status_code
        == 409
    )
    clinic.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    assert clinic.post(f"/api/needling-sessions/{sid}/entries", TRAP, 409).status_code == 409
    assert (
        clinic.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 3}, 409).status_code
        == 409
    )
    assert (
        clinic.post(
            f"/api/needling-sessions/{sid}/sign", {"version": s["version"] + 1}, 409
        ).status_code
        == 409
    )
    clinic.post(
        f"/api/needling-sessions/{sid}/addenda",
        {"text": "Patient phoned: soreness settled after 48 h."},
        201,
    )
    after = clinic.c.get(f"/api/needling-sessions/{sid}", headers=clinic.h).json()
    assert after["needles_in"] == 1 and after["addenda"][0]["text"].startswith("Patient phoned")


def test_suspected_pneumothorax_is_urgent(clinic):
    _, _, sid = clinic.ready()
    ae = clinic.post(
        f"/api/needling-sessions/{sid}/adverse-events",
        {
            "type": "suspected_pneumothorax",
            "severity": "major",
            "action_taken": "Emergency services called",
        },
        201,
    ).json()
    assert ae["urgent"] is True


def test_billing_counts_distinct_muscles(clinic):
    _, _, sid = clinic.ready()
    for muscle in ("upper trapezius", "upper trapezius"):
        clinic.post(f"/api/needling-sessions/{sid}/entries", {**TRAP, "muscle": muscle}, 201)
    assert (
        clinic.c.get(f"/api/needling-sessions/{sid}/billing", headers=clinic.h).json()["cpt"]
        == "20560"
    )


def test_assistant_cannot_chart_or_read_sessions(app_client, bob, clinic):
    _, _, sid = clinic.ready()
    assistant = bob.headers
    assert app_client.get(f"/api/needling-sessions/{sid}", headers=assistant).status_code == 403
    assert (
        app_client.post(
            f"/api/needling-sessions/{sid}/entries", json=TRAP, headers=assistant
        ).status_code
        == 403
    )


def test_safety_view_counts_this_clinic_only(app_client, erin, clinic):
    _, _, sid = clinic.ready()
    clinic.post(
        f"/api/needling-sessions/{sid}/adverse-events",
        {"type": "bruising", "severity": "mild", "action_taken": "pressure"},
        201,
    )
    mine = app_client.get("/api/safety/adverse-event-rates", headers=clinic.h).json()
    bruising = next(r for r in mine["by_type"] if r["type"] == "bruising")
    assert mine["sessions"] >= 1 and bruising["events"] >= 1
    assert bruising["published"] == {"brady_2014": 75.5, "boyce_2020": 77.0}
    lo, hi = bruising["ci95_per_1000"]
    assert lo <= bruising["per_1000"] <= hi
    theirs = app_client.get("/api/safety/adverse-event-rates", headers=erin.headers).json()
    assert next(r for r in theirs["by_type"] if r["type"] == "bruising")["events"] == 0


def test_unsigned_sessions_dashboard(app_client, db, clinic):
    from datetime import timedelta

    from sqlalchemy import update

    from triggerpoint.db import utcnow
    from triggerpoint.treatment.models import NeedlingSession

    _, _, sid = clinic.ready()
    assert sid not in {
        r["id"] for r in app_client.get("/api/dashboard/unsigned-sessions", headers=clinic.h).json()
    }
    db.execute(  # the test's own connection: Core, as an old session would have been left
        update(NeedlingSession)
        .where(NeedlingSession.id == sid)
        .values(opened_at=utcnow() - timedelta(hours=25))
    )
    assert sid in {
        r["id"] for r in app_client.get("/api/dashboard/unsigned-sessions", headers=clinic.h).json()
    }
