"""The twitch analysis at scale (issue 17): its persisted fits and the per-clinic data version.

* `ResearchDataVersion`: one row per clinic, a counter bumped in the commit of every write
  that changes what the analysis reads (`ltr.version`), with the time of that commit. Reading
  it is one primary-key lookup, where comparing the data themselves took seconds of scans.
* `LtrFit`: one row per clinic and measure, the newest fit (the sample and the two outcome
  fits, as the page renders them), the data version and analysis version it was computed
  from, when, and the state of its refit (`refit`: idle, queued, running or failed), so at
  most one refit per clinic and measure is queued at a time. The row is the truth: the queue
  only says "refit this clinic's measure", so a lost task costs a lease, never a result.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin

REFIT_STATES = ("idle", "queued", "running", "failed")


class ResearchDataVersion(Base):
    """How often the clinic's research data changed, and when last (derived; `ltr.version`)."""

    __tablename__ = "research_data_version"
    clinic_id: Mapped[int] = mapped_column(
        ForeignKey("clinic.id", ondelete="RESTRICT"), primary_key=True
    )
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime | None]


class LtrFit(TenantMixin, Base):
    """The newest persisted twitch analysis of one clinic and measure, and its refit state."""

    __tablename__ = "research_ltr_fit"
    __table_args__ = (UniqueConstraint("clinic_id", "instrument"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instrument: Mapped[str] = mapped_column(String(10))
    # The fit: null until the first one is done.
    analysis_version: Mapped[int | None] = mapped_column(Integer)
    data_version: Mapped[int | None] = mapped_column(BigInteger)
    data_as_of: Mapped[datetime | None]  # the `changed_at` of that data version
    computed_at: Mapped[datetime | None]
    fit_seconds: Mapped[float | None] = mapped_column(Float)
    result: Mapped[dict | None] = mapped_column(JSON)  # {"sample": ..., "fits": [...]}
    # The refit.
    refit: Mapped[str] = mapped_column(String(10), default="idle")
    requested_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
