"""API tokens: created in the request's own transaction, usable at once, shown once."""

from __future__ import annotations

from tests.conftest import as_person


def test_create_token_then_use_it(app_client, world):
    resp = app_client.post(
        "/api/tokens", json={"label": "laptop"}, headers=as_person(app_client, world.clinician_a)
    )
    assert resp.status_code == 201, resp.text
    token = resp.json()["token"]
    me = app_client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["username"] == world.clinician_a.principal.username


def test_token_label_is_validated(app_client, world):
    resp = app_client.post(
        "/api/tokens", json={"label": ""}, headers=as_person(app_client, world.clinician_a)
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"][-1] == "label"
