"""Measurements over HTTP on both engines: per-field rejection, incomplete storage, summaries."""

from __future__ import annotations

from tests.conftest import as_person


def _patient(app_client, hdr):
    return app_client.post(
        "/api/patients",
        json={
            "given_name": "Out",
            "family_name": "Come",
            "date_of_birth": "1970-01-01",
            "sex": "female",
        },
        headers=hdr,
    ).json()["id"]


def test_out_of_range_item_is_422_naming_the_item(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    pid = _patient(app_client, hdr)
    r = app_client.post(
        f"/api/patients/{pid}/measurements",
        json={
            "instrument": "odi",
            "data": {"items": [6] + [0] * 9},
            "measured_at": "2026-11-01T10:00:00+00:00",
        },
        headers=hdr,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "data", "items", "0"]
    r = app_client.post(
        f"/api/patients/{pid}/measurements",
        json={
            "instrument": "nprs",
            "data": {"current": 11},
            "measured_at": "2026-11-01T10:00:00+00:00",
        },
        headers=hdr,
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "data", "current"]


def test_incomplete_questionnaire_is_stored_without_a_score(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    pid = _patient(app_client, hdr)
    r = app_client.post(
        f"/api/patients/{pid}/measurements",
        json={
            "instrument": "ndi",
            "data": {"items": [1, 2, None, None, None, 1, 1, 1, 1, 1]},
            "measured_at": "2026-11-01T10:00:00+00:00",
        },
        headers=hdr,
    )
    assert r.status_code == 201 and r.json()["complete"] is False and r.json()["score"] is None


def test_summary_baseline_change_immediate_and_classification(app_client, world):
    hdr = as_person(app_client, world.clinician_a)
    pid = _patient(app_client, hdr)
    v1 = app_client.post(
        f"/api/patients/{pid}/visits", json={"visit_at": "2026-11-01T10:00:00+00:00"}, headers=hdr
    ).json()["id"]
    for timing, current, at in (("pre", 7, "10:00"), ("post", 4, "10:40")):
        app_client.post(
            f"/api/patients/{pid}/measurements",
            json={
                "instrument": "nprs",
                "data": {"current": current},
                "timing": timing,
                "visit_id": v1,
                "measured_at": f"2026-11-01T{at}:00+00:00",
            },
            headers=hdr,
        )
    app_client.post(
        f"/api/patients/{pid}/measurements",
        json={
            "instrument": "nprs",
            "data": {"current": 3},
            "measured_at": "2026-11-15T10:00:00+00:00",
        },
        headers=hdr,
    )
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


def test_change_since_baseline_compares_pre_needling_scores_only(app_client, world):
    # Baseline pre 7 (post 4), next visit pre 3 and post 2: the course went 7 -> 3, and the
    # last post-needling 2 is that visit's immediate change, not the course's latest state.
    hdr = as_person(app_client, world.clinician_a)
    pid = _patient(app_client, hdr)
    for day, pre, post in (("01", 7, 4), ("08", 3, 2)):
        vid = app_client.post(
            f"/api/patients/{pid}/visits",
            json={"visit_at": f"2026-11-{day}T10:00:00+00:00"},
            headers=hdr,
        ).json()["id"]
        for timing, score, minute in (("pre", pre, "05"), ("post", post, "45")):
            r = app_client.post(
                f"/api/patients/{pid}/measurements",
                json={
                    "instrument": "nprs",
                    "data": {"current": score},
                    "timing": timing,
                    "visit_id": vid,
                    "measured_at": f"2026-11-{day}T10:{minute}:00+00:00",
                },
                headers=hdr,
            )
            assert r.status_code == 201, r.text
    (nprs,) = app_client.get(f"/api/patients/{pid}/outcomes", headers=hdr).json()
    assert (nprs["baseline"], nprs["latest"], nprs["change"]) == (7, 3, -4)
    assert [c["change"] for c in nprs["immediate_changes"]] == [-3.0, -1.0]
