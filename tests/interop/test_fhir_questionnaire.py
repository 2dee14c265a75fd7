"""FHIR Questionnaires for the outcome instruments, QuestionnaireResponses in the patient
export, and the import of a request's answers as QuestionnaireResponses."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from tests.interop.kit import export, field, of
from tests.personas import new_clinic, new_patient, new_person
from triggerpoint.db import open_session, utcnow
from triggerpoint.interop import questionnaires as q
from triggerpoint.outcomes.models import Measurement
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.records.models import PainDrawing, Visit

QR_URL = "/api/fhir/QuestionnaireResponse"


def test_every_questionnaire_validates_and_carries_no_licensed_wording(app_client, world):
    r = app_client.get("/api/fhir/Questionnaire", headers=world.clinician_a.headers)
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle["entry"]) == 6
    found = {e["resource"]["id"]: e["resource"] for e in bundle["entry"]}
    assert set(found) == {"nprs", "ndi", "odi", "quickdash", "groc", "pain-drawing"}
    for res in found.values():
        Questionnaire.model_validate(res)  # raises if not valid R4
        assert res["url"] == f"urn:triggerpoint:questionnaire:{res['id']}"
        assert res["status"] == "active" and re.match(r"^[A-Z][A-Za-z0-9_]*$", res["name"])
        assert all(item["linkId"] and item["type"] for item in res["item"])
    for licensed in ("ndi", "odi", "quickdash"):
        items = found[licensed]["item"]
        assert all(re.fullmatch(r"Item \d+", i["text"]) for i in items)  # number only
        lo = 1 if licensed == "quickdash" else 0
        for i in items:
            assert [o["valueInteger"] for o in i["answerOption"]] == list(range(lo, 6))
        assert "copyright" in found[licensed]
    assert len(found["ndi"]["item"]) == 10 and len(found["quickdash"]["item"]) == 11
    # LOINC only where confirmed: NPRS 72514-3, the ODI panel 97908-8; NDI has none.
    assert found["nprs"]["code"][0]["code"] == "72514-3"
    assert found["odi"]["code"][0] == {
        "system": "http://loinc.org",
        "code": "97908-8",
        "display": "Oswestry Disability Index",
    }
    assert found["ndi"]["code"][0]["system"] != "http://loinc.org"
    current = next(i for i in found["nprs"]["item"] if i["linkId"] == "current")
    assert current["required"] is True and current["type"] == "integer"
    bounds = {e["url"].rsplit("/", 1)[1]: e["valueInteger"] for e in current["extension"]}
    assert bounds == {"minValue": 0, "maxValue": 10}


def test_read_one_search_by_url_and_unknown_is_404(app_client, world):
    h = world.clinician_a.headers
    one = app_client.get("/api/fhir/Questionnaire/ndi", headers=h)
    assert one.status_code == 200 and one.json()["id"] == "ndi"
    for unknown in ("ppt", "rom", "psfs", "nope", "NPRS", "x" * 300):
        assert app_client.get(f"/api/fhir/Questionnaire/{unknown}", headers=h).status_code == 404
    hit = app_client.get(
        "/api/fhir/Questionnaire", params={"url": "urn:triggerpoint:questionnaire:odi|1"}, headers=h
    ).json()
    assert [e["resource"]["id"] for e in hit["entry"]] == ["odi"]
    miss = app_client.get(
        "/api/fhir/Questionnaire", params={"url": "urn:triggerpoint:questionnaire:odi|9"}, headers=h
    ).json()
    assert miss["total"] == 0
    assert app_client.get("/api/fhir/Questionnaire").status_code == 401


def _request(clinic, person, *, instruments, drawing, visit_in=None):
    """An open request with a known token (the token is otherwise only ever shown once)."""
    token = secrets.token_urlsafe(32)
    with open_session(clinic_id=clinic) as s:
        pid = new_patient(s, person)
        vid = None
        if visit_in is not None:
            v = Visit(patient_id=pid, visit_at=utcnow() + visit_in)
            s.add(v)
            s.flush()
            vid = v.id
        row = QuestionnaireRequest(
            patient_id=pid,
            visit_id=vid,
            instruments=instruments,
            pain_drawing=drawing,
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            expires_at=utcnow() + timedelta(days=7),
            channel="none",
            language="en",
        )
        s.add(row)
        s.commit()
        return token, pid, row.id, vid


def _qr(token, instrument, items, status="completed"):
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"urn:triggerpoint:questionnaire:{instrument}",
        "identifier": {"system": q.PATIENT_LINK, "value": token},
        "status": status,
        "item": items,
    }


def _ints(values):
    return [
        {"linkId": str(k + 1), **({"answer": [{"valueInteger": v}]} if v is not None else {})}
        for k, v in enumerate(values)
    ]


NDI = [1, 2, 0, 1, 3, None, 1, 1, 2, 0]


def _bundle(token, *, ndi=NDI, current=6, regions=("right temple",)):
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": _qr(
                    token, "nprs", [{"linkId": "current", "answer": [{"valueInteger": current}]}]
                )
            },
            {"resource": _qr(token, "ndi", _ints(ndi))},
            {
                "resource": _qr(
                    token,
                    "pain-drawing",
                    [
                        {
                            "linkId": "regions",
                            "answer": [
                                {"valueCoding": {"system": q.REGION, "code": r}} for r in regions
                            ],
                        },
                        {"linkId": "complete", "answer": [{"valueBoolean": True}]},
                    ],
                )
            },
        ],
    }


@pytest.fixture
def clinic(db_url):
    clinic = new_clinic("FHIR questionnaire clinic")
    return clinic, new_person(clinic, "clinician")


def test_import_submits_through_the_portal_once(app_client, clinic):
    cid, person = clinic
    token, pid, rid, vid = _request(
        cid, person, instruments=["nprs", "ndi"], drawing=True, visit_in=timedelta(days=2)
    )
    r = app_client.post(QR_URL, json=_bundle(token, regions=("no_such_region",)))
    assert r.status_code == 422, r.text  # not a region id: named in the drawing's response
    assert field(r) == "QuestionnaireResponse[2].item.regions.answer[0]", r.text
    r = app_client.post(QR_URL, json=_bundle(token, regions=("vertex",)))
    assert r.status_code == 201, r.text
    assert r.json()["request_id"] == rid and r.json()["status"] == "submitted"
    with open_session(clinic_id=cid) as s:
        rows = s.query(Measurement).filter_by(patient_id=pid).order_by(Measurement.id).all()
        assert [(m.instrument, m.source, m.request_id) for m in rows] == [
            ("nprs", "patient", rid),
            ("ndi", "patient", rid),
        ]
        assert rows[0].score == 6 and rows[1].data["items"] == NDI
        assert {m.timing for m in rows} == {"pre"} and {m.visit_id for m in rows} == {vid}
        drawing = s.query(PainDrawing).filter_by(patient_id=pid).one()
        assert drawing.source == "patient" and [m.region_id for m in drawing.marks] == ["vertex"]
    again = app_client.post(QR_URL, json=_bundle(token, regions=("vertex",)))
    assert again.status_code == 410  # single use, as on the patient's page
    guessed = app_client.post(QR_URL, json=_bundle(secrets.token_urlsafe(32)))
    assert guessed.status_code == 404


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (
            lambda b: b["entry"][1]["resource"]["item"][4].update(linkId="11"),
            "QuestionnaireResponse[1].item[4].linkId",
        ),
        (
            lambda b: b["entry"][1]["resource"]["item"][3]["answer"][0].update(valueInteger=9),
            "QuestionnaireResponse[1].item.4",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(status="in-progress"),
            "QuestionnaireResponse[0].status",
        ),
        (
            lambda b: b["entry"][0]["resource"].update(questionnaire="http://example.org/Q/nprs"),
            "QuestionnaireResponse[0].questionnaire",
        ),
        (
            lambda b: b["entry"][1]["resource"]["identifier"].update(value="other"),
            "QuestionnaireResponse.identifier",
        ),
        (lambda b: b["entry"].pop(1), "QuestionnaireResponse"),
        (
            lambda b: b["entry"][0]["resource"].update(authored="yesterday"),
            "QuestionnaireResponse[0].authored",
        ),
    ],
)
def test_import_refusals_name_the_element_and_write_nothing(app_client, clinic, change, where):
    cid, person = clinic
    token, pid, rid, _ = _request(cid, person, instruments=["nprs", "ndi"], drawing=True)
    body = _bundle(token, regions=("vertex",))
    change(body)
    r = app_client.post(QR_URL, json=body)
    assert r.status_code == 422, r.text
    assert field(r) == where, r.json()
    with open_session(clinic_id=cid) as s:
        assert s.query(Measurement).filter_by(patient_id=pid).count() == 0
        assert s.get(QuestionnaireRequest, rid).status == "open"


def test_export_has_patient_responses_that_reimport(app_client, clinic):
    cid, person = clinic
    token, pid, _, _ = _request(cid, person, instruments=["nprs", "ndi"], drawing=True)
    before = datetime.now(UTC)
    assert app_client.post(QR_URL, json=_bundle(token, regions=("vertex",))).status_code == 201
    bundle = export(app_client, person, pid)
    patient_url = bundle["entry"][0]["fullUrl"]
    responses = {r["questionnaire"]: r for r in of(bundle, "QuestionnaireResponse")}
    nprs = responses["urn:triggerpoint:questionnaire:nprs"]
    QuestionnaireResponse.model_validate(nprs)
    assert nprs["source"] == {"reference": patient_url} == nprs["subject"]
    assert nprs["item"] == [{"linkId": "current", "answer": [{"valueInteger": 6}]}]
    authored = datetime.fromisoformat(nprs["authored"])
    assert before - timedelta(seconds=5) <= authored <= datetime.now(UTC)
    ndi = responses["urn:triggerpoint:questionnaire:ndi"]
    assert ndi["source"] == {"reference": patient_url}
    assert [i["linkId"] for i in ndi["item"] if "answer" in i] == [
        str(k + 1) for k, v in enumerate(NDI) if v is not None
    ]
    # Each references a Questionnaire the server serves.
    for canonical in responses:
        qid = canonical.rsplit(":", 1)[1]
        got = app_client.get(f"/api/fhir/Questionnaire/{qid}", headers=person.headers)
        assert got.status_code == 200 and got.json()["url"] == canonical
    # The bundle still imports (into another clinic): answers and scores agree.
    other = new_person(new_clinic("FHIR questionnaire copy"), "clinician")
    r = app_client.post("/api/fhir/import", json=bundle, headers=other.headers)
    assert r.status_code == 201, r.text
    with open_session(clinic_id=other.principal.clinic_id) as s:
        got = {
            m.instrument: m
            for m in s.query(Measurement).filter_by(patient_id=r.json()["patient_id"])
        }
        assert got["nprs"].score == 6 and got["ndi"].data["items"] == NDI
    # A response whose answers disagree with its Observation is refused, naming it.
    n = next(i for i, res in enumerate(of(bundle, "QuestionnaireResponse")) if res is nprs)
    nprs["item"][0]["answer"][0]["valueInteger"] = 2
    third = new_person(new_clinic("FHIR questionnaire third"), "clinician")
    r = app_client.post("/api/fhir/import", json=bundle, headers=third.headers)
    assert r.status_code == 422 and field(r) == f"QuestionnaireResponse[{n}].item", r.text
