"""FHIR export: a valid R4 bundle with the required resources and codes."""

from __future__ import annotations

from fhir.resources.R4B.bundle import Bundle

from tests.conftest import as_person


def _types(bundle) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for e in bundle["entry"]:
        out.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    return out


def test_export_is_a_valid_r4_bundle_with_codes(app_client, world, full_patient):
    resp = app_client.get(
        f"/api/patients/{full_patient}/fhir", headers=as_person(app_client, world.clinician_a)
    )
    assert resp.status_code == 200, resp.text
    bundle = resp.json()
    Bundle.model_validate(bundle)  # R4B validation, independent of the exporter's own check
    t = _types(bundle)
    assert {
        "Patient",
        "Encounter",
        "Condition",
        "Procedure",
        "Observation",
        "QuestionnaireResponse",
        "AdverseEvent",
        "Consent",
    } <= set(t)
    assert {c["code"]["coding"][0]["code"] for c in t["Condition"]} == {"M79.12", "M54.2"}
    assert all(
        c["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
        for c in t["Condition"]
    )
    (proc,) = t["Procedure"]
    assert proc["code"]["coding"][0] == {
        "system": "http://www.ama-assn.org/go/cpt",
        "code": "20560",
        "display": "Needle insertion(s) without injection(s); 1 or 2 muscle(s)",
    }
    assert {b["text"] for b in proc["bodySite"]} == {
        "right Upper trapezius",
        "left Upper trapezius",
    }
    exts = {e["url"].rsplit("/", 1)[-1]: e for e in proc["extension"]}
    assert exts["signed-by"]["valueString"] == "clinician_a" and exts["signed-at"]["valueDateTime"]
    assert "imported" not in exts  # charted here, not imported
    needle = next(e for e in proc["extension"] if e["url"].endswith("/needle-entry"))
    assert {"url": "pleural_recess_acknowledged", "valueBoolean": False} in needle["extension"]
    assert proc["performedDateTime"]
    codes = {o["code"]["coding"][0]["code"] for o in t["Observation"]}
    assert {"72514-3", "97909-6", "ndi", "ppt"} <= codes
    incomplete = next(o for o in t["Observation"] if o["code"]["coding"][0]["code"] == "ndi")
    assert "valueQuantity" not in incomplete and incomplete["dataAbsentReason"]
    refs = {e["fullUrl"] for e in bundle["entry"]}
    assert (
        proc["encounter"]["reference"] in refs
        and t["AdverseEvent"][0]["suspectEntity"][0]["instance"]["reference"] in refs
    )


def test_export_is_isolated_and_role_checked(app_client, world, full_patient):
    assert (
        app_client.get(
            f"/api/patients/{full_patient}/fhir", headers=as_person(app_client, world.clinician_b)
        ).status_code
        == 404
    )
    assert (
        app_client.get(
            f"/api/patients/{full_patient}/fhir", headers=as_person(app_client, world.assistant_a)
        ).status_code
        == 403
    )


def _normalise(bundle: dict) -> list[dict]:
    """Resources without the things that legitimately differ between two clinics: generated
    references, local row ids (patient, visit, episode), the record's identity in its clinic
    and the marker an imported session carries."""
    import json

    local = (
        "urn:triggerpoint:patient-id",
        "urn:triggerpoint:visit-id",
        "urn:triggerpoint:record-id",
    )

    def clean(node):
        if isinstance(node, dict):
            if node.get("system") in local:
                return {**node, "value": "n"}
            if node.get("url", "").endswith(("/episode-id", "/imported")):
                return None
            return {k: v for k, v in ((k, clean(v)) for k, v in node.items()) if v is not None}
        if isinstance(node, list):
            return [c for c in (clean(x) for x in node) if c is not None]
        if isinstance(node, str) and node.startswith("urn:uuid:"):
            return "ref"
        return node

    return sorted(
        (clean(e["resource"]) for e in bundle["entry"]), key=lambda r: json.dumps(r, sort_keys=True)
    )


def test_reimport_into_an_empty_clinic_round_trips(app_client, world, full_patient):
    from triggerpoint.accounts.service import create_api_token, create_clinic, create_user
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import open_session

    original = app_client.get(
        f"/api/patients/{full_patient}/fhir", headers=as_person(app_client, world.clinician_a)
    ).json()
    with open_session(clinic_id=None) as s:
        c = create_clinic(s, name=f"Empty clinic {full_patient}", actor=Actor.system())
        u, _ = create_user(
            s,
            clinic_id=c.id,
            username=f"importer{full_patient}",
            full_name="I",
            role="clinician",
            actor=Actor.system(),
            password="imports only 12345",
        )
        u.must_change_password = False
        token = create_api_token(s, user_id=u.id, label="t", actor=Actor.system())
        s.commit()
    hdr = {"Authorization": f"Bearer {token}"}
    resp = app_client.post("/api/fhir/import", json=original, headers=hdr)
    assert resp.status_code == 201, resp.text
    again = app_client.get(f"/api/patients/{resp.json()['patient_id']}/fhir", headers=hdr).json()
    assert _normalise(again) == _normalise(original)
    assert app_client.get("/api/patients", headers=hdr).json()["total"] == 1
    imported = [e for p in _types(again)["Procedure"] for e in p["extension"]]
    assert {"url": "urn:triggerpoint:fhir:extension/imported", "valueBoolean": True} in imported
    assert not any(
        e["url"].endswith("/imported") for e in _types(original)["Procedure"][0]["extension"]
    )


def test_import_rejects_an_invalid_bundle_and_writes_nothing(app_client, world):
    hdr = as_person(app_client, world.clinician_b)
    before = app_client.get("/api/patients", headers=hdr).json()["total"]
    bad = app_client.post(
        "/api/fhir/import",
        json={
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": {"resourceType": "Patient", "gender": "sometimes"}}],
        },
        headers=hdr,
    )
    # The refusal names the resource (it used to be just "bundle").
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "Patient"]
    assert app_client.get("/api/patients", headers=hdr).json()["total"] == before
