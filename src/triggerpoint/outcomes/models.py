"""Outcome measurements: one administration of one instrument, scored when stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, utcnow


class Measurement(TenantMixin, Base):
    __tablename__ = "measurement"
    __table_args__ = (
        Index("ix_measurement_patient_instrument", "patient_id", "instrument", "measured_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    visit_id: Mapped[int | None] = mapped_column(
        ForeignKey("visit.id", ondelete="SET NULL"), index=True
    )
    instrument: Mapped[str] = mapped_column(String(20))
    # What was measured where it matters: PPT site, ROM joint/movement/side, NPRS region.
    context: Mapped[str] = mapped_column(String(120), default="")
    timing: Mapped[str] = mapped_column(String(6), default="")  # "pre" / "post" needling, or ""
    data: Mapped[dict] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    complete: Mapped[bool] = mapped_column(Boolean)
    answered: Mapped[int] = mapped_column(Integer)
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )


class OutcomeSeries(TenantMixin, Base):
    """Summary of one measure series (patient x instrument x context) for the clinic dashboard.

    Derived data, never edited by hand: `reports.summary` recomputes a row from `measurement`
    whenever a flush touches the series, so the dashboard need not scan every measurement.
    First and last are by (measured_at, id); `status` is the responder class (by the rule of
    `outcomes.thresholds`), "unclassified" when the series has a follow-up but its measure has
    no sourced threshold (a ROM joint without an MDC), or None while it has no follow-up yet.
    """

    __tablename__ = "outcome_series"
    __table_args__ = (
        UniqueConstraint("patient_id", "instrument", "context"),
        Index("ix_outcome_series_clinic_status", "clinic_id", "instrument", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id", ondelete="RESTRICT"))
    instrument: Mapped[str] = mapped_column(String(20))
    context: Mapped[str] = mapped_column(String(120))
    n: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime]
    first_score: Mapped[float] = mapped_column(Float)
    last_at: Mapped[datetime]
    last_score: Mapped[float] = mapped_column(Float)
    status: Mapped[str | None] = mapped_column(String(14))
