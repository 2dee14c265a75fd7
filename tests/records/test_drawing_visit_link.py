"""A pain drawing charted for a visit stays linked to that visit (it was stored with no visit
when the visit was named by `visit_id`: the empty relationship won at flush)."""

from __future__ import annotations

from tests.personas import new_patient


def test_a_drawing_posted_for_a_visit_is_stored_with_that_visit(app_client, alice) -> None:
    pid = new_patient(app_client, alice)
    visit = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-02T09:00:00+00:00"},
        headers=alice.headers,
    )
    assert visit.status_code == 201, visit.text
    vid = visit.json()["id"]
    drawn = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        params={"visit_id": vid},
        json={"complete": False, "marks": [{"region": "right temple"}]},
        headers=alice.headers,
    )
    assert drawn.status_code == 201, drawn.text
    assert drawn.json()["visit_id"] == vid
    listed = app_client.get(f"/api/patients/{pid}/pain-drawings", headers=alice.headers).json()
    assert [d["visit_id"] for d in listed] == [vid]


def test_a_drawing_without_a_visit_has_none(app_client, alice) -> None:
    pid = new_patient(app_client, alice)
    drawn = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        json={"complete": False, "marks": [{"region": "right temple"}]},
        headers=alice.headers,
    )
    assert drawn.status_code == 201, drawn.text
    assert drawn.json()["visit_id"] is None
