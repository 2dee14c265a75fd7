"""REDCap export: the documented 18 dictionary columns; every record column defined in the
dictionary; names, validations, choices and repeating instruments as REDCap imports them."""

from __future__ import annotations

import csv
import re
from datetime import datetime

from tests.research.exports.conftest import seed
from tests.research.exports.helpers import leaked, run

HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]


def _read(path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def _valid(value: str, field: dict[str, str]) -> bool:
    kind = field["Text Validation Type OR Show Slider Number"]
    choices = field["Choices, Calculations, OR Slider Labels"]
    if field["Field Type"] in ("radio", "dropdown"):
        return value in {c.split(",")[0].strip() for c in choices.split("|")}
    if kind == "integer":
        return re.fullmatch(r"-?\d+", value) is not None
    if kind == "number":
        float(value)
        return value.lower() not in ("nan", "inf", "-inf")
    if kind == "date_ymd":
        return re.fullmatch(r"\d{4}-\d\d-\d\d", value) is not None
    if kind == "datetime_ymd":
        datetime.strptime(value, "%Y-%m-%d %H:%M")
        return True
    return kind == "" and field["Field Type"] == "text"


def test_redcap_dictionary_and_records_agree(app_client, alice, tmp_path):
    a, b = seed(app_client, alice), seed(app_client, alice, research=False)
    summary = run("redcap", alice, tmp_path)
    assert summary.patients_included == 1 and summary.patients_excluded_no_consent == 1
    header, dictionary = _read(tmp_path / "data_dictionary.csv")
    assert header == HEADER
    assert dictionary[0]["Variable / Field Name"] == "record_id"
    assert dictionary[0]["Form Name"] == "patients"
    by_name = {d["Variable / Field Name"]: d for d in dictionary}
    assert len(by_name) == len(dictionary)  # unique across instruments
    for name in by_name:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name) and len(name) <= 26, name
    forms = [d["Form Name"] for d in dictionary]
    assert forms == sorted(forms, key=forms.index)  # each form's fields together
    columns, records = _read(tmp_path / "records.csv")
    assert columns[:3] == ["record_id", "redcap_repeat_instrument", "redcap_repeat_instance"]
    assert set(columns[3:]) | {"record_id"} == set(by_name)
    assert {r["record_id"] for r in records} == {records[0]["record_id"]}
    seen_forms = set()
    for r in records:
        form = r["redcap_repeat_instrument"] or "patients"
        seen_forms.add(form)
        if form == "patients":
            assert r["redcap_repeat_instance"] == ""
        else:
            assert int(r["redcap_repeat_instance"]) >= 1
        for name, v in r.items():
            if (
                name in ("record_id", "redcap_repeat_instrument", "redcap_repeat_instance")
                or v == ""
            ):
                continue
            assert by_name[name]["Form Name"] == form, (name, form)  # only its own form's fields
            assert _valid(v, by_name[name]), (name, v)
    assert seen_forms == set(forms)
    entries = [r for r in records if r["redcap_repeat_instrument"] == "needle_entries"]
    assert [r["redcap_repeat_instance"] for r in entries] == ["1", "2"]
    assert [r["ne_twitch_count"] for r in entries] == ["3", "1"]
    assert (
        by_name["ne_familiar_pain"]["Choices, Calculations, OR Slider Labels"] == "1, Yes | 0, No"
    )
    assert by_name["pt_age_years"]["Text Validation Type OR Show Slider Number"] == "integer"
    assert by_name["ne_depth_mm"]["Text Validation Type OR Show Slider Number"] == "number"
    assert by_name["ep_onset_date"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    assert summary.rows["needle_entries"] == 2
    assert not leaked(tmp_path, [a, b])
