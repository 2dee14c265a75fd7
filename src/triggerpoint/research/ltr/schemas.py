"""The shapes of the twitch analysis (JSON API, CLI --json and the page read the same)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Instrument = Literal["nprs", "ppt"]
OutcomeName = Literal["immediate", "follow_up"]


class Coefficient(BaseModel):
    term: str
    estimate: float
    ci_low: float
    ci_high: float
    p: float | None


class OutcomeFit(BaseModel):
    """One outcome's mixed model, or the reason there is none (`fitted` false, `message`)."""

    outcome: OutcomeName
    label: str
    n_patients: int
    n_sessions: int
    fitted: bool
    message: str | None = None
    twitch: Coefficient | None = None
    coefficients: list[Coefficient] = []
    covariates: list[str] = []
    dropped: list[str] = []
    reference_group: str | None = None  # what the "group: X" terms are compared with
    converged: bool | None = None
    warnings: list[str] = []
    patient_variance: float | None = None
    residual_variance: float | None = None


class Sample(BaseModel):
    """Which of the consented patients the fit read (all, or a hashed sample at scale)."""

    consented_patients: int
    patients_with_sessions: int
    sampled: bool
    sample_patients: int


class LtrReport(BaseModel):
    instrument: Instrument
    unit: str
    sample: Sample
    fits: list[OutcomeFit]
    formula: str
    follow_up_window_days: tuple[int, int]
    groups: list[dict[str, object]]
    missing_twitches: str
    caveat: str
    evidence: str
