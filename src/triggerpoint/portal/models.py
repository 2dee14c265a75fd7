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

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
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


DELIVERED = (Channel.email, Channel.sms)  # QR and "none": the clinician hands the link over


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
    # The clinic rule that made this request, if a rule did (portal.rules): with visit_id,
    # the key that keeps a rule from asking twice before the same visit.
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("questionnaire_rule.id", ondelete="SET NULL")
    )


# One request per (rule, visit), even if two workers apply the rules at once. NULLs are
# distinct in a unique index on both engines, so requests made by a person are not limited.
Index(
    "uq_questionnaire_request_rule_visit",
    QuestionnaireRequest.rule_id,
    QuestionnaireRequest.visit_id,
    unique=True,
)


class QuestionnaireRule(Versioned, TenantMixin, Base):
    """A clinic's standing order: "ask for these instruments before every visit of an
    episode that matches", applied by `portal.rules.apply_rules` on a schedule.

    An episode matches when its complaint contains one of `keywords` (case and accents
    ignored) or one of its diagnoses starts with one of `icd10_prefixes`.
    """

    __tablename__ = "questionnaire_rule"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    instruments: Mapped[list[str]] = mapped_column(JSON)  # outcome instrument ids, in order
    pain_drawing: Mapped[bool] = mapped_column(Boolean, default=False)
    keywords: Mapped[list[str]] = mapped_column(JSON)  # as typed; folded when matched
    icd10_prefixes: Mapped[list[str]] = mapped_column(JSON)  # "M54.2", upper case
    days_before: Mapped[int] = mapped_column(Integer, default=2)
    expires_in_days: Mapped[int | None] = mapped_column(Integer)  # None: the setting
    channel: Mapped[str] = mapped_column(String(10), default=Channel.email)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
