"""Records over HTTP on both engines: create, read, search, version conflicts, validation."""

from __future__ import annotations

from tests.personas import PATIENT, new_patient

NEW = {
    "given_name": "Ana",
    "family_name": "Muñoz",
    "date_of_birth": "1980-04-02",
    "sex": "female",
    "height_cm": 165,
    "weight_kg": 60,
}


def test_create_and_read_patient_with_bmi(app_client, alice):
    pid = new_patient(app_client, alice, **NEW)
    got = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert got["family_name"] == "Muñoz"
    assert got["bmi"] == 22.0
    assert got["clinic_id"] == alice.clinic_id


def test_search_ignores_case_and_accents(app_client, alice):
    new_patient(app_client, alice, **{**NEW, "family_name": "Zyxwöv", "external_id": "ZX-1"})
    hdr = alice.headers
    found = app_client.get("/api/patients", params={"q": "zyxwov"}, headers=hdr).json()
    assert [p["family_name"] for p in found["items"]] == ["Zyxwöv"]
    assert app_client.get("/api/patients", params={"q": "ZX-1"}, headers=hdr).json()["total"] == 1


def test_other_clinic_cannot_see_the_patient(app_client, alice, carol):
    pid = new_patient(app_client, alice, **NEW)
    resp = app_client.get(f"/api/patients/{pid}", headers=carol.headers)
    assert resp.status_code == 404
    listing = app_client.get("/api/patients", headers=carol.headers).json()
    assert pid not in {row["id"] for row in listing["items"]}


def test_stale_edit_gets_409_and_changes_nothing(app_client, alice):
    hdr = alice.headers
    pid = new_patient(app_client, alice, **NEW)
    first = app_client.put(
        f"/api/patients/{pid}", json={**NEW, "given_name": "Ann", "version": 1}, headers=hdr
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = app_client.put(
        f"/api/patients/{pid}", json={**NEW, "given_name": "Anita", "version": 1}, headers=hdr
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]
    assert app_client.get(f"/api/patients/{pid}", headers=hdr).json()["given_name"] == "Ann"


def test_field_level_validation(app_client, alice):
    hdr = alice.headers
    resp = app_client.post(
        "/api/patients", json={**NEW, "date_of_birth": "2999-01-01", "height_cm": 5}, headers=hdr
    )
    assert resp.status_code == 422
    locs = {tuple(e["loc"]) for e in resp.json()["detail"]}
    assert {("body", "date_of_birth"), ("body", "height_cm")} <= locs


def test_malformed_json_is_422(app_client, alice):
    hdr = {**alice.headers, "content-type": "application/json"}
    assert app_client.post("/api/patients", content=b"{not json", headers=hdr).status_code == 422


def test_pain_drawing_resolves_names_and_rejects_unknown_without_writing(app_client, alice):
    hdr = alice.headers
    pid = new_patient(app_client, alice, **NEW)
    ok = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
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
        f"/api/patients/{pid}/pain-drawings",
        json={"complete": True, "marks": [{"region": "right temple"}, {"region": "right tempel"}]},
        headers=hdr,
    )
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "marks", "1", "region"]
    assert len(app_client.get(f"/api/patients/{pid}/pain-drawings", headers=hdr).json()) == 1


def test_assistant_never_sees_clinical_notes(app_client, alice, bob):
    pid = new_patient(app_client, alice, **NEW)
    visit = app_client.post(
        f"/api/patients/{pid}/visits",
        json={
            "visit_at": "2026-11-20T09:00:00+00:00",
            "notes": "Taut band in right upper trapezius.",
        },
        headers=alice.headers,
    )
    assert visit.status_code == 201
    seen = app_client.get(f"/api/patients/{pid}/visits", headers=bob.headers).json()
    assert seen[0]["notes"] is None
    mine = app_client.get(f"/api/patients/{pid}/visits", headers=alice.headers).json()
    assert mine[0]["notes"].startswith("Taut band")


def test_assistant_cannot_open_an_episode(app_client, bob):
    pid = new_patient(app_client, bob, **NEW)
    resp = app_client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "Neck pain"},
        headers=bob.headers,
    )
    assert resp.status_code == 403


def test_episode_diagnosis_codes_are_codes(app_client, alice):
    hdr = alice.headers
    pid = new_patient(app_client, alice, **NEW)
    ok = app_client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "Neck and temple pain", "diagnoses": [{"code": "m79.12"}]},
        headers=hdr,
    )
    assert ok.status_code == 201 and ok.json()["diagnoses"] == [
        {"code": "M79.12", "system": "ICD-10-CM"}
    ]
    bad = app_client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "x pain", "diagnoses": [{"code": "myalgia"}]},
        headers=hdr,
    )
    assert bad.status_code == 422


def test_consent_requires_key_risks_and_can_be_withdrawn_once(app_client, alice):
    hdr = alice.headers
    pid = new_patient(app_client, alice, **NEW)
    signed = {"signed_by": "Ana Muñoz", "signed_at": "2026-11-20T09:00:00+00:00"}

    def consent(*risks):
        body = {"risks_disclosed": list(risks), **signed}
        return app_client.post(f"/api/patients/{pid}/consents", json=body, headers=hdr)

    bad = consent("bruising")
    assert bad.status_code == 422 and "pneumothorax" in bad.text
    c = consent("bruising", "post_needling_soreness", "pneumothorax")
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


def test_unauthenticated_api_is_401(app_client, db):
    assert app_client.get("/api/patients").status_code == 401
    assert (
        app_client.get("/api/patients", headers={"Authorization": "Bearer nope"}).status_code == 401
    )


def test_visit_with_pain_drawing_is_one_transaction(app_client, alice):
    hdr = alice.headers
    pid = new_patient(app_client, alice, **NEW)

    def visit(day, region):
        drawing = {"complete": True, "marks": [{"region": region}]}
        body = {"visit_at": f"2026-11-{day}T10:00:00+00:00", "pain_drawing": drawing}
        return app_client.post(f"/api/patients/{pid}/visits", json=body, headers=hdr)

    ok = visit(21, "right temple")
    assert ok.status_code == 201 and ok.json()["pain_drawing_id"]
    bad = visit(22, "nowhere")
    assert bad.status_code == 422
    assert (
        len(app_client.get(f"/api/patients/{pid}/visits", headers=hdr).json()) == 1
    )  # the visit was not half-written


def test_blank_external_ids_are_no_ids_not_duplicates(app_client, alice):
    headers = alice.headers
    body = {**PATIENT, "given_name": "Blank", "family_name": "Id"}
    for _ in range(2):
        r = app_client.post("/api/patients", json={**body, "external_id": "  "}, headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["external_id"] is None


def test_nul_characters_are_refused_per_field_on_both_engines(app_client, alice):
    # PostgreSQL cannot store NUL in text; both engines give the same 422 naming the field.
    headers = alice.headers
    body = {**PATIENT, "given_name": "Nul\u0000", "family_name": "Char", "sex": "male"}
    r = app_client.post("/api/patients", json=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"][-1] == "given_name"
    r = app_client.post("/api/tokens", json={"label": "\u0000"}, headers=headers)
    assert r.status_code == 422
    pid = new_patient(app_client, alice, **{**body, "given_name": "Clean"})
    r = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-01T10:00:00+00:00", "notes": "free text\u0000"},
        headers=headers,
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "notes"
