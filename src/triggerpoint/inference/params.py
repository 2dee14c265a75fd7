"""Parameters of the noisy-OR suggestion model: documented defaults, user overrides, validation.

The defaults live in `data/params.yaml` with the reasoning behind each value, so a clinician
can read and tune them without Python. A user file is merged over the defaults key by key and
the result validated as a whole; every error names the field (`link.spillover: …`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from triggerpoint.errors import KnowledgeError

Prob = Annotated[float, Field(gt=0.0, lt=1.0)]


class ParamsError(KnowledgeError):
    """Parameters that cannot be used; the message names the field."""


class Links(BaseModel):
    """P(region painful | one active trigger point), by the zone the region lies in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    essential: Prob
    spillover: Prob
    local: Prob

    @model_validator(mode="after")
    def _ordered(self) -> Links:
        if not self.essential > self.spillover > self.local:
            raise ValueError("must satisfy essential > spillover > local")
        return self


STATES = ("active", "latent", "absent")
FINDINGS = ("familiar", "tender", "none")


class FindingRow(BaseModel):
    """P(finding | one state); the three values sum to 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    familiar: Prob
    tender: Prob
    none: Prob

    @model_validator(mode="after")
    def _sums_to_one(self) -> FindingRow:
        total = self.familiar + self.tender + self.none
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"familiar + tender + none must sum to 1 (they sum to {total!r})")
        return self


class FindingTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    active: FindingRow
    latent: FindingRow
    absent: FindingRow


class ByState(BaseModel):
    """P(sign seen | state), for the optional twitch and referral signs."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    active: Prob
    latent: Prob
    absent: Prob


class PalpationCost(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    base: float = Field(gt=0.0, le=100.0)
    deep_extra: float = Field(ge=0.0, le=100.0)
    incompressible_extra: float = Field(ge=0.0, le=100.0)
    deep_mm: int = Field(ge=1, le=300)


class PalpationSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    citation: str = Field(min_length=10)
    doi: str | None = None
    supports: list[str] = []


class Palpation(BaseModel):
    """How palpation findings observe a trigger point's state (data/palpation.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    latent_prior: Annotated[float, Field(gt=0.0, lt=0.5)]
    finding: FindingTable
    twitch: ByState
    referral: ByState
    cost: PalpationCost
    sources: list[PalpationSource] = []
    chosen: list[str] = []

    @model_validator(mode="after")
    def _familiar_means_active(self) -> Palpation:
        f = self.finding
        if not f.active.familiar > max(f.latent.familiar, f.absent.familiar):
            raise ValueError(
                "finding: familiar must be more likely when active than when latent or absent"
            )
        return self

    def row(self, state: str) -> tuple[float, float, float]:
        r = getattr(self.finding, state)
        return (r.familiar, r.tender, r.none)


def not_active_weights(latent_prior: float, prior: float) -> tuple[float, float]:
    """P(latent | not active), P(absent | not active) before any finding."""
    return latent_prior / (1.0 - prior), (1.0 - prior - latent_prior) / (1.0 - prior)


def virtual_link_problem(pal: Palpation, priors: tuple[float, ...]) -> str | None:
    """Why a muscle-level finding could not be a noisy-OR positive, or None.

    "familiar somewhere in the muscle" has per-point silence q(A) = P(not familiar | A);
    "tender somewhere, familiar nowhere" has q(A) = P(none | not familiar, A). Both need
    q(active) <= q(not active), i.e. a link 1 - q(1)/q(0) in [0, 1). The not-active mixture
    is a linear-fractional function of the prior, so checking the prior range's ends suffices.
    """
    fa, ta, na = pal.row("active")
    fl, tl, nl = pal.row("latent")
    fb, tb, nb = pal.row("absent")
    for prior in priors:
        wl, wb = not_active_weights(pal.latent_prior, prior)
        fam = 1.0 - fa, 1.0 - (wl * fl + wb * fb)
        ten = na / (ta + na), (wl * nl + wb * nb) / (wl * (tl + nl) + wb * (tb + nb))
        for name, (q1, q0) in (("familiar", fam), ("tender", ten)):
            link = 1.0 - q1 / q0
            if not 0.0 <= link < 1.0:
                return (
                    f"palpation.finding: a muscle-level {name!r} finding implies a link "
                    f"{link:.3f} outside [0, 1) at prior {prior}"
                )
    return None


class Params(BaseModel):
    """All model parameters; see data/params.yaml for why each default is what it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    prior: Prob
    prior_multiplier: dict[str, Annotated[float, Field(gt=0.0, le=50.0)]] = {}
    link: Links
    leak: Prob
    leak_by_region: dict[str, Prob] = {}
    exact_budget: int = Field(ge=1_000, le=10**9)
    approx_max_active: int = Field(ge=1, le=4)
    completeness: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    palpation: Palpation

    @model_validator(mode="after")
    def _virtual_links(self) -> Params:
        """A muscle-level finding becomes a noisy-OR 'virtual' finding whose links must lie
        in [0, 1) (docs/inference.md); check it at both ends of the prior range."""
        problem = virtual_link_problem(self.palpation, (self.prior_for(""), 0.5))
        if problem:
            raise ValueError(problem)
        return self

    def cache_key(self) -> str:
        """The parameters as JSON: the key of the per-parameters caches (networks, complete
        mode). Remembered per instance, since the model is frozen: a call asks for it twice
        and the dump costs more than the lookup. An edited copy (`model_copy(update=...)`,
        a new file) is a new instance and gets its own key."""
        hit = _KEYS.get(id(self))
        if hit is None or hit[0] is not self:
            if len(_KEYS) >= _KEYS_MAX:
                _KEYS.clear()
            hit = _KEYS[id(self)] = (self, self.model_dump_json())
        return hit[1]

    def prior_for(self, muscle_id: str) -> float:
        return min(self.prior * self.prior_multiplier.get(muscle_id, 1.0), 0.5)

    def leak_for(self, region_id: str, key: str) -> float:
        return self.leak_by_region.get(region_id, self.leak_by_region.get(key, self.leak))


# Params instance id -> (the instance, its key); the instance is held so its id is not reused.
_KEYS: dict[int, tuple[Params, str]] = {}
_KEYS_MAX = 64


def _field(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


_NESTED = {"link", "palpation", "finding", "twitch", "referral", "cost", "active", "latent"}
_NESTED |= {"absent"}


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key in _NESTED:
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def validate_params(raw: object, *, source: str = "params") -> Params:
    """Validate a decoded mapping merged over the defaults; errors name the field."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: (file): must be a mapping of parameter names to values")
    try:
        return Params.model_validate(_merge(_default_raw(), raw))
    except ValidationError as exc:
        problems = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ParamsError(f"{source}: {problems}") from None


def load_params(path: Path | str | None = None) -> Params:
    """The defaults, overridden by a YAML file (argument, else TRIGGERPOINT_INFERENCE_PARAMS)."""
    if path is None:
        from triggerpoint.config import get_settings

        path = get_settings().inference_params
    if path is None:
        return default_params()
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from None
    return validate_params(raw, source=str(path))


def configured_params() -> Params:
    """Parameters for long-running processes: the settings' file, re-read only when changed."""
    from triggerpoint.config import get_settings

    path = get_settings().inference_params
    if path is None:
        return default_params()
    try:
        stamp = Path(path).stat().st_mtime_ns
    except OSError:
        stamp = -1
    return _params_at(str(path), stamp)


@cache
def _params_at(path: str, stamp: int) -> Params:
    return load_params(path)


@cache
def _default_raw() -> dict[str, Any]:
    data = resources.files("triggerpoint.inference").joinpath("data")
    raw = yaml.safe_load(data.joinpath("params.yaml").read_text("utf-8"))
    raw["palpation"] = yaml.safe_load(data.joinpath("palpation.yaml").read_text("utf-8"))
    return raw


@cache
def default_params() -> Params:
    try:
        return Params.model_validate(_default_raw())
    except ValidationError as exc:
        problems = "; ".join(f"{_field(e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ParamsError(f"packaged parameters: {problems}") from None
