"""The reads the needling pages and reports need live in treatment.service, and every caller
uses them: `needling_for_visit` (this visit's session), `needling_suggestions` (the bedside
suggestions, planned ones left out) and `patient_sessions` (a patient's sessions).

Each "uses it" test wraps the service function in a spy and drives the real page or report:
a caller with its own copy of the read would leave the spy uncalled.
"""

from __future__ import annotations

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from tests.treatment.test_needling_flow import NO, RISKS
from triggerpoint.db import open_session
from triggerpoint.inference.service import suggest, suggest_unplanned
from triggerpoint.treatment import service

PAIN = ["right temple", "right angle of jaw", "right upper posterior neck"]


@pytest.fixture
def bedside(app_client, alice) -> dict[str, int]:
    """A visit with a pain drawing, screened, consented and confirmed: ready to open."""
    h = alice.headers
    pid = new_patient(app_client, alice, height_cm=175, weight_kg=70)
    vid = app_client.post(
        f"/api/patients/{pid}/visits",
        json={
            "visit_at": "2026-11-20T10:00:00+00:00",
            "pain_drawing": {"complete": False, "marks": [{"region": r} for r in PAIN]},
        },
        headers=h,
    ).json()["id"]
    for path, body in [
        (f"/api/patients/{pid}/screenings", {"answers": NO}),
        (
            f"/api/patients/{pid}/consents",
            {
                "risks_disclosed": RISKS,
                "signed_by": "Bed Side",
                "signed_at": "2026-11-20T09:00:00+00:00",
            },
        ),
    ]:
        assert app_client.post(path, json=body, headers=h).status_code == 201
    assert (
        app_client.post(f"/api/visits/{vid}/screening-confirmation", headers=h).status_code == 200
    )
    return {"patient_id": pid, "visit_id": vid}


def _open(app_client, alice, vid) -> int:
    r = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=alice.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _spy(monkeypatch, name: str) -> list[dict]:
    calls: list[dict] = []
    real = getattr(service, name)

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, name, spy)
    return calls


def test_needling_for_visit(app_client, alice, bedside):
    vid = bedside["visit_id"]
    with open_session(clinic_id=alice.clinic_id) as s:
        assert service.needling_for_visit(s, visit_id=vid) is None
    sid = _open(app_client, alice, vid)
    with open_session(clinic_id=alice.clinic_id) as s:
        assert service.needling_for_visit(s, visit_id=vid).id == sid


def test_every_caller_finds_the_visits_session_through_needling_for_visit(
    app_client, alice, bedside, monkeypatch
):
    pid, vid = bedside["patient_id"], bedside["visit_id"]
    calls = _spy(monkeypatch, "needling_for_visit")
    browser, csrf = logged_in(app_client, alice)
    opened = browser.post(f"/visits/{vid}/needling/open", data={"csrf_token": csrf})
    assert opened.status_code == 200 and '<strong id="session-status">open</strong>' in opened.text
    paths = {"action": len(calls)}  # the action's look-up, open_session's, then the page's
    browser.get(f"/visits/{vid}/needling")
    paths["page"] = len(calls)
    note = browser.get(f"/patients/{pid}/reports/visit-note", params={"visit": vid})
    assert note.status_code == 200
    paths["visit note"] = len(calls)
    again = app_client.post("/api/needling-sessions", json={"visit_id": vid}, headers=alice.headers)
    assert again.status_code == 409 and "already has a needling session" in again.json()["detail"]
    paths["open (API)"] = len(calls)
    assert paths == {"action": 3, "page": 4, "visit note": 5, "open (API)": 6}
    assert {c["visit_id"] for c in calls} == {vid}


def test_suggestions_leave_out_planned_targets(app_client, alice, bedside):
    pid, vid = bedside["patient_id"], bedside["visit_id"]
    sid = _open(app_client, alice, vid)
    ranked = suggest({"pain": PAIN, "complete": False}, top=8).candidates
    with open_session(clinic_id=alice.clinic_id) as s:
        ns = service.needling_for_visit(s, visit_id=vid)
        first = service.needling_suggestions(s, principal=alice.principal, needling=ns)
    assert first["painful_count"] == len(PAIN)
    assert [c.uid for c in first["suggestions"]] == [c.uid for c in ranked[:6]]
    top = ranked[0]
    r = app_client.post(
        f"/api/needling-sessions/{sid}/targets",
        json={"muscle": top.muscle_id, "side": top.side, "trigger_point_id": top.trigger_point_id},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    with open_session(clinic_id=alice.clinic_id) as s:
        ns = service.needling_for_visit(s, visit_id=vid)
        then = service.needling_suggestions(s, principal=alice.principal, needling=ns)
    assert [c.uid for c in then["suggestions"]] == [c.uid for c in ranked[1:7]]
    planned = {(top.muscle_id, top.side, top.trigger_point_id)}
    assert [c.uid for c in suggest_unplanned({"pain": PAIN}, planned=planned)] == [
        c.uid for c in ranked[1:7]
    ]
    assert pid  # the drawing was the visit's own


def test_no_suggestions_once_signed_or_without_a_drawing(app_client, alice, bedside):
    vid = bedside["visit_id"]
    sid = _open(app_client, alice, vid)
    h = alice.headers
    count = app_client.post(
        f"/api/needling-sessions/{sid}/count", json={"needles_out": 0}, headers=h
    )
    assert count.status_code == 200, count.text
    signed = app_client.post(
        f"/api/needling-sessions/{sid}/sign", json={"version": count.json()["version"]}, headers=h
    )
    assert signed.status_code == 200, signed.text
    with open_session(clinic_id=alice.clinic_id) as s:
        ns = service.needling_for_visit(s, visit_id=vid)
        out = service.needling_suggestions(s, principal=alice.principal, needling=ns)
    assert out == {"suggestions": [], "painful_count": 0, "restricted": {}}


def test_the_needling_page_shows_the_services_suggestions(app_client, alice, bedside, monkeypatch):
    vid = bedside["visit_id"]
    _open(app_client, alice, vid)
    calls = _spy(monkeypatch, "needling_suggestions")
    browser, _csrf = logged_in(app_client, alice)
    page = browser.get(f"/visits/{vid}/needling")
    assert page.status_code == 200 and len(calls) == 1
    with open_session(clinic_id=alice.clinic_id) as s:
        ns = service.needling_for_visit(s, visit_id=vid)
        shown = service.needling_suggestions(s, principal=alice.principal, needling=ns)[
            "suggestions"
        ]
    items = page.text.split('<ol id="suggestions"', 1)[1].split("</ol>", 1)[0]
    assert items.count("<li>") == len(shown) == 6
    assert all(c.muscle in items for c in shown)


def test_reports_list_a_patients_sessions_through_treatment(
    app_client, alice, bedside, monkeypatch
):
    pid, vid = bedside["patient_id"], bedside["visit_id"]
    sid = _open(app_client, alice, vid)
    with open_session(clinic_id=alice.clinic_id) as s:
        assert [
            ns.id for ns in service.patient_sessions(s, principal=alice.principal, patient_id=pid)
        ] == [sid]
    calls = _spy(monkeypatch, "patient_sessions")
    browser, _csrf = logged_in(app_client, alice)
    assert browser.get(f"/patients/{pid}/outcomes").status_code == 200
    assert browser.get(f"/patients/{pid}/reports/progress").status_code == 200
    assert [c["patient_id"] for c in calls] == [pid, pid]
