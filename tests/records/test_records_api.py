"""Records over HTTP on both engines: create, read, search, version conflicts, validation."""

from __future__ import annotations

from tests.conftest import as_person

NEW = {
    "given_name": "Ana",
    "family_name": "Muñoz",
    "date_of_birth": "1980-04-02",
    "sex": "female",
    "height_cm": 165,
    "weight_kg": 60,
}


def _create(app_client, person, **over):
    resp = app_client.post(
        "/api/patients", json={**NEW, **over}, headers=as_person(app_client, person)
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_create_and_read_patient_with_bmi(app_client, world):
    p = _create(app_client, world.clinician_a)
    got = app_client.get(
        f"/api/patients/{p['id']}", headers=as_person(app_client, world.clinician_a)
    ).json()
    assert got["family_name"] == "Muñoz"
    assert got["bmi"] == 22.0
    assert got["clinic_id"] == world.clinic_a


def test_search_ignores_case_and_accents(app_client, world):
    _create(app_client, world.clinician_a, family_name="Zyxwöv", external_id="ZX-1")
    hdr = as_person(app_client, world.clinician_a)
    found = app_client.get("/api/patients", params={"q": "zyxwov"}, headers=hdr).json()
    assert [p["family_name"] for p in found["items"]] == ["Zyxwöv"]
    assert app_client.get("/api/patients", params={"q": "ZX-1"}, headers=hdr).json()["total"] == 1


def test_other_clinic_cannot_see_the_patient(app_client, world):
    p = _create(app_client, world.clinician_a)
    resp = app_client.get(
        f"/api/patients/{p['id']}", headers=as_person(app_client, world.clinician_b)
    )
    assert resp.status_code == 404
    listing = app_client.get(
        "/api/patients", headers=as_person(app_client, world.clinician_b)
    ).json()
    assert p["id"] not in {row["id"] for row in listing["items"]}


def test_stale_edit_gets_409_and_changes_nothing(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    p = _create(app_client, world.clinician_a)
    first = app_client.put(
        f"/api/patients/{p['id']}", json={**NEW, "given_name": "Ann", "version": 1}, headers=hdr
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = app_client.put(
        f"/api/patients/{p['id']}", json={**NEW, "given_name": "Anita", "version": 1}, headers=hdr
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]
    assert app_client.get(f"/api/patients/{p['id']}", headers=hdr).json()["given_name"] == "Ann"


def test_field_level_validation(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    resp = app_client.post(
        "/api/patients", json={**NEW, "date_of_birth": "2999-01-01", "height_cm": 5}, headers=hdr
    )
    assert resp.status_code == 422
    locs = {tuple(e["loc"]) for e in resp.json()["detail"]}
    assert {("body", "date_of_birth"), ("body", "height_cm")} <= locs


def test_malformed_json_is_422(app_client, world):
    hdr = {**as_person(app_client, world.clinician_a), "content-type": "application/json"}
    assert app_client.post("/api/patients", content=b"{not json", headers=hdr).status_code == 422


def test_pain_drawing_resolves_names_and_rejects_unknown_without_writing(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    p = _create(app_client, world.clinician_a)
    ok = app_client.post(
        f"/api/patients/{p['id']}/pain-drawings",
        json={
            "complete": True,
            "marks": [{"region": "right temple", "intensity": 6}, {"region": "right thumb"}],
        },
        headers=hdr,
    )
    assert ok.status_code == 201, ok.text
    assert {m["region_id"] for m in ok.json()["marks"]} == {
        "right_temple",
        "right_thumb_palmar",
        "right_thumb_dorsal",
    }
    bad = app_client.post(
        f"/api/patients/{p['id']}/pain-drawings",
        json={"complete": True, "marks": [{"region": "right temple"}, {"region": "right tempel"}]},
        headers=hdr,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "marks", "1", "region"]
    assert len(app_client.get(f"/api/patients/{p['id']}/pain-drawings", headers=hdr).json()) == 1


def test_assistant_never_sees_clinical_notes(app_client, world):
    p = _create(app_client, world.clinician_a)
    visit = app_client.post(
        f"/api/patients/{p['id']}/visits",
        json={
            "visit_at": "2026-11-20T09:00:00+00:00",
            "notes": "Taut band in right upper trapezius.",
        },
        headers=as_person(app_client, world.clinician_a),
    )
    assert visit.status_code == 201
    seen = app_client.get(
        f"/api/patients/{p['id']}/visits", headers=as_person(app_client, world.assistant_a)
    ).json()
    assert seen[0]["notes"] is None
    mine = app_client.get(
        f"/api/patients/{p['id']}/visits", headers=as_person(app_client, world.clinician_a)
    ).json()
    assert mine[0]["notes"].startswith("Taut band")


def test_assistant_cannot_open_an_episode(app_client, world):
    p = _create(app_client, world.assistant_a)
    resp = app_client.post(
        f"/api/patients/{p['id']}/episodes",
        json={"complaint": "Neck pain"},
        headers=as_person(app_client, world.assistant_a),
    )
    assert resp.status_code == 403


def test_episode_diagnosis_codes_are_codes(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    p = _create(app_client, world.clinician_a)
    ok = app_client.post(
        f"/api/patients/{p['id']}/episodes",
        json={"complaint": "Neck and temple pain", "diagnoses": [{"code": "m79.12"}]},
        headers=hdr,
    )
    assert ok.status_code == 201 and ok.json()["diagnoses"] == [
        {"code": "M79.12", "system": "ICD-10-CM"}
    ]
    bad = app_client.post(
        f"/api/patients/{p['id']}/episodes",
        json={"complaint": "x pain", "diagnoses": [{"code": "myalgia"}]},
        headers=hdr,
    )
    assert bad.status_code == 422


def test_consent_requires_key_risks_and_can_be_withdrawn_once(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    p = _create(app_client, world.clinician_a)
    bad = app_client.post(
        f"/api/patients/{p['id']}/consents",
        json={
            "risks_disclosed": ["bruising"],
            "signed_by": "Ana Muñoz",
            "signed_at": "2026-11-20T09:00:00+00:00",
        },
        headers=hdr,
    )
    assert bad.status_code == 422 and "pneumothorax" in bad.text
    risks = ["bruising", "post_needling_soreness", "pneumothorax"]
    c = app_client.post(
        f"/api/patients/{p['id']}/consents",
        json={
            "risks_disclosed": risks,
            "signed_by": "Ana Muñoz",
            "signed_at": "2026-11-20T09:00:00+00:00",
        },
        headers=hdr,
    )
    assert c.status_code == 201
    w = app_client.post(
        f"/api/consents/{c.json()['id']}/withdraw", json={"version": 1}, headers=hdr
    )
    assert w.status_code == 200 and w.json()["status"] == "withdrawn"
    assert (
        app_client.post(
            f"/api/consents/{c.json()['id']}/withdraw", json={"version": 2}, headers=hdr
        ).status_code
        == 409
    )


def test_unauthenticated_api_is_401(app_client, world):
    assert app_client.get("/api/patients").status_code == 401
    assert (
        app_client.get("/api/patients", headers={"Authorization": "Bearer nope"}).status_code == 401
    )


def test_visit_with_pain_drawing_is_one_transaction(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    p = _create(app_client, world.clinician_a)
    ok = app_client.post(
        f"/api/patients/{p['id']}/visits",
        json={
            "visit_at": "2026-11-21T10:00:00+00:00",
            "pain_drawing": {"complete": True, "marks": [{"region": "right temple"}]},
        },
        headers=hdr,
    )
    assert ok.status_code == 201 and ok.json()["pain_drawing_id"]
    bad = app_client.post(
        f"/api/patients/{p['id']}/visits",
        json={
            "visit_at": "2026-11-22T10:00:00+00:00",
            "pain_drawing": {"complete": True, "marks": [{"region": "nowhere"}]},
        },
        headers=hdr,
    )
    assert bad.status_code == 422
    assert (
        len(app_client.get(f"/api/patients/{p['id']}/visits", headers=hdr).json()) == 1
    )  # the visit was not half-written


def test_blank_external_ids_are_no_ids_not_duplicates(app_client, world):
    headers = as_person(app_client, world.clinician_a)
    body = {
        "given_name": "Blank",
        "family_name": "Id",
        "date_of_birth": "1990-01-01",
        "sex": "female",
    }
    for _ in range(2):
        r = app_client.post("/api/patients", json={**body, "external_id": "  "}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["external_id"] is None


def test_nul_characters_are_refused_per_field_on_both_engines(app_client, world):
    # PostgreSQL cannot store NUL in text; both engines give the same 422 naming the field.
    headers = as_person(app_client, world.clinician_a)
    body = {
        "given_name": "Nul\u0000",
        "family_name": "Char",
        "date_of_birth": "1990-01-01",
        "sex": "male",
    }
    r = app_client.post("/api/patients", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "given_name"
    r = app_client.post("/api/tokens", json={"label": "\u0000"}, headers=headers)
    assert r.status_code == 422
    pid = app_client.post(
        "/api/patients", json={**body, "given_name": "Clean"}, headers=headers
    ).json()["id"]
    r = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-01T10:00:00+00:00", "notes": "free text\u0000"},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "notes"
