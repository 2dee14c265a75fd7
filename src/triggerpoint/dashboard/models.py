"""The dashboard's derived tables: never edited by hand, kept by `dashboard.tallies`.

They moved here from `outcomes.models` and `treatment.models` unchanged (same tables, same
migration); the domain that shows them owns them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin


class OutcomeSeries(TenantMixin, Base):
    """Summary of one measure series (patient x instrument x context) for the clinic dashboard.

    Derived data, never edited by hand: `dashboard.tallies` recomputes a row from
    `measurement` whenever a flush touches the series, so the dashboard need not scan every
    measurement. First and last are by (measured_at, id) over the series' course
    (`outcomes.series`); `status` is the responder class (by the rule of
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


class SessionTally(TenantMixin, Base):
    """What one needling session adds to the dashboard (derived; see `dashboard.tallies`).

    `muscles` maps muscle id -> needles; `pairs`/`change_sum`/`change_sq` summarise the
    pre/post NPRS pairs of the session's visit.
    """

    __tablename__ = "session_tally"
    session_id: Mapped[int] = mapped_column(
        ForeignKey("needling_session.id", ondelete="RESTRICT"), primary_key=True
    )
    entries: Mapped[int] = mapped_column(Integer)
    twitches: Mapped[int] = mapped_column(Integer)
    muscles: Mapped[dict] = mapped_column(JSON)
    pairs: Mapped[int] = mapped_column(Integer)
    change_sum: Mapped[float] = mapped_column(Float)
    change_sq: Mapped[float] = mapped_column(Float)


class DashboardTally(TenantMixin, Base):
    """Per-clinic running totals the dashboard reads in one small query (derived).

    kind "responder": key "<instrument>:<class>", n = series. kind "muscle": key = muscle id,
    n = sessions, total = needles. kind "twitch": key = twitches in the session, n = NPRS
    pairs, total / total_sq = sum of changes / of squared changes.
    """

    __tablename__ = "dashboard_tally"
    __table_args__ = (UniqueConstraint("clinic_id", "kind", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    key: Mapped[str] = mapped_column(String(60))
    n: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    total_sq: Mapped[float] = mapped_column(Float)
