"""A patient's preferred language: set and changed through the API and the form, refused
(422 naming `preferred_language`) when the patient's pages have no catalogue for it, shown
on the patient page, exported as FHIR `Patient.communication`, and used for a new
questionnaire request. The list records validates against is the catalogues' list."""

from __future__ import annotations

import copy
import json

import pytest

from tests.conftest import logged_in
from tests.personas import PATIENT, new_patient
from triggerpoint.portal import i18n
from triggerpoint.records.languages import PATIENT_LANGUAGES, language_problem
from triggerpoint.records.schemas import PatientIn


def _send(app_client, method: str, path: str, person, body: dict):
    """As JSON with every non-ASCII character escaped, so a lone surrogate gets through."""
    headers = {**person.headers, "content-type": "application/json"}
    return app_client.request(method, path, content=json.dumps(body), headers=headers)


def _put(app_client, person, pid: int, **fields):
    current = app_client.get(f"/api/patients/{pid}", headers=person.headers).json()
    body = {**PATIENT, "version": current["version"], **fields}
    return _send(app_client, "PUT", f"/api/patients/{pid}", person, body)


def test_set_changed_and_cleared_through_the_api(app_client, alice):
    pid = new_patient(app_client, alice, preferred_language="es")
    got = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert got["preferred_language"] == "es"
    r = _put(app_client, alice, pid, preferred_language="EN")  # BCP 47 ignores case
    assert r.status_code == 200, r.text
    assert r.json()["preferred_language"] == "en"
    r = _put(app_client, alice, pid, preferred_language=None)
    assert r.status_code == 200 and r.json()["preferred_language"] is None
    assert new_patient(app_client, alice)  # not given: not set
    listed = app_client.get("/api/patients", headers=alice.headers).json()["items"]
    assert {"preferred_language"} <= set(listed[0])


@pytest.mark.parametrize("bad", ["fr", "es-ES", "e", "x" * 36, 7, ["es"], "es\ud800"])
def test_a_language_without_a_catalogue_is_422_naming_the_field(app_client, alice, bad):
    r = _send(app_client, "POST", "/api/patients", alice, {**PATIENT, "preferred_language": bad})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "preferred_language"]
    pid = new_patient(app_client, alice)
    r = _put(app_client, alice, pid, preferred_language=bad)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "preferred_language"]
    got = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert got["preferred_language"] is None and got["version"] == 1  # nothing half-written


def test_the_message_lists_the_languages():
    assert language_problem("es") is None
    problem = language_problem("fr")
    assert problem is not None and "en, es" in problem
    assert PatientIn(**PATIENT, preferred_language="").preferred_language is None


def test_the_form_sets_it_and_the_patient_page_shows_it(app_client, alice):
    client, csrf = logged_in(app_client, alice)
    form = client.get("/patients/new").text
    assert '<select id="preferred_language" name="preferred_language"' in form
    assert '<option value="es" >Spanish (Español)</option>' in form
    fields = {**{k: str(v) for k, v in PATIENT.items()}, "csrf_token": csrf}
    r = client.post(
        "/patients/new", data={**fields, "preferred_language": "es"}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    pid = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(f"/patients/{pid}").text
    assert '<dd id="preferred-language">Spanish</dd>' in page
    edit = client.get(f"/patients/{pid}/edit").text
    assert '<option value="es" selected>' in edit
    bad = client.post(
        f"/patients/{pid}/edit", data={**fields, "version": "1", "preferred_language": "fr"}
    )
    assert bad.status_code == 422
    assert 'id="preferred_language-error"' in bad.text and "one of: en, es" in bad.text
    cleared = client.post(
        f"/patients/{pid}/edit",
        data={**fields, "version": "1", "preferred_language": ""},
        follow_redirects=False,
    )
    assert cleared.status_code == 303
    got = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert got["preferred_language"] is None


def test_fhir_export_says_it_as_communication(app_client, alice):
    pid = new_patient(app_client, alice, preferred_language="es")
    bundle = app_client.get(f"/api/patients/{pid}/fhir", headers=alice.headers)
    assert bundle.status_code == 200, bundle.text
    [patient] = [
        e["resource"] for e in bundle.json()["entry"] if e["resource"]["resourceType"] == "Patient"
    ]
    assert patient["communication"] == [
        {
            "language": {
                "coding": [{"system": "urn:ietf:bcp:47", "code": "es", "display": "Spanish"}],
                "text": "Spanish",
            },
            "preferred": True,
        }
    ]
    other = new_patient(app_client, alice)
    plain = app_client.get(f"/api/patients/{other}/fhir", headers=alice.headers).json()
    [p2] = [e["resource"] for e in plain["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert "communication" not in p2


def test_a_new_request_is_in_the_patients_language(app_client, alice):
    pid = new_patient(app_client, alice, preferred_language="es")
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests",
        json={"instruments": ["nprs"]},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    listed = app_client.get(f"/api/patients/{pid}/questionnaire-requests", headers=alice.headers)
    assert listed.json()[0]["language"] == "es"


def test_the_catalogues_and_the_records_list_must_agree():
    assert set(i18n.languages()) == set(PATIENT_LANGUAGES)
    i18n.check_languages()  # as at import
    with pytest.raises(RuntimeError, match="disagree"):
        i18n.check_languages(("en", "es", "fr"))  # a catalogue records would refuse
    with pytest.raises(RuntimeError, match="disagree"):
        i18n.check_languages(("en",))  # a listed language with no catalogue


def _import(app_client, person, bundle: dict):
    return app_client.post("/api/fhir/import", json=bundle, headers=person.headers)


def _bundle_patient(bundle: dict) -> dict:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )


def test_fhir_import_reads_it_back_and_refuses_a_language_it_cannot_keep(app_client, alice, erin):
    pid = new_patient(app_client, alice, preferred_language="es")
    bundle = app_client.get(f"/api/patients/{pid}/fhir", headers=alice.headers).json()
    wrong = copy.deepcopy(bundle)
    _bundle_patient(wrong)["communication"][0]["language"]["coding"][0]["code"] = "de"
    before = app_client.get("/api/patients", headers=erin.headers).json()["total"]
    refused = _import(app_client, erin, wrong)
    assert refused.status_code == 422, refused.text
    loc = ".".join(str(p) for p in refused.json()["detail"][0]["loc"][1:])
    assert loc == "Patient.communication[0].language", refused.json()
    assert app_client.get("/api/patients", headers=erin.headers).json()["total"] == before

    r = _import(app_client, erin, bundle)  # another clinic's clinician takes the record
    assert r.status_code == 201, r.text
    got = app_client.get(f"/api/patients/{r.json()['patient_id']}", headers=erin.headers).json()
    assert got["preferred_language"] == "es"

    other = new_patient(app_client, alice, given_name="Otra", preferred_language="en")
    bundle = app_client.get(f"/api/patients/{other}/fhir", headers=alice.headers).json()
    _bundle_patient(bundle)["communication"] = [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "fr"}]}},
        {
            "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es-ES"}]},
            "preferred": True,
        },
    ]
    r = _import(app_client, erin, bundle)
    assert r.status_code == 201, r.text
    got = app_client.get(f"/api/patients/{r.json()['patient_id']}", headers=erin.headers).json()
    assert got["preferred_language"] == "es"  # the preferred one, as its primary subtag
