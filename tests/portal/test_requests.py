"""The questionnaire-request API and the clinician's section on the patient page, on both
engines: the exact shapes of the issue, the link shown once, another clinic's ids 404,
assistants as the existing permission rules have them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from tests.conftest import logged_in, new_patient
from tests.portal.test_service import NDI_OK, licensed_texts  # noqa: F401 - autouse fixture

from triggerpoint.db import unit_of_work
from triggerpoint.portal import service
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.schemas import SubmissionIn

BODY = {"instruments": ["nprs", "ndi"], "pain_drawing": True, "expires_in_days": 7}
LISTED = {
    "id", "patient_id", "visit_id", "episode_id", "instruments", "pain_drawing", "status", "channel",
    "language", "created_at", "sent_at", "opened_at", "submitted_at", "reminded_at",
    "cancelled_at", "expires_at",
}  # fmt: skip


def _path(pid: int) -> str:
    return f"/api/patients/{pid}/questionnaire-requests"


def test_create_list_cancel_resend(app_client, alice):
    pid = new_patient(app_client, alice)
    r = app_client.post(_path(pid), json=BODY, headers=alice.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert {"id", "url", "expires_at", "status"} <= set(made) and made["status"] == "open"
    assert set(made) - {"id", "url", "expires_at", "status"} == {"visit_id", "episode_id"}
    token = made["url"].rsplit("/r/", 1)[1]
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        row = s.get(QuestionnaireRequest, made["id"])
        assert row.token_hash == service._digest(token) and row.channel == "none"

    listed = app_client.get(_path(pid), headers=alice.headers)
    assert listed.status_code == 200
    [item] = listed.json()
    assert set(item) == LISTED and item["instruments"] == ["nprs", "ndi"]
    assert token not in listed.text  # the link is never returned again

    resent = app_client.post(
        f"/api/questionnaire-requests/{made['id']}/resend", headers=alice.headers
    )
    assert resent.status_code == 202, resent.text
    assert resent.json()["url"] != made["url"]

    cancelled = app_client.post(
        f"/api/questionnaire-requests/{made['id']}/cancel", headers=alice.headers
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = app_client.post(
        f"/api/questionnaire-requests/{made['id']}/cancel", headers=alice.headers
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "instruments": ["ppt"]}, ["body", "instruments", "0"]),
        ({**BODY, "instruments": ["nprs", "odi"]}, ["body", "instruments", "1"]),
        ({**BODY, "instruments": ["nope"]}, ["body", "instruments", 0]),
        ({**BODY, "expires_in_days": 0}, ["body", "expires_in_days"]),
        ({**BODY, "channel": "pigeon"}, ["body", "channel"]),
        ({**BODY, "surprise": 1}, ["body", "surprise"]),
    ],
)
def test_bad_requests_name_the_field(app_client, alice, body, field):
    pid = new_patient(app_client, alice)
    r = app_client.post(_path(pid), json=body, headers=alice.headers)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == field
    assert app_client.get(_path(pid), headers=alice.headers).json() == []


def test_another_clinics_ids_are_404(app_client, alice, erin):
    pid = new_patient(app_client, alice)
    rid = app_client.post(_path(pid), json=BODY, headers=alice.headers).json()["id"]
    assert app_client.post(_path(pid), json=BODY, headers=erin.headers).status_code == 404
    assert app_client.get(_path(pid), headers=erin.headers).status_code == 404
    for action in ("cancel", "resend"):
        r = app_client.post(f"/api/questionnaire-requests/{rid}/{action}", headers=erin.headers)
        assert r.status_code == 404, action
    assert app_client.get(_path(pid), headers=alice.headers).json()[0]["status"] == "open"


def test_assistants_ask_but_never_read_the_answers(app_client, alice, bob):
    pid = new_patient(app_client, bob)
    made = app_client.post(_path(pid), json=BODY, headers=bob.headers)
    assert made.status_code == 201
    assert app_client.get(_path(pid), headers=bob.headers).status_code == 200
    token = made.json()["url"].rsplit("/r/", 1)[1]
    data = SubmissionIn(
        answers={"nprs": {"current": 4}, "ndi": {"items": NDI_OK}},
        drawing={"marks": [], "complete": True},
    )
    with unit_of_work(clinic_id=None) as s:
        service.submit_request(s, token=token, data=data)
    # The answers are outcome measurements: clinical, so not for the front desk.
    assert (
        app_client.get(f"/api/patients/{pid}/measurements", headers=bob.headers).status_code == 403
    )
    ms = app_client.get(f"/api/patients/{pid}/measurements", headers=alice.headers)
    assert ms.status_code == 200 and {m["instrument"] for m in ms.json()} == {"nprs", "ndi"}


def test_no_credentials_401(app_client, alice):
    pid = new_patient(app_client, alice)
    assert app_client.post(_path(pid), json=BODY).status_code == 401
    assert app_client.get(_path(pid)).status_code == 401


def test_the_patient_page_section(app_client, alice):
    pid = new_patient(app_client, alice)
    client, csrf = logged_in(app_client, alice)
    page = client.get(f"/patients/{pid}")
    assert page.status_code == 200
    assert 'id="questionnaires"' in page.text and 'id="no-requests"' in page.text
    r = client.post(
        f"/patients/{pid}/questionnaire-requests",
        data={
            "csrf_token": csrf,
            "instruments": ["nprs"],
            "pain_drawing": "on",
            "channel": "qr",
            "expires_in_days": "5",
        },
    )
    assert r.status_code == 201, r.text
    url = re.search(r'id="patient-link" readonly value="([^"]+)"', r.text).group(1)
    assert "<svg" in r.text and "data:image/png;base64," in r.text  # the QR, on screen and to print
    page = client.get(f"/patients/{pid}")
    assert 'data-status="open"' in page.text
    assert url.rsplit("/r/", 1)[1] not in page.text  # never shown again
    rid = app_client.get(_path(pid), headers=alice.headers).json()[0]["id"]
    done = client.post(
        f"/questionnaire-requests/{rid}/cancel", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == f"/patients/{pid}#questionnaires"
    assert 'data-status="cancelled"' in client.get(f"/patients/{pid}").text
    bad = client.post(
        f"/patients/{pid}/questionnaire-requests", data={"csrf_token": csrf, "instruments": ["ppt"]}
    )
    assert bad.status_code == 422 and 'id="request-errors"' in bad.text
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        count = len(
            s.scalars(
                select(QuestionnaireRequest.id).where(QuestionnaireRequest.patient_id == pid)
            ).all()
        )
    assert count == 1


def test_email_is_enqueued_after_commit_never_sent_in_the_request(app_client, alice, monkeypatch):
    from triggerpoint.portal import jobs

    calls: list[tuple[int, str | None]] = []

    def spy(request_id: int) -> None:  # what the worker would read when it runs
        with unit_of_work(clinic_id=None) as s:
            row = s.get(QuestionnaireRequest, request_id)
            calls.append((request_id, row.status if row else None))

    monkeypatch.setattr(jobs, "send_request", spy)
    pid = new_patient(app_client, alice)
    rid = app_client.post(
        _path(pid), json={**BODY, "channel": "email"}, headers=alice.headers
    ).json()["id"]
    assert calls == [(rid, "open")]  # enqueued once, and the row was there to be read
    app_client.post(_path(pid), json={**BODY, "channel": "qr"}, headers=alice.headers)
    bad = app_client.post(
        _path(pid), json={**BODY, "channel": "email", "instruments": ["ppt"]}, headers=alice.headers
    )
    assert bad.status_code == 422
    assert len(calls) == 1  # QR sends nothing; a refused request enqueues nothing
    app_client.post(f"/api/questionnaire-requests/{rid}/resend", headers=alice.headers)
    assert calls == [(rid, "open"), (rid, "open")]


@pytest.mark.parametrize("field", ["visit_id", "episode_id"])
def test_another_patients_or_clinics_visit_and_episode_are_refused(app_client, alice, erin, field):
    mine, other = new_patient(app_client, alice), new_patient(app_client, alice)
    theirs = new_patient(app_client, erin)

    def ref(pid: int, person) -> int:
        if field == "visit_id":
            r = app_client.post(
                f"/api/patients/{pid}/visits",
                json={"visit_at": "2026-11-21T10:00:00+00:00"},
                headers=person.headers,
            )
        else:
            r = app_client.post(
                f"/api/patients/{pid}/episodes",
                json={"complaint": "Neck pain"},
                headers=person.headers,
            )
        assert r.status_code == 201, r.text
        return r.json()["id"]

    for ref_id, status in (
        (ref(other, alice), 422),
        (ref(theirs, erin), 404),
        (2_147_483_647, 404),
    ):
        r = app_client.post(_path(mine), json={**BODY, field: ref_id}, headers=alice.headers)
        assert r.status_code == status, (ref_id, r.text)
    assert app_client.get(_path(mine), headers=alice.headers).json() == []
    ok = app_client.post(_path(mine), json={**BODY, field: ref(mine, alice)}, headers=alice.headers)
    assert ok.status_code == 201


@pytest.mark.parametrize("channel", ["email", "sms"])
def test_a_link_sent_by_message_is_not_shown_on_the_page(app_client, alice, channel):
    """The worker's message carries a fresh link, so one shown here would soon stop working."""
    pid = new_patient(app_client, alice, email="rosa@example.org", phone="+34 600 000 000")
    client, csrf = logged_in(app_client, alice)
    r = client.post(
        f"/patients/{pid}/questionnaire-requests",
        data={"csrf_token": csrf, "instruments": ["nprs"], "channel": channel},
    )
    assert r.status_code == 201, r.text
    assert 'id="request-delivery"' in r.text
    assert 'id="patient-link"' not in r.text and "/r/" not in r.text and "<svg" not in r.text
