"""An episode lists each diagnosis code once (a repeat was an IntegrityError, a 500)."""

from __future__ import annotations

from tests.personas import new_patient


def test_a_repeated_diagnosis_code_is_a_422_naming_diagnoses(app_client, alice):
    pid = new_patient(app_client, alice)
    h = alice.headers
    body = {"complaint": "Neck pain", "diagnoses": [{"code": "M54.2"}, {"code": "m54.2"}]}
    r = app_client.post(f"/api/patients/{pid}/episodes", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "diagnoses" and "M54.2" in r.text
    ok = {"complaint": "Neck pain", "diagnoses": [{"code": "M54.2"}, {"code": "M79.12"}]}
    assert app_client.post(f"/api/patients/{pid}/episodes", json=ok, headers=h).status_code == 201
