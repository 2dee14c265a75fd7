"""Patients and their story: episodes of care, visits, pain drawings and consent.

Every table here is tenant-owned (`TenantMixin`), so `db.py` confines it to one clinic.
Mutable records carry a `version` column: SQLAlchemy refuses a stale update (optimistic
locking), which the API turns into 409.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triggerpoint.db import Base, TenantMixin, Versioned, utcnow


class Patient(Versioned, TenantMixin, Base):
    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        Index("ix_patient_clinic_search", "clinic_id", "search_name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    given_name: Mapped[str] = mapped_column(String(100))
    family_name: Mapped[str] = mapped_column(String(100))
    search_name: Mapped[str] = mapped_column(String(210))
    date_of_birth: Mapped[date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    height_cm: Mapped[float | None] = mapped_column(Float)
    weight_kg: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(200))
    external_id: Mapped[str | None] = mapped_column(String(64))
    preferred_language: Mapped[str | None] = mapped_column(String(5))  # BCP 47: "en", "es"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def bmi(self) -> float | None:
        if not self.height_cm or not self.weight_kg:
            return None
        return round(self.weight_kg / (self.height_cm / 100) ** 2, 1)


class Episode(Versioned, TenantMixin, Base):
    """An episode of care: one complaint, from first visit to discharge."""

    __tablename__ = "episode"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    complaint: Mapped[str] = mapped_column(Text)
    onset_date: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    patient: Mapped[Patient] = relationship()
    diagnoses: Mapped[list[Diagnosis]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="Diagnosis.id"
    )


class Diagnosis(TenantMixin, Base):
    """A coded diagnosis: the code is stored as a code (system + code), never as free text."""

    __tablename__ = "diagnosis"
    __table_args__ = (UniqueConstraint("episode_id", "system", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episode.id", ondelete="CASCADE"), index=True
    )
    system: Mapped[str] = mapped_column(String(20), default="ICD-10-CM")
    code: Mapped[str] = mapped_column(String(10))


class Visit(Versioned, TenantMixin, Base):
    __tablename__ = "visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    episode_id: Mapped[int | None] = mapped_column(
        ForeignKey("episode.id", ondelete="RESTRICT"), index=True
    )
    clinician_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    visit_at: Mapped[datetime]
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    patient: Mapped[Patient] = relationship()
    episode: Mapped[Episode | None] = relationship()


class PainDrawing(TenantMixin, Base):
    """Where the patient hurt at one visit. `complete` means the whole chart was offered,
    so unmarked regions are pain-free; a partial drawing leaves them unknown."""

    __tablename__ = "pain_drawing"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visit.id", ondelete="CASCADE"), index=True
    )
    complete: Mapped[bool] = mapped_column(Boolean)
    drawn_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
    # "clinician" or "patient" (drawn on the patient's own link, for request `request_id`).
    source: Mapped[str] = mapped_column(String(16), default="clinician", server_default="clinician")
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("questionnaire_request.id", ondelete="SET NULL"), index=True
    )
    patient: Mapped[Patient] = relationship()
    visit: Mapped[Visit | None] = relationship()
    marks: Mapped[list[PainMark]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="PainMark.region_id"
    )


class PainMark(TenantMixin, Base):
    __tablename__ = "pain_mark"
    __table_args__ = (UniqueConstraint("drawing_id", "region_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    drawing_id: Mapped[int] = mapped_column(
        ForeignKey("pain_drawing.id", ondelete="CASCADE"), index=True
    )
    region_id: Mapped[str] = mapped_column(String(60))
    intensity: Mapped[int | None] = mapped_column(Integer)


class Consent(Versioned, TenantMixin, Base):
    """Informed consent for dry needling specifically: what was disclosed, who signed, when."""

    __tablename__ = "consent"
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30), default="dry_needling")
    risks_disclosed: Mapped[list[str]] = mapped_column(JSON)
    signed_by: Mapped[str] = mapped_column(String(200))
    signer_relation: Mapped[str] = mapped_column(String(30), default="self")
    signed_at: Mapped[datetime]
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(12), default="active")
    withdrawn_at: Mapped[datetime | None]
    patient: Mapped[Patient] = relationship()
