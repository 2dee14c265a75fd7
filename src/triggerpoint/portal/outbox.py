"""The outbox: one row per message owed to a patient (the request's link, or its reminder).

Why a table of its own: a worker may die at any moment, and SMTP cannot take part in a
database transaction. So the decision "this message is to be sent" is written in the app's
database, in the same transaction as the claim that makes it (a reminder: the conditional
UPDATE of `questionnaire_request.reminded_at`), and the send happens after that commit. A row
that never reached `sent` is found again and sent by the next run (`portal.jobs`); a row a
worker is sending is leased (`claimed_at`), so two workers never send it at once, and a lease
older than `jobs.LEASE` belongs to a worker that died.

The row holds no message text, no address and never the link: the link's token is made at
the moment of sending (only its digest is stored, on the request), the address is read from
the patient's record when sending.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, utcnow


class MessageKind(StrEnum):
    request = "request"  # the first message of a request (or of a resend)
    reminder = "reminder"  # "not filled in yet, 2 days left"


class MessageStatus(StrEnum):
    pending = "pending"  # to send (again) from `not_before`
    sending = "sending"  # leased by a worker since `claimed_at`
    sent = "sent"  # handed to the SMTP server / SMS provider at `sent_at`
    failed = "failed"  # given up: `error` says why (no address, refused, request closed)


class PortalMessage(TenantMixin, Base):
    __tablename__ = "portal_message"
    __table_args__ = (Index("ix_portal_message_status", "status", "not_before"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("questionnaire_request.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(12))
    channel: Mapped[str] = mapped_column(String(10))  # email | sms
    status: Mapped[str] = mapped_column(String(10), default=MessageStatus.pending)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))  # the last failure, no content
