"""The reliability-study JSON API: the flow, blinding in JSON, isolation, roles, 409 and 422."""

from __future__ import annotations

import json

import pytest

from tests.research.reliability.studykit import SITES, second_clinician, study_body

BASE = "/api/research/studies"


def _cells(value: bool | None) -> list[dict]:
    return [
        {"muscle": s["muscle"], "side": s["side"], "criterion": c, "present": value}
        for s in SITES
        for c in ("taut_band", "twitch")
    ]


@pytest.fixture
def study(app_client, alice):
    """An open study of clinic A (alice and a second clinician) with participant P01."""
    other = second_clinician(alice.clinic_id)
    r = app_client.post(
        BASE, json=study_body([alice.user_id, other.user_id]), headers=alice.headers
    )
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    assert app_client.post(f"{BASE}/{sid}/open", headers=alice.headers).status_code == 200
    r = app_client.post(f"{BASE}/{sid}/participants", json={"code": "P01"}, headers=alice.headers)
    assert r.status_code == 201, r.text
    return sid, r.json()["id"], other


def test_two_examiners_record_submit_and_the_report_counts_them(app_client, alice, study):
    sid, pid, other = study
    for who, value in ((alice, True), (other, False)):
        url = f"{BASE}/{sid}/participants/{pid}"
        r = app_client.put(f"{url}/findings", json=_cells(value), headers=who.headers)
        assert r.status_code == 200, r.text
        r = app_client.post(f"{url}/submit", headers=who.headers)
        assert r.status_code == 200 and r.json()["submitted_at"]
    report = app_client.get(f"{BASE}/{sid}/report", headers=alice.headers).json()
    assert report["complete_participants"] == 1
    assert {r["n"] for r in report["rows"]} == {1}
    assert all(r["percent_agreement"] == 0.0 for r in report["rows"])
    r = app_client.get(f"{BASE}/{sid}", headers=other.headers).json()
    assert r["participants"][0]["complete"] is True
    assert [x["sequence"] for x in r["participants"][0]["exams"]] == [1, 2]


def test_json_never_shows_another_examiners_values_before_all_submitted(app_client, alice, study):
    sid, pid, other = study
    url = f"{BASE}/{sid}/participants/{pid}"
    assert (
        app_client.put(f"{url}/findings", json=_cells(True), headers=alice.headers).status_code
        == 200
    )
    assert app_client.post(f"{url}/submit", headers=alice.headers).status_code == 200
    theirs = app_client.get(f"{url}/findings", headers=other.headers)
    assert theirs.status_code == 200 and theirs.json()["findings"] == []
    assert "true" not in theirs.text
    for path in ("", "/report"):
        body = app_client.get(f"{BASE}/{sid}{path}", headers=other.headers).text
        assert '"present"' not in body
        assert json.loads(body)  # answered, without values
    report = app_client.get(f"{BASE}/{sid}/report", headers=other.headers).json()
    assert report["complete_participants"] == 0
    assert all(r["kappa"] is None and r["percent_agreement"] == 0.0 for r in report["rows"])
    # the other examiner's own "absent" stays theirs until they submit
    assert (
        app_client.put(f"{url}/findings", json=_cells(False), headers=other.headers).status_code
        == 200
    )
    mine = app_client.get(f"{url}/findings", headers=alice.headers).json()
    assert {f["present"] for f in mine["findings"]} == {True}


def test_writing_after_submit_or_to_a_closed_study_is_409(app_client, alice, study):
    sid, pid, _ = study
    url = f"{BASE}/{sid}/participants/{pid}"
    assert app_client.post(f"{url}/submit", headers=alice.headers).status_code == 200
    r = app_client.put(f"{url}/findings", json=_cells(True), headers=alice.headers)
    assert r.status_code == 409 and "submitted" in r.json()["detail"]
    assert app_client.post(f"{url}/submit", headers=alice.headers).status_code == 409
    assert app_client.post(f"{BASE}/{sid}/close", headers=alice.headers).status_code == 200
    assert app_client.post(f"{BASE}/{sid}/close", headers=alice.headers).status_code == 409
    r = app_client.post(f"{BASE}/{sid}/participants", json={"code": "P02"}, headers=alice.headers)
    assert r.status_code == 409


def test_a_non_examiner_recording_is_403(app_client, dave, study):
    sid, pid, _ = study
    url = f"{BASE}/{sid}/participants/{pid}"
    assert (
        app_client.put(f"{url}/findings", json=_cells(True), headers=dave.headers).status_code
        == 403
    )
    assert app_client.post(f"{url}/submit", headers=dave.headers).status_code == 403
    assert app_client.get(f"{BASE}/{sid}/report", headers=dave.headers).status_code == 200


def test_the_assistant_gets_403(app_client, bob, study):
    sid, _pid, _ = study
    for path in ("", f"/{sid}", f"/{sid}/report", f"/{sid}/report.csv"):
        assert app_client.get(f"{BASE}{path}", headers=bob.headers).status_code == 403, path
    r = app_client.post(BASE, json=study_body([1, 2]), headers=bob.headers)
    assert r.status_code in (403, 422)  # refused either way; the examiners are no staff of B


@pytest.mark.parametrize("who", ["erin", "carol"])
def test_another_clinic_gets_404(app_client, study, who, request):
    person = request.getfixturevalue(who)
    sid, pid, _ = study
    url = f"{BASE}/{sid}/participants/{pid}"
    calls = [
        app_client.get(f"{BASE}/{sid}", headers=person.headers),
        app_client.get(f"{BASE}/{sid}/report", headers=person.headers),
        app_client.get(f"{BASE}/{sid}/report.csv", headers=person.headers),
        app_client.get(f"{BASE}/{sid}/report.pdf", headers=person.headers),
        app_client.post(f"{BASE}/{sid}/open", headers=person.headers),
        app_client.post(f"{BASE}/{sid}/participants", json={"code": "X1"}, headers=person.headers),
        app_client.put(f"{url}/findings", json=_cells(True), headers=person.headers),
        app_client.post(f"{url}/submit", headers=person.headers),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert app_client.get(BASE, headers=person.headers).json() == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        (
            [
                {
                    "muscle": "upper_trapezius",
                    "side": "right",
                    "criterion": "wobble",
                    "present": True,
                }
            ],
            ["body", 0, "criterion"],
        ),
        (
            [
                {
                    "muscle": "upper_trapezius",
                    "side": "middle",
                    "criterion": "twitch",
                    "present": True,
                }
            ],
            ["body", 0, "side"],
        ),
        (
            [
                {
                    "muscle": "upper_trapezius",
                    "side": "right",
                    "criterion": "twitch",
                    "present": "maybe",
                }
            ],
            ["body", 0, "present"],
        ),
        (
            [
                {
                    "muscle": "upper_trapezius\ud800",
                    "side": "right",
                    "criterion": "twitch",
                    "present": True,
                }
            ],
            ["body", 0, "muscle"],
        ),
        (
            [{"muscle": "deltoid", "side": "right", "criterion": "twitch", "present": True}],
            ["body", 0, "muscle"],
        ),
    ],
)
def test_bad_findings_are_422_naming_the_field(app_client, alice, study, body, loc):
    sid, pid, _ = study
    r = app_client.put(
        f"{BASE}/{sid}/participants/{pid}/findings",
        content=json.dumps(body),  # ASCII escapes: a lone surrogate travels as JSON text
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    locs = [[str(p) for p in e["loc"]] for e in r.json()["detail"]]
    assert [str(p) for p in loc] in locs, locs


def test_bad_studies_are_422_naming_the_field(app_client, alice, bob):
    other = second_clinician(alice.clinic_id)
    cases = [
        (study_body([alice.user_id]), "examiners"),
        (study_body([alice.user_id, bob.user_id]), "examiners"),
        (
            study_body([alice.user_id, other.user_id], criteria=["taut_band", "taut_band"]),
            "criteria",
        ),
        (
            study_body([alice.user_id, other.user_id], sites=[{"muscle": "nope", "side": "left"}]),
            "sites",
        ),
        (study_body([alice.user_id, other.user_id], title=float("nan")), "title"),
    ]
    for body, field in cases:
        r = app_client.post(
            BASE,
            content=json.dumps(body),
            headers={**alice.headers, "content-type": "application/json"},
        )
        assert r.status_code == 422, (field, r.text)
        assert any(field in e["loc"] for e in r.json()["detail"]), (field, r.text)


def test_a_patient_of_another_clinic_is_422_naming_patient_id(app_client, alice, erin, study):
    from tests.research.reliability.studykit import consented_patient

    sid, _, _ = study
    foreign = consented_patient(erin)
    r = app_client.post(
        f"{BASE}/{sid}/participants",
        json={"code": "P02", "patient_id": foreign},
        headers=alice.headers,
    )
    assert r.status_code == 422
    assert ["body", "patient_id"] in [e["loc"] for e in r.json()["detail"]]


def test_report_csv_and_pdf_answer_their_types(app_client, alice, study):
    sid, _, _ = study
    csv = app_client.get(f"{BASE}/{sid}/report.csv", headers=alice.headers)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("muscle,side,criterion,n,raters")
    assert csv.headers["cache-control"] == "no-store"
    pdf = app_client.get(f"{BASE}/{sid}/report.pdf", headers=alice.headers)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
