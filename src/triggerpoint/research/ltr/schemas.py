"""The shapes of the twitch analysis (JSON API, CLI --json and the page read the same)."""

from __future__ import annotations

from datetime import datetime
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


class Freshness(BaseModel):
    """Which data the fits were computed from, and whether the data have changed since.

    The page and API read the newest persisted fit (`ltr.jobs` computes it in the background);
    the CLI fits at once, so its report is never stale. `data_version` counts the clinic's
    writes the analysis reads (`ltr.version`); `stale` is true when the current version is
    newer than the fit's (or there is no fit yet, `computed_at` null), and `refit` says what
    is being done about it: queued, running, failed (with `refit_error`) or null (nothing)."""

    computed_at: datetime | None
    data_as_of: datetime | None  # when the data the fit read last changed (null: never)
    data_version: int | None
    current_data_version: int
    current_data_as_of: datetime | None
    stale: bool
    refit: Literal["queued", "running", "failed"] | None = None
    refit_error: str | None = None
    fit_seconds: float | None = None


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
    freshness: Freshness
