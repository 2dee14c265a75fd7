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

    def cache_key(self) -> str:
        return self.model_dump_json()

    def prior_for(self, muscle_id: str) -> float:
        return min(self.prior * self.prior_multiplier.get(muscle_id, 1.0), 0.5)

    def leak_for(self, region_id: str, key: str) -> float:
        return self.leak_by_region.get(region_id, self.leak_by_region.get(key, self.leak))


def _field(loc: tuple[object, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key == "link":
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
    text = resources.files("triggerpoint.inference").joinpath("data/params.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@cache
def default_params() -> Params:
    return Params.model_validate(_default_raw())
