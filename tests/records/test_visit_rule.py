""" "The visit belongs to this patient": one check (`records.service.visit_of_patient`), one
error on every path that names a visit for a patient.

Another patient's visit (same clinic) is refused on `visit_id` with the rule's message, the
same words everywhere: a 422 naming the field where the visit is input (a pain drawing, a
measurement, by API and by page), a 404 where it addresses what is read (the visit note,
page and PDF). A visit that is not here (unknown, or another clinic's) is "visit N not found".
"""

from __future__ import annotations

import pytest

from tests.conftest import logged_in
from tests.personas import new_patient
from triggerpoint.db import open_session
from triggerpoint.errors import InvalidInput, NotFound
from triggerpoint.records import service as records
from triggerpoint.records.service import VISIT_OF_ANOTHER_PATIENT, visit_of_patient

UNKNOWN = 2_147_483_647
NPRS_FORM = {"instrument": "nprs", "current": "5", "measured_at": "2026-11-02T10:00"}


@pytest.fixture
def two(app_client, alice, carol) -> dict[str, int]:
    """Alice's patient, another patient of hers with a visit, and another clinic's visit."""
    ids = {"patient": new_patient(app_client, alice), "other": new_patient(app_client, alice)}
    for key, person, pid in [("visit", alice, ids["other"]), ("foreign", carol, None)]:
        pid = pid or new_patient(app_client, person)
        r = app_client.post(
            f"/api/patients/{pid}/visits",
            json={"visit_at": "2026-11-02T09:00:00+00:00"},
            headers=person.headers,
        )
        assert r.status_code == 201, r.text
        ids[key] = r.json()["id"]
    return ids


def _api_drawing(app_client, alice, pid, vid):
    return app_client.post(
        f"/api/patients/{pid}/pain-drawings",
        params={"visit_id": vid},
        json={"complete": False, "marks": [{"region": "right temple"}]},
        headers=alice.headers,
    )


def _api_measurement(app_client, alice, pid, vid):
    body = {"instrument": "nprs", "data": {"current": 5}, "visit_id": vid}
    return app_client.post(
        f"/api/patients/{pid}/measurements",
        json={**body, "measured_at": "2026-11-02T10:00:00+00:00"},
        headers=alice.headers,
    )


def _page_measurement(browser, csrf, pid, vid):
    return browser.post(
        f"/patients/{pid}/outcomes/record",
        data={**NPRS_FORM, "visit_id": str(vid), "csrf_token": csrf},
    )


def _refusal(resp) -> tuple[int, str | None, str]:
    """(status, field, message) of a refusal, whatever the path's format."""
    if resp.headers["content-type"].startswith("application/json"):
        detail = resp.json()["detail"]
        if isinstance(detail, list):
            return resp.status_code, detail[0]["loc"][-1], detail[0]["msg"]
        return resp.status_code, None, detail
    return resp.status_code, None, resp.text


def test_another_patients_visit_is_one_error_on_every_path(app_client, alice, two):
    pid, vid = two["patient"], two["visit"]
    browser, csrf = logged_in(app_client, alice)
    for name, resp in [
        ("drawing (API)", _api_drawing(app_client, alice, pid, vid)),
        ("measurement (API)", _api_measurement(app_client, alice, pid, vid)),
    ]:
        assert _refusal(resp) == (422, "visit_id", VISIT_OF_ANOTHER_PATIENT), name
    page = _page_measurement(browser, csrf, pid, vid)
    assert page.status_code == 422
    assert f'<p class="field-error">Visit: {VISIT_OF_ANOTHER_PATIENT}</p>' in page.text
    for suffix in ("", ".pdf"):
        note = browser.get(f"/patients/{pid}/reports/visit-note{suffix}", params={"visit": vid})
        assert note.status_code == 404, suffix
        assert VISIT_OF_ANOTHER_PATIENT in note.text, suffix


@pytest.mark.parametrize("whose", ["unknown", "other clinic"])
def test_a_visit_not_here_is_not_found_on_every_path(app_client, alice, two, whose):
    pid = two["patient"]
    vid = UNKNOWN if whose == "unknown" else two["foreign"]
    browser, _csrf = logged_in(app_client, alice)
    for name, resp in [
        ("drawing (API)", _api_drawing(app_client, alice, pid, vid)),
        ("measurement (API)", _api_measurement(app_client, alice, pid, vid)),
        ("visit note", browser.get(f"/patients/{pid}/reports/visit-note", params={"visit": vid})),
    ]:
        status, _field, message = _refusal(resp)
        assert status == 404 and f"visit {vid} not found" in message, name


def test_the_drawing_and_the_visit_note_ask_the_one_check(app_client, alice, two, monkeypatch):
    """Change the rule's words and every path that uses the check says the new words."""
    monkeypatch.setattr(records, "VISIT_OF_ANOTHER_PATIENT", "not a visit of this patient (test)")
    pid, vid = two["patient"], two["visit"]
    assert _refusal(_api_drawing(app_client, alice, pid, vid)) == (
        422,
        "visit_id",
        "not a visit of this patient (test)",
    )
    browser, _csrf = logged_in(app_client, alice)
    note = browser.get(f"/patients/{pid}/reports/visit-note", params={"visit": vid})
    assert note.status_code == 404 and "not a visit of this patient (test)" in note.text


def test_visit_of_patient(app_client, alice, two):
    with open_session(clinic_id=alice.clinic_id) as s:
        visit = visit_of_patient(s, patient_id=two["other"], visit_id=two["visit"])
        assert visit.id == two["visit"]
        with pytest.raises(InvalidInput) as refused:
            visit_of_patient(s, patient_id=two["patient"], visit_id=two["visit"])
        assert (refused.value.field, str(refused.value)) == ("visit_id", VISIT_OF_ANOTHER_PATIENT)
        for vid in (UNKNOWN, two["foreign"]):
            with pytest.raises(NotFound, match=f"visit {vid} not found"):
                visit_of_patient(s, patient_id=two["patient"], visit_id=vid)
