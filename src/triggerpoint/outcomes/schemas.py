"""Inputs and outputs for outcome measurements."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from triggerpoint.inputs import FreeJson, InputModel
from triggerpoint.records.schemas import RecordId

Instrument = Literal["nprs", "ppt", "rom", "psfs", "ndi", "odi", "quickdash", "groc"]
# The key of `data` each instrument scores as a list (outcomes.instruments.score).
LISTS = {
    "ppt": "trials",
    "psfs": "activities",
    "ndi": "items",
    "odi": "items",
    "quickdash": "items",
}


class MeasurementIn(InputModel):
    """Input from people and programs (see triggerpoint.inputs)."""

    instrument: Instrument
    data: FreeJson = Field(
        description="Items as the instrument defines them (see docs/outcomes.md); at most "
        "64 KiB as JSON"
    )
    context: str = Field(
        default="",
        max_length=120,
        description="e.g. 'upper_trapezius.tp1.right' or 'cervical rotation left'",
    )
    timing: Literal["pre", "post", ""] = ""
    visit_id: RecordId | None = None
    measured_at: datetime

    @field_validator("data")
    @classmethod
    def _lists_are_lists(cls, data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Scoring takes the shape on trust: a number where a list belongs was a TypeError.
        key = LISTS.get(info.data.get("instrument", ""))
        value = data.get(key) if key else None
        if value is not None and not isinstance(value, list):
            raise ValueError(f"{key} must be a list")
        for i, item in enumerate(value or []):
            if key != "items" and isinstance(item, dict) and "score" not in item:
                raise ValueError(f"{key}.{i} must be a number or an object with a score")
        return data

    @field_validator("measured_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("must include a time zone")
        return v


class MeasurementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    visit_id: int | None
    instrument: str
    context: str
    timing: str
    data: dict[str, Any]
    score: float | None
    complete: bool
    answered: int
    measured_at: datetime
    source: str = Field(default="clinician", description='"clinician" or "patient" (reported)')
    request_id: int | None = Field(default=None, description="The questionnaire request, if any")


class MeasureSummary(BaseModel):
    """One measure series. `mcid` is the published MCID where one exists; `threshold` is the
    change the classification actually requires (the PPT MDC95, a ROM joint's MDC), with its
    kind and source; `classification` is None with `unclassified_reason` saying why."""

    instrument: str
    context: str
    name: str
    better: str
    mcid: float | None
    baseline: float | None
    latest: float | None
    change: float | None
    classification: str | None
    immediate_changes: list[dict[str, Any]]
    points: list[dict[str, Any]]
    threshold: float | None = None
    threshold_kind: str | None = None  # "MCID", "MDC95", "MDC90", "MDC" or "rating"
    threshold_label: str = ""
    threshold_source: str = ""
    threshold_note: str = ""
    unclassified_reason: str | None = None
