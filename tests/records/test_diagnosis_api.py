"""Diagnoses through the API: one service (`add_diagnosis`) checks the code against the
ICD-10-CM list, refuses a repeat and another clinic's episode; the code search."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import logged_in
from tests.personas import Person, new_patient


def _episode(client: TestClient, person: Person, **body) -> tuple[int, int]:
    pid = new_patient(client, person, given_name="Dia", family_name="Gnosis")
    r = client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "Neck and head pain", **body},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return pid, r.json()["id"]


def _add(client: TestClient, person: Person, pid: int, eid: int, code: str):
    return client.post(
        f"/api/patients/{pid}/episodes/{eid}/diagnoses", json={"code": code}, headers=person.headers
    )


def test_a_listed_code_is_added_and_listed(app_client, alice):
    pid, eid = _episode(app_client, alice)
    r = _add(app_client, alice, pid, eid, "m79.12")
    assert r.status_code == 201, r.text
    assert r.json()["diagnoses"] == [{"code": "M79.12", "system": "ICD-10-CM"}]
    listed = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert [d["code"] for d in listed[0]["diagnoses"]] == ["M79.12"]


def test_an_unlisted_code_is_422_naming_code_with_the_nearest(app_client, alice):
    pid, eid = _episode(app_client, alice)
    r = _add(app_client, alice, pid, eid, "M79.9")
    assert r.status_code == 422
    err = r.json()["detail"][0]
    assert err["loc"] == ["body", "code"]
    assert "not in triggerpoint's ICD-10-CM list" in err["msg"] and "M79.10" in err["msg"]
    header = _add(app_client, alice, pid, eid, "M54.5").json()["detail"][0]
    assert header["loc"] == ["body", "code"] and "M54.50" in header["msg"]
    listed = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert listed[0]["diagnoses"] == []  # nothing half-written


def test_a_repeated_code_is_409(app_client, alice):
    pid, eid = _episode(app_client, alice, diagnoses=[{"code": "M54.2"}])
    r = _add(app_client, alice, pid, eid, "m54.2")
    assert r.status_code == 409 and "already has the diagnosis M54.2" in r.json()["detail"]


def test_creating_an_episode_checks_codes_by_the_same_rule(app_client, alice):
    pid = new_patient(app_client, alice)
    body = {"complaint": "Low back pain", "diagnoses": [{"code": "M54.50"}, {"code": "M54.5"}]}
    r = app_client.post(f"/api/patients/{pid}/episodes", json=body, headers=alice.headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "diagnoses", 1, "code"]
    assert app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json() == []


def test_another_clinics_episode_is_not_found(app_client, alice, carol, erin):
    pid, eid = _episode(app_client, alice)
    for other in (carol, erin):
        assert _add(app_client, other, pid, eid, "M79.12").status_code == 404
        gone = app_client.delete(
            f"/api/patients/{pid}/episodes/{eid}/diagnoses/M79.12", headers=other.headers
        )
        assert gone.status_code == 404
    # erin's own patient with alice's episode id: the episode is still not found
    theirs = new_patient(app_client, erin)
    assert _add(app_client, erin, theirs, eid, "M79.12").status_code == 404


def test_another_patients_episode_is_422_naming_episode_id(app_client, alice):
    _, eid = _episode(app_client, alice)
    other = new_patient(app_client, alice)
    r = _add(app_client, alice, other, eid, "M79.12")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "episode_id"


def test_the_assistant_may_not_add_or_remove_a_diagnosis(app_client, alice, bob):
    pid, eid = _episode(app_client, alice, diagnoses=[{"code": "M54.2"}])
    assert _add(app_client, bob, pid, eid, "M79.12").status_code == 403
    r = app_client.delete(
        f"/api/patients/{pid}/episodes/{eid}/diagnoses/M54.2", headers=bob.headers
    )
    assert r.status_code == 403


def test_a_diagnosis_is_removed_and_audited(app_client, alice):
    from sqlalchemy import select

    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    pid, eid = _episode(app_client, alice, diagnoses=[{"code": "M54.2"}, {"code": "M79.12"}])
    url = f"/api/patients/{pid}/episodes/{eid}/diagnoses"
    r = app_client.delete(f"{url}/m54.2", headers=alice.headers)
    assert r.status_code == 200 and [d["code"] for d in r.json()["diagnoses"]] == ["M79.12"]
    again = app_client.delete(f"{url}/M54.2", headers=alice.headers)
    assert again.status_code == 404
    bad = app_client.delete(f"{url}/M54%00", headers=alice.headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "code"
    with open_session(clinic_id=None) as s:
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "diagnosis", AuditEvent.user_id == alice.user_id
            )
        ).all()
    assert ("delete", {"patient_id": pid, "episode_id": eid}) in [
        (e.action, e.detail) for e in events
    ]


def test_the_progress_report_shows_the_added_diagnosis(app_client, alice):
    pid, eid = _episode(app_client, alice)
    client, _ = logged_in(app_client, alice)
    assert "M79.12" not in client.get(f"/patients/{pid}/reports/progress").text
    assert _add(app_client, alice, pid, eid, "M79.12").status_code == 201
    report = client.get(f"/patients/{pid}/reports/progress").text
    assert "No diagnosis recorded" not in report and "<strong>M79.12</strong>" in report
    assert "<strong>M79.12</strong> Myalgia of auxiliary muscles, head and neck" in report


# --- the code search ---------------------------------------------------------------------


def test_the_code_search_answers_code_title_and_billable(app_client, bob):
    r = app_client.get("/api/icd10cm", params={"q": "myalgia neck"}, headers=bob.headers)
    assert r.status_code == 200
    assert r.json() == [
        {
            "code": "M79.12",
            "display": "Myalgia of auxiliary muscles, head and neck",
            "billable": True,
        }
    ]
    family = app_client.get("/api/icd10cm", params={"q": "M79.1", "limit": 2}, headers=bob.headers)
    assert [(c["code"], c["billable"]) for c in family.json()] == [
        ("M79.1", False),
        ("M79.10", True),
    ]


def test_a_bad_query_is_422_naming_q(app_client, alice):
    for q in ("x" * 101, "M79\x00"):
        r = app_client.get("/api/icd10cm", params={"q": q}, headers=alice.headers)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["query", "q"]
    assert app_client.get("/api/icd10cm", params={"q": "M79"}).status_code == 401
