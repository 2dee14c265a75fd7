"""Every id a body (or query) refers to is looked up in the caller's clinic and checked
against the patient: another clinic's id or an unknown one is a 404 (or a 422 naming the
field), never a 500 and never a stored reference. Another patient's id in the same clinic is
a 422 naming the field.

The cases are keyed like tests/test_inputs.py's ID_FIELDS, which fails when an input schema
grows a `*_id` field nobody has placed there; this module fails when a placed field has no
case here.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.api.conftest import hdr, row_counts
from tests.test_inputs import ID_FIELDS
from tests.treatment.test_needling_flow import NO, TRAP
from triggerpoint.db import open_session

UNKNOWN = 2_147_483_647
VISIT_AT = "2026-11-21T10:00:00+00:00"


def _visit(ids, ref):
    return f"/api/patients/{ids['patient_id']}/visits", {"visit_at": VISIT_AT, "episode_id": ref}


def _screening(ids, ref):
    return f"/api/patients/{ids['patient_id']}/screenings", {"answers": NO, "episode_id": ref}


def _open_session(ids, ref):
    return "/api/needling-sessions", {"visit_id": ref}


def _measurement(ids, ref):
    body = {
        "instrument": "nprs",
        "data": {"current": 5},
        "visit_id": ref,
        "measured_at": VISIT_AT,
    }
    return f"/api/patients/{ids['patient_id']}/measurements", body


def _qreq(field):
    def build(ids, ref):
        path = f"/api/patients/{ids['patient_id']}/questionnaire-requests"
        return path, {"instruments": ["nprs"], field: ref}

    return build


# (schema, field) -> (request builder, the kind of record the id names, in `clinics`)
RECORD_CASES = {
    ("VisitIn", "episode_id"): (_visit, "episode_id"),
    ("ScreeningIn", "episode_id"): (_screening, "episode_id"),
    ("OpenSessionIn", "visit_id"): (_open_session, "visit_id"),
    ("MeasurementIn", "visit_id"): (_measurement, "visit_id"),
    ("RequestIn", "visit_id"): (_qreq("visit_id"), "visit_id"),
    ("RequestIn", "episode_id"): (_qreq("episode_id"), "episode_id"),
}
RECORD_FIELDS = {
    k for k, v in ID_FIELDS.items() if "not a record" not in v and "tested in" not in v
}
ELSEWHERE = {k: v["tested in"] for k, v in ID_FIELDS.items() if "tested in" in v}
NOT_A_RECORD = {k for k, v in ID_FIELDS.items() if "not a record" in v}


def test_every_record_id_field_has_a_case():
    assert set(RECORD_CASES) == RECORD_FIELDS


@pytest.mark.parametrize("key", sorted(ELSEWHERE), ids=lambda k: ".".join(k))
def test_a_field_tested_elsewhere_names_a_test_that_exists(key):
    """An id field whose cases need more set-up than `clinics` gives (a study, a consent)
    names the test that covers it; that test must exist."""
    from pathlib import Path

    module, name = ELSEWHERE[key].split("::")
    source = (Path(__file__).resolve().parents[2] / module).read_text("utf-8")
    assert f"def {name}(" in source


def _loc_names(resp, field):
    return any(e["loc"][-1] == field for e in resp.json()["detail"])


# A session's patient is its visit's: for OpenSessionIn.visit_id there is no other patient.
ID_CASES = [
    (key, whose)
    for key in sorted(RECORD_CASES)
    for whose in ("other clinic", "unknown", "other patient")
    if not (key == ("OpenSessionIn", "visit_id") and whose == "other patient")
]


@pytest.mark.parametrize(
    ("key", "whose"), ID_CASES, ids=[f"{k[0]}.{k[1]}-{w}" for k, w in ID_CASES]
)
def test_foreign_or_unknown_id_is_refused_and_nothing_is_stored(
    app_client, world, clinics, key, whose
):
    build, kind = RECORD_CASES[key]
    field = key[1]
    ours = clinics["a"]
    ref = {
        "other clinic": clinics["b"][kind],
        "unknown": UNKNOWN,
        "other patient": ours[f"other_{kind.removesuffix('_id')}_id"],
    }[whose]
    path, body = build(ours, ref)
    before = row_counts()
    resp = app_client.post(path, json=body, headers=hdr(app_client, world.clinician_a))
    assert resp.status_code in (404, 422), resp.text
    if resp.status_code == 422:
        assert _loc_names(resp, field), resp.text
    else:
        assert resp.json()["detail"] == f"{kind.removesuffix('_id')} {ref} not found"
    assert row_counts() == before


def test_own_ids_are_accepted(app_client, world, clinics):
    """The control: the same requests with the patient's own ids succeed."""
    ours = clinics["a"]
    h = hdr(app_client, world.clinician_a)
    for build, kind in RECORD_CASES.values():
        if build is _open_session:
            continue  # the visit already has its session (asserted in the needling flow tests)
        path, body = build(ours, ours[kind])
        resp = app_client.post(path, json=body, headers=h)
        assert resp.status_code == 201, resp.text
        assert resp.json()[kind] == ours[kind]


@pytest.mark.parametrize("whose", ["other clinic", "unknown", "other patient"])
def test_pain_drawing_visit_id_query_is_checked(app_client, world, clinics, whose):
    ours = clinics["a"]
    ref = {
        "other clinic": clinics["b"]["visit_id"],
        "unknown": UNKNOWN,
        "other patient": ours["other_visit_id"],
    }[whose]
    before = row_counts()
    resp = app_client.post(
        f"/api/patients/{ours['patient_id']}/pain-drawings",
        params={"visit_id": ref},
        json={"complete": False, "marks": [{"region": "right temple"}]},
        headers=hdr(app_client, world.clinician_a),
    )
    assert resp.status_code == (422 if whose == "other patient" else 404), resp.text
    if resp.status_code == 422:
        assert _loc_names(resp, "visit_id")
    assert row_counts() == before


# --- ids that name no row of ours ------------------------------------------------------


def test_external_id_is_unique_within_the_clinic_only(app_client, world, clinics):
    """Clinic B's external id neither blocks nor reveals anything in clinic A."""
    assert {("PatientIn", "external_id"), ("PatientUpdate", "external_id")} <= NOT_A_RECORD
    body = {
        "given_name": "Ex",
        "family_name": "Ternal",
        "date_of_birth": "1980-01-01",
        "sex": "male",
        "external_id": "OWN-B-1",
    }
    b = app_client.post("/api/patients", json=body, headers=hdr(app_client, world.clinician_b))
    assert b.status_code == 201, b.text
    a = app_client.post("/api/patients", json=body, headers=hdr(app_client, world.clinician_a))
    assert a.status_code == 201, a.text
    again = app_client.post("/api/patients", json=body, headers=hdr(app_client, world.clinician_a))
    assert again.status_code == 409
    other = app_client.post(
        "/api/patients",
        json={**body, "external_id": "OWN-B-2"},
        headers=hdr(app_client, world.clinician_a),
    ).json()
    update = app_client.put(
        f"/api/patients/{other['id']}",
        json={**body, "version": other["version"]},
        headers=hdr(app_client, world.clinician_a),
    )
    assert update.status_code == 409  # A's own OWN-B-1, not B's


@pytest.mark.parametrize("route", ["targets", "entries"])
def test_trigger_point_id_is_checked_against_the_atlas(app_client, world, clinics, route):
    assert ("TargetIn" if route == "targets" else "EntryIn", "trigger_point_id") in NOT_A_RECORD
    base = TRAP if route == "entries" else {"muscle": "upper trapezius", "side": "right"}
    before = row_counts()
    resp = app_client.post(
        f"/api/needling-sessions/{clinics['a']['session_id']}/{route}",
        json={**base, "trigger_point_id": "tp99"},
        headers=hdr(app_client, world.clinician_a),
    )
    assert resp.status_code == 422, resp.text
    assert _loc_names(resp, "trigger_point_id")
    assert row_counts() == before


# --- ids the services take from FHIR import (not from a body) -------------------------


@pytest.mark.parametrize("whose", ["other clinic", "unknown", "other patient"])
def test_imported_session_consent_id_is_checked(app_client, world, clinics, whose):
    from triggerpoint.errors import InvalidInput, NotFound
    from triggerpoint.treatment.models import Screening
    from triggerpoint.treatment.service import import_needling_session

    ours = clinics["a"]
    consent_id = {
        "other clinic": clinics["b"]["consent_id"],
        "unknown": UNKNOWN,
        "other patient": None,
    }[whose]
    person = world.clinician_a
    h = hdr(app_client, person)
    if consent_id is None:  # a consent of the clinic's other patient
        consent_id = app_client.post(
            f"/api/patients/{ours['other_patient_id']}/consents",
            json={
                "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
                "signed_by": "Other",
                "signed_at": "2026-11-20T09:00:00+00:00",
            },
            headers=h,
        ).json()["id"]
    visit = app_client.post(
        f"/api/patients/{ours['patient_id']}/visits", json={"visit_at": VISIT_AT}, headers=h
    ).json()["id"]
    before = row_counts()
    with open_session(clinic_id=person.principal.clinic_id) as s:
        from sqlalchemy import select

        screening = s.scalar(
            select(Screening.id).where(Screening.patient_id == ours["patient_id"]).limit(1)
        )
        expected = InvalidInput if whose == "other patient" else NotFound
        with pytest.raises(expected) as caught:
            import_needling_session(
                s,
                principal=person.principal,
                visit_id=visit,
                screening_id=screening,
                consent_id=consent_id,
                opened_at=datetime.fromisoformat(VISIT_AT),
                entries=[],
            )
        if expected is InvalidInput:
            assert caught.value.field == "consent_id"
        s.rollback()
    assert row_counts() == before
