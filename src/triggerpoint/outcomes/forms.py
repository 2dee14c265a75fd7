"""Browser forms for outcome instruments, built from `data/instruments.yaml`.

A form is a list of fields per instrument (names such as `current`, `items.3`, `trials.0`,
`activities.2.score`), so an error from the scorer (`data.items.3`) lands beside the field
that caused it. Parsing keeps whatever the user typed so a rejected form comes back intact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triggerpoint.outcomes import thresholds
from triggerpoint.outcomes.instruments import definitions
from triggerpoint.ui import localtime

# Section headings (not the item wording, which the clinician reads from the licensed form).
SECTIONS = {
    "ndi": [
        "Pain intensity",
        "Personal care",
        "Lifting",
        "Reading",
        "Headaches",
        "Concentration",
        "Work",
        "Driving",
        "Sleeping",
        "Recreation",
    ],
    "odi": [
        "Pain intensity",
        "Personal care",
        "Lifting",
        "Walking",
        "Sitting",
        "Standing",
        "Sleeping",
        "Sex life",
        "Social life",
        "Travelling",
    ],
}
ORDER = ("nprs", "ppt", "rom", "psfs", "ndi", "odi", "quickdash", "groc")


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    lo: float | None = None
    hi: float | None = None
    step: str = "1"
    kind: str = "number"  # number | text
    required: bool = False


def fields_for(instrument: str) -> list[Field]:
    """The input fields of one instrument, with its ranges from the YAML."""
    spec = definitions()[instrument]
    lo, hi = spec["item_range"]
    step = "1" if spec.get("integer_items") else "0.01"
    if instrument == "nprs":
        return [
            Field(k, f"{label} (0-10)", lo, hi, step, required=k in spec["required"])
            for k, label in spec["items"].items()
        ]
    if instrument == "ppt":
        n = spec["trials"]
        return [
            Field(f"trials.{i}", f"Trial {i + 1} (kg/cm²)", lo, hi, step, required=i < n["min"])
            for i in range(n["max"])
        ]
    if instrument == "rom":
        return [
            Field("joint", "Joint", kind="text", required=True),
            Field("movement", "Movement (e.g. flexion, rotation)", kind="text", required=True),
            Field("degrees", f"Degrees ({lo}-{hi})", lo, hi, "1", required=True),
        ]
    if instrument == "psfs":
        n = spec["activities"]
        out: list[Field] = []
        for i in range(n["max"]):
            out += [
                Field(f"activities.{i}.activity", f"Activity {i + 1}", kind="text"),
                Field(f"activities.{i}.score", f"Ability 0-10 (activity {i + 1})", lo, hi, "0.5"),
            ]
        return out
    if instrument == "groc":
        return [Field("value", f"Global rating of change ({lo} to +{hi})", lo, hi, required=True)]
    labels = SECTIONS.get(instrument) or [f"Item {i + 1}" for i in range(spec["n_items"])]
    return [
        Field(f"items.{i}", f"{i + 1}. {label} ({lo}-{hi})", lo, hi, "1")
        for i, label in enumerate(labels)
    ]


def instrument_forms() -> list[dict[str, Any]]:
    """Every instrument with its fields and its thresholds, in the order the page shows them.

    `rule` is what a change is judged against (`outcomes.thresholds`), so the form tells the
    clinician the same threshold the outcomes page, the report and the dashboard apply; ROM
    has one per joint and movement (`rom_rows`), and NPRS one more for neck pain.
    """
    out = []
    for key in ORDER:
        spec = definitions()[key]
        out.append(
            {
                "key": key,
                "name": spec["name"],
                "fields": fields_for(key),
                "mcid": spec.get("mcid"),
                "mdc95": spec.get("mdc95"),
                "max_missing": spec.get("max_missing"),
                "rule": None if key == "rom" else thresholds.rule_for(key),
                "neck_rule": thresholds.rule_for(key, "neck") if key == "nprs" else None,
                "rom_rows": thresholds.rom_rows() if key == "rom" else [],
            }
        )
    return out


def _number(raw: str) -> float | int:
    value = float(raw.replace(",", "."))
    return int(value) if value.is_integer() else value


def parse_measurement_form(
    instrument: str, form: dict[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Form fields -> a `MeasurementIn`-shaped dict, plus per-field errors found on the way.

    Range checks stay with the scorer (one rule, one place); here only "is it a number" and
    "is the required field there" are checked, because those happen before scoring.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for f in fields_for(instrument):
        raw = (form.get(f.name) or "").strip()
        if not raw:
            if f.required and instrument not in ("ppt",):
                errors[f.name] = "required"
            values[f.name] = None
            continue
        if f.kind == "text":
            values[f.name] = raw[:60]
            continue
        try:
            values[f.name] = _number(raw)
        except ValueError:
            errors[f.name] = "must be a number"
            values[f.name] = None  # later steps read every field; the error is already kept
    data = _assemble(instrument, values, errors)
    if instrument == "rom" and form.get("side") in ("right", "left"):
        data["side"] = form["side"]  # the patient's side
    meta = {
        "instrument": instrument,
        "data": data,
        "context": _context(instrument, form, values),
        "timing": form.get("timing") or "",
        "visit_id": form.get("visit_id") or None,
        "measured_at": _when(form.get("measured_at") or "", errors),
    }
    return meta, errors


def _assemble(instrument: str, values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    spec = definitions()[instrument]
    if instrument == "nprs":
        return {k: values[k] for k in spec["items"] if values.get(k) is not None}
    if instrument == "ppt":
        return {"trials": [v for k, v in values.items() if v is not None]}
    if instrument == "rom":
        return {k: values[k] for k in ("joint", "movement", "degrees")}
    if instrument == "psfs":
        acts = []
        for i in range(spec["activities"]["max"]):
            name, score = (
                values.get(f"activities.{i}.activity"),
                values.get(f"activities.{i}.score"),
            )
            if name is None and score is None:
                continue
            if score is None:
                errors[f"activities.{i}.score"] = "give a score for this activity"
            elif name is None:
                errors[f"activities.{i}.activity"] = "name the activity"
            acts.append({"activity": name or "", "score": score})
        return {"activities": acts}
    if instrument == "groc":
        return {"value": values.get("value")}
    return {"items": [values.get(f"items.{i}") for i in range(spec["n_items"])]}


def _context(instrument: str, form: dict[str, str], values: dict[str, Any]) -> str:
    if instrument == "rom":
        parts = [values.get("joint"), values.get("movement"), form.get("side")]
        return " ".join(p for p in parts if p)[:120]
    return (form.get("context") or "").strip()[:120]


def _when(raw: str, errors: dict[str, str]) -> str | None:
    """A `datetime-local` value (no zone) is clinic time (ui.localtime), like every form."""
    if not raw:
        errors["measured_at"] = "required"
        return None
    at = localtime.from_form(raw)
    try:
        datetime.fromisoformat(at)
    except ValueError:
        errors["measured_at"] = "not a date and time"
        return None
    return at
