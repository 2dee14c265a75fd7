"""Measurements over HTTP on both engines: per-field rejection, incomplete storage, summaries."""

from __future__ import annotations

from tests.personas import new_patient


def _patient(app_client, person):
    return new_patient(
        app_client, person, given_name="Out", family_name="Come", date_of_birth="1970-01-01"
    )


AT = "2026-11-01T10:00:00+00:00"


def _measure(app_client, person, pid, instrument, data, measured_at=AT, **fields):
    """POST a measurement of the patient (`timing`, `visit_id` as given): the response."""
    body = {"instrument": instrument, "data": data, "measured_at": measured_at, **fields}
    return app_client.post(f"/api/patients/{pid}/measurements", json=body, headers=person.headers)


def _nprs(app_client, person, pid, current, measured_at, **fields):
    """An NPRS score for the patient, asserted stored."""
    r = _measure(app_client, person, pid, "nprs", {"current": current}, measured_at, **fields)
    assert r.status_code == 201, r.text
    return r


def test_out_of_range_item_is_422_naming_the_item(app_client, alice):
    pid = _patient(app_client, alice)
    r = _measure(app_client, alice, pid, "odi", {"items": [6] + [0] * 9})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "data", "items", "0"]
    r = _measure(app_client, alice, pid, "nprs", {"current": 11})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "data", "current"]


def test_incomplete_questionnaire_is_stored_without_a_score(app_client, alice):
    pid = _patient(app_client, alice)
    r = _measure(app_client, alice, pid, "ndi", {"items": [1, 2, None, None, None, 1, 1, 1, 1, 1]})
    assert r.status_code == 201 and r.json()["complete"] is False and r.json()["score"] is None


def test_summary_baseline_change_immediate_and_classification(app_client, alice):
    hdr = alice.headers
    pid = _patient(app_client, alice)
    v1 = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-01T10:00:00+00:00"}, headers=hdr
    ).json()["id"]
    for timing, current, at in (("pre", 7, "10:00"), ("post", 4, "10:40")):
        at = f"2026-11-01T{at}:00+00:00"
        _nprs(app_client, alice, pid, current, at, timing=timing, visit_id=v1)
    _nprs(app_client, alice, pid, 3, "2026-11-15T10:00:00+00:00")
    (nprs,) = app_client.get(f"/api/patients/{pid}/outcomes", headers=hdr).json()
    assert (
        nprs["baseline"] == 7
        and nprs["latest"] == 3
        and nprs["change"] == -4
        and nprs["classification"] == "responder"
    )
    assert nprs["immediate_changes"] == [
        {"visit_id": v1, "pre": 7.0, "post": 4.0, "change": -3.0, "classification": "responder"}
    ]
    assert nprs["mcid"] == 2


def test_change_since_baseline_compares_pre_needling_scores_only(app_client, alice):
    # Baseline pre 7 (post 4), next visit pre 3 and post 2: the course went 7 -> 3, and the
    # last post-needling 2 is that visit's immediate change, not the course's latest state.
    hdr = alice.headers
    pid = _patient(app_client, alice)
    for day, pre, post in (("01", 7, 4), ("08", 3, 2)):
        vid = app_client.post(
            f"/api/patients/{pid}/visits",
            json={"visit_at": f"2026-11-{day}T10:00:00+00:00"},
            headers=hdr,
        ).json()["id"]
        for timing, score, minute in (("pre", pre, "05"), ("post", post, "45")):
            at = f"2026-11-{day}T10:{minute}:00+00:00"
            r = _nprs(app_client, alice, pid, score, at, timing=timing, visit_id=vid)
            assert r.status_code == 201, r.text
    (nprs,) = app_client.get(f"/api/patients/{pid}/outcomes", headers=hdr).json()
    assert (nprs["baseline"], nprs["latest"], nprs["change"]) == (7, 3, -4)
    assert [c["change"] for c in nprs["immediate_changes"]] == [-3.0, -1.0]
