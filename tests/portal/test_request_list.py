"""The clinician's list of a patient's questionnaire requests, on the rendered patient page:
each row says when it was sent, opened, reminded (the time the outbox handed the reminder
over, or that it is on its way or failed), submitted and when it expires; resend and cancel
stay for open requests. Both engines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from tests.conftest import logged_in
from tests.personas import new_patient

from triggerpoint.config import get_settings
from triggerpoint.db import unit_of_work, utcnow
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.outbox import MessageKind, MessageStatus, PortalMessage
from triggerpoint.ui import localtime

TEXTS = Path(__file__).parent / "texts"


@pytest.fixture(autouse=True)
def texts(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _request(app_client, person, pid: int, channel: str = "email") -> int:
    r = app_client.post(
        f"/api/patients/{pid}/questionnaire-requests",
        json={"instruments": ["nprs"], "channel": channel},
        headers=person.headers,
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _cells(html: str, request_id: int) -> dict[str, str]:
    row = html.split(f'<tr data-request="{request_id}"', 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r'<td data-col="(\w+)">(.*?)</td>', row, flags=re.S)
    return {k: re.sub(r"<[^>]+>", "", v).strip() for k, v in cells}


def _row(html: str, request_id: int) -> str:
    return html.split(f'<tr data-request="{request_id}"', 1)[1].split("</tr>", 1)[0]


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def test_each_row_says_sent_opened_reminded_submitted_and_expires(app_client, alice):
    pid = new_patient(app_client, alice)
    rid = _request(app_client, alice, pid)
    client, _ = logged_in(app_client, alice)
    fresh = _cells(client.get(f"/patients/{pid}").text, rid)
    assert fresh["sent"] == "queued" and fresh["opened"] == "—"
    assert fresh["reminded"] == "—" and fresh["submitted"] == "—"
    assert fresh["expires"] != "—"
    assert "Reminded</th>" in client.get(f"/patients/{pid}").text

    sent, opened, claimed, reminded = _at(20, 9), _at(20, 18), _at(24, 9), _at(24, 9)
    reminded = reminded + timedelta(minutes=3)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == rid)
            .values(sent_at=sent, opened_at=opened, reminded_at=claimed)
        )
        s.add(
            PortalMessage(
                request_id=rid,
                kind=MessageKind.reminder,
                channel="email",
                status=MessageStatus.sent,
                created_at=claimed,
                claimed_at=claimed,
                sent_at=reminded,
            )
        )
    html = client.get(f"/patients/{pid}").text
    cells = _cells(html, rid)
    assert cells["sent"] == localtime.when(sent)
    assert cells["opened"] == localtime.when(opened)
    assert cells["reminded"] == localtime.when(reminded)  # handed over, not claimed
    assert cells["submitted"] == "—"
    row = _row(html, rid)
    assert f'action="/questionnaire-requests/{rid}/resend"' in row
    assert f'action="/questionnaire-requests/{rid}/cancel"' in row


def test_a_reminder_on_its_way_or_failed_says_so(app_client, alice):
    pid = new_patient(app_client, alice)
    rid = _request(app_client, alice, pid)
    claimed = utcnow() - timedelta(minutes=1)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == rid)
            .values(sent_at=claimed - timedelta(days=3), reminded_at=claimed)
        )
        s.add(
            PortalMessage(
                request_id=rid,
                kind=MessageKind.reminder,
                channel="email",
                status=MessageStatus.sending,
                claimed_at=claimed,
            )
        )
    client, _ = logged_in(app_client, alice)
    cells = _cells(client.get(f"/patients/{pid}").text, rid)
    assert cells["reminded"] == f"{localtime.when(claimed)} (being sent)"
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.execute(update(PortalMessage).values(status=MessageStatus.failed, error="refused"))
    cells = _cells(client.get(f"/patients/{pid}").text, rid)
    assert cells["reminded"] == f"{localtime.when(claimed)} (failed)"


def test_a_first_message_that_failed_and_a_submitted_request(app_client, alice):
    pid = new_patient(app_client, alice)
    rid = _request(app_client, alice, pid)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.add(
            PortalMessage(
                request_id=rid,
                kind=MessageKind.request,
                channel="email",
                status=MessageStatus.failed,
                error="the patient has no email address",
            )
        )
    client, _ = logged_in(app_client, alice)
    cells = _cells(client.get(f"/patients/{pid}").text, rid)
    assert cells["sent"] == "not sent: the patient has no email address"

    done = _at(25, 8)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        s.execute(
            update(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == rid)
            .values(status="submitted", submitted_at=done, sent_at=_at(24, 8))
        )
    html = client.get(f"/patients/{pid}").text
    cells = _cells(html, rid)
    assert cells["submitted"] == localtime.when(done) and cells["sent"] == localtime.when(
        _at(24, 8)
    )
    assert "/resend" not in _row(html, rid)  # only open requests are resent or cancelled


def test_a_link_only_request_is_not_queued(app_client, alice, bob):
    pid = new_patient(app_client, alice)
    rid = _request(app_client, alice, pid, channel="none")
    client, _ = logged_in(app_client, alice)
    assert _cells(client.get(f"/patients/{pid}").text, rid)["sent"] == "—"
    assistant, _ = logged_in(app_client, bob)  # the front desk sees the same columns
    assert set(_cells(assistant.get(f"/patients/{pid}").text, rid)) == {
        "sent", "opened", "reminded", "submitted", "expires",
    }  # fmt: skip
