"""The jobs on both engines: a reminder ("not filled in yet, 2 days left") is sent once for a
due request and never for a submitted, cancelled or expired one; expiry marks what ran out;
a worker killed after its claim and before sending loses no reminder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta

import pytest
from tests.personas import Person, add_clinic, add_person, tag
from tests.portal.jobs_helpers import (
    TEXTS,
    count,
    create,
    outbox,
    patient,
    request_row,
    set_times,
)
from tests.smtp import SmtpServer, smtp_server, text_of

from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.portal import jobs, service
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.outbox import MessageStatus
from triggerpoint.portal.schemas import SubmissionIn

__all__ = ["smtp_server"]  # the fixture, imported for this module

LINK = re.compile(r"/r/([A-Za-z0-9_-]{43})")


@pytest.fixture
def texts(monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def shared(db, texts) -> None:
    """This test's rolled-back database, with the placeholder NDI wording."""


def _due(person: Person, **fields) -> int:
    """A request sent three days ago that expires in a day and a half: a reminder is due."""
    rid, _ = create(person, patient(person, **fields))
    set_times(rid)
    return rid


def test_due_reminder_is_sent_once(alice, shared, smtp_server: SmtpServer):
    rid = _due(alice, email="due@example.org")
    first = jobs.run_due()
    second = jobs.run_due()
    assert (first["reminders"], second["reminders"]) == (1, 0)
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "due@example.org"
    assert str(msg["Subject"]).startswith("Reminder")
    body = text_of(msg)
    assert "not filled in yet: 2 days left" in body
    [token] = LINK.findall(body)
    with unit_of_work(clinic_id=None) as s:  # the reminder's link opens the request
        assert service.request_for_token(s, token=token).id == rid
    assert request_row(rid).reminded_at is not None
    [reminder] = outbox(rid)
    assert (reminder.kind, reminder.status) == ("reminder", "sent")
    assert count(AuditEvent, action="send_reminder", entity_id=str(rid)) == 1
    assert len(smtp_server.messages) == 1


def test_no_reminder_for_submitted_cancelled_expired_or_not_due(alice, shared, smtp_server):
    # submitted
    submitted, token = create(alice, patient(alice))
    with unit_of_work(clinic_id=None) as s:
        service.submit_request(s, token=token, data=SubmissionIn(answers={"nprs": {"current": 4}}))
    set_times(submitted)
    # cancelled
    cancelled, _ = create(alice, patient(alice))
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        service.cancel_request(s, principal=alice.principal, request_id=cancelled)
    set_times(cancelled)
    # expired (still "open" until expiry runs, and after it)
    expired, _ = create(alice, patient(alice))
    set_times(expired, expires_in_days=-0.1)
    # not due yet: five days left; sent an hour ago; never sent; QR (no address to remind)
    early, _ = create(alice, patient(alice))
    set_times(early, expires_in_days=5)
    fresh, _ = create(alice, patient(alice))
    set_times(fresh, sent_days_ago=1 / 24)
    qr, _ = create(alice, patient(alice), channel="qr")
    set_times(qr)

    assert jobs.run_due()["reminders"] == 0
    assert jobs.expire_due() == 1
    assert jobs.run_due()["reminders"] == 0
    assert smtp_server.messages == []
    for rid in (submitted, cancelled, expired, early, fresh, qr):
        assert request_row(rid).reminded_at is None
    assert request_row(expired).status == "expired"


def test_a_claimed_reminder_whose_request_closed_is_not_sent(alice, shared, smtp_server):
    """Cancelled between the claim and the send (a retry after a crash): dropped."""
    rid = _due(alice)
    with unit_of_work(clinic_id=None) as s:  # the claim of a worker that then died
        s.execute(
            QuestionnaireRequest.__table__.update()
            .where(QuestionnaireRequest.id == rid)
            .values(reminded_at=utcnow())
        )
        s.add(
            jobs.PortalMessage(
                clinic_id=alice.clinic_id,
                request_id=rid,
                kind="reminder",
                channel="email",
                status="sending",
                claimed_at=utcnow() - jobs.LEASE * 2,
                attempts=1,
            )
        )
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        service.cancel_request(s, principal=alice.principal, request_id=rid)
    assert jobs.run_due()["retried"] == 0
    [msg] = outbox(rid)
    assert msg.status == MessageStatus.failed and msg.error == "the request is cancelled"
    assert smtp_server.messages == []


def test_expiry_marks_open_requests_past_expiry(alice, shared):
    past, _ = create(alice, patient(alice))
    set_times(past, expires_in_days=-1)
    future, _ = create(alice, patient(alice))
    assert jobs.expire_due() == 1
    assert jobs.expire_due() == 0
    assert (request_row(past).status, request_row(future).status) == ("expired", "open")
    assert count(AuditEvent, action="expire", entity_id=str(past)) == 1


def test_lost_enqueue_is_caught_up(alice, shared, smtp_server):
    """The API's task never arrived (the queue was down): the periodic run sends it."""
    rid, _ = create(alice, patient(alice))
    assert jobs.run_due()["caught_up"] == 1
    smtp_server.wait_for(1)
    assert jobs.run_due()["caught_up"] == 0
    assert request_row(rid).sent_at is not None


def test_resend_sends_again(alice, shared, smtp_server):
    rid, _ = create(alice, patient(alice))
    jobs.deliver_request(rid)
    with unit_of_work(clinic_id=alice.clinic_id) as s:
        service.resend_request(s, principal=alice.principal, request_id=rid)
    assert jobs.deliver_request(rid) is True
    first, second = smtp_server.wait_for(2)
    [t1], [t2] = LINK.findall(text_of(first)), LINK.findall(text_of(second))
    assert t1 != t2
    with unit_of_work(clinic_id=None) as s:
        assert service.request_for_token(s, token=t2).id == rid


# --- a worker killed mid-job ------------------------------------------------------------------

KILLED = textwrap.dedent(
    """
    import os, signal
    from triggerpoint.portal import jobs, messages

    def killed(*args, **kwargs):  # the process dies after its claim committed, before sending
        os.kill(os.getpid(), signal.SIGKILL)

    messages.send_email = killed
    jobs.run_due()
    """
)


@pytest.fixture
def own_db(fresh_db, texts, monkeypatch):
    """A database of its own (committed writes, another process can see them)."""
    with open_session(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, f"Killed {tag()}")
        person = add_person(s, clinic_id=clinic, username=f"k.{tag()}", role="clinician")
        s.commit()
    return fresh_db, person


def test_worker_killed_after_claim_loses_no_reminder(own_db, smtp_server: SmtpServer):
    engine, person = own_db
    rid, _ = create(person, patient(person, engine=engine, email="k@example.org"), engine=engine)
    set_times(rid, engine=engine)
    env = {
        **os.environ,
        **smtp_server.env(),
        "TRIGGERPOINT_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TRIGGERPOINT_QUEUE_URL": "memory:",
    }
    done = subprocess.run([sys.executable, "-c", KILLED], env=env, capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()[-2000:]

    row = request_row(rid, engine)
    assert row.reminded_at is not None  # the claim committed
    [msg] = outbox(rid, engine)
    assert (msg.kind, msg.status) == ("reminder", "sending")
    assert smtp_server.messages == []  # and nothing was sent

    # While the lease runs, another worker leaves it alone (the first might still be sending).
    assert jobs.run_due(engine=engine) == {"reminders": 0, "retried": 0, "caught_up": 0}
    # After it, the next run sends the reminder, once.
    later = utcnow() + jobs.LEASE + timedelta(minutes=1)
    assert jobs.run_due(engine=engine, now=later)["retried"] == 1
    assert jobs.run_due(engine=engine, now=later + timedelta(minutes=1))["retried"] == 0
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "k@example.org" and "not filled in yet" in text_of(mail)
    [msg] = outbox(rid, engine)
    assert (msg.status, msg.attempts) == ("sent", 2)
    assert len(smtp_server.messages) == 1
