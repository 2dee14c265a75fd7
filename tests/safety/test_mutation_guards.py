"""Entry and depth rules that a mutation run showed were not pinned (issue 18).

Every refusal is checked through `check_entry` (the one enforcement point every write path
calls), with the words the clinician reads, and every limit on both sides of its boundary.
"""

from __future__ import annotations

import pytest

from tests.safety.test_entry import published_limit, screened
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.errors import InvalidInput, SafetyBlock
from triggerpoint.safety.depth import guard_data, max_thorax_depth
from triggerpoint.safety.entry import PatientSafety, check_entry, tp_region
from triggerpoint.safety.screening import (
    Answer,
    _require_detail,
    describe_regions,
    evaluate,
    parse_trimester,
    restriction_text,
    rulebook,
    rules_version,
)
from triggerpoint.safety.stats import wilson

ATLAS = load_atlas()
DELTOID = ATLAS.muscles["deltoid"]
TRAPEZIUS = ATLAS.muscles["upper_trapezius"]
RHOMBOIDS = ATLAS.muscles["rhomboids"]
ESTIM = "electrical"


def entry(patient: PatientSafety, muscle=TRAPEZIUS, tp="tp1", side="right", **kw):
    kw = {"technique": "pistoning", "depth_mm": 12, **kw}
    return check_entry(patient, muscle=muscle, tp_id=tp, side=side, **kw)


def refusal(patient: PatientSafety, **kw) -> str:
    with pytest.raises(SafetyBlock) as err:
        entry(patient, **kw)
    return str(err.value)


# --- restrictions through check_entry ----------------------------------------------------


def test_a_needle_in_a_restricted_limb_is_refused_when_charted():
    patient = screened(lymphoedema="left arm")
    text = refusal(patient, muscle=DELTOID, tp="middle", side="left")
    assert text.startswith("Deltoid (left, trigger point middle) lies in ")
    assert "left upper limb" in text and "which is restricted: Lymphoedema" in text


def test_the_same_needle_in_the_unrestricted_limb_is_allowed():
    patient = screened(lymphoedema="left arm")
    assert entry(patient, muscle=DELTOID, tp="middle", side="right").limit is None


def test_a_restriction_without_a_place_name_names_the_body_chart_region():
    region = tp_region(DELTOID, "middle", "left")
    patient = PatientSafety.of(
        [{"scope": "limb", "reason": "Lymphoedema", "regions": [region]}], 23
    )
    assert refusal(patient, muscle=DELTOID, tp="middle", side="left") == (
        f"Deltoid (left, trigger point middle) lies in {region}, which is restricted: Lymphoedema"
    )


def test_a_free_text_restriction_is_refused_with_its_reason_until_rescreened():
    legacy = PatientSafety.of([{"scope": "limb", "reason": "Lymphoedema", "detail": "arm"}], 23)
    assert refusal(legacy) == (
        "Lymphoedema: this screening was recorded before restrictions were stored as "
        "body-chart regions; screen the patient again before needling"
    )


def test_a_patient_with_only_a_pacemaker_cannot_have_electrical_stimulation_charted():
    patient = screened(pacemaker=None)
    assert [r["scope"] for r in patient.restrictions] == ["electrical"]
    text = refusal(patient, technique=ESTIM)
    assert text.startswith("electrical stimulation is contraindicated for this patient: ")
    assert entry(patient).over_limit is False  # dry needling without current is allowed


def test_an_electrical_needle_in_a_restricted_limb_gives_both_reasons():
    patient = screened(lymphoedema="left arm", pacemaker=None)
    text = refusal(patient, muscle=DELTOID, tp="middle", side="left", technique=ESTIM)
    limb, estim = text.split("; ")
    assert "which is restricted: Lymphoedema" in limb
    assert estim.startswith("electrical stimulation is contraindicated")


def test_a_patient_with_a_limb_restriction_only_may_have_electrical_stimulation_elsewhere():
    patient = screened(lymphoedema="left arm")
    assert entry(patient, technique=ESTIM).over_limit is False


def test_bleeding_risk_names_the_usual_depth_range_of_the_muscle():
    m = ATLAS.muscles["piriformis"]
    tp = m.trigger_points[0].id
    lo, hi = m.needling.depth_mm
    assert lo != hi
    text = refusal(screened(bleeding_risk=None), muscle=m, tp=tp, side="left")
    assert f"({lo}-{hi} mm), so bleeding could not be stopped by pressure: " in text


# --- thorax limit ------------------------------------------------------------------------


def test_too_deep_over_the_thorax_names_the_depth_the_limit_and_the_muscle():
    with pytest.raises(InvalidInput) as err:
        entry(PatientSafety.of([], 21.0), muscle=RHOMBOIDS, tp="major", depth_mm=20)
    assert err.value.field == "over_limit_reason"
    text = str(err.value)
    assert "20 mm is deeper than this patient's thorax limit of 17 mm for Rhomboid" in text
    assert "record why before saving. Max 17.0 mm over the thorax (BMI 21.0)" in text


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_a_blank_reason_does_not_excuse_a_needle_over_the_thorax_limit(reason):
    with pytest.raises(InvalidInput):
        entry(
            PatientSafety.of([], 21.0),
            muscle=RHOMBOIDS,
            tp="major",
            depth_mm=17.1,
            over_limit_reason=reason,
        )


@pytest.mark.parametrize(("bmi", "limit"), [(16.0, 7.8), (21.0, 17.0), (23.0, 15.0), (30.0, 22.0)])
@pytest.mark.parametrize(("delta", "over"), [(-0.1, False), (0.0, False), (0.1, True)])
def test_the_thorax_limit_holds_at_just_under_at_and_just_over_the_limit(bmi, limit, delta, over):
    assert max_thorax_depth(bmi).max_depth_mm == pytest.approx(published_limit(bmi), abs=0.05)
    kw = dict(muscle=RHOMBOIDS, tp="major", depth_mm=round(limit + delta, 1))
    patient = PatientSafety.of([], bmi)
    if over:
        with pytest.raises(InvalidInput):
            entry(patient, **kw)
        assert entry(patient, over_limit_reason="ultrasound-guided", **kw).over_limit
    else:
        checked = entry(patient, **kw)
        assert not checked.over_limit and checked.limit.max_depth_mm == limit


@pytest.mark.parametrize(("bmi", "group_mm"), [(22.99, 17), (23.0, 15), (24.99, 15), (25.0, 22)])
def test_the_rib_group_changes_exactly_at_its_published_bmi(bmi, group_mm):
    assert max_thorax_depth(bmi).rib_limit_mm == group_mm


def test_the_limit_cites_both_studies_and_says_which_one_limits():
    thin, usual = max_thorax_depth(17.0), max_thorax_depth(21.0)
    data = guard_data()
    assert thin.citations == usual.citations == (data.kim_2002.citation, data.seol_2014.citation)
    assert thin.basis == "the skin-to-pleura estimate (Kim 2002)"
    assert usual.basis == "the skin-to-rib distance (Seol 2014)"


def test_the_explanation_shows_the_working():
    assert max_thorax_depth(21.0).explain() == (
        "Max 17.0 mm over the thorax (BMI 21.0): the smaller of the CT skin-to-pleura estimate "
        "less a margin (26.8 mm) and the ultrasound skin-to-rib distance minus 1 SD (17 mm); "
        "limited by the skin-to-rib distance (Seol 2014)."
    )


def test_the_explanation_of_an_unknown_bmi_says_what_was_assumed():
    text = max_thorax_depth(None).explain()
    assert text.startswith("Max 7.8 mm over the thorax (BMI unknown (assumed 16, the lowest")
    assert "below the range" not in text and "No depth" not in text


def test_the_explanation_below_the_studied_range_says_it_is_extrapolated_and_unsafe():
    text = max_thorax_depth(13.0).explain()
    assert text.startswith("Max 0.0 mm over the thorax (BMI 13.0): the smaller of")
    assert text.endswith(
        " BMI 13.0 is below the range the studies describe (from 16): the formula is "
        "extrapolated, not raised. No depth is known to be safe: every entry over the thorax "
        "needs a recorded reason."
    )


# --- screening: the words of every refusal and every restriction ------------------------


def answers(**present: str | None) -> dict[str, Answer]:
    out = {r.id: Answer(present=False) for r in rulebook().rules}
    return out | {k: Answer(present=True, detail=v) for k, v in present.items()}


def question(rule_id: str) -> str:
    return next(r.question for r in rulebook().rules if r.id == rule_id)


def refused(**present: str | None) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        evaluate(answers(**present))
    return err.value


@pytest.mark.parametrize(
    ("rule_id", "hint"),
    [
        ("lymphoedema", "name the affected limb, for example left arm, right leg or both arms"),
        (
            "recent_surgery",
            "name the site on the body chart, for example right knee or lower abdomen",
        ),
        (
            "infection_site",
            "name the site on the body chart, for example right knee or lower abdomen",
        ),
        ("pregnancy", "give the trimester: 1, 2 or 3"),
    ],
)
@pytest.mark.parametrize("blank", [None, "", "   "])
def test_a_yes_that_needs_a_detail_is_refused_without_it_saying_what_to_give(rule_id, hint, blank):
    err = refused(**{rule_id: blank})
    assert err.field == f"answers.{rule_id}.detail"
    assert str(err) == f"{question(rule_id)} {hint}"


def test_a_detail_for_a_rule_that_names_no_kind_asks_for_a_site():
    rule = next(r for r in rulebook().rules if r.detail is None)
    with pytest.raises(InvalidInput) as err:
        _require_detail(rule, Answer(present=True, detail=" "))
    assert str(err.value).endswith(
        " name the site on the body chart, for example right knee or lower abdomen"
    )


def test_an_unknown_place_is_refused_with_the_nearest_names():
    err = refused(lymphoedema="left elbw")
    assert err.field == "answers.lymphoedema.detail"
    assert err.suggestions and "left outer elbow" in err.suggestions
    assert str(err) == (
        "'left elbw' is not a body-chart region name; nearest names: " + ", ".join(err.suggestions)
    )


def test_an_unknown_place_with_nothing_near_it_says_none():
    err = refused(lymphoedema="qqqzzz")
    assert err.suggestions == []
    assert str(err) == "'qqqzzz' is not a body-chart region name; nearest names: none"


def test_a_detail_that_names_no_region_is_refused():
    err = refused(lymphoedema=",")
    assert err.field == "answers.lymphoedema.detail"
    assert str(err) == f"{question('lymphoedema')} Name at least one body-chart region."


def test_a_limb_restriction_on_a_place_outside_the_limbs_names_the_limbs():
    err = refused(lymphoedema="left lateral neck")
    limbs = ["right upper limb", "left upper limb", "right lower limb", "left lower limb"]
    assert err.field == "answers.lymphoedema.detail" and err.suggestions == limbs
    assert str(err) == (
        "left lateral neck is not part of a limb; nearest names: " + ", ".join(limbs)
    )


def test_two_places_outside_the_limbs_are_both_named():
    err = refused(lymphoedema="left lateral neck, right lateral neck")
    assert str(err).startswith("left lateral neck, right lateral neck is not part of a limb; ")


def test_an_unknown_question_is_named_by_its_field():
    with pytest.raises(InvalidInput) as err:
        evaluate(answers() | {"bogus": Answer(present=False)})
    assert err.value.field == "answers.bogus"
    assert str(err.value) == "unknown screening question 'bogus'"


def test_one_unanswered_question_is_named_in_the_singular():
    given = answers()
    del given["pacemaker"]
    with pytest.raises(InvalidInput) as err:
        evaluate(given)
    assert err.value.field == "answers.pacemaker"
    assert str(err.value) == f"unanswered screening question: pacemaker: {question('pacemaker')}"


def test_two_unanswered_questions_are_named_in_the_plural_in_form_order():
    given = answers()
    del given["pacemaker"], given["lymphoedema"]
    with pytest.raises(InvalidInput) as err:
        evaluate(given)
    assert err.value.field == "answers.lymphoedema"
    assert str(err.value) == (
        "unanswered screening questions: "
        f"lymphoedema: {question('lymphoedema')} | pacemaker: {question('pacemaker')}"
    )


@pytest.mark.parametrize(
    ("text", "trimester"),
    [
        ("2", 2),
        ("2nd", 2),
        ("T2", 2),
        ("second", 2),
        ("Second Trimester", 2),
        ("  second   trimester ", 2),
        ("third trimester", 3),
        ("fourth", None),
        ("", None),
        (None, None),
    ],
)
def test_the_trimester_is_read_from_what_clinicians_write(text, trimester):
    assert parse_trimester(text) == trimester


def test_a_pregnancy_detail_that_is_not_a_trimester_is_refused_with_the_words_given():
    err = refused(pregnancy="fourth")
    assert err.field == "answers.pregnancy.detail"
    assert str(err) == "'fourth' is not a trimester: give 1, 2 or 3"


@pytest.mark.parametrize("trimester", ["2", "3"])
def test_a_later_trimester_still_carries_its_own_precaution(trimester):
    result = evaluate(answers(pregnancy=trimester))
    first, later = [e.reason for e in _rule("pregnancy").effects if e.trimester]
    assert later in result.precautions and first not in result.precautions


def _rule(rule_id: str):
    return next(r for r in rulebook().rules if r.id == rule_id)


def test_an_absolute_reason_carries_the_detail_given_and_nothing_when_none_was():
    assert evaluate(answers(needle_phobia="faints")).reasons == ["Needle phobia (faints)"]
    assert evaluate(answers(needle_phobia=None)).reasons == ["Needle phobia"]


def test_a_restriction_names_its_rule_reason_and_place():
    result = evaluate(answers(recent_surgery="right knee", pacemaker=None))
    by_rule = {r.rule: r for r in result.restrictions}
    assert set(by_rule) == {"recent_surgery", "pacemaker"}
    surgery, device = by_rule["recent_surgery"], by_rule["pacemaker"]
    assert surgery.where == "right knee"
    assert (
        restriction_text(surgery) == "Recent surgery: do not needle the surgical field (right knee)"
    )
    assert device.where is None and restriction_text(device) == device.reason
    assert restriction_text(surgery) in result.reasons and device.reason in result.reasons


def _ids(group: str, side: str) -> set[str]:
    return {r.id for r in load_catalog().regions.values() if r.group == group and r.side == side}


def test_a_whole_region_group_is_named_by_side_and_group():
    assert describe_regions(sorted(_ids("head", "right"))) == "right head"
    assert describe_regions(sorted(_ids("head", "left"))) == "left head"
    both = sorted(_ids("neck", "left") | _ids("neck", "right"))
    assert describe_regions(both) == "right neck, left neck"


def test_part_of_a_group_is_named_region_by_region():
    ids = sorted(_ids("head", "right"))
    names = [load_catalog().regions[i].name for i in ids[:2]]
    assert describe_regions(ids[:2]) == ", ".join(names)


def test_a_group_and_one_more_region_are_both_named():
    extra = sorted(_ids("neck", "left"))[0]
    text = describe_regions([*sorted(_ids("head", "right")), extra, "not_a_region"])
    assert text == f"right head, {load_catalog().regions[extra].name}"


def test_a_whole_limb_is_named_as_the_limb():
    limb = sorted(load_catalog().limbs["left_upper_limb"])
    assert describe_regions(limb) == "left upper limb"


def test_the_rules_version_is_a_twelve_digit_fingerprint():
    version = rules_version()
    assert len(version) == 12 and int(version, 16) >= 0


# --- published adverse-event rates: the Wilson interval -----------------------------------


def _wilson_by_hand(events: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = events / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * (p * (1 - p) / n + z**2 / (4 * n**2)) ** 0.5 / (1 + z**2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@pytest.mark.parametrize(("events", "n"), [(1, 1), (0, 1), (1, 2), (3, 10), (1463, 7629)])
def test_the_wilson_interval_matches_the_published_formula(events, n):
    assert wilson(events, n) == pytest.approx(_wilson_by_hand(events, n), abs=1e-12)
