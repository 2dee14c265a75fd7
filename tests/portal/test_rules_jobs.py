"""The periodic job that applies every clinic's questionnaire rules, on both engines: it is
scheduled every ten minutes, calls apply_rules for each clinic with an active rule (and no
other), and the requests it makes are sent by the usual outbox path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.portal.test_rules import apply, booked, make_rule, requests_for, texts
from tests.smtp import SmtpServer, smtp_server, text_of

from triggerpoint.db import utcnow
from triggerpoint.portal import jobs, rules

__all__ = ["smtp_server", "texts"]  # fixtures, imported for this module


def test_scheduled_every_ten_minutes():
    due = {
        m: [t.name for t in jobs.huey.read_periodic(datetime(2026, 12, 2, 9, m, tzinfo=UTC))]
        for m in (0, 10, 50, 5, 59)
    }
    name = jobs.apply_clinic_rules.s().name
    assert all(name in due[m] for m in (0, 10, 50))
    assert not any(name in due[m] for m in (5, 59))


def test_the_task_calls_apply_rules_for_each_clinic_with_an_active_rule(
    alice, carol, erin, db, texts, monkeypatch
):
    make_rule(alice)
    make_rule(erin, active=False)  # clinic B has only an inactive rule
    calls: list[int] = []
    real = rules.apply_rules

    def spy(session, *, clinic_id, now):
        calls.append(clinic_id)
        assert session.info["clinic_id"] == clinic_id  # confined to the clinic it applies
        return real(session, clinic_id=clinic_id, now=now)

    monkeypatch.setattr(rules, "apply_rules", spy)
    jobs.huey.immediate = True
    try:
        jobs.apply_clinic_rules()
    finally:
        jobs.huey.immediate = False
    assert calls == [alice.clinic_id]


def test_the_task_makes_and_sends_the_requests(alice, db, texts, smtp_server: SmtpServer):
    now = utcnow()
    make_rule(alice)
    _, visit = booked(alice, now + timedelta(days=1), email="neck@example.org")
    jobs.huey.immediate = True
    try:
        jobs.apply_clinic_rules()  # run there and then; its send is enqueued and run too
        jobs.apply_clinic_rules()  # idempotent across runs
    finally:
        jobs.huey.immediate = False
    [row] = requests_for(alice)
    assert row.visit_id == visit
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "neck@example.org" and "/r/" in text_of(msg)
    assert requests_for(alice)[0].sent_at is not None
    assert apply(alice, now) == []


def test_one_clinics_failure_stops_no_other(alice, erin, db, texts, monkeypatch):
    make_rule(alice)
    make_rule(erin)
    now = utcnow()
    booked(erin, now + timedelta(days=1))
    real = rules.apply_rules

    def broken_for_a(session, *, clinic_id, now):
        if clinic_id == alice.clinic_id:
            raise RuntimeError("bad data")
        return real(session, clinic_id=clinic_id, now=now)

    monkeypatch.setattr(rules, "apply_rules", broken_for_a)
    assert jobs.apply_rules_everywhere(now=now) == 1
    assert len(requests_for(erin)) == 1
