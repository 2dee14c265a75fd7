"""A patient's SOAP notes survive FHIR export and import into another clinic: the same
content, times, names and status, through notes.service; a bad Composition is refused
naming the element, and nothing is written."""

from __future__ import annotations

import copy
import json

import pytest

from tests.notes.conftest import NOTE, Notes
from tests.personas import new_clinic, new_person


@pytest.fixture
def importer(app_client, db):
    return new_person(new_clinic("Notes import"), "clinician", prefix="importer")


def _compositions(bundle) -> list[dict]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Composition"
    ]


def _clean(node):
    """References differ between clinics (generated ids); nothing else may."""
    if isinstance(node, dict):
        return {k: _clean(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_clean(x) for x in node]
    return "ref" if isinstance(node, str) and node.startswith("urn:uuid:") else node


@pytest.fixture
def exported(app_client, notes, needled):
    """A signed note with an addendum at a needled visit, and a draft at a second visit."""
    notes.put(needled.visit_id, NOTE)
    needled.count_and_sign()
    notes.addendum(needled.visit_id, "Phoned: better.")
    second = needled.clinic.visit(needled.patient_id)
    notes.put(second, {"subjective": "Draft only", "pain_now_nprs": 3})
    r = app_client.get(f"/api/patients/{needled.patient_id}/fhir", headers=notes.person.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_notes_round_trip_into_another_clinic(app_client, exported, importer):
    r = app_client.post("/api/fhir/import", json=exported, headers=importer.headers)
    assert r.status_code == 201, r.text
    again = app_client.get(f"/api/patients/{r.json()['patient_id']}/fhir", headers=importer.headers)
    before, after = _compositions(exported), _compositions(again.json())
    assert len(before) == 2 and _clean(after) == _clean(before)
    final = next(c for c in after if c["status"] == "final")
    assert final["author"] == [{"display": "Alice"}]  # the original author, not the importer
    visits = app_client.get(
        f"/api/patients/{r.json()['patient_id']}/visits", headers=importer.headers
    ).json()
    reader = Notes(app_client, importer)
    signed = next(n for n in (reader.get(v["id"]) for v in visits) if n["status"] == "signed")
    assert signed["signer"] == "Alice" and signed["addenda"][0]["author"] == "Alice"
    assert signed["subjective"] == NOTE["subjective"] and signed["pain_now_nprs"] == 6
    # signed means read-only in the new clinic too
    reader.put(signed["visit_id"], {**NOTE, "version": signed["version"]}, 409)


def _broken(bundle, change) -> dict:
    b = copy.deepcopy(bundle)
    comp = next(c for c in _compositions(b) if c["status"] == "final")
    change(comp)
    return b


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda c: c.update(status="amended"), "Composition[0].status"),
        (lambda c: c["section"][0]["extension"][1].update(valueInteger=11), "pain_now_nprs"),
        (lambda c: c["section"][0].update(entry=[{"reference": "x"}]), "section[0].entry"),
        (lambda c: c["section"][1]["code"]["coding"][0].update(code="1-1"), "section[1].code"),
        (lambda c: c["encounter"].update(reference="urn:uuid:nowhere"), "encounter"),
        (lambda c: c["section"][0]["extension"][0].update(valueString="a\x00b"), "soap-text"),
        (lambda c: c.update(attester=[{"mode": "legal"}]), "attester[0].time"),
    ],
)
def test_a_bad_composition_is_refused_naming_the_element(
    app_client, exported, importer, change, where
):
    before = app_client.get("/api/patients", headers=importer.headers).json()["total"]
    r = app_client.post(
        "/api/fhir/import", json=_broken(exported, change), headers=importer.headers
    )
    assert r.status_code == 422, r.text
    assert where in json.dumps(r.json()["detail"]), r.json()
    assert app_client.get("/api/patients", headers=importer.headers).json()["total"] == before
