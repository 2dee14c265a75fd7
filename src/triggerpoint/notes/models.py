"""SOAP notes: one per visit, the clinic's note templates, and the addenda of a signed note.

Every table is tenant-owned (`TenantMixin`), so `db.py` confines it to one clinic. A note is
`Versioned`: a stale edit is refused (409) instead of overwriting someone else's text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from triggerpoint.db import Base, TenantMixin, Versioned, utcnow


class NoteTemplate(TenantMixin, Base):
    """A clinic's starting text for the four sections (a clinic with none gets the defaults
    in notes/data/templates.yaml)."""

    __tablename__ = "note_template"
    __table_args__ = (UniqueConstraint("clinic_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    subjective: Mapped[str | None] = mapped_column(Text)
    objective: Mapped[str | None] = mapped_column(Text)
    assessment: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SoapNote(Versioned, TenantMixin, Base):
    """The visit's note: four free-text sections plus the few structured findings a
    dry-needling visit records. Read-only once signed; later words are addenda."""

    __tablename__ = "soap_note"
    __table_args__ = (UniqueConstraint("visit_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="RESTRICT"))
    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patient.id", ondelete="RESTRICT"), index=True
    )
    subjective: Mapped[str | None] = mapped_column(Text)
    objective: Mapped[str | None] = mapped_column(Text)
    assessment: Mapped[str | None] = mapped_column(Text)
    plan: Mapped[str | None] = mapped_column(Text)
    # subjective
    pain_now_nprs: Mapped[int | None] = mapped_column(Integer)
    aggravating: Mapped[str | None] = mapped_column(Text)
    easing: Mapped[str | None] = mapped_column(Text)
    red_flags_checked: Mapped[bool | None] = mapped_column(Boolean)
    # objective
    rom_findings: Mapped[str | None] = mapped_column(Text)
    palpation_summary: Mapped[str | None] = mapped_column(Text)
    # plan
    next_visit_in_days: Mapped[int | None] = mapped_column(Integer)
    home_exercise: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    created_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    signed_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    signed_at: Mapped[datetime | None]
    # A note brought in by FHIR import: its author and signer are names from the other
    # system, not users here (the importer is only `created_by`).
    imported_author: Mapped[str | None] = mapped_column(String(200))
    imported_signer: Mapped[str | None] = mapped_column(String(200))
    addenda: Mapped[list[NoteAddendum]] = relationship(lazy="selectin", order_by="NoteAddendum.id")


class NoteAddendum(TenantMixin, Base):
    """Words added to a signed note, dated and attributed; the signed text never changes."""

    __tablename__ = "note_addendum"
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("soap_note.id", ondelete="RESTRICT"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    imported_author: Mapped[str | None] = mapped_column(String(200))  # FHIR import: a name
