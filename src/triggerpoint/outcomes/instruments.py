"""Scoring of outcome instruments and classification against clinically meaningful change.

Definitions live in `data/instruments.yaml` with their sources. Scoring is exact (e.g.
NDI/ODI as the percentage of the answered items' maximum, QuickDASH as ((sum/n) - 1) x 25);
too many missing items give an *incomplete* result without a score. Whether a change is a
response is decided in one place, `outcomes.thresholds`, for every page, report and query.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from statistics import fmean
from typing import Any

import yaml

from triggerpoint.errors import InvalidInput


class InstrumentError(InvalidInput):
    """Bad input for an instrument; `field` names the item."""


@dataclass(frozen=True)
class Score:
    instrument: str
    value: float | None  # None when incomplete
    complete: bool
    answered: int
    note: str = ""


@cache
def definitions() -> dict[str, dict[str, Any]]:
    text = (
        resources.files("triggerpoint.outcomes")
        .joinpath("data/instruments.yaml")
        .read_text("utf-8")
    )
    return yaml.safe_load(text)["instruments"]


def _check(instrument: str, field: str, value: Any) -> float:
    spec = definitions()[instrument]
    lo, hi = spec["item_range"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InstrumentError(field, f"must be a number from {lo} to {hi}")
    if spec.get("integer_items") and float(value) != int(value):
        raise InstrumentError(field, f"must be a whole number from {lo} to {hi}")
    if not lo <= value <= hi:
        raise InstrumentError(field, f"{value} is out of range ({lo} to {hi})")
    return float(value)


def _items(instrument: str, items: list[float | None]) -> Score:
    spec = definitions()[instrument]
    if len(items) != spec["n_items"]:
        raise InstrumentError(
            "items", f"{spec['name']} has {spec['n_items']} items, got {len(items)}"
        )
    answered = [_check(instrument, f"items.{i}", v) for i, v in enumerate(items) if v is not None]
    missing = len(items) - len(answered)
    if missing > spec["max_missing"]:
        return Score(
            instrument,
            None,
            False,
            len(answered),
            f"{missing} items missing (at most {spec['max_missing']} allowed): not scored",
        )
    lo, hi = spec["item_range"]
    if spec["score"] == "percent_of_answered":
        value = 100 * sum(answered) / (hi * len(answered))
    else:  # "dash": ((sum / n) - 1) x 25
        value = (sum(answered) / len(answered) - lo) * 25
    return Score(instrument, round(value, 2), True, len(answered))


def score(instrument: str, data: dict[str, Any]) -> Score:
    """Score one administration. Raises InstrumentError for out-of-range or malformed items."""
    if instrument not in definitions():
        raise InstrumentError(
            "instrument", f"unknown instrument {instrument!r}; known: {', '.join(definitions())}"
        )
    spec = definitions()[instrument]
    if instrument == "nprs":
        values = {
            k: _check(instrument, k, data[k]) for k in spec["items"] if data.get(k) is not None
        }
        if "current" not in values:
            raise InstrumentError("current", "pain now is required")
        return Score(instrument, values["current"], True, len(values))
    if instrument in ("ppt", "psfs"):
        key, bounds = (
            ("trials", spec["trials"])
            if instrument == "ppt"
            else ("activities", spec["activities"])
        )
        raw = data.get(key) or []
        if not bounds["min"] <= len(raw) <= bounds["max"]:
            raise InstrumentError(
                key, f"give {bounds['min']} to {bounds['max']} {key}, got {len(raw)}"
            )
        scores = [
            _check(instrument, f"{key}.{i}", (v["score"] if isinstance(v, dict) else v))
            for i, v in enumerate(raw)
        ]
        return Score(instrument, round(fmean(scores), 3), True, len(scores))
    if instrument in ("rom", "groc"):
        field = "degrees" if instrument == "rom" else "value"
        return Score(instrument, _check(instrument, field, data.get(field)), True, 1)
    return _items(instrument, list(data.get("items") or []))
