"""Published agreement figures for the trigger point criteria (data/reliability_published.yaml),
validated at load so a study report can cite them beside its own.

The file holds only numbers read in a source; every figure names its source, whether it is
one value or a range across studies, and the statistic (kappa or percent agreement). A file
that breaks these rules stops the load with a message naming the field, like the other
knowledge files (inference/params.py).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triggerpoint.errors import KnowledgeError

FILE = "reliability_published.yaml"
# The same six as models.CRITERIA (a test holds them equal).
Criterion = Literal[
    "taut_band", "tender_spot", "pain_recognition", "referral", "twitch", "jump_sign"
]
Statistic = Literal["kappa", "percent"]


class PublishedError(KnowledgeError):
    """The packaged published-figures file cannot be used; the message names the field."""


class Source(BaseModel):
    """A paper, cited in full with its DOI."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    citation: str = Field(min_length=30)
    doi: str = Field(pattern=r"^10\.\d{4,9}/\S+$")
    kind: Literal["primary study", "systematic review", "meta-analysis", "consensus"]
    notes: str = ""


class Figure(BaseModel):
    """One published figure: a value (with its CI when given) or a range across studies,
    muscles or examiner pairs. `criterion` None is "a trigger point found", all criteria
    together; `muscles` (atlas ids) is empty when the figure is not muscle-specific."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    criterion: Criterion | None
    source: str
    statistic: Statistic
    kind: Literal["value", "range"]
    value: float | None = None
    low: float | None = None
    high: float | None = None
    ci: tuple[float, float] | None = None
    muscles: tuple[str, ...] = ()
    muscle_label: str | None = None
    raters: str = Field(min_length=3)
    notes: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Self:
        bounds = (-1.0, 1.0) if self.statistic == "kappa" else (0.0, 1.0)
        if self.kind == "value":
            if self.value is None or self.low is not None or self.high is not None:
                raise ValueError("a 'value' figure has value and no low/high")
            numbers = [self.value, *(self.ci or ())]
            if self.ci and not self.ci[0] <= self.value <= self.ci[1]:
                raise ValueError("value must lie inside its ci")
        else:
            if self.low is None or self.high is None or self.value is not None or self.ci:
                raise ValueError("a 'range' figure has low and high, and no value or ci")
            if self.low > self.high:
                raise ValueError("low must not exceed high")
            numbers = [self.low, self.high]
        if not all(bounds[0] <= x <= bounds[1] for x in numbers):
            raise ValueError(f"a {self.statistic} figure must lie in {bounds}")
        if self.muscles and not self.muscle_label:
            raise ValueError("a muscle-specific figure needs muscle_label (the source's words)")
        return self

    def text(self) -> str:
        """The figure as a report prints it: "κ 0.452 (95% CI 0.364 to 0.540)", "κ −0.08 to 0.75"."""
        sign = "κ" if self.statistic == "kappa" else "agreement"

        def num(x: float) -> str:
            if self.statistic == "percent":
                return f"{x:.0%}"
            digits = f"{x:.3f}"
            return (digits[:-1] if digits.endswith("0") else digits).replace("-", "−")

        if self.kind == "range":
            assert self.low is not None and self.high is not None
            return f"{sign} {num(self.low)} to {num(self.high)} (range)"
        assert self.value is not None
        ci = f" (95% CI {num(self.ci[0])} to {num(self.ci[1])})" if self.ci else ""
        return f"{sign} {num(self.value)}{ci}"


class Consensus(BaseModel):
    """The 2018 Delphi criteria list: the essential cluster and what tells active from latent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: str
    essential: tuple[Criterion, ...]
    active_vs_latent: tuple[Criterion, ...]
    notes: str


class Published(BaseModel):
    """Every source, figure and the consensus criteria, cross-checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: dict[str, Source]
    figures: tuple[Figure, ...]
    consensus: Consensus

    @model_validator(mode="after")
    def _sources_known(self) -> Self:
        for i, fig in enumerate(self.figures):
            if fig.source not in self.sources:
                raise ValueError(f"figures.{i}.source: unknown source {fig.source!r}")
        if self.consensus.source not in self.sources:
            raise ValueError(f"consensus.source: unknown source {self.consensus.source!r}")
        return self

    def for_criterion(self, criterion: str | None, *, muscle: str | None = None) -> list[Figure]:
        """Figures for a criterion (None: all criteria together); with `muscle`, those for
        that muscle and those given across muscles, muscle-specific first."""
        hits = [f for f in self.figures if f.criterion == criterion]
        if muscle is None:
            return hits
        specific = [f for f in hits if muscle in f.muscles]
        general = [f for f in hits if not f.muscles]
        return specific + general

    def is_essential(self, criterion: str) -> bool:
        """Whether the 2018 Delphi panel put the criterion in its essential cluster."""
        return criterion in self.consensus.essential


def _field(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def validate_published(raw: object, *, source: str = FILE) -> Published:
    """Validate a decoded mapping; errors name the file and the field."""
    if not isinstance(raw, dict):
        raise PublishedError(f"{source}: (file): must be a mapping with sources and figures")
    try:
        return Published.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PublishedError(f"{source}: {problems}") from None


@cache
def published() -> Published:
    """The packaged published figures, validated once per process."""
    text = resources.files("triggerpoint.research").joinpath("data", FILE).read_text("utf-8")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PublishedError(f"{FILE}: not valid YAML: {exc}") from None
    return validate_published(raw)
