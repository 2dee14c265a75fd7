"""The ICD-10-CM list (records/data/icd10cm.yaml): checked when it loads, searched by code or
words, and the one rule for which codes a diagnosis may carry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from triggerpoint.errors import InvalidInput, KnowledgeError
from triggerpoint.records import icd10
from triggerpoint.records.schemas import DiagnosisIn, EpisodeIn

# Titles as the FY2026 tabular list prints them: the families the clinic codes most.
OFFICIAL = {
    "M79.10": "Myalgia, unspecified site",
    "M79.11": "Myalgia of mastication muscle",
    "M79.12": "Myalgia of auxiliary muscles, head and neck",
    "M79.18": "Myalgia, other site",
    "M79.7": "Fibromyalgia",
    "M54.2": "Cervicalgia",
    "M54.50": "Low back pain, unspecified",
    "M54.51": "Vertebrogenic low back pain",
    "M54.59": "Other low back pain",
    "M54.6": "Pain in thoracic spine",
    "M62.830": "Muscle spasm of back",
    "M62.81": "Muscle weakness (generalized)",
    "G44.209": "Tension-type headache, unspecified, not intractable",
    "S13.4XXA": "Sprain of ligaments of cervical spine, initial encounter",
    "M99.01": "Segmental and somatic dysfunction of cervical region",
}


def test_the_shipped_list_loads_with_the_official_titles():
    codes = icd10.codes()
    assert {c: codes[c].display for c in OFFICIAL} == OFFICIAL
    assert all(codes[c].billable for c in OFFICIAL)
    # Since FY2023 M79.1 and since FY2022 M54.5 are headers: not valid on a claim.
    assert not codes["M79.1"].billable and not codes["M54.5"].billable
    assert len(codes) > 100 and all(icd10.ICD10CM.match(c) for c in codes)


def _yaml(*lines: str) -> str:
    return "codes:\n" + "".join(f"  - {line}\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("codes: 3\n", "a list `codes`"),
        (_yaml('{code: U07.1, display: "x", billable: true}'), "not an ICD-10-CM code"),
        (_yaml('{code: M79.7, display: "", billable: true}'), "needs its title"),
        (_yaml('{code: M79.7, display: "Fibromyalgia", billable: "yes"}'), "true or false"),
        (_yaml('{code: M79.7, display: "Fibromyalgia"}'), "needs"),
        (_yaml('{code: M79.7, display: "F", billable: true, colour: red}'), "needs"),
        (
            _yaml(
                '{code: M79.7, display: "Fibromyalgia", billable: true}',
                '{code: M79.7, display: "Fibromyalgia", billable: true}',
            ),
            "listed twice",
        ),
        (
            _yaml(
                '{code: M79.1, display: "Myalgia", billable: true}',
                '{code: M79.12, display: "Myalgia of ...", billable: true}',
            ),
            "M79.1 is billable but has codes below it",
        ),
        (_yaml('{code: M79.1, display: "Myalgia", billable: false}'), "header M79.1 has no"),
        (_yaml('{code: M79.7, display: "F", billable: true, terms: "x"}'), "terms must be"),
    ],
)
def test_a_wrong_entry_is_refused_when_the_list_loads(text, says):
    with pytest.raises(KnowledgeError, match=says.replace("(", r"\(").replace(".", r"\.")):
        icd10.parse(text)


def test_search_by_the_start_of_a_code_with_or_without_the_dot():
    expected = ["M79.1", "M79.10", "M79.11", "M79.12", "M79.18"]
    assert [c.code for c in icd10.search_icd10("M79.1")] == expected
    assert [c.code for c in icd10.search_icd10("m791")] == expected
    assert [c.code for c in icd10.search_icd10("  m79.12 ")] == ["M79.12"]


def test_search_by_words_of_the_title_and_its_family():
    assert [c.code for c in icd10.search_icd10("myalgia neck")] == ["M79.12"]
    # an inclusion term of the header finds the whole family
    assert "M79.18" in [c.code for c in icd10.search_icd10("myofascial")]
    assert [c.code for c in icd10.search_icd10("myofascial mastication")] == ["M79.11"]
    assert [c.code for c in icd10.search_icd10("Chronic tension headache intractable")] == [
        "G44.221",
        "G44.229",
    ]
    assert icd10.search_icd10("zzzz") == [] and icd10.search_icd10("   ") == []


def test_search_puts_the_exact_code_first_and_honours_the_limit():
    found = icd10.search_icd10("M54", limit=3)
    assert [c.code for c in found] == ["M54", "M54.2", "M54.3"]
    every = icd10.search_icd10("pain", limit=500)
    assert len(every) > 10 and "M54.2" in [c.code for c in every]  # 'Pain, neck' in the index
    assert {c.code for c in icd10.search_icd10("neck pain")} == {"M54.2", "M79.12"}
    assert icd10.search_icd10("pain", limit=10) == every[:10]


@pytest.mark.parametrize("q", ["M79\x00", "\ud800 neck", "x" * 101])
def test_a_bad_query_is_invalid_input_naming_q(q):
    with pytest.raises(InvalidInput) as caught:
        icd10.search_icd10(q)
    assert caught.value.field == "q"


def test_a_diagnosis_takes_a_listed_billable_code_only():
    assert DiagnosisIn(code=" m79.12 ").code == "M79.12"
    with pytest.raises(ValidationError) as unlisted:
        DiagnosisIn(code="M79.9")
    msg = unlisted.value.errors()[0]["msg"]
    assert "M79.9 is not in triggerpoint's ICD-10-CM list" in msg and "M79.10" in msg
    with pytest.raises(ValidationError) as header:
        DiagnosisIn(code="M79.1")
    msg = header.value.errors()[0]["msg"]
    assert "is a category" in msg and "M79.12 Myalgia of auxiliary muscles" in msg
    with pytest.raises(ValidationError, match="not an ICD-10-CM code"):
        DiagnosisIn(code="U99.ZZ")


def test_an_episode_checks_its_diagnoses_by_the_same_rule():
    with pytest.raises(ValidationError) as caught:
        EpisodeIn(complaint="Neck pain", diagnoses=[{"code": "M54.2"}, {"code": "M54.5"}])
    err = caught.value.errors()[0]
    assert err["loc"] == ("diagnoses", 1, "code") and "M54.50" in err["msg"]


def test_suggestions_are_the_codes_the_message_names():
    assert [c.code for c in icd10.suggestions("m54.5")] == ["M54.50", "M54.51", "M54.59"]
    assert [c.code for c in icd10.suggestions("M79.9")][:1] == ["M79.10"]
    assert icd10.suggestions("M79.12") == []
    assert icd10.display("m79.12") == OFFICIAL["M79.12"] and icd10.display("M79.9") is None
