"""Background jobs on huey: send a request's link, remind once, expire what ran out.

Why a queue: sending email (seconds, and a server that may be down) never happens inside a
clinician's HTTP request, and reminders and expiry must run when nobody is looking. Why huey:
docs/architecture.md ("Background jobs"). The queue holds only *when* to look (a task with a
request id, or the periodic tick); *what* is owed lives in the app's database, so a lost task
costs a minute, never a message.

Exactly once, with any number of workers:

* **The claim.** A reminder is claimed with one conditional UPDATE
  (`reminded_at = :now WHERE id = :id AND reminded_at IS NULL AND status = 'open' ...`);
  only the worker whose UPDATE changed the row (rowcount 1) goes on. PostgreSQL makes a
  second UPDATE of the same row wait for the first transaction and then re-check the WHERE;
  SQLite lets one writer in at a time (BEGIN IMMEDIATE). A request's first message is
  claimed under a row lock (`SELECT ... FOR UPDATE`) and the rule "no message of it is on
  its way".
* **The outbox.** The claim commits together with an outbox row (`portal.outbox`) leased to
  this worker (`status = 'sending'`, `claimed_at`). The message is sent after that commit,
  then the row is marked `sent`. A worker killed after the claim leaves a leased row; once
  the lease (`LEASE`) is over, the next periodic run claims it again and sends it, so no
  reminder is lost. The one window left is a kill after the SMTP server took the message
  and before `sent` was written: that message goes twice (at least once beats at most once
  for a reminder; SMTP offers nothing better).
* **The link.** Its token is stored only as a digest, so a worker cannot know it. Each
  message therefore carries a fresh token, made in the claim's transaction (the digest
  replaces the request's): the newest message's link works, earlier links stop working
  (the reminder says so).
"""

from __future__ import annotations

import importlib.util
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from huey import Huey, MemoryHuey, PostgresHuey, RedisHuey, SqliteHuey, crontab
from huey.storage import PostgresStorage, SqliteStorage
from sqlalchemy import Engine, exists, or_, select, update
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import Clinic
from triggerpoint.audit.service import Actor, record
from triggerpoint.config import Settings, get_settings
from triggerpoint.db import rowcount, unit_of_work, utcnow
from triggerpoint.errors import SetupError
from triggerpoint.portal import messages, rules, service
from triggerpoint.portal.models import (
    DELIVERED,
    Channel,
    QuestionnaireRequest,
    QuestionnaireRule,
    RequestStatus,
)
from triggerpoint.portal.outbox import MessageKind, MessageStatus, PortalMessage
from triggerpoint.records.models import Patient

log = logging.getLogger(__name__)
ENTITY = "questionnaire_request"
WORKER = "worker"
# A worker holding a message longer than this has died: another may send it. Longer than
# the longest SMTP conversation the settings allow (smtp_timeout_seconds <= 600 s).
LEASE = timedelta(minutes=15)
# No reminder within a day of the first message, so a short request (2 days, say) is not
# reminded the moment it is sent. Chosen, not taken from a study.
REMINDER_GAP = timedelta(days=1)
MAX_ATTEMPTS = 10  # transient failures (server down) before the outbox gives up
MAX_BACKOFF = timedelta(hours=1)
BATCH = 500  # rows one periodic run looks at per kind of work


# --- the queue ---------------------------------------------------------------------------


class _LazySqliteStorage(SqliteStorage):
    """huey's SQLite storage, creating its file and tables on first use, not at import:
    importing the jobs (the web app does, to enqueue) must not write to the data folder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["create_tables"] = False
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> Any:
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        conn = super()._create_connection()
        for sql in self.ddl:
            conn.execute(sql)
        return conn


class _LazyPostgresStorage(PostgresStorage):
    """huey's PostgreSQL storage (LISTEN/NOTIFY, `FOR UPDATE SKIP LOCKED`), creating its
    `huey_*` tables on the first connection rather than when the module is imported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["create_tables"] = False
        super().__init__(*args, **kwargs)
        self._schema_ready = False

    def _create_connection(self) -> Any:
        conn = self._connect()
        if not self._schema_ready:
            with conn.cursor() as cur:
                for sql in self.ddl:
                    cur.execute(sql)
            self._schema_ready = True
        return conn


def queue_url(settings: Settings | None = None) -> str:
    """The queue's storage: the setting, else a SQLite file beside the app's data."""
    settings = settings or get_settings()
    if settings.queue_url:
        return settings.queue_url
    return f"sqlite:///{(settings.data_dir / 'jobs.sqlite3').resolve()}"


def make_huey(settings: Settings | None = None) -> Huey:
    """The huey instance for the configured queue (SQLite by default, Redis at scale)."""
    url = queue_url(settings)
    common: dict[str, Any] = {"results": False, "utc": True}
    if url.startswith(("redis://", "rediss://")):
        if importlib.util.find_spec("redis") is None:  # only RedisHuey needs it
            raise SetupError(
                "queue_url is redis://, but the redis package is not installed: pip install redis"
            )
        return RedisHuey("triggerpoint", url=url, **common)
    if url.startswith("memory:"):
        return MemoryHuey("triggerpoint", **common)
    if url.startswith(("postgresql://", "postgresql+psycopg://")):
        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        return PostgresHuey("triggerpoint", dsn=dsn, storage_class=_LazyPostgresStorage, **common)
    path = url.removeprefix("sqlite:///")
    return SqliteHuey(
        "triggerpoint", filename=path, storage_class=_LazySqliteStorage, timeout=30, **common
    )


huey = make_huey()


@huey.task(retries=3, retry_delay=30)
def send_request(request_id: int) -> bool:
    """Send a request's link (enqueued by the API once the request is committed)."""
    return deliver_request(request_id)


@huey.periodic_task(crontab(minute="*"))
def send_due_reminders() -> dict[str, int]:
    """Every minute: due reminders, messages to try again, and request messages whose
    enqueued task was lost."""
    return run_due()


@huey.periodic_task(crontab(minute="*/10"))
def apply_clinic_rules() -> int:
    """Every ten minutes: each clinic's questionnaire rules (portal.rules) ask for the
    visits coming up. Ten minutes is fine-grained enough for rules counted in days."""
    return apply_rules_everywhere()


@huey.periodic_task(crontab(minute="*/5"))
def expire_requests() -> int:
    """Every five minutes: open requests past their expiry become `expired`. (The link is
    refused from the moment it expires either way; this keeps the clinician's list true.)"""
    return expire_due()


# --- the work ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """A claimed message, ready to hand over after the claim has committed."""

    message_id: int
    claimed_at: datetime
    request_id: int
    clinic_id: int
    kind: str
    channel: str
    address: str
    notice: messages.Notice


def _actor(clinic_id: int) -> Actor:
    return Actor(None, clinic_id, WORKER)


def _owed(row: QuestionnaireRequest, now: datetime) -> bool:
    return (
        row.status == RequestStatus.open
        and row.expires_at > now
        and row.channel in DELIVERED
        and row.sent_at is None
    )


def deliver_request(
    request_id: int, *, engine: Engine | None = None, now: datetime | None = None
) -> bool:
    """Claim and send the request's message, unless it is not owed (sent already, closed,
    QR) or one is already on its way. True: this call handed it over."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        row = s.scalar(
            select(QuestionnaireRequest)
            .where(QuestionnaireRequest.id == request_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if row is None or not _owed(row, now):
            return False
        on_its_way = s.scalar(
            select(PortalMessage.id).where(
                PortalMessage.request_id == row.id,
                PortalMessage.kind == MessageKind.request,
                PortalMessage.status.in_([MessageStatus.pending, MessageStatus.sending]),
            )
        )
        if on_its_way is not None:
            return False
        outgoing = _new_message(s, row, MessageKind.request, now)
    return outgoing is not None and _hand_over(outgoing, engine=engine)


def remind(request_id: int, *, engine: Engine | None = None, now: datetime | None = None) -> bool:
    """Claim the request's one reminder (the conditional UPDATE) and send it. False: another
    worker claimed it, or it is no longer open."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        claimed = s.execute(
            update(QuestionnaireRequest)
            .where(
                QuestionnaireRequest.id == request_id,
                QuestionnaireRequest.reminded_at.is_(None),
                QuestionnaireRequest.status == RequestStatus.open,
                QuestionnaireRequest.submitted_at.is_(None),
                QuestionnaireRequest.expires_at > now,
            )
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            return False
        row = s.get(QuestionnaireRequest, request_id, populate_existing=True)
        assert row is not None  # just claimed
        outgoing = _new_message(s, row, MessageKind.reminder, now)
    return outgoing is not None and _hand_over(outgoing, engine=engine)


def deliver_message(
    message_id: int, *, engine: Engine | None = None, now: datetime | None = None
) -> bool:
    """Try an outbox row again: one that is due (`pending`), or one whose worker died
    (`sending` for longer than LEASE). The lease is taken with a conditional UPDATE."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        claimed = s.execute(
            update(PortalMessage)
            .where(PortalMessage.id == message_id, _retryable(now))
            .values(
                status=MessageStatus.sending,
                claimed_at=now,
                attempts=PortalMessage.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            return False
        msg = s.get(PortalMessage, message_id, populate_existing=True)
        assert msg is not None  # just claimed
        outgoing = _prepare(s, msg, now)
    return outgoing is not None and _hand_over(outgoing, engine=engine)


def _retryable(now: datetime) -> Any:
    return or_(
        (PortalMessage.status == MessageStatus.pending) & (PortalMessage.not_before <= now),
        (PortalMessage.status == MessageStatus.sending) & (PortalMessage.claimed_at < now - LEASE),
    )


def _new_message(
    s: Session, row: QuestionnaireRequest, kind: MessageKind, now: datetime
) -> _Outgoing | None:
    """An outbox row for `row`, leased to this worker from the start, in the claim's
    transaction."""
    msg = PortalMessage(
        clinic_id=row.clinic_id,
        request_id=row.id,
        kind=kind,
        channel=row.channel,
        status=MessageStatus.sending,
        created_at=now,
        not_before=now,
        claimed_at=now,
        attempts=1,
    )
    s.add(msg)
    s.flush()
    return _prepare(s, msg, now)


def _prepare(s: Session, msg: PortalMessage, now: datetime) -> _Outgoing | None:
    """Everything the message needs, read now, and a fresh token for its link; or the row
    marked failed when it can no longer be sent (request closed, no address)."""
    row = s.get(QuestionnaireRequest, msg.request_id, populate_existing=True)
    if row is None or row.status != RequestStatus.open or row.expires_at <= now:
        return _give_up(msg, f"the request is {row.status if row else 'gone'}")
    if msg.kind == MessageKind.reminder and row.submitted_at is not None:
        return _give_up(msg, "the request is submitted")
    patient = s.get(Patient, row.patient_id)
    clinic = s.get(Clinic, row.clinic_id)
    address = (
        (patient.email if msg.channel == Channel.email else patient.phone) if patient else None
    )
    if not address or not address.strip():
        what = "email address" if msg.channel == Channel.email else "phone number"
        return _give_up(msg, f"no {what} on the patient's record")
    token, digest = service._new_token()
    rotated = s.execute(
        update(QuestionnaireRequest)
        .where(
            QuestionnaireRequest.id == row.id,
            QuestionnaireRequest.status == RequestStatus.open,
            QuestionnaireRequest.expires_at > now,
        )
        .values(token_hash=digest)
        .execution_options(synchronize_session=False)
    )
    if rowcount(rotated) != 1:
        return _give_up(msg, "the request closed meanwhile")
    days_left = max(1, math.ceil((row.expires_at - now) / timedelta(days=1)))
    assert msg.claimed_at is not None  # leased above
    return _Outgoing(
        message_id=msg.id,
        claimed_at=msg.claimed_at,
        request_id=row.id,
        clinic_id=row.clinic_id,
        kind=msg.kind,
        channel=msg.channel,
        address=address.strip(),
        notice=messages.Notice(
            kind=msg.kind,
            clinic_name=clinic.name if clinic else "",
            link=service.patient_url(token),
            language=row.language,
            days_left=days_left,
        ),
    )


def _give_up(msg: PortalMessage, why: str) -> _Outgoing | None:
    """Mark the message failed for good: what `_prepare` returns instead of a message."""
    msg.status = MessageStatus.failed
    msg.error = why
    msg.claimed_at = None
    log.info("message %s for request %s not sent: %s", msg.id, msg.request_id, why)
    return None


def _hand_over(out: _Outgoing, *, engine: Engine | None) -> bool:
    """Send (after the claim committed), then record the outcome on the leased row."""
    try:
        if out.channel == Channel.email:
            messages.send_email(messages.email_message(out.notice, to=out.address))
        else:
            messages.sms_sender().send(to=out.address, text=messages.sms_text(out.notice))
    except messages.DeliveryError as exc:
        _attempt_failed(out, exc, engine=engine)
        return False
    sent_at = utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        mine = s.execute(
            update(PortalMessage)
            .where(
                PortalMessage.id == out.message_id,
                PortalMessage.status == MessageStatus.sending,
                PortalMessage.claimed_at == out.claimed_at,
            )
            .values(status=MessageStatus.sent, sent_at=sent_at, error=None)
            .execution_options(synchronize_session=False)
        )
        if out.kind == MessageKind.request:
            s.execute(
                update(QuestionnaireRequest)
                .where(QuestionnaireRequest.id == out.request_id)
                .values(sent_at=sent_at)
                .execution_options(synchronize_session=False)
            )
        record(
            s,
            actor=_actor(out.clinic_id),
            action="send_reminder" if out.kind == MessageKind.reminder else "send",
            entity=ENTITY,
            entity_id=out.request_id,
            detail={"channel": out.channel, "message_id": out.message_id},
        )
        if rowcount(mine) != 1:  # our lease ran out and another worker took the row
            log.warning("message %s was sent after its lease had run out", out.message_id)
    return True


def _attempt_failed(out: _Outgoing, exc: messages.DeliveryError, *, engine: Engine | None) -> None:
    now = utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        msg = s.get(PortalMessage, out.message_id, populate_existing=True)
        if msg is None or msg.status != MessageStatus.sending or msg.claimed_at != out.claimed_at:
            return
        msg.error = str(exc)[:300]
        msg.claimed_at = None
        if exc.permanent or msg.attempts >= MAX_ATTEMPTS:
            msg.status = MessageStatus.failed
        else:
            msg.status = MessageStatus.pending
            msg.not_before = now + min(MAX_BACKOFF, timedelta(minutes=2 ** (msg.attempts - 1)))
    log.warning("message %s for request %s: %s", out.message_id, out.request_id, exc)


def due_reminders(s: Session, now: datetime, settings: Settings | None = None) -> list[int]:
    """Open, sent, unanswered requests with at most `reminder_days_before_expiry` days left,
    not yet reminded, first sent at least REMINDER_GAP ago."""
    days = (settings or get_settings()).reminder_days_before_expiry
    if days <= 0:
        return []
    q = QuestionnaireRequest
    return list(
        s.scalars(
            select(q.id)
            .where(
                q.status == RequestStatus.open,
                q.channel.in_(DELIVERED),
                q.reminded_at.is_(None),
                q.submitted_at.is_(None),
                q.sent_at.is_not(None),
                q.sent_at <= now - REMINDER_GAP,
                q.expires_at > now,
                q.expires_at <= now + timedelta(days=days),
            )
            .order_by(q.id)
            .limit(BATCH)
        )
    )


def run_due(*, engine: Engine | None = None, now: datetime | None = None) -> dict[str, int]:
    """One periodic run: claim and send due reminders, try again the outbox rows that are
    due or whose worker died, and send request messages no task arrived for."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        reminders = due_reminders(s, now)
        retries = list(
            s.scalars(
                select(PortalMessage.id)
                .where(_retryable(now))
                .order_by(PortalMessage.id)
                .limit(BATCH)
            )
        )
        q = QuestionnaireRequest
        on_its_way = (
            select(PortalMessage.id)
            .where(
                PortalMessage.request_id == q.id,
                PortalMessage.kind == MessageKind.request,
                PortalMessage.status.in_(
                    [MessageStatus.pending, MessageStatus.sending, MessageStatus.failed]
                ),
            )
            .correlate(q)
        )
        unsent = list(
            s.scalars(
                select(q.id)
                .where(
                    q.status == RequestStatus.open,
                    q.channel.in_(DELIVERED),
                    q.sent_at.is_(None),
                    q.expires_at > now,
                    ~exists(on_its_way),
                )
                .order_by(q.id)
                .limit(BATCH)
            )
        )
    done = {
        "reminders": sum(remind(i, engine=engine, now=now) for i in reminders),
        "retried": sum(deliver_message(i, engine=engine, now=now) for i in retries),
        "caught_up": sum(deliver_request(i, engine=engine, now=now) for i in unsent),
    }
    if any(done.values()):
        log.info("sent: %s", done)
    return done


def expire_due(*, engine: Engine | None = None, now: datetime | None = None) -> int:
    """Mark open requests past their expiry as expired (each audited), with the same
    conditional UPDATE as every other change of a request's status."""
    now = now or utcnow()
    q = QuestionnaireRequest
    expired = 0
    with unit_of_work(clinic_id=None, engine=engine) as s:
        rows = s.execute(
            select(q.id, q.clinic_id)
            .where(q.status == RequestStatus.open, q.expires_at <= now)
            .order_by(q.id)
            .limit(BATCH)
        ).all()
        for request_id, clinic_id in rows:
            changed = s.execute(
                update(q)
                .where(q.id == request_id, q.status == RequestStatus.open, q.expires_at <= now)
                .values(status=RequestStatus.expired, version=q.version + 1)
                .execution_options(synchronize_session=False)
            )
            if rowcount(changed) == 1:
                expired += 1
                record(
                    s,
                    actor=_actor(clinic_id),
                    action="expire",
                    entity=ENTITY,
                    entity_id=request_id,
                    detail={},
                )
    return expired


def apply_rules_everywhere(*, engine: Engine | None = None, now: datetime | None = None) -> int:
    """Apply the rules of every clinic that has an active one, each clinic in a transaction
    of its own (one clinic's failure stops no other), then enqueue the new requests' sending
    after that commit. The count of requests made."""
    now = now or utcnow()
    with unit_of_work(clinic_id=None, engine=engine) as s:
        clinics = list(
            s.scalars(
                select(QuestionnaireRule.clinic_id)
                .where(QuestionnaireRule.active.is_(True))
                .distinct()
                .order_by(QuestionnaireRule.clinic_id)
            )
        )
    made = 0
    for clinic_id in clinics:
        try:
            with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
                rows = rules.apply_rules(s, clinic_id=clinic_id, now=now)
                to_send = [r.id for r in rows if r.channel in DELIVERED]
        except Exception:  # one clinic's bad data must not stop the others' rules
            log.exception("the questionnaire rules of clinic %s failed", clinic_id)
            continue
        made += len(rows)
        for request_id in to_send:
            _enqueue_send(request_id)
    if made:
        log.info("questionnaire rules made %s requests", made)
    return made


def _enqueue_send(request_id: int) -> None:
    """Ask a worker to send now; if the queue refuses, the minute's run_due sends it."""
    try:
        send_request(request_id)
    except Exception:  # the queue is down: nothing is lost, the request row is the truth
        log.warning("could not enqueue the send of request %s; run_due will", request_id)
