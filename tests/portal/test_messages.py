"""The patient's email, SMS and QR code: a real SMTP server (aiosmtpd, tests/smtp.py) gets
an HTML and a text part with the link and the clinic's name and nothing clinical; the link
in it opens the request; SMS goes through the adapter and never logs the link; QR codes are
an inline SVG and a PNG of the link."""

from __future__ import annotations

import logging
import re
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import segno
from markupsafe import escape
from sqlalchemy import text
from tests.personas import Person
from tests.portal.jobs_helpers import TEXTS, create, outbox, patient, request_row
from tests.smtp import SmtpServer, html_of, smtp_server, text_of

from triggerpoint.accounts.models import Clinic
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.errors import NotFound
from triggerpoint.outcomes.schemas import MeasurementIn
from triggerpoint.outcomes.service import record_measurement
from triggerpoint.portal import jobs, messages, service
from triggerpoint.portal.outbox import MessageStatus
from triggerpoint.records.schemas import EpisodeIn
from triggerpoint.records.service import create_episode

__all__ = ["smtp_server"]  # the fixture, imported for this module

LINK = re.compile(r"https?://[^\s\"<>]+/r/([A-Za-z0-9_-]{43})")
COMPLAINT = "Stabbing neck pain since the car accident"


@pytest.fixture(autouse=True)
def setup(db, monkeypatch) -> Iterator[None]:
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _clinic_name(person: Person) -> str:
    with open_session(clinic_id=None) as s:
        clinic = s.get(Clinic, person.clinic_id)
        assert clinic is not None
        return clinic.name


def _with_clinical_record(person: Person, patient_id: int) -> None:
    """A complaint and scores on the record, so a leak into the email would show."""
    with unit_of_work(clinic_id=person.clinic_id) as s:
        create_episode(
            s,
            principal=person.principal,
            patient_id=patient_id,
            data=EpisodeIn(complaint=COMPLAINT),
        )
        record_measurement(
            s,
            principal=person.principal,
            patient_id=patient_id,
            data=MeasurementIn(instrument="nprs", data={"current": 7}, measured_at=utcnow()),
        )


def test_email_arrives_with_link_and_clinic_name_only(alice, smtp_server: SmtpServer):
    pid = patient(alice, given_name="Rosa", family_name="Secretname", email="rosa@example.org")
    _with_clinical_record(alice, pid)
    rid, first_token = create(alice, pid, instruments=["nprs", "ndi"], pain_drawing=True)

    assert jobs.deliver_request(rid) is True
    [msg] = smtp_server.wait_for(1)

    clinic = _clinic_name(alice)
    assert msg["To"] == "rosa@example.org"
    assert clinic in str(msg["From"]) and "clinic@example.org" in str(msg["From"])
    assert clinic in str(msg["Subject"])
    assert msg.get_content_type() == "multipart/alternative"
    plain, html = text_of(msg), html_of(msg)
    assert "<html" in html and "<html" not in plain
    for body, name in ((plain, clinic), (html, str(escape(clinic)))):
        assert name in body
        tokens = set(LINK.findall(body))
        assert len(tokens) == 1, body
        for leak in (
            "Rosa",
            "Secretname",
            COMPLAINT,
            "accident",
            "NPRS",
            "nprs",
            "NDI",
            "ndi",
            "Neck Disability",
            "pain drawing",
            "7/10",
            "score",
        ):
            assert leak not in body, f"{leak!r} in the email"
    [token] = tokens
    assert token in html and token != first_token  # each message carries a fresh link
    with unit_of_work(clinic_id=None) as s:
        assert service.request_for_token(s, token=token).id == rid
    with unit_of_work(clinic_id=None) as s, pytest.raises(NotFound):
        service.request_for_token(s, token=first_token)  # superseded by the emailed link

    row = request_row(rid)
    assert row.sent_at is not None
    [sent] = outbox(rid)
    assert (sent.kind, sent.status, sent.attempts, sent.sent_at) == (
        "request",
        "sent",
        1,
        sent.sent_at,
    )
    assert sent.sent_at is not None
    # nothing of the link is stored: not in the outbox row, not on the request
    with open_session(clinic_id=None) as s:
        dumped = " ".join(str(r) for r in s.execute(text("SELECT * FROM portal_message")).all())
    assert token not in dumped and token not in row.token_hash


def test_deliver_twice_sends_once(alice, smtp_server: SmtpServer):
    rid, _ = create(alice, patient(alice))
    assert jobs.deliver_request(rid) is True
    assert jobs.deliver_request(rid) is False  # sent already: the task ran twice, one email
    assert jobs.run_due() == {"reminders": 0, "retried": 0, "caught_up": 0}
    smtp_server.wait_for(1)
    assert len(smtp_server.messages) == 1


def test_the_api_enqueues_and_the_worker_sends(alice, app_client, smtp_server: SmtpServer):
    """POST .../questionnaire-requests enqueues send_request after its commit (huey in
    immediate mode runs it there and then): the email arrives with a working link."""
    pid = patient(alice, email="api@example.org")
    jobs.huey.immediate = True
    try:
        resp = app_client.post(
            f"/api/patients/{pid}/questionnaire-requests",
            json={"instruments": ["nprs"], "pain_drawing": False, "channel": "email"},
            headers=alice.headers,
        )
    finally:
        jobs.huey.immediate = False
    assert resp.status_code == 201, resp.text
    [msg] = smtp_server.wait_for(1)
    assert msg["To"] == "api@example.org"
    [token] = set(LINK.findall(text_of(msg)))
    with unit_of_work(clinic_id=None) as s:
        assert service.request_for_token(s, token=token).id == resp.json()["id"]


def test_qr_and_none_send_nothing(alice, smtp_server: SmtpServer):
    pid = patient(alice)
    for channel in ("qr", "none"):
        rid, token = create(alice, pid, channel=channel)
        assert jobs.deliver_request(rid) is False
        with unit_of_work(clinic_id=None) as s:  # the clinician's link still works
            assert service.request_for_token(s, token=token).id == rid
    assert jobs.run_due()["caught_up"] == 0
    assert smtp_server.messages == [] and outbox() == []


def test_language_of_the_request(alice, smtp_server: SmtpServer):
    rid, _ = create(alice, patient(alice), language="es")
    jobs.deliver_request(rid)
    [msg] = smtp_server.wait_for(1)
    assert msg["Content-Language"] == "es"
    assert '<html lang="es">' in html_of(msg)


def test_refused_address_fails_for_good(alice, smtp_server: SmtpServer):
    smtp_server.handler.refuse.add("nobody@example.org")
    rid, _ = create(alice, patient(alice, email="nobody@example.org"))
    assert jobs.deliver_request(rid) is False
    [msg] = outbox(rid)
    assert msg.status == MessageStatus.failed and "refused" in (msg.error or "")
    assert request_row(rid).sent_at is None
    assert jobs.run_due()["caught_up"] == 0  # not made again and again


def test_no_address_fails_with_the_reason(alice, smtp_server: SmtpServer):
    rid, _ = create(alice, patient(alice, email=None))
    assert jobs.deliver_request(rid) is False
    [msg] = outbox(rid)
    assert msg.status == MessageStatus.failed
    assert msg.error == "no email address on the patient's record"


def test_server_down_retries_later(alice, smtp_server: SmtpServer, monkeypatch):
    from datetime import timedelta

    rid, _ = create(alice, patient(alice))
    monkeypatch.setenv("TRIGGERPOINT_SMTP_PORT", "1")  # nothing listens there
    get_settings.cache_clear()
    assert jobs.deliver_request(rid) is False
    [msg] = outbox(rid)
    assert msg.status == MessageStatus.pending and "unreachable" in (msg.error or "")
    assert jobs.run_due()["retried"] == 0  # backing off: not yet
    monkeypatch.setenv("TRIGGERPOINT_SMTP_PORT", str(smtp_server.port))
    get_settings.cache_clear()
    assert jobs.run_due(now=utcnow() + timedelta(minutes=2))["retried"] == 1
    smtp_server.wait_for(1)
    [msg] = outbox(rid)
    assert (msg.status, msg.attempts, msg.error) == ("sent", 2, None)
    assert request_row(rid).sent_at is not None


def test_sms_goes_through_the_adapter_and_never_logs_the_link(alice, caplog):
    rid, _ = create(alice, patient(alice, phone="+34 600 123 456"), channel="sms")
    with caplog.at_level(logging.WARNING, logger="triggerpoint.portal.messages"):
        assert jobs.deliver_request(rid) is True
    logged = caplog.text
    assert "…3456" in logged and "600 123" not in logged
    assert "/r/" not in logged
    [msg] = outbox(rid)
    assert (msg.channel, msg.status) == ("sms", "sent")


class _Recording:
    sent: list[tuple[str, str]] = []  # noqa: RUF012 - the test reads what was sent

    def send(self, *, to: str, text: str) -> None:
        self.sent.append((to, text))


def test_a_provider_plugs_in_by_setting(alice, monkeypatch):
    monkeypatch.setenv("TRIGGERPOINT_SMS_SENDER", f"{__name__}:_Recording")
    get_settings.cache_clear()
    _Recording.sent.clear()
    rid, _ = create(alice, patient(alice, phone="+34 600 123 456"), channel="sms")
    assert jobs.deliver_request(rid) is True
    [(to, body)] = _Recording.sent
    assert to == "+34 600 123 456"
    assert _clinic_name(alice) in body and LINK.search(body)
    assert isinstance(messages.sms_sender(), messages.SmsSender)


def test_reminder_text_counts_days():
    n = messages.Notice(
        kind="reminder", clinic_name="C", link="http://h/r/x", language="en", days_left=1
    )
    assert "1 day left" in messages.sms_text(n)
    n2 = messages.Notice(
        kind="reminder", clinic_name="C", link="http://h/r/x", language="en", days_left=2
    )
    assert "2 days left" in messages.sms_text(n2)
    assert "2 days left" in text_of(messages.email_message(n2, to="a@b.c"))


def test_clinic_name_is_escaped_in_html():
    n = messages.Notice(
        kind="request", clinic_name="A&B <Clinic>", link="http://h/r/x", language="en"
    )
    html = html_of(messages.email_message(n, to="a@b.c"))
    assert "A&amp;B &lt;Clinic&gt;" in html and "<Clinic>" not in html


def test_qr_svg_and_png_of_the_link():
    url = "http://127.0.0.1:8000/r/" + "A" * 43
    svg = messages.qr_svg(url, title="Questionnaire link")
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert not svg.startswith("<?xml")  # inline in a page
    assert root.find("{http://www.w3.org/2000/svg}title").text == "Questionnaire link"
    png = messages.qr_png(url, scale=8)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    modules = 17 + 4 * segno.make(url, error="m").version
    assert width == height == (modules + 8) * 8  # 4-module quiet zone each side


EMAIL_SOURCES = [("src/triggerpoint/portal/messages.py", "python")] + [
    (str(p), "jinja2")
    for p in sorted(Path("src/triggerpoint/portal/templates/portal/email").glob("*.*"))
]


def test_every_email_and_sms_string_is_in_every_catalogue():
    """Adding a language is one catalogue: every sentence of the email and the SMS must be in
    each `messages.po` (English: the msgids themselves)."""
    from babel.messages.extract import extract
    from babel.messages.pofile import read_po

    from triggerpoint.portal import i18n

    root = Path(__file__).resolve().parents[2]
    wanted: set[str] = set()
    for path, method in EMAIL_SOURCES:
        options = {"extensions": "jinja2.ext.i18n"} if method == "jinja2" else {}
        with (root / path).open("rb") as fh:
            for _line, msg, _comments, _context in extract(
                method,
                fh,
                keywords={"_": None, "gettext": None, "ngettext": (1, 2)},
                options=options,
            ):
                wanted.add(msg if isinstance(msg, str) else msg[0])
    assert len(wanted) >= 13
    for lang in i18n.languages():
        with (i18n.LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
        assert not wanted - have, f"{lang}: missing {sorted(wanted - have)}"
        if lang != "en":
            untranslated = [
                m.id
                for m in catalog
                if m.id
                and (m.id if isinstance(m.id, str) else m.id[0]) in wanted
                and not all(m.string if isinstance(m.string, tuple) else [m.string])
            ]
            assert not untranslated, f"{lang}: untranslated {untranslated}"
