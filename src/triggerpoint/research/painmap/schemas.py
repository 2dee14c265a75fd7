"""The cohort filter of the pain-map analytics and the shapes of their answer.

The filter arrives as query parameters (the page's GET form and the JSON API read the same
model), so every bound is checked here once: text lengths, an ICD-10 code's characters, the
date range (1900..2200 by `InputModel`, and from <= to), the test-retest window.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from triggerpoint.inputs import InputModel

View = Literal["all", "first"]
MAX_WINDOW_DAYS = 90


class CohortFilter(InputModel):
    """Who is in the cohort: always the principal's clinic and research-consented patients."""

    complaint: str | None = Field(
        None,
        title="Episode complaint contains",
        max_length=200,
        description="episode complaint contains (any case)",
    )
    icd10: str | None = Field(
        None,
        title="ICD-10 code or prefix",
        max_length=8,
        pattern=r"^[A-Za-z][0-9][0-9A-Za-z]?(\.[0-9A-Za-z]{0,4})?$",
        description="ICD-10 code or prefix of an episode diagnosis (M79, M79.1, M79.12)",
    )
    date_from: date | None = Field(
        None, title="Drawings from", description="drawings on or after this day (UTC)"
    )
    date_to: date | None = Field(
        None, title="Drawings to", description="drawings on or before this day (UTC)"
    )
    muscle: str | None = Field(
        None,
        title="Muscle treated",
        max_length=80,
        description="atlas muscle with a needle entry for the patient",
    )
    view: View = Field(
        "all", title="Heat map of", description="heat map of all drawings, or each episode's first"
    )
    window_days: int = Field(
        7,
        title="Test-retest window",
        ge=1,
        le=MAX_WINDOW_DAYS,
        description="test-retest: most days between two drawings",
    )

    @field_validator("icd10")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    @field_validator("date_to")
    @classmethod
    def _ordered(cls, value: date | None, info: ValidationInfo) -> date | None:
        start = info.data.get("date_from")
        if value is not None and start is not None and value < start:
            raise ValueError("must not be before the start day (Drawings from)")
        return value


class RegionShare(BaseModel):
    region_id: str
    name: str
    view: str
    patients: int
    fraction: float


class HeatMap(BaseModel):
    view: View
    patients: int = Field(description="patients with at least one drawing counted (the n)")
    drawings: int
    regions: list[RegionShare] = Field(description="regions marked by anyone, most frequent first")


class Summary(BaseModel):
    """Distribution of one quantity: n, mean, median and quartiles (None when n = 0)."""

    n: int
    mean: float | None = None
    median: float | None = None
    q1: float | None = None
    q3: float | None = None
    minimum: float | None = None
    maximum: float | None = None


class ExtentStats(BaseModel):
    pairs: int = Field(description="episodes with a first drawing and a later one after needling")
    before: Summary
    after: Summary
    change: Summary = Field(description="after minus before, per episode (percentage points)")


class AgreementStats(BaseModel):
    window_days: int
    pairs: int
    both_empty: int = Field(description="pairs where both drawings say 'no pain' (scored 1)")
    jaccard: Summary
    dice: Summary


class PainMapOut(BaseModel):
    consented_patients: int = Field(description="patients of the clinic with research consent")
    heat_map: HeatMap
    extent: ExtentStats
    agreement: AgreementStats
