"""Inputs and outputs for screening, needling sessions, entries, counts and adverse events."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from triggerpoint.inputs import InputModel
from triggerpoint.records.schemas import RecordId
from triggerpoint.safety.screening import Answer

Technique = Literal["pistoning", "static", "electrical"]
AE_TYPES = {
    "bleeding": "Bleeding",
    "bruising": "Bruising",
    "pain_during": "Pain during needling",
    "post_needling_soreness": "Post-needling soreness",
    "aggravation": "Aggravation of symptoms",
    "drowsiness": "Drowsiness",
    "headache": "Headache",
    "nausea": "Nausea",
    "vasovagal": "Vasovagal episode or fainting",
    "suspected_pneumothorax": "Suspected pneumothorax",
    "nerve_irritation": "Nerve irritation",
    "broken_or_retained_needle": "Broken, retained or lost needle",
    "other": "Other",
}
if TYPE_CHECKING:  # a type checker needs the literal spelled out: to it, a str
    AeType = str
else:  # one of the keys of AE_TYPES (pydantic checks it and lists them in the schema)
    AeType = Literal[tuple(AE_TYPES)]
# Carnes et al. 2010 grading.
Severity = Literal["mild", "moderate", "major"]


class _In(InputModel):
    """Input from people and programs (see triggerpoint.inputs)."""


class ScreeningIn(_In):
    episode_id: RecordId | None = None
    answers: dict[str, Answer]


class ScreeningOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    episode_id: int | None
    outcome: str
    reasons: list[str]
    restrictions: list[dict]
    rules_version: str
    screened_at: datetime


class OpenSessionIn(_In):
    visit_id: RecordId


class TargetIn(_In):
    muscle: str = Field(min_length=2, max_length=100, description="Muscle id, name or synonym")
    side: Literal["right", "left"]
    trigger_point_id: str | None = Field(default=None, max_length=60)
    source: Literal["suggestion", "manual"] = "manual"
    probability: float | None = Field(default=None, ge=0, le=1)


class Estim(_In):
    frequency_hz: float = Field(gt=0, le=200)
    pulse_width_us: float = Field(gt=0, le=1000)
    intensity_ma: float = Field(gt=0, le=50)


class EntryIn(_In):
    muscle: str = Field(min_length=2, max_length=100, description="Muscle id, name or synonym")
    side: Literal["right", "left"]
    trigger_point_id: str | None = Field(default=None, max_length=60)
    needle_diameter_mm: float = Field(ge=0.12, le=0.5)
    needle_length_mm: float = Field(ge=7, le=125)
    technique: Technique
    estim: Estim | None = Field(default=None, validate_default=True)
    depth_mm: float = Field(
        ge=0, description="Depth reached, in mm; must not exceed the needle length"
    )
    twitch_count: int = Field(ge=0, le=200, description="Local twitch responses")
    familiar_pain: bool = Field(description="Did the needle reproduce the patient's familiar pain?")
    duration_s: int = Field(ge=0, le=3600)
    over_limit_reason: str | None = Field(default=None, max_length=500)
    pleural_recess_acknowledged: bool = Field(
        default=False,
        description="Confirms the needle went below the 12th rib, aimed at the transverse "
        "process (required where the atlas flags the pleural recess, e.g. quadratus lumborum)",
    )

    @field_validator("estim")
    @classmethod
    def _estim_matches_technique(cls, estim: Estim | None, info: ValidationInfo) -> Estim | None:
        technique = info.data.get("technique")
        if technique == "electrical" and estim is None:
            raise ValueError("estim parameters are required for electrical stimulation")
        if technique is not None and technique != "electrical" and estim is not None:
            raise ValueError("estim parameters are only for the electrical technique")
        return estim

    @field_validator("depth_mm")
    @classmethod
    def _within_needle(cls, depth: float, info: ValidationInfo) -> float:
        # A field error, so forms and the API both name depth_mm.
        length = info.data.get("needle_length_mm")
        if length is not None and depth > length:
            raise ValueError(f"{depth:g} mm is greater than the needle length ({length:g} mm)")
        return depth


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    seq: int
    muscle_id: str
    side: str
    trigger_point_id: str | None
    needle_diameter_mm: float
    needle_length_mm: float
    technique: str
    estim: dict | None
    depth_mm: float
    depth_limit_mm: float | None
    over_limit_reason: str | None
    pleural_recess_acknowledged: bool = False
    twitch_count: int
    familiar_pain: bool
    duration_s: int


class CountIn(_In):
    needles_out: int = Field(ge=0, le=1000, description="Needles removed and in the sharps bin")


class AdverseEventIn(_In):
    type: AeType
    severity: Severity
    description: str | None = Field(default=None, max_length=4000)
    action_taken: str = Field(min_length=2, max_length=4000)
    follow_up: str | None = Field(default=None, max_length=4000)
    needles_unaccounted: int | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="after")
    def _needles_only_for_needle_events(self) -> AdverseEventIn:
        if self.needles_unaccounted is not None and self.type != "broken_or_retained_needle":
            raise ValueError("needles_unaccounted is only for a broken, retained or lost needle")
        return self


class AdverseEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    type: str
    severity: str
    description: str | None
    action_taken: str
    follow_up: str | None
    needles_unaccounted: int | None
    reported_at: datetime
    urgent: bool = False


class SignIn(_In):
    version: int = Field(ge=1, le=2_147_483_647)


class AddendumIn(_In):
    text: str = Field(min_length=2, max_length=10000)


class BillingOut(BaseModel):
    label: str = "Suggestions only: the clinician decides what to bill and code."
    cpt: str | None
    cpt_description: str | None
    distinct_muscles: int
    icd10cm: list[dict[str, str]]


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    patient_id: int
    visit_id: int
    status: str
    version: int
    opened_at: datetime
    signed_at: datetime | None
    needles_in: int
    needles_out: int | None
    precautions: list[str]
    restrictions: list[dict] = []
    imported: bool = False
    imported_signer: str | None = None
    thorax_limit_mm: float
    thorax_limit_explained: str
    entries: list[EntryOut]
    targets: list[dict]
    adverse_events: list[AdverseEventOut]
    addenda: list[dict]


StepState = Literal["done", "needed", "blocked"]


class VisitStep(BaseModel):
    """One step of the visit page's stepper (`service.visit_progress`). A blocked step says
    what unblocks it (`unblock`) and where that is done (`unblock_anchor`, a step's key)."""

    key: str
    number: int
    title: str
    state: StepState
    summary: str
    unblock: str | None = None
    unblock_anchor: str | None = None
