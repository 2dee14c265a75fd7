"""Tables of a palpation reliability study: the study, its examiners, its coded participants,
each examiner's examination of a participant (its place in the order and when it was
submitted) and the findings recorded in it.

Every table is tenant-owned (`TenantMixin`), so `db.py` confines it to one clinic. Findings
hang off an examination, not off the participant, so "whose finding is this" is one join
and the blinding rule (`service.py`) has one place to look.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, utcnow

CRITERIA = ("taut_band", "tender_spot", "pain_recognition", "referral", "twitch", "jump_sign")
SIDES = ("left", "right")
STATUSES = ("draft", "open", "closed")


class Study(TenantMixin, Base):
    """A study names what is examined (muscles with sides, criteria) and its status.
    `sites` is a list of {"muscle": atlas id, "side": "left"|"right"} in the order chosen."""

    __tablename__ = "reliability_study"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="draft")
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    criteria: Mapped[list[str]] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class StudyExaminer(TenantMixin, Base):
    """A user examining in the study; `position` is the order they were named in (the
    report's rater columns), not the order they examined anyone (see `Examination`)."""

    __tablename__ = "reliability_examiner"
    __table_args__ = (UniqueConstraint("study_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("reliability_study.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    position: Mapped[int] = mapped_column(Integer)


class Participant(TenantMixin, Base):
    """A person examined, known by a code ("P01"), never by name; optionally the clinic's
    patient record it stands for (only with a research consent in force)."""

    __tablename__ = "reliability_participant"
    __table_args__ = (UniqueConstraint("study_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("reliability_study.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(20))
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Examination(TenantMixin, Base):
    """One examiner's examination of one participant: `sequence` (1, 2, ...) is the order
    in which the examiners came to this participant (given at their first recorded
    finding), `submitted_at` locks their findings for this participant."""

    __tablename__ = "reliability_exam"
    __table_args__ = (
        UniqueConstraint("participant_id", "examiner_id"),
        UniqueConstraint("participant_id", "sequence"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("reliability_study.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("reliability_participant.id", ondelete="CASCADE"), index=True
    )
    examiner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="RESTRICT"))
    sequence: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]


class StudyFinding(TenantMixin, Base):
    """What one examiner found for one muscle-side and criterion: present True/False, or
    None for "not assessed"."""

    __tablename__ = "reliability_finding"
    __table_args__ = (UniqueConstraint("exam_id", "muscle_id", "side", "criterion"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    exam_id: Mapped[int] = mapped_column(
        ForeignKey("reliability_exam.id", ondelete="CASCADE"), index=True
    )
    muscle_id: Mapped[str] = mapped_column(String(80))
    side: Mapped[str] = mapped_column(String(10))
    criterion: Mapped[str] = mapped_column(String(20))
    present: Mapped[bool | None] = mapped_column(Boolean)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
