"""The pain maps' derived tables: never edited by hand, kept by `research.painmap.derived`.

At a million sessions the pain-map queries would join every drawing to its visit, its marks,
the consents and the needling sessions on every view. Instead, as the dashboard's tallies do,
each write recomputes what it changes:

* `painmap_drawing`, one row per drawing: the facts every analysis reads (patient, episode,
  time, completeness, research consent, extent, region set) and the per-patient sequence
  facts (first drawing of its episode; the episode's "after needling" drawing with the
  baseline's extent; the previous drawing of the patient, the days between, whether that pair
  is a test-retest pair and the regions it shares).
* `painmap_tally`, per clinic, view ("all", "first") and region (and "" for the totals): the
  research-consented patients with pain there and the drawings counted; the unfiltered heat
  map reads it in one small query.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from triggerpoint.db import Base, TenantMixin


class PainmapDrawing(TenantMixin, Base):
    """What one drawing adds to the pain maps (derived from the patient's raw rows).

    `marks` is the drawing's sorted region ids and `regions` their number; `extent` the painted
    share of the chart (%, unrounded, as `reports.extent`). `research` is whether the patient's
    research consent is in force. `first`: the first drawing of its episode by (drawn_at, id).
    `followup`: the episode's last drawing made after its first signed needling session, when
    that is not the first drawing; `before_extent` is then the first drawing's extent.
    `prev_id`/`prev_at`/`gap_days`: the patient's previous drawing, its time and the days
    since; `retest`: both
    complete and no needling session opened between them; `prev_regions`/`shared`: that
    drawing's region count and the regions both mark.
    """

    __tablename__ = "painmap_drawing"
    __table_args__ = (
        Index("ix_painmap_drawing_clinic_research", "clinic_id", "research", "drawn_at"),
        Index("ix_painmap_drawing_patient", "patient_id"),
        Index("ix_painmap_drawing_episode", "episode_id"),
    )
    # No foreign key: a drawing deleted by a cascade in the database (its visit deleted)
    # must leave its row for the recompute to subtract from the totals, then delete.
    drawing_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    patient_id: Mapped[int] = mapped_column(Integer)
    episode_id: Mapped[int | None] = mapped_column(Integer)
    drawn_at: Mapped[datetime]
    complete: Mapped[bool] = mapped_column(Boolean)
    research: Mapped[bool] = mapped_column(Boolean)
    marks: Mapped[list[str]] = mapped_column(JSON)
    regions: Mapped[int] = mapped_column(Integer)
    extent: Mapped[float] = mapped_column(Float)
    first: Mapped[bool] = mapped_column(Boolean)
    after_signed: Mapped[bool] = mapped_column(Boolean)
    followup: Mapped[bool] = mapped_column(Boolean)
    before_extent: Mapped[float | None] = mapped_column(Float)
    prev_id: Mapped[int | None] = mapped_column(Integer)
    prev_at: Mapped[datetime | None]
    gap_days: Mapped[float | None] = mapped_column(Float)
    retest: Mapped[bool] = mapped_column(Boolean)
    prev_regions: Mapped[int | None] = mapped_column(Integer)
    shared: Mapped[int | None] = mapped_column(Integer)


class PainmapTally(TenantMixin, Base):
    """Per-clinic heat-map totals (derived): for `view` "all" (every drawing) or "first"
    (each episode's first drawing), the research-consented patients with a counted drawing
    marking `region_id`; region "" holds the patients with any counted drawing and, in
    `drawings`, the number of drawings counted."""

    __tablename__ = "painmap_tally"
    __table_args__ = (UniqueConstraint("clinic_id", "view", "region_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    view: Mapped[str] = mapped_column(String(8))
    region_id: Mapped[str] = mapped_column(String(60))
    patients: Mapped[int] = mapped_column(Integer)
    drawings: Mapped[int] = mapped_column(Integer)
