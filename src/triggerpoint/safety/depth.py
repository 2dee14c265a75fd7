"""Thorax depth guard: a per-patient maximum needle depth over the lung (see data file)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml
from pydantic import BaseModel, ConfigDict, Field


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bmi_below: float = Field(gt=0)
    skin_to_rib_mm: float = Field(gt=0)
    sd_mm: float = Field(ge=0)


class _Kim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slope_cm_per_bmi: float = Field(gt=0)
    intercept_cm: float
    margin_mm: float = Field(ge=0)
    citation: str


class _Seol(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[_Group] = Field(min_length=1)
    citation: str


class DepthGuardData(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kim_2002: _Kim
    seol_2014: _Seol
    lowest_bmi: float = Field(gt=10, lt=20)


@dataclass(frozen=True)
class DepthLimit:
    """The limit and how it was reached, so the UI can show the working and the sources."""

    max_depth_mm: float
    bmi: float | None
    bmi_used: float
    pleura_estimate_mm: float
    rib_limit_mm: float
    basis: str
    citations: tuple[str, ...]
    outside_studied_range: bool = False

    @property
    def no_safe_depth(self) -> bool:
        """True where the data leave no depth at all: every thorax entry needs a reason."""
        return self.max_depth_mm <= 0

    def explain(self) -> str:
        bmi = (
            f"BMI {self.bmi:.1f}"
            if self.bmi is not None
            else f"BMI unknown (assumed {self.bmi_used:.0f}, the lowest studied; record height and weight)"
        )
        text = (
            f"Max {self.max_depth_mm:.1f} mm over the thorax ({bmi}): the smaller of the CT skin-to-pleura "
            f"estimate less a margin ({self.pleura_estimate_mm:.1f} mm) and the ultrasound skin-to-rib "
            f"distance minus 1 SD ({self.rib_limit_mm:.0f} mm); limited by {self.basis}."
        )
        if self.outside_studied_range:
            text += (
                f" BMI {self.bmi:.1f} is below the range the studies describe (from"
                f" {self.bmi_used_floor:.0f}): the formula is extrapolated, not raised."
            )
        if self.no_safe_depth:
            text += " No depth is known to be safe: every entry over the thorax needs a recorded reason."
        return text

    @property
    def bmi_used_floor(self) -> float:
        return guard_data().lowest_bmi


@cache
def guard_data() -> DepthGuardData:
    text = (
        resources.files("triggerpoint.safety").joinpath("data/depth_guard.yaml").read_text("utf-8")
    )
    return DepthGuardData.model_validate(yaml.safe_load(text))


def max_thorax_depth(bmi: float | None) -> DepthLimit:
    """The maximum needle depth in mm for a muscle over the lung, for a patient's BMI.

    Never above the formula's pleura depth less the margin, at any BMI: below the studied
    range the formula is extrapolated (never clamped up), and it may reach 0 mm."""
    data = guard_data()
    used = data.lowest_bmi if bmi is None else bmi
    kim = data.kim_2002
    pleura = (kim.slope_cm_per_bmi * used + kim.intercept_cm) * 10 - kim.margin_mm
    group = next(g for g in data.seol_2014.groups if used < g.bmi_below)
    rib = group.skin_to_rib_mm - group.sd_mm
    limit = max(min(pleura, rib), 0.0)
    basis = (
        "the skin-to-pleura estimate (Kim 2002)"
        if pleura <= rib
        else "the skin-to-rib distance (Seol 2014)"
    )
    return DepthLimit(
        round(limit, 1),
        bmi,
        used,
        round(pleura, 1),
        rib,
        basis,
        (kim.citation, data.seol_2014.citation),
        outside_studied_range=bmi is not None and bmi < data.lowest_bmi,
    )
