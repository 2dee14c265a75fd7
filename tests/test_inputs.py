"""The shared input base refuses hostile values in every input schema, per field.

The schemas are found, not listed: every domain's `schemas` module is imported and every
subclass of InputModel walked, so a new schema (or a new field) is covered the day it is
written. The values arrive as Python's json module gives them to FastAPI: NaN, Infinity and
1e400 as floats, an escaped lone surrogate as a str holding it.

ID_FIELDS maps every `*_id` field of every input schema to the API route whose ownership
check covers it (exercised with clinic B's ids in tests/api/test_id_ownership.py); a new
`*_id` field fails here until someone decides how it is checked.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import types
import typing
from datetime import date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, EmailStr, ValidationError

import triggerpoint
from triggerpoint.inputs import (
    DATE_RANGE,
    NOT_FINITE,
    NUL,
    SURROGATE,
    InputModel,
    date_problem,
    input_problem,
)


def _import_schema_modules() -> list[str]:
    names = [
        m.name
        for m in pkgutil.walk_packages(triggerpoint.__path__, "triggerpoint.")
        if m.name.rsplit(".", 1)[-1] == "schemas"
    ]
    for name in names:
        importlib.import_module(name)
    return names


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


SCHEMA_MODULES = _import_schema_modules()
SCHEMAS = sorted(
    {c for c in _subclasses(InputModel) if c.model_fields}, key=lambda c: (c.__module__, c.__name__)
)


def _kinds(annotation: Any) -> set[str]:
    """The scalar kinds a field's annotation accepts, looking through Optional, Annotated,
    Literal, lists and dicts (a dict also counts as "dict", and its keys as "str")."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return set().union(*(_kinds(a) for a in typing.get_args(annotation)))
    if origin is typing.Literal:
        return {type(a).__name__ for a in typing.get_args(annotation)} & {"str", "int"}
    if origin in (list, set, tuple, frozenset):
        return set().union(*(_kinds(a) for a in typing.get_args(annotation) if a is not ...))
    if origin is dict:
        key, value = typing.get_args(annotation)
        return {"dict", "str"} | _kinds(key) | _kinds(value)
    if annotation is typing.Any:
        return {"dict"}  # free-form: anything
    if annotation is EmailStr:
        return {"str"}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return set()  # a nested model: covered as a schema of its own (or by "dict")
        # bool before int, datetime before date: each is a subclass of the other
        for kind in (bool, datetime, date, float, int, str):
            if issubclass(annotation, kind):
                return {kind.__name__} - {"bool"}
    return set()


def _loads(text: str) -> Any:
    return json.loads(text)  # what FastAPI does with a request body


NON_FINITE = [_loads(t) for t in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")]
SURROGATES = [_loads(t) for t in (r'"\ud800x"', r'"a\udfff"', r'"\udc00"')]
DATETIMES = [
    "0001-01-01T00:30:00+01:00",  # overflows when converted to UTC
    "9999-12-31T23:59:59-01:00",  # so does this
    "1899-12-31T23:59:59+00:00",
    "1900-01-01T00:30:00+01:00",  # 1899 in UTC
    "2201-01-01T00:00:00+00:00",
    "0001-01-01T00:00:00",
]
DATES = ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"]


def _hostile(kind: str, annotation: Any) -> list[tuple[Any, str]]:
    """(value, the words the refusal must use) for one kind of field."""
    sequence = typing.get_origin(_unwrap(annotation)) in (list, set, tuple, frozenset)

    def shaped(v: Any) -> Any:
        return [v] if sequence else v

    if kind in ("float", "int"):
        return [(shaped(v), NOT_FINITE) for v in NON_FINITE]
    if kind == "str":
        return [(shaped(v), SURROGATE) for v in SURROGATES] + [(shaped("a\x00b"), NUL)]
    if kind == "datetime":
        return [(v, DATE_RANGE) for v in DATETIMES]
    if kind == "date":
        return [(v, DATE_RANGE) for v in DATES]
    if kind == "dict":
        return [
            ({"k": NON_FINITE[0]}, NOT_FINITE),
            ({"k": {"deeper": [1, NON_FINITE[3]]}}, NOT_FINITE),
            ({SURROGATES[0]: 1}, SURROGATE),
            ({"k": {SURROGATES[1]: {"x": 1}}}, SURROGATE),
            ({"k": [SURROGATES[2]]}, SURROGATE),
        ]
    raise AssertionError(kind)


def _unwrap(annotation: Any) -> Any:
    """The annotation without Optional and Annotated."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


CASES = [
    # A date field with a rule of its own (a date of birth) refuses in that rule's words.
    (schema, name, kind, value, None if name in schema.own_date_rule else words)
    for schema in SCHEMAS
    for name, field in schema.model_fields.items()
    for kind in sorted(_kinds(field.annotation))
    for value, words in _hostile(kind, field.annotation)
]


def test_every_domain_schema_module_is_walked():
    expected = {"records", "treatment", "outcomes", "inference"}
    assert {m.split(".")[1] for m in SCHEMA_MODULES} >= expected
    names = {c.__name__ for c in SCHEMAS}
    assert {"PatientIn", "VisitIn", "ScreeningIn", "EntryIn", "MeasurementIn", "Drawing"} <= names
    kinds = {c[2] for c in CASES}
    assert kinds == {"float", "int", "str", "datetime", "date", "dict"}, kinds


@pytest.mark.parametrize(
    ("schema", "name", "kind", "value", "words"),
    CASES,
    ids=[f"{c[0].__name__}.{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)],
)
def test_hostile_value_is_refused_naming_the_field(schema, name, kind, value, words):
    with pytest.raises(ValidationError) as caught:
        schema.model_validate({name: value})
    mine = [e for e in caught.value.errors() if e["loc"][:1] == (name,)]
    assert mine, f"{schema.__name__}.{name} accepted {value!r}: {caught.value.errors()}"
    assert words is None or any(words in e["msg"] for e in mine), mine


@pytest.mark.parametrize(
    "text",
    ['{"f": NaN}', '{"f": Infinity}', '{"f": -Infinity}', '{"f": 1e400}', '{"f": [1, NaN]}'],
)
def test_non_finite_numbers_from_json_text(text):
    assert input_problem(json.loads(text)).startswith(NOT_FINITE)


def test_surrogates_in_keys_and_nested_values_are_found():
    assert SURROGATE in input_problem(json.loads(r'{"a": {"\ud800": 1}}'))
    assert SURROGATE in input_problem(json.loads(r'{"a": [{"b": "x\udbff"}]}'))
    # a proper pair is one character, and fine
    assert input_problem(json.loads(r'{"a": "\ud83d\ude00"}')) is None


def test_deep_nesting_is_refused_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert "nested" in input_problem(deep)


def test_huge_integers_are_refused():
    assert input_problem(10**400) is not None
    assert input_problem(2**53) is None


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (datetime.fromisoformat("1900-01-01T00:00:00+00:00"), True),
        (datetime.fromisoformat("2200-12-31T23:59:59+00:00"), True),
        (datetime.fromisoformat("1900-01-01T00:30:00+01:00"), False),
        (datetime.fromisoformat("2200-12-31T23:30:00-01:00"), False),
        (datetime.fromisoformat("0001-01-01T00:30:00+01:00"), False),
        (datetime.fromisoformat("9999-12-31T23:59:59-01:00"), False),
        (date(1900, 1, 1), True),
        (date(2200, 12, 31), True),
        (date(1899, 12, 31), False),
    ],
)
def test_date_range_edges(value, ok):
    assert (date_problem(value) is None) is ok


def test_date_of_birth_keeps_its_own_rule():
    from triggerpoint.records.schemas import PatientIn

    base = {"given_name": "A", "family_name": "B", "sex": "female"}
    with pytest.raises(ValidationError, match="more than 125 years ago"):
        PatientIn.model_validate({**base, "date_of_birth": "1900-01-01"})
    for dob in ("2199-01-01", "2999-01-01"):
        with pytest.raises(ValidationError, match="must not be in the future"):
            PatientIn.model_validate({**base, "date_of_birth": dob})
    with pytest.raises(ValidationError, match="more than 125 years ago"):
        PatientIn.model_validate({**base, "date_of_birth": "0001-01-01"})


def test_free_form_measurement_data_is_bounded_naming_data():
    from triggerpoint.outcomes.schemas import MeasurementIn

    base = {"instrument": "nprs", "measured_at": "2026-01-01T10:00:00+00:00"}
    MeasurementIn.model_validate({**base, "data": {"current": 5, "note": "x" * 1000}})
    for data, words in [
        ({"current": 5, "extra": "x" * 5_000_000}, "KiB"),
        ({"current": 5, "extra": "é" * 40_000}, "KiB"),  # counted in UTF-8 bytes
        ({"current": 5, "extra": list(range(2000))}, "keys and items"),
        ({"current": 5, "extra": [[[[[[[[[[1]]]]]]]]]]}, "nested"),
    ]:
        with pytest.raises(ValidationError) as caught:
            MeasurementIn.model_validate({**base, "data": data})
        (error,) = caught.value.errors()
        assert error["loc"] == ("data",)
        assert words in error["msg"]


@pytest.mark.parametrize(
    ("instrument", "data", "words"),
    [
        ("ppt", {"trials": 5}, "trials must be a list"),
        ("psfs", {"activities": {"score": 3}}, "activities must be a list"),
        ("psfs", {"activities": [{"name": "stairs"}]}, "activities.0 must be"),
        ("ndi", {"items": 7}, "items must be a list"),
    ],
)
def test_measurement_item_lists_must_be_lists(instrument, data, words):
    """Scoring read them as lists (a number there was a TypeError, a 500 over the API)."""
    from triggerpoint.outcomes.schemas import MeasurementIn

    with pytest.raises(ValidationError) as caught:
        MeasurementIn.model_validate(
            {"instrument": instrument, "data": data, "measured_at": "2026-01-01T10:00:00Z"}
        )
    (error,) = caught.value.errors()
    assert error["loc"] == ("data",) and words in error["msg"]


# --- every *_id field of every input schema, and what checks it --------------------------
# "route": the API route whose service looks the id up in the caller's clinic and checks it
# belongs to the patient (tests/api/test_id_ownership.py sends clinic B's ids and unknown ids).
# "not a record": ids that name no row of ours; how they are checked is said instead.
ID_FIELDS: dict[tuple[str, str], dict[str, str]] = {
    ("VisitIn", "episode_id"): {"route": "POST /api/patients/{patient_id}/visits"},
    ("ScreeningIn", "episode_id"): {"route": "POST /api/patients/{patient_id}/screenings"},
    ("OpenSessionIn", "visit_id"): {"route": "POST /api/needling-sessions"},
    ("MeasurementIn", "visit_id"): {"route": "POST /api/patients/{patient_id}/measurements"},
    ("RequestIn", "visit_id"): {"route": "POST /api/patients/{patient_id}/questionnaire-requests"},
    ("RequestIn", "episode_id"): {
        "route": "POST /api/patients/{patient_id}/questionnaire-requests"
    },
    # a study participant's patient: needs a study of the caller's clinic and a research
    # consent, so its cases (another clinic's patient, no consent) live with the study tests
    ("ParticipantIn", "patient_id"): {
        "route": "POST /api/research/studies/{study_id}/participants",
        "tested in": "tests/research/reliability/test_study_api.py::"
        "test_a_patient_of_another_clinic_is_422_naming_patient_id",
    },
    ("PatientIn", "external_id"): {
        "route": "POST /api/patients",
        "not a record": "the patient's id in another system; unique within the clinic only",
    },
    ("PatientUpdate", "external_id"): {
        "route": "PUT /api/patients/{patient_id}",
        "not a record": "the patient's id in another system; unique within the clinic only",
    },
    ("TargetIn", "trigger_point_id"): {
        "route": "POST /api/needling-sessions/{session_id}/targets",
        "not a record": "an atlas id, checked against the muscle's trigger points",
    },
    ("EntryIn", "trigger_point_id"): {
        "route": "POST /api/needling-sessions/{session_id}/entries",
        "not a record": "an atlas id, checked against the muscle's trigger points",
    },
    ("PalpationInput", "muscle_id"): {
        "route": "POST /api/suggest",
        "not a record": "an atlas id, resolved by inference.findings (unknown -> 422 naming it)",
    },
    ("PalpationInput", "trigger_point_id"): {
        "route": "POST /api/suggest",
        "not a record": "an atlas id, checked against the muscle's trigger points",
    },
    ("FindingIn", "muscle_id"): {
        "route": "POST /api/visits/{visit_id}/palpation",
        "not a record": "an atlas id, resolved by inference.findings (unknown -> 422 naming it)",
    },
    ("FindingIn", "trigger_point_id"): {
        "route": "POST /api/visits/{visit_id}/palpation",
        "not a record": "an atlas id, checked against the muscle's trigger points",
    },
}


def test_every_id_field_has_an_ownership_check():
    found = {
        (schema.__name__, name)
        for schema in SCHEMAS
        for name in schema.model_fields
        if name.endswith("_id")
    }
    missing = sorted(found - set(ID_FIELDS))
    assert not missing, f"add these *_id fields to ID_FIELDS (and to test_id_ownership): {missing}"
    stale = sorted(set(ID_FIELDS) - found)
    assert not stale, f"these ID_FIELDS entries name no field any more: {stale}"


def test_every_ownership_route_exists(client):
    from tests.routes import api_routes

    routes = {f"{m} {r.path}" for r in api_routes(client.app) for m in r.methods}
    assert {v["route"] for v in ID_FIELDS.values()} <= routes
