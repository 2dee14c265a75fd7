"""Screening: every rule tested on its own, plus the combinations that matter."""

from __future__ import annotations

import pytest

from triggerpoint.safety.screening import Answer, Outcome, ScreeningError, evaluate, rulebook

ALL_NO = {r.id: Answer(present=False) for r in rulebook().rules}


def _with(**present: str | None) -> dict[str, Answer]:
    answers = dict(ALL_NO)
    for rule_id, detail in present.items():
        answers[rule_id] = Answer(present=True, detail=detail)
    return answers


def test_nothing_present_is_cleared():
    result = evaluate(ALL_NO)
    assert result.outcome == Outcome.cleared and result.reasons == [] and result.restrictions == []


@pytest.mark.parametrize(
    "rule_id", ["needle_phobia", "refusal", "cannot_consent", "acute_condition"]
)
def test_absolute_contraindications_are_not_cleared(rule_id):
    result = evaluate(_with(**{rule_id: None}))
    assert result.outcome == Outcome.not_cleared
    assert result.reasons


@pytest.mark.parametrize(
    "rule_id",
    [
        "immunocompromised",
        "vascular_disease",
        "diabetes",
        "epilepsy",
        "metal_allergy",
        "child",
        "psychological_state",
        "frail",
    ],
)
def test_relative_contraindications_clear_with_precautions(rule_id):
    result = evaluate(_with(**{rule_id: "detail"}))
    assert result.outcome == Outcome.cleared_with_precautions
    assert len(result.precautions) == 1 and not result.restrictions


def test_lymphoedema_restricts_the_named_limb_and_needs_it():
    with pytest.raises(ScreeningError) as err:
        evaluate(_with(lymphoedema=None))
    assert err.value.field == "answers.lymphoedema.detail"
    result = evaluate(_with(lymphoedema="left arm"))
    assert result.outcome == Outcome.cleared_with_precautions
    assert [(r.scope, r.detail, r.where) for r in result.restrictions] == [
        ("limb", "left arm", "left upper limb")
    ]


def test_pregnancy_and_recent_surgery_restrict_regions_as_well_as_adding_precautions():
    pregnant = evaluate(_with(pregnancy="2"))
    assert [r.scope for r in pregnant.restrictions] == ["site", "electrical"]
    assert "right_lower_abdomen" in pregnant.restrictions[0].regions
    surgery = evaluate(_with(recent_surgery="left knee"))
    assert [r.scope for r in surgery.restrictions] == ["site"]
    assert surgery.restrictions[0].regions == sorted(
        ["left_anterior_knee", "left_medial_knee", "left_lateral_knee", "left_back_of_knee"]
    )
    assert surgery.outcome == pregnant.outcome == Outcome.cleared_with_precautions


def test_bleeding_risk_forbids_deep_needling_and_adds_a_precaution():
    result = evaluate(_with(bleeding_risk=None))
    assert result.outcome == Outcome.cleared_with_precautions
    assert [r.scope for r in result.restrictions] == ["deep"]
    assert any("start gently" in p for p in result.precautions)


def test_pacemaker_forbids_electrical_stimulation_only():
    result = evaluate(_with(pacemaker=None))
    assert result.outcome == Outcome.cleared_with_precautions
    assert [r.scope for r in result.restrictions] == ["electrical"]


def test_absolute_wins_over_relative():
    assert evaluate(_with(refusal=None, epilepsy=None)).outcome == Outcome.not_cleared


def test_every_question_must_be_answered():
    partial = dict(ALL_NO)
    partial.pop("epilepsy")
    with pytest.raises(ScreeningError, match="unanswered") as err:
        evaluate(partial)
    assert err.value.field == "answers.epilepsy"
    assert rulebook().rule("epilepsy").question in str(err.value)


def test_an_answer_without_present_is_refused_never_read_as_no():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Answer.model_validate({"detail": "left arm"})


def test_unknown_question_is_rejected():
    with pytest.raises(ScreeningError, match="unknown screening question"):
        evaluate({**ALL_NO, "astrology": Answer(present=True)})


def test_every_rule_has_a_known_source():
    book = rulebook()
    assert all(r.sources and set(r.sources) <= set(book.sources) for r in book.rules)
    ids = {r.id for r in book.rules}
    assert {
        "needle_phobia",
        "refusal",
        "cannot_consent",
        "lymphoedema",
        "bleeding_risk",
        "immunocompromised",
        "vascular_disease",
        "diabetes",
        "pregnancy",
        "epilepsy",
        "metal_allergy",
        "child",
        "psychological_state",
        "recent_surgery",
        "infection_site",
        "acute_condition",
        "frail",
        "pacemaker",
    } == ids
