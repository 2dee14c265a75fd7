"""Form helpers: pydantic validation errors as one sentence per field, for re-rendered forms.

Pydantic writes for developers ("Input should be a valid string", "Field required"); a form
is read by a clinician. `human_message` is the one place that turns an error into a sentence
naming the field by its label ("Given name is required", "Date of birth must be a date like
1980-05-17"), so every form page and the HTML error page say the same words. A field's label
is its pydantic `title` where the model sets one, else the `LABELS` entry, else its name in
words. The sentence is complete: a template shows it as it is, without the label in front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from annotated_types import Ge, Gt, Le, Lt
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

M = TypeVar("M", bound=BaseModel)

# Field names as the forms label them (for names whose words alone would not read well).
LABELS: dict[str, str] = {
    "bmi": "BMI",
    "height_cm": "Height (cm)",
    "weight_kg": "Weight (kg)",
    "external_id": "External id",
    "email": "Email",
    "visit_at": "Visit date and time",
    "signed_at": "Date and time signed",
    "signed_by": "Signed by",
    "measured_at": "Measured at",
    "visit_id": "Visit",
    "episode_id": "Episode",
    "patient_id": "Patient",
    "trigger_point_id": "Trigger point",
    "needle_diameter_mm": "Needle diameter (mm)",
    "needle_length_mm": "Needle length (mm)",
    "depth_mm": "Depth (mm)",
    "twitch_count": "Twitch responses",
    "duration_s": "Duration (s)",
    "frequency_hz": "Frequency (Hz)",
    "pulse_width_us": "Pulse width (µs)",
    "intensity_ma": "Intensity (mA)",
    "estim": "Electrical stimulation",
    "needles_out": "Needles out",
    "needles_unaccounted": "Needles unaccounted",
    "over_limit_reason": "Reason for exceeding the limit",
    "pleural_recess_acknowledged": "Pleural recess confirmation",
    "familiar_pain": "Familiar pain",
    "risks_disclosed": "Risks explained",
    "risks": "Risks explained",
    "signer_relation": "Relation to the patient",
    "action_taken": "Action taken",
    "follow_up": "Follow-up",
    "type": "Type",
    "ppt": "Pressure pain threshold",
    "nprs": "Pain rating",
    "current": "Pain now",
    "context": "Site",
    "timing": "Timing",
    "onset_date": "Onset date",
    "code": "Diagnosis code",
    "full_name": "Full name",
    "expires_days": "Days",
    "new_password": "New password",
    "current_password": "Current password",
    "form": "This form",
}
# What a field with a pattern accepts, in words (a regular expression is not a sentence).
PATTERN_HINTS: dict[str, str] = {
    "phone": "may hold only digits, spaces and + ( ) . - (5 to 40 of them)",
    "username": "may hold only letters, digits, dots, dashes and underscores",
}
STORAGE_LIMIT = 2_147_483_647  # the largest id a column holds (records.schemas.RecordId)
DATE_EXAMPLE = "1980-05-17"
DATETIME_EXAMPLE = "2026-11-24 10:30"
# Pydantic's own opening words; after them the rest of its sentence reads for people.
_PYDANTIC_OPENING = re.compile(
    r"^(Input|Value|String|List|Dictionary|Tuple|Set|Decimal|Date|Datetime|Time|Number|Object)"
    r" should (be|have) "
)
# A validator's message that goes on from the label ("must not be in the future").
_CONTINUES = ("must ", "is ", "are ", "has ", "have ", "cannot ", "may ", "should ", "needs ")


@dataclass(frozen=True, slots=True)
class FieldFacts:
    """What the model says about a field, for a sentence that gives its whole range."""

    label: str
    lower: tuple[float, bool] | None = None  # (bound, inclusive)
    upper: tuple[float, bool] | None = None
    whole: bool = False  # an integer field


def words(name: str) -> str:
    """`date_of_birth` -> 'Date of birth' (a label for a field no one labelled)."""
    text = name.replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:] if text else "This field"


def label_for(loc: Sequence[int | str], model: type[BaseModel] | None = None) -> str:
    """The label of the field at `loc`: the model's title, LABELS, or the name in words.

    A position in a list is said as "item N" ("Trials, item 2"), counting from 1."""
    names = [str(p) for p in loc if isinstance(p, str)]
    if not names:
        return LABELS["form"]
    dotted = ".".join(str(p) for p in loc)
    field = model.model_fields.get(names[0]) if model is not None and len(loc) == 1 else None
    base = (
        (field.title if field is not None and field.title else None)
        or LABELS.get(dotted)
        or LABELS.get(names[-1])
        or words(names[-1])
    )
    positions = [p for p in loc if isinstance(p, int)]
    return f"{base}, item {positions[-1] + 1}" if positions else base


def field_facts(loc: Sequence[int | str], model: type[BaseModel] | None = None) -> FieldFacts:
    """The label, the numeric bounds and whether the field is whole numbers, where the model
    declares them (top-level fields only: a nested field says its one broken bound)."""
    label = label_for(loc, model)
    if model is None or len(loc) != 1 or not isinstance(loc[0], str):
        return FieldFacts(label)
    field = model.model_fields.get(loc[0])
    if field is None:
        return FieldFacts(label)
    lower = upper = None
    for m in field.metadata:
        if isinstance(m, Ge | Gt) and (bound := _number(getattr(m, "ge", getattr(m, "gt", None)))):
            lower = (bound[0], isinstance(m, Ge))
        elif isinstance(m, Le | Lt) and (
            bound := _number(getattr(m, "le", getattr(m, "lt", None)))
        ):
            upper = (bound[0], isinstance(m, Le))
    kinds = set(get_args(field.annotation)) or {field.annotation}
    whole = int in kinds and float not in kinds
    return FieldFacts(label, lower, upper, whole)


def _number(value: object) -> tuple[float] | None:
    """A bound as a float (in a tuple, so a bound of 0 is still truthy), if it is a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return (float(value),)


def _num(x: float) -> str:
    return str(int(x)) if x.is_integer() else f"{x:g}"


def _range(facts: FieldFacts) -> str:
    """'between 0.12 and 0.5', 'above 40 and below 260', 'of at least 0'."""
    lo, hi = facts.lower, facts.upper
    if hi and hi[0] >= STORAGE_LIMIT:
        hi = None  # a database column's limit, not the field's meaning: not worth saying
    if lo and hi and lo[1] and hi[1]:
        return f"between {_num(lo[0])} and {_num(hi[0])}"
    parts = []
    if lo:
        parts.append(f"{'at least' if lo[1] else 'above'} {_num(lo[0])}")
    if hi:
        parts.append(f"{'at most' if hi[1] else 'below'} {_num(hi[0])}")
    text = " and ".join(parts)
    return f"of {text}" if text.startswith("at ") else text


def _choices(expected: str) -> str:
    """Pydantic's "'a', 'b' or 'c'" as words: "a, b or c" (ids with spaces; '' is "empty")."""
    return expected.replace("''", "empty").replace("'", "").replace("_", " ")


def sentence(label: str, rest: str) -> str:
    rest = rest.strip().rstrip(".")
    if rest.startswith(_CONTINUES):
        return f"{label} {rest}"
    return f"{label}: {rest[:1].lower() + rest[1:]}" if rest else f"{label} is not valid"


def labelled(message: str, label: str) -> str:
    """A field's error as a sentence naming it, whoever wrote the message: a sentence that
    already names the field is kept; a bare "required" or "must be a number" gets the label
    (the template filter `labelled`: `{{ errors.height_cm|labelled("Height (cm)") }}`)."""
    text = str(message).strip()
    if text.casefold().startswith(label.casefold()):
        return text
    if text.casefold() in ("required", "is required", "field required"):
        return f"{label} is required"
    return sentence(label, text)


def human_message(err: ErrorDetails | Mapping[str, Any], facts: FieldFacts) -> str:
    """One error as a sentence for people, naming the field by `facts.label`."""
    kind = str(err.get("type", ""))
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    msg = str(err.get("msg", ""))
    label = facts.label
    loc = err.get("loc") or ()
    number = "a whole number" if facts.whole else "a number"
    bounded = f"{number} {_range(facts)}" if (facts.lower or facts.upper) else None
    if kind == "missing" or (err.get("input", "") is None and kind != "value_error"):
        return f"{label} is required"
    if kind == "string_too_short":
        least = int(ctx.get("min_length", 1))
        if least <= 1:
            return f"{label} is required"
        return f"{label} must be at least {least} characters long"
    if kind == "string_too_long":
        return f"{label} must be at most {ctx.get('max_length')} characters long"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length")
        return f"{label} must have {'at least' if kind == 'too_short' else 'at most'} {n} item{'' if n == 1 else 's'}"
    if kind == "string_pattern_mismatch":
        return f"{label} {PATTERN_HINTS.get(str(loc[-1]) if loc else '', 'is not in the expected form')}"
    if kind == "string_type":
        return f"{label} must be text"
    if kind.startswith("date_") or kind == "date_type":
        return f"{label} must be a date like {DATE_EXAMPLE}"
    if kind.startswith("datetime_") or kind == "timezone_aware":
        return f"{label} must be a date and time like {DATETIME_EXAMPLE}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{label} must be {bounded or 'a whole number'}"
    if kind in ("float_parsing", "float_type", "decimal_parsing", "decimal_type"):
        return f"{label} must be {bounded or number}"
    if kind == "finite_number":
        return f"{label} must be {bounded or number} (not NaN or infinity)"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        if bounded:
            return f"{label} must be {bounded}"
        bound = next(iter(ctx.values()), "")
        word = {"greater_than": "more than", "greater_than_equal": "at least"}.get(
            kind, "less than" if kind == "less_than" else "at most"
        )
        return f"{label} must be {word} {_num(float(bound)) if isinstance(bound, int | float) else bound}"
    if kind in ("literal_error", "enum"):
        return f"{label} must be {_choices(str(ctx.get('expected', '')))}"
    if kind in ("bool_parsing", "bool_type"):
        return f"{label} must be yes or no"
    if kind == "extra_forbidden":
        return f"{label} is not a field of this form"
    if kind in ("list_type", "dict_type", "model_type", "model_attributes_type"):
        return f"{label} is not in the expected form"
    if kind == "value_error":
        if msg.startswith("value is not a valid email address"):
            return f"{label} must be an email address like name@example.com"
        return sentence(label, msg.removeprefix("Value error, "))
    if kind == "assertion_error":
        return sentence(label, msg.removeprefix("Assertion failed, "))
    if opening := _PYDANTIC_OPENING.match(msg):
        return f"{label} must {opening.group(2)} {msg[opening.end() :]}"
    return f"{label} is not valid"


def field_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> dict[str, str]:
    """{'date_of_birth': 'Date of birth must not be in the future', ...}: the first error
    of each field, as a sentence naming it (`model` gives titles and numeric ranges)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "form"
        if name not in out:
            out[name] = human_message(err, field_facts(err["loc"], model))
    return out


def parse_form(model: type[M], data: dict[str, Any]) -> tuple[M | None, dict[str, str]]:
    """Validate form fields (empty strings mean 'not given') into a model, or return errors."""
    cleaned = {k: (None if v == "" else v) for k, v in data.items() if k != "csrf_token"}
    try:
        return model.model_validate(cleaned), {}
    except ValidationError as exc:
        return None, field_errors(exc, model)
