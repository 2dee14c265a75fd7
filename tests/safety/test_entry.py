"""The one enforcement point (`safety.entry`), rule by rule, as clinical sentences.

Restrictions come from `evaluate` on real answers, so these tests also prove that each
screening answer with a detail acts on it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.errors import InvalidInput, SafetyBlock
from triggerpoint.safety.depth import max_thorax_depth
from triggerpoint.safety.entry import PatientSafety, blocked_reasons, check_entry
from triggerpoint.safety.screening import Answer, evaluate, rulebook


def screened(bmi: float | None = 23.0, **present: str | None) -> PatientSafety:
    """A patient whose screening answered yes to `present` (with its detail), no elsewhere."""
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    answers |= {k: Answer(present=True, detail=v) for k, v in present.items()}
    result = evaluate(answers)
    return PatientSafety.of([r.model_dump() for r in result.restrictions], bmi)


def blocked(patient: PatientSafety, muscle: str, side: str, tp: str | None = None, **kw) -> bool:
    m = load_atlas().muscles[muscle]
    return bool(
        blocked_reasons(patient, muscle=m, tp_id=tp or m.trigger_points[0].id, side=side, **kw)
    )


ARM_PHRASES = [
    "left arm",
    "L arm",
    "left upper limb",
    "left hand",
    "lt forearm",
    "left upper extremity",
]
BOTH_ARMS = ["both arms", "bilateral upper limbs", "upper limb", "arms", "both hands"]
# Muscles whose group is not upper_limb but which lie in the arm, plus two that are.
IN_THE_ARM = [
    ("deltoid", "anterior"),
    ("deltoid", "middle"),
    ("deltoid", "posterior"),
    ("subscapularis", "tp1"),
    ("teres_major", "lateral"),
    ("biceps_brachii", "tp1"),
    ("first_dorsal_interosseous", "web"),
]


@pytest.mark.parametrize("phrase", ARM_PHRASES)
@pytest.mark.parametrize(("muscle", "tp"), IN_THE_ARM)
def test_lymphoedema_in_the_left_arm_forbids_the_whole_left_upper_limb(phrase, muscle, tp):
    patient = screened(lymphoedema=phrase)
    assert blocked(patient, muscle, "left", tp)
    assert not blocked(patient, muscle, "right", tp)


@pytest.mark.parametrize("phrase", BOTH_ARMS)
@pytest.mark.parametrize(("muscle", "tp"), IN_THE_ARM)
def test_lymphoedema_in_both_arms_forbids_both_upper_limbs(phrase, muscle, tp):
    patient = screened(lymphoedema=phrase)
    assert blocked(patient, muscle, "left", tp) and blocked(patient, muscle, "right", tp)


@pytest.mark.parametrize(
    "phrase", ["right calf", "R leg", "right lower limb", "rt foot", "right thigh"]
)
def test_lymphoedema_in_the_right_leg_forbids_the_right_lower_limb_only(phrase):
    patient = screened(lymphoedema=phrase)
    for muscle in (
        "gastrocnemius",
        "tibialis_anterior",
        "vastus_lateralis",
        "extensor_digitorum_brevis",
    ):
        assert blocked(patient, muscle, "right"), (phrase, muscle)
        assert not blocked(patient, muscle, "left"), (phrase, muscle)
    assert not blocked(patient, "deltoid", "right")
    assert not blocked(patient, "upper_trapezius", "right")


def test_an_arm_restriction_leaves_the_neck_and_back_alone():
    patient = screened(lymphoedema="left arm")
    for muscle, tp in [
        ("upper_trapezius", "tp1"),
        ("infraspinatus", "tp1"),
        ("rhomboids", "major"),
    ]:
        assert not blocked(patient, muscle, "left", tp), muscle


@pytest.mark.parametrize("answer", ["left chest", "abdomen", "left arn", ""])
def test_a_limb_answer_that_names_no_limb_is_refused_with_the_nearest_names(answer):
    with pytest.raises(InvalidInput) as err:
        screened(lymphoedema=answer)
    assert err.value.field == "answers.lymphoedema.detail"
    if answer.strip():
        assert "nearest names" in str(err.value) or "not part of a limb" in str(err.value)


def test_the_restriction_stores_resolved_regions_and_keeps_the_original_words():
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    answers["lymphoedema"] = Answer(present=True, detail="L arm")
    [r] = evaluate(answers).restrictions
    assert r.scope == "limb" and r.detail == "L arm" and r.where == "left upper limb"
    assert "left_axilla" in r.regions and "left_lateral_shoulder" in r.regions
    assert "left_thumb_palmar" in r.regions and not any(x.startswith("right_") for x in r.regions)
    assert "left_scapula" not in r.regions


def incompressible() -> list[tuple[str, str]]:
    atlas = load_atlas()
    return [
        (m.id, tp.id)
        for m in atlas.muscles.values()
        for tp in m.trigger_points
        if not m.compressible_at(tp.id)
    ]


def test_bleeding_risk_blocks_every_incompressible_trigger_point_at_any_depth():
    patient = screened(bleeding_risk=None)
    cases = incompressible()
    assert len(cases) >= 10
    for muscle, tp in cases:
        assert blocked(patient, muscle, "right", tp), (muscle, tp)
        m = load_atlas().muscles[muscle]
        with pytest.raises(SafetyBlock, match="cannot be compressed"):
            check_entry(
                patient,
                muscle=m,
                tp_id=tp,
                side="right",
                technique="static",
                depth_mm=1,
                pleural_recess_acknowledged=True,
            )


@pytest.mark.parametrize("muscle", ["iliopsoas", "piriformis"])
def test_bleeding_risk_forbids_the_deep_hip_muscles(muscle):
    assert blocked(screened(bleeding_risk=None), muscle, "left")


def test_bleeding_risk_allows_a_compressible_superficial_muscle():
    patient = screened(bleeding_risk=None)
    m = load_atlas().muscles["upper_trapezius"]
    assert m.compressible_at("tp1")
    check_entry(patient, muscle=m, tp_id="tp1", side="right", technique="pistoning", depth_mm=12)


def test_without_bleeding_risk_an_incompressible_muscle_may_be_needled():
    assert not blocked(screened(), "piriformis", "left")


def test_a_patient_with_only_a_pacemaker_cannot_have_electrical_stimulation():
    patient = screened(pacemaker=None)
    assert [r["scope"] for r in patient.restrictions] == ["electrical"]
    assert blocked(patient, "upper_trapezius", "right", technique="electrical")
    assert not blocked(patient, "upper_trapezius", "right", technique="pistoning")


def test_a_patient_without_a_pacemaker_may_have_electrical_stimulation():
    assert not blocked(screened(), "upper_trapezius", "right", technique="electrical")


@pytest.mark.parametrize("trimester", ["1", "2", "3"])
def test_pregnancy_forbids_abdomen_lumbopelvic_region_and_electrical_stimulation(trimester):
    patient = screened(pregnancy=trimester)
    assert blocked(patient, "rectus_abdominis", "right", "lower")
    assert blocked(patient, "quadratus_lumborum", "left", "superficial_upper")
    assert blocked(patient, "thoracolumbar_multifidi", "right", "sacral")
    assert blocked(patient, "upper_trapezius", "right", technique="electrical")
    assert not blocked(patient, "upper_trapezius", "right", technique="pistoning")


def test_the_first_trimester_is_a_stronger_precaution_than_later_ones():
    def precautions(t: str) -> list[str]:
        answers = {r.id: Answer(present=False) for r in rulebook().rules}
        answers["pregnancy"] = Answer(present=True, detail=t)
        return evaluate(answers).precautions

    assert any("First trimester" in p for p in precautions("first"))
    assert not any("First trimester" in p for p in precautions("2"))
    with pytest.raises(InvalidInput) as err:
        precautions("fourth")
    assert err.value.field == "answers.pregnancy.detail"


def test_recent_surgery_restricts_the_surgical_field():
    patient = screened(recent_surgery="right back of knee")
    assert blocked(patient, "gastrocnemius", "right", "tp3")
    assert not blocked(patient, "gastrocnemius", "left", "tp3")
    assert not blocked(patient, "gastrocnemius", "right", "tp1")  # upper calf is outside it


def test_an_infection_at_a_site_restricts_that_site():
    patient = screened(infection_site="right temple, left cheek")
    assert blocked(patient, "temporalis", "right", "tp1")
    assert blocked(patient, "masseter", "left", "superficial_upper")
    assert not blocked(patient, "temporalis", "left", "tp1")


def test_an_acute_medical_condition_means_not_cleared():
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    answers["acute_condition"] = Answer(present=True)
    assert evaluate(answers).outcome == "not_cleared"


def test_a_frail_patient_is_cleared_with_a_precaution():
    answers = {r.id: Answer(present=False) for r in rulebook().rules}
    answers["frail"] = Answer(present=True)
    result = evaluate(answers)
    assert result.outcome == "cleared_with_precautions"
    assert any("Frail" in p for p in result.precautions)


def test_a_restriction_recorded_as_free_text_is_refused_until_rescreened():
    legacy = PatientSafety.of(
        [{"scope": "limb", "reason": "Lymphoedema", "detail": "left arm"}], 23
    )
    reasons = blocked_reasons(
        legacy, muscle=load_atlas().muscles["gastrocnemius"], tp_id="tp1", side="right"
    )
    assert reasons and "screen the patient again" in reasons[0]


# --- thorax guard ---------------------------------------------------------------------------

# The published figures, typed in here rather than read from the module under test.
KIM_SLOPE_CM, KIM_INTERCEPT_CM, MARGIN_MM = 0.380, -4.301, 10.0
SEOL_RIB_MINUS_SD_MM = [(23, 17.0), (25, 15.0), (999, 22.0)]


def published_limit(bmi: float) -> float:
    pleura = (KIM_SLOPE_CM * bmi + KIM_INTERCEPT_CM) * 10 - MARGIN_MM
    rib = next(mm for below, mm in SEOL_RIB_MINUS_SD_MM if bmi < below)
    return max(min(pleura, rib), 0.0)


@pytest.mark.parametrize(
    ("bmi", "expected"), [(12, 0.0), (13, 0.0), (14, 0.2), (16, 7.8), (21, 17.0), (30, 22.0)]
)
def test_thorax_limit_against_the_published_formula(bmi, expected):
    limit = max_thorax_depth(bmi)
    assert limit.max_depth_mm == pytest.approx(expected, abs=0.05)
    assert limit.max_depth_mm == pytest.approx(published_limit(bmi), abs=0.05)
    assert limit.outside_studied_range == (bmi < 16)


def test_at_bmi_13_the_guard_is_not_raised_to_the_bmi_16_figure():
    # Kim 2002 predicts the pleura at about 6.4 mm at BMI 13: less the margin, no safe depth.
    assert pytest.approx(6.4, abs=0.05) == (KIM_SLOPE_CM * 13 + KIM_INTERCEPT_CM) * 10
    limit = max_thorax_depth(13)
    assert limit.max_depth_mm == 0 and limit.no_safe_depth
    assert "outside" in limit.explain() or "below the range" in limit.explain()
    assert "every entry over the thorax needs a recorded reason" in limit.explain()


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=8, max_value=70, allow_nan=False))
def test_the_limit_never_exceeds_the_formula_pleura_depth_less_the_margin(bmi):
    limit = max_thorax_depth(bmi).max_depth_mm
    assert limit <= max((KIM_SLOPE_CM * bmi + KIM_INTERCEPT_CM) * 10 - MARGIN_MM, 0.0) + 0.05
    assert limit >= 0


def test_with_no_safe_depth_every_thorax_entry_needs_a_reason():
    patient = PatientSafety.of([], 13.0)
    rhomboid = load_atlas().muscles["rhomboids"]
    with pytest.raises(InvalidInput) as err:
        check_entry(
            patient, muscle=rhomboid, tp_id="major", side="right", technique="static", depth_mm=1
        )
    assert err.value.field == "over_limit_reason"
    ok = check_entry(
        patient,
        muscle=rhomboid,
        tp_id="major",
        side="right",
        technique="static",
        depth_mm=1,
        over_limit_reason="ultrasound-guided, rib under the needle",
    )
    assert ok.over_limit and ok.limit is not None and ok.limit.max_depth_mm == 0


@pytest.mark.parametrize(("depth", "needs_reason"), [(16.9, False), (17.0, False), (17.1, True)])
def test_thorax_limit_boundary_at_bmi_21(depth, needs_reason):
    patient = PatientSafety.of([], 21.0)
    rhomboid = load_atlas().muscles["rhomboids"]
    kw = dict(muscle=rhomboid, tp_id="major", side="right", technique="static", depth_mm=depth)
    if needs_reason:
        with pytest.raises(InvalidInput):
            check_entry(patient, **kw)
    else:
        assert not check_entry(patient, **kw).over_limit


# --- pleural recess below the 12th rib ------------------------------------------------------


@pytest.mark.parametrize("muscle", ["quadratus_lumborum", "iliocostalis_lumborum"])
def test_the_pleural_recess_needs_an_acknowledged_level_and_direction(muscle):
    m = load_atlas().muscles[muscle]
    assert m.pleural_recess and not m.needling.thorax
    tp = m.trigger_points[0].id  # no bleeding risk here: compressibility does not matter
    kw = dict(muscle=m, tp_id=tp, side="left", technique="pistoning", depth_mm=40)
    with pytest.raises(InvalidInput) as err:
        check_entry(PatientSafety(), **kw)
    assert err.value.field == "pleural_recess_acknowledged" and "12th rib" in str(err.value)
    assert check_entry(PatientSafety(), pleural_recess_acknowledged=True, **kw).limit is None
