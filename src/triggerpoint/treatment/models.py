"""Screening, needling sessions, needle entries, needle counts, adverse events and addenda."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triggerpoint.db import Base, TenantMixin, Versioned, utcnow


class Screening(TenantMixin, Base):
    """Answers to the screening questions for an episode, and the outcome they gave."""

    __tablename__ = "screening"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    episode_id: Mapped[int | None] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), index=True
    )
    answers: Mapped[dict] = mapped_column(JSON)
    outcome: Mapped[str] = mapped_column(String(30))
    reasons: Mapped[list[str]] = mapped_column(JSON)
    restrictions: Mapped[list[dict]] = mapped_column(JSON)
    rules_version: Mapped[str] = mapped_column(String(20))
    screened_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    screened_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScreeningConfirmation(TenantMixin, Base):
    """At each visit the clinician re-confirms that the screening still holds."""

    __tablename__ = "screening_confirmation"
    __table_args__ = (UniqueConstraint("visit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"))
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id", ondelete="RESTRICT"))
    confirmed_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)


class NeedlingSession(Versioned, TenantMixin, Base):
    __tablename__ = "needling_session"
    __table_args__ = (
        UniqueConstraint("visit_id"),
        # The dashboard's session and signed counts from the index alone, and its unsigned
        # list (status = 'open' AND opened_at < cut-off, by opened_at) without a table scan:
        # once ANALYZE has seen that almost every session is signed, SQLite would otherwise
        # walk the opened_at index over all sessions.
        Index("ix_needling_session_clinic_status", "clinic_id", "status", "opened_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="RESTRICT"))
    screening_id: Mapped[int] = mapped_column(ForeignKey("screening.id", ondelete="RESTRICT"))
    consent_id: Mapped[int] = mapped_column(ForeignKey("consent.id", ondelete="RESTRICT"))
    opened_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    opened_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    needles_out: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)
    signed_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    signed_at: Mapped[datetime | None]
    # A historical session brought in by FHIR import: its signer is a name from the other
    # system, not a user here, and its entries were checked against the imported screening.
    imported: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    imported_signer: Mapped[str | None] = mapped_column(String(200))
    entries: Mapped[list[NeedleEntry]] = relationship(
        lazy="selectin", order_by="NeedleEntry.seq", cascade="all, delete-orphan"
    )
    targets: Mapped[list[PlannedTarget]] = relationship(
        lazy="selectin", order_by="PlannedTarget.id", cascade="all, delete-orphan"
    )
    adverse_events: Mapped[list[AdverseEvent]] = relationship(
        lazy="selectin", order_by="AdverseEvent.id"
    )
    addenda: Mapped[list[Addendum]] = relationship(lazy="selectin", order_by="Addendum.id")


class PlannedTarget(TenantMixin, Base):
    __tablename__ = "planned_target"
    id: Mapped[int] = mapped_column(primary_key=True)
    needling_id: Mapped[int] = mapped_column(
        "session_id",  # the column keeps its name; in code it is the needling session's id
        ForeignKey("needling_session.id", ondelete="CASCADE"),
        index=True,
    )
    muscle_id: Mapped[str] = mapped_column(String(60))
    side: Mapped[str] = mapped_column(String(6))
    trigger_point_id: Mapped[str] = mapped_column(String(60))
    source: Mapped[str] = mapped_column(String(20), default="manual")
    probability: Mapped[float | None] = mapped_column(Float)


class NeedleEntry(TenantMixin, Base):
    """One needle: where it went, how, how deep, and what it drew."""

    __tablename__ = "needle_entry"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    needling_id: Mapped[int] = mapped_column(
        "session_id",  # the column keeps its name; in code it is the needling session's id
        ForeignKey("needling_session.id", ondelete="CASCADE"),
        index=True,
    )
    seq: Mapped[int] = mapped_column(Integer)
    muscle_id: Mapped[str] = mapped_column(String(60), index=True)
    side: Mapped[str] = mapped_column(String(6))
    trigger_point_id: Mapped[str | None] = mapped_column(String(60))
    needle_diameter_mm: Mapped[float] = mapped_column(Float)
    needle_length_mm: Mapped[float] = mapped_column(Float)
    technique: Mapped[str] = mapped_column(String(20))
    estim: Mapped[dict | None] = mapped_column(JSON)
    depth_mm: Mapped[float] = mapped_column(Float)
    depth_limit_mm: Mapped[float | None] = mapped_column(Float)
    over_limit_reason: Mapped[str | None] = mapped_column(Text)
    # Confirmed level and direction where the pleura reaches below the 12th rib (QL, ...).
    pleural_recess_acknowledged: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    twitch_count: Mapped[int] = mapped_column(Integer)
    familiar_pain: Mapped[bool] = mapped_column(Boolean)
    duration_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class AdverseEvent(TenantMixin, Base):
    __tablename__ = "adverse_event"
    __table_args__ = (  # covering indexes for the per-type / per-severity session counts
        Index("ix_adverse_event_clinic_type", "clinic_id", "type", "session_id"),
        Index("ix_adverse_event_clinic_severity", "clinic_id", "severity", "session_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    needling_id: Mapped[int] = mapped_column(
        "session_id",  # the column keeps its name; in code it is the needling session's id
        ForeignKey("needling_session.id", ondelete="RESTRICT"),
        index=True,
    )
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    type: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    action_taken: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str | None] = mapped_column(Text)
    needles_unaccounted: Mapped[int | None] = mapped_column(Integer)
    reported_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class Addendum(TenantMixin, Base):
    """A dated note added after signing; the signed record itself never changes."""

    __tablename__ = "addendum"
    id: Mapped[int] = mapped_column(primary_key=True)
    needling_id: Mapped[int] = mapped_column(
        "session_id",  # the column keeps its name; in code it is the needling session's id
        ForeignKey("needling_session.id", ondelete="RESTRICT"),
        index=True,
    )
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
