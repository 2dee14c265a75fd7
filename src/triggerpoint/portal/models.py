"""Questionnaire requests: a clinician asks one patient to fill in chosen instruments (and,
optionally, a pain drawing) through a link that needs no login.

The link's token is never stored, only its SHA-256 digest (`token_hash`): a copy of the
database gives nobody a working link. The request is tenant-owned like the patient it is
for, so a clinic sees only its own; the patient's page finds it by the digest alone and then
acts within its clinic (see `portal.service.request_for_token`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, Versioned, utcnow


class RequestStatus(StrEnum):
    open = "open"
    submitted = "submitted"
    cancelled = "cancelled"
    expired = "expired"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    qr = "qr"
    none = "none"


class QuestionnaireRequest(Versioned, TenantMixin, Base):
    __tablename__ = "questionnaire_request"
    __table_args__ = (Index("ix_questionnaire_request_patient", "patient_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    episode_id: Mapped[int | None] = mapped_column(ForeignKey("episode.id", ondelete="SET NULL"))
    # The visit the answers are for (reported before it), if any.
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id", ondelete="SET NULL"))
    instruments: Mapped[list[str]] = mapped_column(JSON)  # outcome instrument ids, in order
    pain_drawing: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(12), default=RequestStatus.open)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    submitted_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    channel: Mapped[str] = mapped_column(String(10), default=Channel.none)
    language: Mapped[str] = mapped_column(String(5), default="en")  # of the patient's page
    draft: Mapped[dict | None] = mapped_column(JSON)  # saved, not yet submitted answers
