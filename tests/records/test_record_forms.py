"""The record functions on the web pages: demographics, diagnoses and episodes, consent
withdrawal and "Start visit", each through the same service as the API."""

from __future__ import annotations

import re

from tests.conftest import logged_in
from tests.mixins import CONSENT, NO
from tests.personas import PATIENT, new_patient

EDIT = {**PATIENT, "given_name": "Eddie", "family_name": "Tor", "height_cm": "180"}


def _consented(app_client, person) -> tuple[int, int]:
    pid = new_patient(app_client, person, given_name="Con", family_name="Sent")
    r = app_client.post(f"/api/patients/{pid}/consents", json=CONSENT, headers=person.headers)
    assert r.status_code == 201, r.text
    return pid, r.json()["id"]


def _episode(app_client, person, pid: int, **body) -> int:
    r = app_client.post(
        f"/api/patients/{pid}/episodes",
        json={"complaint": "Neck pain", **body},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


# --- demographics --------------------------------------------------------------------------


def test_the_edit_form_is_prefilled_and_saves(app_client, alice):
    pid = new_patient(app_client, alice, given_name="Old", family_name="Name", height_cm=170)
    client, csrf = logged_in(app_client, alice)
    form = client.get(f"/patients/{pid}/edit").text
    assert 'value="Old"' in form and 'value="170.0"' in form and 'name="version" value="1"' in form
    r = client.post(
        f"/patients/{pid}/edit",
        data={**EDIT, "csrf_token": csrf, "version": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/patients/{pid}"
    saved = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert (saved["given_name"], saved["height_cm"], saved["version"]) == ("Eddie", 180.0, 2)


def test_a_stale_version_is_a_409_on_the_form_keeping_the_input(app_client, alice):
    pid = new_patient(app_client, alice, given_name="Race", family_name="Condition")
    client, csrf = logged_in(app_client, alice)
    first = client.post(f"/patients/{pid}/edit", data={**EDIT, "csrf_token": csrf, "version": "1"})
    assert first.status_code == 200  # saved, then the patient page
    late = {**EDIT, "given_name": "Late", "csrf_token": csrf, "version": "1"}
    r = client.post(f"/patients/{pid}/edit", data=late)
    assert r.status_code == 409
    assert 'id="stale-version"' in r.text and "changed by someone else" in r.text
    assert 'value="Late"' in r.text  # the user's input is kept
    saved = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert saved["given_name"] == "Eddie" and saved["version"] == 2


def test_bad_input_is_named_beside_its_field_and_nothing_saved(app_client, alice):
    pid = new_patient(app_client, alice, given_name="Keep", family_name="Safe")
    client, csrf = logged_in(app_client, alice)
    bad = {**EDIT, "date_of_birth": "2999-01-01", "weight_kg": "NaN", "version": "1"}
    r = client.post(f"/patients/{pid}/edit", data={**bad, "csrf_token": csrf})
    assert r.status_code == 422
    assert 'id="date_of_birth-error"' in r.text and "must not be in the future" in r.text
    assert 'id="weight_kg-error"' in r.text and 'value="Eddie"' in r.text
    saved = app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()
    assert saved["given_name"] == "Keep" and saved["version"] == 1


def test_an_external_id_in_use_is_a_409_beside_the_field(app_client, alice):
    new_patient(app_client, alice, external_id="MRN-TAKEN")
    pid = new_patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    taken = {**EDIT, "external_id": "MRN-TAKEN", "version": "1", "csrf_token": csrf}
    r = client.post(f"/patients/{pid}/edit", data=taken)
    assert r.status_code == 409 and 'id="external_id-error"' in r.text


def test_another_clinic_cannot_open_or_save_the_edit_form(app_client, alice, carol):
    pid = new_patient(app_client, alice, given_name="Owned", family_name="Patient")
    client, csrf = logged_in(app_client, carol)
    assert client.get(f"/patients/{pid}/edit").status_code == 404
    r = client.post(f"/patients/{pid}/edit", data={**EDIT, "csrf_token": csrf, "version": "1"})
    assert r.status_code == 404 and "Owned" not in r.text
    assert app_client.get(f"/api/patients/{pid}", headers=alice.headers).json()["version"] == 1


# --- consent withdrawal ----------------------------------------------------------------------


def test_withdrawing_consent_confirms_then_refuses_needling(app_client, alice):
    pid, cid = _consented(app_client, alice)
    vid = app_client.post(
        f"/api/patients/{pid}/visits",
        json={"visit_at": "2026-11-02T10:00:00+00:00"},
        headers=alice.headers,
    ).json()["id"]
    h = alice.headers
    screened = app_client.post(f"/api/patients/{pid}/screenings", json={"answers": NO}, headers=h)
    assert screened.is_success
    assert app_client.post(f"/api/visits/{vid}/screening-confirmation", headers=h).is_success
    client, csrf = logged_in(app_client, alice)
    page = client.get(f"/patients/{pid}").text
    assert f'href="/patients/{pid}/consents/{cid}/withdraw"' in page
    confirm = client.get(f"/patients/{pid}/consents/{cid}/withdraw").text
    assert "no needling session can be opened" in confirm and 'name="version" value="1"' in confirm
    r = client.post(
        f"/patients/{pid}/consents/{cid}/withdraw",
        data={"csrf_token": csrf, "version": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    status = re.search(r'id="consent-status">(.*?)</dd>', client.get(f"/patients/{pid}").text)
    assert status and "withdrawn on 20" in status.group(1) and "Withdraw<" not in status.group(1)
    consent = app_client.get(f"/api/patients/{pid}/consents", headers=alice.headers).json()[0]
    assert consent["status"] == "withdrawn" and consent["withdrawn_at"]
    # The existing rule refuses needling now (`active_consent`).
    opened = app_client.post(
        "/api/needling-sessions", json={"visit_id": vid}, headers=alice.headers
    )
    assert opened.status_code == 409 and "no valid dry-needling consent" in opened.text
    # Withdrawing twice is a 409 on the confirm page, not a 500.
    again = client.post(
        f"/patients/{pid}/consents/{cid}/withdraw", data={"csrf_token": csrf, "version": "2"}
    )
    assert again.status_code == 409 and "already withdrawn" in again.text
    for odd in ("²", "99999999999", ""):  # not a version: 422, not a 500
        r = client.post(
            f"/patients/{pid}/consents/{cid}/withdraw", data={"csrf_token": csrf, "version": odd}
        )
        assert r.status_code == 422 and 'id="withdraw-error"' in r.text


def test_a_consent_of_another_patient_or_clinic_is_not_found(app_client, alice, carol):
    pid, cid = _consented(app_client, alice)
    other = new_patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    assert client.get(f"/patients/{other}/consents/{cid}/withdraw").status_code == 404
    r = client.post(
        f"/patients/{other}/consents/{cid}/withdraw", data={"csrf_token": csrf, "version": "1"}
    )
    assert r.status_code == 404
    theirs, their_csrf = logged_in(app_client, carol)
    r = theirs.post(
        f"/patients/{pid}/consents/{cid}/withdraw", data={"csrf_token": their_csrf, "version": "1"}
    )
    assert r.status_code == 404
    consent = app_client.get(f"/api/patients/{pid}/consents", headers=alice.headers).json()[0]
    assert consent["status"] == "active"


# --- start a visit -----------------------------------------------------------------------------


def test_start_visit_creates_a_visit_now_and_opens_its_page(app_client, alice):
    pid = new_patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    assert f'action="/patients/{pid}/visits/start"' in client.get(f"/patients/{pid}").text
    r = client.post(
        f"/patients/{pid}/visits/start", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    visits = app_client.get(f"/api/patients/{pid}/visits", headers=alice.headers).json()
    assert len(visits) == 1 and r.headers["location"] == f"/visits/{visits[0]['id']}"
    assert visits[0]["clinician_id"] == alice.user_id
    bad = client.post(f"/patients/{pid}/visits/start", data={"csrf_token": csrf, "episode_id": "x"})
    assert bad.status_code == 422 and "Episode" in bad.text


# --- episodes and diagnoses on the page ---------------------------------------------------------


def test_the_patient_page_lists_diagnoses_by_code_and_title(app_client, alice):
    pid = new_patient(app_client, alice)
    _episode(app_client, alice, pid, diagnoses=[{"code": "M79.12"}])
    client, _ = logged_in(app_client, alice)
    page = client.get(f"/patients/{pid}").text
    assert "<code>M79.12</code> Myalgia of auxiliary muscles, head and neck" in page
    assert 'id="add-diagnosis"' in page and 'id="new-episode"' in page
    assert '<option value="M54.2"' in page  # the code list, for the field without JS


def test_a_diagnosis_added_on_the_page_returns_to_next(app_client, alice):
    pid = new_patient(app_client, alice)
    eid = _episode(app_client, alice, pid)
    client, csrf = logged_in(app_client, alice)
    form = {"csrf_token": csrf, "episode_id": str(eid), "code": "m54.2"}
    r = client.post(
        f"/patients/{pid}/diagnoses", data={**form, "next": "/visits/7"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/visits/7"
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert [d["code"] for d in episodes[0]["diagnoses"]] == ["M54.2"]
    # Elsewhere than this site is not followed: back to the patient page.
    for away in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        r = client.post(
            f"/patients/{pid}/diagnoses",
            data={**form, "code": "M79.12", "next": away},
            follow_redirects=False,
        )
        assert r.headers["location"] == f"/patients/{pid}#episodes"
        client.post(
            f"/patients/{pid}/diagnoses/remove",
            data={**form, "code": "M79.12"},
            follow_redirects=False,
        )


def test_a_refused_code_comes_back_with_suggestions(app_client, alice):
    pid = new_patient(app_client, alice)
    eid = _episode(app_client, alice, pid, diagnoses=[{"code": "M54.2"}])
    client, csrf = logged_in(app_client, alice)
    form = {"csrf_token": csrf, "episode_id": str(eid), "next": "/visits/3"}
    r = client.post(f"/patients/{pid}/diagnoses", data={**form, "code": "M54.5"})
    assert r.status_code == 422
    assert 'id="dx-code-error"' in r.text and "is a category" in r.text
    assert 'id="dx-suggestions"' in r.text and "<code>M54.51</code> Vertebrogenic" in r.text
    assert 'value="M54.5"' in r.text and 'name="next" value="/visits/3"' in r.text
    dup = client.post(f"/patients/{pid}/diagnoses", data={**form, "code": "M54.2"})
    assert dup.status_code == 409 and "already has the diagnosis M54.2" in dup.text
    nul = client.post(f"/patients/{pid}/diagnoses", data={**form, "code": "M54\x00"})
    assert nul.status_code == 422 and 'id="dx-code-error"' in nul.text
    for odd in ("²", "0", "2147483648", ""):
        r = client.post(
            f"/patients/{pid}/diagnoses", data={**form, "episode_id": odd, "code": "M79.12"}
        )
        assert r.status_code == 422 and 'id="dx-episode-error"' in r.text
        r = client.post(
            f"/patients/{pid}/diagnoses/remove", data={**form, "episode_id": odd, "code": "M54.2"}
        )
        assert r.status_code == 422
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert [d["code"] for d in episodes[0]["diagnoses"]] == ["M54.2"]


def test_a_diagnosis_is_removed_on_the_page(app_client, alice):
    pid = new_patient(app_client, alice)
    eid = _episode(app_client, alice, pid, diagnoses=[{"code": "M54.2"}, {"code": "M79.12"}])
    client, csrf = logged_in(app_client, alice)
    r = client.post(
        f"/patients/{pid}/diagnoses/remove",
        data={"csrf_token": csrf, "episode_id": str(eid), "code": "M54.2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert [d["code"] for d in episodes[0]["diagnoses"]] == ["M79.12"]


def test_a_new_episode_with_a_first_diagnosis_on_the_page(app_client, alice):
    pid = new_patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    page = client.get(f"/patients/{pid}").text
    assert 'id="no-episodes"' in page and 'id="add-diagnosis"' not in page
    form = {"csrf_token": csrf, "complaint": "Jaw pain", "onset_date": "2026-10-01"}
    bad = client.post(f"/patients/{pid}/episodes", data={**form, "first_code": "M26.6"})
    assert bad.status_code == 422 and 'id="ep-code-error"' in bad.text
    assert 'value="Jaw pain"' in bad.text
    assert app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json() == []
    ok = client.post(
        f"/patients/{pid}/episodes", data={**form, "first_code": "m26.621"}, follow_redirects=False
    )
    assert ok.status_code == 303
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert [(e["complaint"], e["onset_date"]) for e in episodes] == [("Jaw pain", "2026-10-01")]
    assert [d["code"] for d in episodes[0]["diagnoses"]] == ["M26.621"]
    empty = client.post(f"/patients/{pid}/episodes", data={"csrf_token": csrf, "complaint": ""})
    assert empty.status_code == 422 and 'id="ep-complaint-error"' in empty.text


def test_the_assistant_sees_no_diagnoses_and_may_not_write_them(app_client, alice, bob):
    pid = new_patient(app_client, alice)
    eid = _episode(app_client, alice, pid, diagnoses=[{"code": "M79.12"}])
    client, csrf = logged_in(app_client, bob)
    page = client.get(f"/patients/{pid}").text
    assert "M79.12" not in page and 'id="add-diagnosis"' not in page
    assert 'id="edit-details"' in page  # demographics are front-desk work
    assert 'id="start-visit"' not in page  # the visit page is the clinical flow
    assert client.get(f"/patients/{pid}/diagnoses").status_code == 403
    for path, extra in (("diagnoses", {"code": "M54.2"}), ("diagnoses/remove", {"code": "M79.12"})):
        r = client.post(
            f"/patients/{pid}/{path}", data={"csrf_token": csrf, "episode_id": str(eid), **extra}
        )
        assert r.status_code == 403
    r = client.post(f"/patients/{pid}/episodes", data={"csrf_token": csrf, "complaint": "Pain"})
    assert r.status_code == 403
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert len(episodes) == 1 and [d["code"] for d in episodes[0]["diagnoses"]] == ["M79.12"]


def test_another_clinic_cannot_reach_the_diagnosis_forms(app_client, alice, erin):
    pid = new_patient(app_client, alice, given_name="Owned", family_name="Patient")
    eid = _episode(app_client, alice, pid)
    client, csrf = logged_in(app_client, erin)
    assert client.get(f"/patients/{pid}/diagnoses").status_code == 404
    r = client.post(
        f"/patients/{pid}/diagnoses",
        data={"csrf_token": csrf, "episode_id": str(eid), "code": "M54.2"},
    )
    assert r.status_code == 404 and "Owned" not in r.text
    episodes = app_client.get(f"/api/patients/{pid}/episodes", headers=alice.headers).json()
    assert episodes[0]["diagnoses"] == []
