"""Palpation findings travel as FHIR Observations (one per finding) and come back through
`examination.service.record_finding`, even when their visit was signed afterwards.

docs/fhir.md, "Palpation findings": the value from the palpation code system, the muscle as
bodySite (atlas-muscle code system, SNOMED CT laterality, the trigger point id), twitch and
referral as components, the visit's Encounter, effectiveDateTime = when it was recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.interop import kit
from tests.treatment.test_needling_flow import TRAP, Clinic
from triggerpoint.db import open_session
from triggerpoint.examination.models import PalpationFinding
from triggerpoint.records.models import Visit

PALPATION = "https://triggerpoint.example/fhir/CodeSystem/palpation"
ATLAS_MUSCLE = "https://triggerpoint.example/fhir/CodeSystem/atlas-muscle"
SNOMED = "http://snomed.info/sct"
EXAM = "http://terminology.hl7.org/CodeSystem/observation-category"

FINDINGS = [
    {"site": "right upper trapezius", "finding": "familiar", "twitch": True, "referral": True},
    {
        "muscle_id": "levator_scapulae",
        "side": "left",
        "trigger_point_id": "upper",
        "finding": "tender",
        "referral": False,
        "note": "band easy to find",
    },
    {"site": "right infraspinatus", "finding": "none"},
]


@pytest.fixture
def palpated(app_client, world):
    """A visit with three findings, then needled and signed (session and SOAP note)."""
    c = Clinic(app_client, world.clinician_a)
    pid, vid, sid = c.ready()
    for body in FINDINGS:
        c.post(f"/api/visits/{vid}/palpation", body, 201)
    r = app_client.put(
        f"/api/visits/{vid}/note",
        json={"objective": "Taut band in the right upper trapezius."},
        headers=c.h,
    )
    assert r.status_code in (200, 201), r.text
    c.post(f"/api/needling-sessions/{sid}/entries", TRAP, 201)
    s = c.post(f"/api/needling-sessions/{sid}/count", {"needles_out": 1}, 200).json()
    c.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
    return pid


def palpations(bundle):
    return [
        o for o in kit.of(bundle, "Observation") if o["code"]["coding"][0]["system"] == PALPATION
    ]


def _index(bundle, muscle: str) -> int:
    """n in ``Observation[n]`` of the palpation Observation on `muscle`."""
    return kit.index_of(
        bundle,
        "Observation",
        lambda o: o.get("bodySite", {}).get("coding", [{}])[0].get("code") == muscle,
    )


def _obs(bundle, muscle: str):
    return kit.of(bundle, "Observation")[_index(bundle, muscle)]


def _site_ext(obs, name):
    return next(e for e in obs["bodySite"].get("extension", []) if e["url"] == f"{kit.EXT}/{name}")


def summary(bundle):
    """What a finding says, without the bundle's own references: value, muscle, side,
    trigger point, components, time, note, and the time of the Encounter it points to."""
    encounters = {
        e["fullUrl"]: e["resource"]["period"]["start"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Encounter"
    }
    out = []
    for o in palpations(bundle):
        site = o["bodySite"]
        tp = [
            e["valueString"]
            for e in site.get("extension", [])
            if e["url"].endswith("/trigger-point")
        ]
        out.append(
            (
                o["valueCodeableConcept"]["coding"][0]["code"],
                site["coding"][0]["code"],
                _site_ext(o, "laterality")["valueCodeableConcept"]["coding"][0]["code"],
                tp[0] if tp else None,
                tuple(
                    (c["code"]["coding"][0]["code"], c["valueBoolean"])
                    for c in o.get("component", [])
                ),
                o["effectiveDateTime"],
                tuple(n["text"] for n in o.get("note", [])),
                encounters[o["encounter"]["reference"]],
            )
        )
    return sorted(out, key=lambda t: (t[1], t[2]))


def test_each_finding_is_an_exam_observation_with_body_site_and_the_code_system(
    app_client, world, palpated
):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    assert len(palpations(bundle)) == 3
    (encounter,) = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter"]

    trap = _obs(bundle, "upper_trapezius")
    assert trap["status"] == "final"
    assert trap["category"][0]["coding"][0] == {"system": EXAM, "code": "exam"}
    assert trap["code"]["coding"][0]["code"] == "palpation"
    assert trap["valueCodeableConcept"]["coding"][0] == {
        "system": PALPATION,
        "code": "familiar",
        "display": "Familiar pain reproduced",
    }
    assert trap["bodySite"]["coding"] == [
        {"system": ATLAS_MUSCLE, "code": "upper_trapezius", "display": "Upper trapezius"}
    ]
    assert _site_ext(trap, "laterality")["valueCodeableConcept"]["coding"][0]["code"] == (
        "24028007"  # SNOMED CT: Right
    )
    assert not [e for e in trap["bodySite"]["extension"] if e["url"].endswith("/trigger-point")]
    assert trap["bodySite"]["text"] == "right upper trapezius"
    assert {c["code"]["coding"][0]["code"]: c["valueBoolean"] for c in trap["component"]} == {
        "twitch": True,
        "referral": True,
    }
    assert trap["encounter"]["reference"] == encounter["fullUrl"]
    assert trap["effectiveDateTime"].startswith("20")

    lev = _obs(bundle, "levator_scapulae")
    assert lev["valueCodeableConcept"]["coding"][0]["code"] == "tender"
    assert _site_ext(lev, "laterality")["valueCodeableConcept"]["coding"][0]["code"] == "7771000"
    assert _site_ext(lev, "trigger-point")["valueString"] == "upper"
    assert lev["bodySite"]["text"].startswith("left levator scapulae")
    assert [(c["code"]["coding"][0]["code"], c["valueBoolean"]) for c in lev["component"]] == [
        ("referral", False)  # twitch was not assessed: no component, not "no"
    ]
    assert lev["note"] == [{"text": "band easy to find"}]

    none = _obs(bundle, "infraspinatus")
    assert none["valueCodeableConcept"]["coding"][0]["code"] == "none"
    assert "component" not in none


def test_round_trip_keeps_every_finding_of_a_signed_visit(app_client, world, palpated, importer):
    original = kit.export(app_client, world.clinician_a, palpated)
    resp = app_client.post("/api/fhir/import", json=original, headers=importer.headers)
    assert resp.status_code == 201, resp.text
    pid = resp.json()["patient_id"]
    again = kit.export_as(app_client, importer.headers, pid)
    assert summary(again) == summary(original)
    assert len(summary(again)) == 3

    # the rows exist in the importing clinic, recorded by the importer, on the signed visit
    with open_session(clinic_id=importer.principal.clinic_id) as s:
        (visit,) = s.scalars(select(Visit).where(Visit.patient_id == pid))
        rows = list(
            s.scalars(select(PalpationFinding).where(PalpationFinding.visit_id == visit.id))
        )
        assert {r.recorded_by_id for r in rows} == {importer.principal.user_id}
        assert sorted((r.muscle_id, r.side, r.trigger_point_id, r.finding) for r in rows) == [
            ("infraspinatus", "right", None, "none"),
            ("levator_scapulae", "left", "upper", "tender"),
            ("upper_trapezius", "right", None, "familiar"),
        ]
    # the visit was signed (session and SOAP note) after its findings came in
    (proc,) = kit.of(again, "Procedure")
    assert proc["status"] == "completed"
    (note,) = kit.of(again, "Composition")
    assert note["status"] == "final"


def _refused(client, importer, bundle, expected: str) -> str:
    before = kit.patients(client, importer.headers)
    resp = client.post("/api/fhir/import", json=bundle, headers=importer.headers)
    assert resp.status_code == 422, resp.text
    assert kit.field(resp) == expected, resp.json()
    assert kit.patients(client, importer.headers) == before  # nothing written
    return resp.json()["detail"][0]["msg"]


def test_an_unknown_finding_code_is_a_422_naming_the_value(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    kit.of(bundle, "Observation")[n]["valueCodeableConcept"]["coding"][0]["code"] = "sore"
    _refused(app_client, importer, bundle, f"Observation[{n}].valueCodeableConcept")


def test_a_finding_coded_in_another_system_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    kit.of(bundle, "Observation")[n]["valueCodeableConcept"]["coding"][0]["system"] = SNOMED
    _refused(app_client, importer, bundle, f"Observation[{n}].valueCodeableConcept.coding")


def test_an_unknown_muscle_is_a_422_naming_the_body_site(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "infraspinatus")
    kit.of(bundle, "Observation")[n]["bodySite"]["coding"][0]["code"] = "infraspinatuss"
    msg = _refused(app_client, importer, bundle, f"Observation[{n}].bodySite")
    assert "did you mean" in msg and "Infraspinatus" in msg  # the nearest name is offered


def test_an_unknown_trigger_point_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "levator_scapulae")
    _site_ext(kit.of(bundle, "Observation")[n], "trigger-point")["valueString"] = "tp9"
    msg = _refused(app_client, importer, bundle, f"Observation[{n}].bodySite.trigger-point")
    assert "it has upper, lower" in msg


def test_a_laterality_that_is_not_right_or_left_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    lat = _site_ext(kit.of(bundle, "Observation")[n], "laterality")
    lat["valueCodeableConcept"]["coding"][0]["code"] = "51440002"  # right and left
    _refused(app_client, importer, bundle, f"Observation[{n}].bodySite.laterality")


def test_an_unknown_component_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    kit.of(bundle, "Observation")[n]["component"][0]["code"]["coding"][0]["code"] = "jump-sign"
    _refused(app_client, importer, bundle, f"Observation[{n}].component[0].code")


def test_two_findings_on_one_site_of_one_visit_are_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    twin = kit.clone(kit.of(bundle, "Observation")[n])
    twin["valueCodeableConcept"]["coding"][0]["code"] = "none"
    bundle["entry"].append(
        {"fullUrl": "urn:uuid:0b9d3c1e-1111-4c8e-9a77-2f0f4c2a0001", "resource": twin}
    )
    m = len(kit.of(bundle, "Observation")) - 1
    _refused(app_client, importer, bundle, f"Observation[{m}].bodySite")


def test_an_element_a_finding_does_not_carry_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    kit.of(bundle, "Observation")[n]["method"] = {"text": "flat palpation"}
    _refused(app_client, importer, bundle, f"Observation[{n}].method")


def test_a_measurement_still_may_not_carry_a_body_site(app_client, world, full_patient, importer):
    """The elements a finding reads are not opened to the outcome measurements."""
    bundle = kit.export(app_client, world.clinician_a, full_patient)
    n = kit.index_of(
        bundle, "Observation", lambda o: o["code"]["coding"][0].get("code") == "72514-3"
    )
    kit.of(bundle, "Observation")[n]["bodySite"] = {"text": "neck"}
    _refused(app_client, importer, bundle, f"Observation[{n}].bodySite")


def test_a_finding_pointing_at_no_encounter_is_refused(app_client, world, palpated, importer):
    bundle = kit.export(app_client, world.clinician_a, palpated)
    n = _index(bundle, "upper_trapezius")
    kit.of(bundle, "Observation")[n]["encounter"]["reference"] = (
        "urn:uuid:00000000-0000-4000-8000-000000000000"
    )
    _refused(app_client, importer, bundle, f"Observation[{n}].encounter")
