"""A pain drawing without marks: one rule (`records.schemas.PainDrawingIn`), met by the drawing
form and the API with the same error.

With the whole chart offered (complete), no marks records a patient who is pain-free
everywhere, which is worth keeping (a follow-up visit, say); a partial chart without marks
records nothing and is refused, a 422 naming `marks`.
"""

from __future__ import annotations

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.records.schemas import NO_MARKS

VISIT_AT = "2026-11-03T10:00:00+00:00"


@pytest.fixture
def pid(app_client, alice) -> int:
    return new_patient(app_client, alice)


def _drawings(app_client, alice, pid) -> list[dict]:
    r = app_client.get(f"/api/patients/{pid}/pain-drawings", headers=alice.headers)
    assert r.status_code == 200, r.text
    return r.json()


def _form(app_client, alice, pid, **fields):
    browser, csrf = logged_in(app_client, alice)
    return browser.post(
        f"/patients/{pid}/draw",
        data={"visit_at": "2026-11-03T10:00", "csrf_token": csrf, **fields},
        follow_redirects=False,
    )


def test_a_partial_drawing_without_marks_is_refused_alike_by_api_and_form(app_client, alice, pid):
    drawing = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        json={"complete": False, "marks": []},
        headers=alice.headers,
    )
    visit = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": VISIT_AT, "pain_drawing": {"complete": False, "marks": []}},
        headers=alice.headers,
    )
    for resp, loc in [(drawing, ["body", "marks"]), (visit, ["body", "pain_drawing", "marks"])]:
        assert resp.status_code == 422, resp.text
        (error,) = resp.json()["detail"]
        assert error["loc"] == loc and error["msg"].removeprefix("Value error, ") == NO_MARKS
    form = _form(app_client, alice, pid, complete="partial")
    assert form.status_code == 422 and form.text == f"Marks: {NO_MARKS}"
    assert _drawings(app_client, alice, pid) == []


def test_a_complete_drawing_without_marks_records_no_pain_on_both_paths(app_client, alice, pid):
    r = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        json={"complete": True, "marks": []},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    form = _form(app_client, alice, pid, complete="complete")
    assert form.status_code == 303, form.text
    drawings = _drawings(app_client, alice, pid)
    assert [(d["complete"], d["marks"]) for d in drawings] == [(True, []), (True, [])]
    assert drawings[0]["visit_id"] is None and drawings[1]["visit_id"] is not None


def test_a_marked_partial_drawing_is_saved_on_both_paths(app_client, alice, pid):
    """The control: one mark is enough, on either kind of chart."""
    r = app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        json={"complete": False, "marks": [{"region": "right temple"}]},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    form = _form(app_client, alice, pid, complete="partial", mark="right_temple:5")
    assert form.status_code == 303, form.text
    assert len(_drawings(app_client, alice, pid)) == 2
