"""What the research exports contain: the tables, their columns, types, units and meaning.

One description serves all three formats, so they cannot drift apart: Parquet takes the
Arrow types, REDCap the field types and validations, CDISC ODM the DataTypes, and each
format's data dictionary is written from the same words. Every table is keyed by the
patient's study id (`research_id`) and per-patient sequence numbers (`visit_no`,
`episode_no`, `drawing_no`), never by database ids, so tables join without revealing them.
Free text (complaints, notes, reasons, descriptions, measurement context) is left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as _Field

Kind = Literal["int", "float", "str", "bool", "date", "datetime"]
# progress(parts_done, parts_total, rows_done): each writer calls it as its parts are
# written (a table for Parquet and REDCap, a chunk of patients for ODM), so a background
# job can show how far a long export got.
Progress = Callable[[int, int, int], None]

SEX = (("female", "Female"), ("male", "Male"), ("other", "Other"), ("unknown", "Unknown"))
TECHNIQUE = (("pistoning", "Pistoning"), ("static", "Static"), ("electrical", "Electrical"))
TIMING = (("pre", "Before needling"), ("post", "After needling"))


@dataclass(frozen=True)
class Column:
    """One exported column. `choices` (code, label) marks a closed set of codes."""

    name: str
    kind: Kind
    description: str
    unit: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False


@dataclass(frozen=True)
class Table:
    """One exported table; `per` says what one row belongs to (for REDCap and ODM)."""

    name: str
    description: str
    columns: tuple[Column, ...]
    prefix: str  # REDCap field names must be unique across forms: <prefix>_<column>
    per: Literal["patient", "visit"] = "patient"
    key: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]


RID = Column(
    "research_id",
    "str",
    "Study id: random for this export, not derived from any record id",
    required=True,
)
VISIT_NO = Column("visit_no", "int", "The patient's visit number, in date order (1 = first visit)")
EPISODE_NO = Column(
    "episode_no", "int", "The patient's episode-of-care number, in order of opening"
)
DRAWING_NO = Column("drawing_no", "int", "The patient's pain-drawing number, in date order")
SHIFTED = "date shifted per patient"

PATIENTS = Table(
    "patients",
    "One row per patient with research consent in force",
    (
        RID,
        Column("site", "str", "Clinic, as a code random for this export"),
        Column("sex", "str", "Sex as recorded", choices=SEX),
        Column(
            "age_years", "int", "Age at first visit in whole years; empty when 90 or over", "years"
        ),
        Column("age_band", "str", "Five-year age band at first visit; 90 and over pooled as 90+"),
        Column(
            "birth_year", "int", "Year of birth; empty when the patient is 90 or over (Safe Harbor)"
        ),
        Column("height_cm", "float", "Height", "cm"),
        Column("weight_kg", "float", "Weight", "kg"),
    ),
    prefix="pt",
    key=("research_id",),
)
EPISODES = Table(
    "episodes",
    "Episodes of care (the complaint text is left out)",
    (
        RID,
        EPISODE_NO,
        Column("status", "str", "open or closed"),
        Column("onset_date", "date", f"Onset of the complaint ({SHIFTED})"),
        Column("opened_at", "datetime", f"When the episode was opened ({SHIFTED})"),
    ),
    prefix="ep",
    key=("research_id", "episode_no"),
)
DIAGNOSES = Table(
    "diagnoses",
    "Coded diagnoses of each episode",
    (
        RID,
        EPISODE_NO,
        Column("system", "str", "Code system (ICD-10-CM)"),
        Column("code", "str", "Diagnosis code"),
    ),
    prefix="dx",
    key=("research_id", "episode_no", "code"),
)
VISITS = Table(
    "visits",
    "Visits (visit notes are left out)",
    (RID, VISIT_NO, EPISODE_NO, Column("visit_at", "datetime", f"Visit time, UTC ({SHIFTED})")),
    prefix="vi",
    per="visit",
    key=("research_id", "visit_no"),
)
PAIN_DRAWINGS = Table(
    "pain_drawings",
    "Pain drawings on the body chart",
    (
        RID,
        DRAWING_NO,
        VISIT_NO,
        Column("complete", "bool", "The whole chart was offered: unmarked regions are pain-free"),
        Column("source", "str", "Who drew it: clinician or patient"),
        Column("drawn_at", "datetime", f"When it was drawn ({SHIFTED})"),
    ),
    prefix="pd",
    key=("research_id", "drawing_no"),
)
PAIN_MARKS = Table(
    "pain_marks",
    "Regions marked painful in each drawing",
    (
        RID,
        DRAWING_NO,
        Column("region_id", "str", "Body-chart region (bodychart/data/regions.yaml)"),
        Column("intensity", "int", "Pain intensity marked, 0-10, if given", "0-10"),
    ),
    prefix="pm",
    key=("research_id", "drawing_no", "region_id"),
)
NEEDLING_SESSIONS = Table(
    "needling_sessions",
    "Needling sessions, one per visit at most",
    (
        RID,
        VISIT_NO,
        Column("status", "str", "open or signed"),
        Column("opened_at", "datetime", f"When the session was opened ({SHIFTED})"),
        Column("signed_at", "datetime", f"When it was signed ({SHIFTED})"),
        Column("needles_out", "int", "Needles counted out at the end", "needles"),
        Column("imported", "bool", "Brought in by FHIR import from another system"),
    ),
    prefix="ns",
    per="visit",
    key=("research_id", "visit_no"),
)
NEEDLE_ENTRIES = Table(
    "needle_entries",
    "Each needle: where it went, how, how deep, and what it drew",
    (
        RID,
        VISIT_NO,
        Column("seq", "int", "Order of the needle within the session"),
        Column("muscle_id", "str", "Muscle (atlas id)"),
        Column("side", "str", "left, right or midline"),
        Column("trigger_point_id", "str", "Trigger point (atlas id), if named"),
        Column("needle_diameter_mm", "float", "Needle diameter", "mm"),
        Column("needle_length_mm", "float", "Needle length", "mm"),
        Column("technique", "str", "Needling technique", choices=TECHNIQUE),
        Column("depth_mm", "float", "Depth reached", "mm"),
        Column("depth_limit_mm", "float", "Safe depth limit at the site, if one applies", "mm"),
        Column("twitch_count", "int", "Local twitch responses elicited", "twitches"),
        Column("familiar_pain", "bool", "The needle reproduced the patient's familiar pain"),
        Column("duration_s", "int", "Time the needle was in", "s"),
    ),
    prefix="ne",
    per="visit",
    key=("research_id", "visit_no", "seq"),
)
MEASUREMENTS = Table(
    "measurements",
    "Outcome measurements, scored (item answers and the free-text context are left out)",
    (
        RID,
        VISIT_NO,
        Column("instrument", "str", "Instrument id (docs/outcomes.md): nprs, ppt, odi, ..."),
        Column("timing", "str", "Before or after needling, if at a needling visit", choices=TIMING),
        Column("score", "float", "Score in the instrument's own unit (docs/outcomes.md)"),
        Column("complete", "bool", "Every item was answered"),
        Column("answered", "int", "Items answered", "items"),
        Column("source", "str", "Who reported it: clinician or patient"),
        Column("measured_at", "datetime", f"When it was measured ({SHIFTED})"),
    ),
    prefix="me",
)
PALPATION_FINDINGS = Table(
    "palpation_findings",
    "Palpation findings at trigger points (the note is left out)",
    (
        RID,
        VISIT_NO,
        Column("muscle_id", "str", "Muscle (atlas id)"),
        Column("side", "str", "left, right or midline"),
        Column("trigger_point_id", "str", "Trigger point (atlas id); empty for the whole muscle"),
        Column("finding", "str", "familiar, tender or none"),
        Column("twitch", "bool", "A local twitch response was seen, if recorded"),
        Column("referral", "bool", "Pressure referred pain, if recorded"),
        Column("recorded_at", "datetime", f"When it was recorded ({SHIFTED})"),
    ),
    prefix="pf",
    per="visit",
)
ADVERSE_EVENTS = Table(
    "adverse_events",
    "Adverse events of needling (descriptions and actions taken are left out)",
    (
        RID,
        VISIT_NO,
        Column("type", "str", "Adverse event type (treatment/schemas.py AE_TYPES)"),
        Column("severity", "str", "mild, moderate or severe"),
        Column("needles_unaccounted", "int", "Needles not accounted for", "needles"),
        Column("reported_at", "datetime", f"When it was reported ({SHIFTED})"),
    ),
    prefix="ae",
    per="visit",
)

TABLES: tuple[Table, ...] = (
    PATIENTS,
    EPISODES,
    DIAGNOSES,
    VISITS,
    PAIN_DRAWINGS,
    PAIN_MARKS,
    NEEDLING_SESSIONS,
    NEEDLE_ENTRIES,
    MEASUREMENTS,
    PALPATION_FINDINGS,
    ADVERSE_EVENTS,
)
BY_NAME = {t.name: t for t in TABLES}


@dataclass
class ExportSummary:
    """What an export wrote: the `--json` summary of each command."""

    format: str
    files: list[str]
    rows: dict[str, int]
    patients_included: int
    patients_excluded_no_consent: int
    clinic_id: int | None

    def as_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "files": self.files,
            "rows": self.rows,
            "patients_included": self.patients_included,
            "patients_excluded_no_consent": self.patients_excluded_no_consent,
            "clinic_id": self.clinic_id,
        }


# --- background export jobs (API shapes) --------------------------------------------------

ExportFormat = Literal["redcap", "odm", "parquet"]


class ExportJobIn(BaseModel):
    """A request for a background export of this clinic's consented patients."""

    model_config = ConfigDict(extra="forbid")
    format: ExportFormat = _Field(description="redcap, odm or parquet")


class ExportProgress(BaseModel):
    """How far a job got. Parts: the tables (Parquet, REDCap) or chunks of 500 patients
    (ODM) written, and last the zip; `parts_total` is 0 until the export has begun."""

    parts_done: int
    parts_total: int
    rows_done: int
    fraction: float = _Field(description="0.0 to 1.0")


class ExportJobOut(BaseModel):
    id: int
    format: str
    status: Literal["queued", "running", "done", "failed", "expired"] = _Field(
        description="expired: done, and its bundle since deleted (export_retention_days)"
    )
    progress: ExportProgress
    error: str | None
    requested_by_id: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result_size: int | None = _Field(description="Bytes of the zip bundle, once done")
    result_sha256: str | None
    download: str | None = _Field(description="Where to fetch the bundle, once done")
    attempts: int = _Field(description="Workers that have claimed the job so far")
    max_attempts: int = _Field(
        description="Claims allowed (export_max_attempts); a worker that stops during the "
        "last one fails the job"
    )
    lease_expires_at: datetime | None = _Field(
        description="While running: when the job counts as abandoned unless its worker reports "
        "progress first (each report renews it); it is then queued again"
    )
    bundle_expires_at: datetime | None = _Field(
        description="Once done: when the bundle will be deleted (export_retention_days)"
    )
    expired_at: datetime | None = _Field(description="When the bundle was deleted, once expired")
