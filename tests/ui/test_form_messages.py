"""Validation messages are written for people: every form model's errors, as `ui.forms`
words them, name the field by its label and hold none of pydantic's developer wording.

The models are found, not listed: every `InputModel` subclass in the app (a form or an API
body; a new schema is covered the day it is written). Each field is sent empty and with
wrong values of every kind a person or a hostile client might type.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import triggerpoint
from triggerpoint.inputs import InputModel
from triggerpoint.records.schemas import PatientIn
from triggerpoint.treatment.schemas import CountIn, EntryIn
from triggerpoint.ui.forms import field_errors, label_for, labelled, parse_form

# Pydantic's own phrasing (pydantic_core error messages), which must never reach a page.
DEVELOPER = re.compile(
    r"Input should|Field required|Value error|Extra inputs|String should|valid string"
    r"|valid integer|valid number|Assertion failed|List should|Dictionary should"
    r"|unable to parse|validation error|\[type=|Object has no attribute|Tuple should"
)
WRONG = [
    "",  # empty: parse_form reads it as "not given"
    "abc",
    "-1",
    "0",
    "1.5",
    "nan",
    "1e400",
    "2999-01-01",
    "17/05/1980",
    "x" * 5000,
    "\ud800",
    "a\x00b",
]


def _models() -> list[type[BaseModel]]:
    for info in pkgutil.walk_packages(triggerpoint.__path__, "triggerpoint."):
        if info.name.rsplit(".", 1)[-1] in ("schemas", "forms"):
            importlib.import_module(info.name)

    def below(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from below(sub)

    found = {m for m in below(InputModel) if m.model_fields}
    return sorted(found, key=lambda m: f"{m.__module__}.{m.__qualname__}")


MODELS = _models()


def test_the_models_are_found():
    names = {m.__name__ for m in MODELS}
    assert {"PatientIn", "ConsentIn", "EntryIn", "CountIn", "MeasurementIn"} <= names


def _messages(model: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(field, value tried, message) for everything wrong that can be sent to `model`."""
    out = []
    _parsed, errors = parse_form(model, {})
    out += [(k, "<nothing>", v) for k, v in errors.items()]
    for name in model.model_fields:
        for value in WRONG:
            _parsed, errors = parse_form(model, {name: value})
            out += [(k, repr(value)[:20], v) for k, v in errors.items()]
        for value in ([], {"x": "y"}, [{"z": 1}], 10**30):
            _parsed, errors = parse_form(model, {name: value})
            out += [(k, repr(value)[:20], v) for k, v in errors.items()]
    return out


@pytest.mark.parametrize("model", MODELS, ids=lambda m: f"{m.__module__}.{m.__name__}")
def test_every_error_names_its_field_in_plain_words(model):
    messages = _messages(model)
    assert messages, "nothing was refused: the test sent nothing wrong"
    for field, value, message in messages:
        assert not DEVELOPER.search(message), (field, value, message)
        loc = [int(p) if p.isdigit() else p for p in field.split(".")]
        label = label_for(loc, model)
        assert message.startswith(label), (field, value, message)
        assert "_" not in message.removeprefix(label).split(":")[0], (field, value, message)
        assert len(message) < 400, (field, value)


@pytest.mark.parametrize(
    ("model", "form", "field", "expected"),
    [
        (PatientIn, {}, "given_name", "Given name is required"),
        (PatientIn, {"given_name": ""}, "given_name", "Given name is required"),
        (PatientIn, {"sex": ""}, "sex", "Sex is required"),
        (PatientIn, {"sex": "x"}, "sex", "Sex must be female, male, other or unknown"),
        (
            PatientIn,
            {"date_of_birth": "17/05/1980"},
            "date_of_birth",
            "Date of birth must be a date like 1980-05-17",
        ),
        (
            PatientIn,
            {"date_of_birth": "2999-01-01"},
            "date_of_birth",
            "Date of birth must not be in the future",
        ),
        (
            PatientIn,
            {"height_cm": "abc"},
            "height_cm",
            "Height (cm) must be a number above 40 and below 260",
        ),
        (
            PatientIn,
            {"weight_kg": "nan"},
            "weight_kg",
            "Weight (kg) must be a number above 1 and below 400 (not NaN or infinity)",
        ),
        (
            PatientIn,
            {"email": "nope"},
            "email",
            "Email must be an email address like name@example.com",
        ),
        (
            PatientIn,
            {"family_name": "x" * 101},
            "family_name",
            "Family name must be at most 100 characters long",
        ),
        (
            EntryIn,
            {"needle_diameter_mm": "9"},
            "needle_diameter_mm",
            "Needle diameter (mm) must be a number between 0.12 and 0.5",
        ),
        (
            EntryIn,
            {"twitch_count": "1.5"},
            "twitch_count",
            "Twitch responses must be a whole number between 0 and 200",
        ),
        (
            CountIn,
            {"needles_out": "-3"},
            "needles_out",
            "Needles out must be a whole number between 0 and 1000",
        ),
    ],
)
def test_sentences(model, form, field, expected):
    _parsed, errors = parse_form(model, form)
    assert errors[field] == expected


def test_a_validator_message_reads_on_from_the_label():
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as caught:
        EntryIn.model_validate(
            {
                "muscle": "deltoid",
                "side": "right",
                "needle_diameter_mm": 0.25,
                "needle_length_mm": 30,
                "technique": "static",
                "depth_mm": 40,
                "twitch_count": 0,
                "familiar_pain": False,
                "duration_s": 10,
            }
        )
    assert field_errors(caught.value, EntryIn) == {
        "depth_mm": "Depth (mm): 40 mm is greater than the needle length (30 mm)"
    }


@pytest.mark.parametrize(
    ("message", "label", "expected"),
    [
        ("required", "Pain now", "Pain now is required"),
        ("must be a number", "Pain now", "Pain now must be a number"),
        ("belongs to another patient", "Visit", "Visit: belongs to another patient"),
        ("Visit must be a whole number", "Visit", "Visit must be a whole number"),
    ],
)
def test_labelled_names_the_field_once(message, label, expected):
    assert labelled(message, label) == expected


def test_a_list_position_is_said_as_an_item():
    assert label_for(["trials", 1]) == "Trials, item 2"
    assert label_for([]) == "This form"


def test_templates_say_a_field_and_its_error_as_the_forms_do():
    from triggerpoint.ui.templating import templates

    env = templates().env
    text = env.from_string(
        "{{ 'must not be in the future'|labelled(field_label('signed_at')) }} | "
        "{{ 'Signed by is required'|labelled(field_label('signed_by')) }} | "
        "{{ field_label('trials.1') }}"
    ).render()
    assert text == (
        "Date and time signed must not be in the future | Signed by is required | Trials, item 2"
    )
