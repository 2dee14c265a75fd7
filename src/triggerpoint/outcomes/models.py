"""Outcome measurements: one administration of one instrument, scored when stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String
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
    # Who reported it: "clinician" (typed in by staff) or "patient" (their own link, with the
    # questionnaire request it answered).
    source: Mapped[str] = mapped_column(String(16), default="clinician", server_default="clinician")
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("questionnaire_request.id", ondelete="SET NULL"), index=True
    )
