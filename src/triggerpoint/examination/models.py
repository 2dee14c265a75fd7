"""Palpation findings recorded in a visit: what the clinician felt at a trigger point.

A finding is evidence for the suggestion engine (`inference.findings`): "familiar" (pressure
reproduced the patient's own complaint), "tender" (it hurt, but not the familiar pain) or
"none". One row per visit and site: recording the same site again updates it (audited), so the
engine never sees two contradictory findings on one point. The table is tenant-owned
(`TenantMixin`), so `db.py` confines it to one clinic.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin, utcnow

FINDINGS = ("familiar", "tender", "none")


class PalpationFinding(TenantMixin, Base):
    """One palpated site of a visit: a trigger point, or a whole muscle-side when
    `trigger_point_id` is None (the clinician palpated the muscle without naming a point)."""

    __tablename__ = "palpation_finding"
    __table_args__ = (
        UniqueConstraint("visit_id", "muscle_id", "side", "trigger_point_id"),
        # NULLs are distinct in a unique constraint on both engines, so a muscle-level finding
        # (no trigger point) gets its own partial index: still one row per muscle-side.
        Index(
            "uq_palpation_finding_muscle_level",
            "visit_id",
            "muscle_id",
            "side",
            unique=True,
            sqlite_where=text("trigger_point_id IS NULL"),
            postgresql_where=text("trigger_point_id IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), index=True)
    muscle_id: Mapped[str] = mapped_column(String(80))
    side: Mapped[str] = mapped_column(String(10))
    trigger_point_id: Mapped[str | None] = mapped_column(String(80))
    finding: Mapped[str] = mapped_column(String(10))
    twitch: Mapped[bool | None] = mapped_column(Boolean)
    referral: Mapped[bool | None] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL")
    )
