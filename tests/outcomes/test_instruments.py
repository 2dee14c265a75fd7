"""Instrument scoring: exact formulas, ranges, missing-item rules, classification.

Thresholds have their own tests (test_thresholds.py); the table here is a short tour."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggerpoint.outcomes.instruments import InstrumentError, score
from triggerpoint.outcomes.thresholds import classify_measure


def test_ndi_percent_with_and_without_missing():
    assert score("ndi", {"items": [2] * 10}).value == 40.0
    prorated = score("ndi", {"items": [2] * 8 + [None, None]})
    assert prorated.value == 40.0 and prorated.complete and prorated.answered == 8
    incomplete = score("ndi", {"items": [2] * 7 + [None] * 3})
    assert incomplete.value is None and not incomplete.complete and "not scored" in incomplete.note


def test_odi_percent_and_single_missing_allowed():
    assert score("odi", {"items": [5] * 10}).value == 100.0
    assert score("odi", {"items": [1, 2, 3, 4, 0, 1, 2, 3, 4, None]}).value == pytest.approx(
        100 * 20 / 45, abs=0.01
    )
    assert score("odi", {"items": [1] * 8 + [None, None]}).value is None


def test_quickdash_formula():
    assert score("quickdash", {"items": [1] * 11}).value == 0.0
    assert score("quickdash", {"items": [5] * 11}).value == 100.0
    assert score("quickdash", {"items": [3] * 10 + [None]}).value == 50.0
    assert not score("quickdash", {"items": [3] * 9 + [None, None]}).complete


@pytest.mark.parametrize(
    ("instrument", "data", "field"),
    [
        ("nprs", {"current": 11}, "current"),
        ("nprs", {"current": 5, "worst_24h": -1}, "worst_24h"),
        ("nprs", {"current": 4.5}, "current"),
        ("odi", {"items": [6] + [0] * 9}, "items.0"),
        ("ndi", {"items": [0] * 9}, "items"),
        ("quickdash", {"items": [0] + [1] * 10}, "items.0"),
        ("ppt", {"trials": [2.1]}, "trials"),
        ("ppt", {"trials": [2.1, 25]}, "trials.1"),
        (
            "psfs",
            {
                "activities": [
                    {"name": "lifting", "score": 5},
                    {"name": "typing", "score": 11},
                    {"name": "driving", "score": 3},
                ]
            },
            "activities.1",
        ),
        ("groc", {"value": 8}, "value"),
        ("rom", {"degrees": -5}, "degrees"),
    ],
)
def test_out_of_range_is_rejected_per_field(instrument, data, field):
    with pytest.raises(InstrumentError) as err:
        score(instrument, data)
    assert err.value.field == field


def test_ppt_and_psfs_are_means():
    assert score("ppt", {"trials": [2.0, 2.4, 2.2]}).value == pytest.approx(2.2)
    assert (
        score(
            "psfs",
            {
                "activities": [
                    {"name": "a", "score": 3},
                    {"name": "b", "score": 6},
                    {"name": "c", "score": 9},
                ]
            },
        ).value
        == 6.0
    )


@pytest.mark.parametrize(
    ("instrument", "baseline", "current", "context", "expected"),
    [
        ("nprs", 7, 5, "", "responder"),  # 2 points
        ("nprs", 3, 2, "", "responder"),  # 33% though only 1 point
        ("nprs", 7, 6, "", "non-responder"),
        ("nprs", 5, 7, "", "worsened"),
        ("nprs", 6, 4.7, "neck", "responder"),  # 1.3 points for neck pain
        ("odi", 40, 30, "", "responder"),
        ("odi", 40, 35, "", "non-responder"),
        # PPT is judged against its MDC95 (0.34), not its MCID (0.21), which lies inside the
        # measurement error. (Before, 2.0 -> 2.21 was a responder and 2.0 -> 1.7 worsened.)
        ("ppt", 2.0, 2.21, "", "non-responder"),
        ("ppt", 2.0, 2.35, "", "responder"),  # higher is better
        ("ppt", 2.0, 1.7, "", "non-responder"),
        ("ppt", 2.0, 1.65, "", "worsened"),
        ("quickdash", 50, 34, "", "responder"),
        ("rom", 10, 20, "ankle dorsiflexion right", "responder"),
        ("rom", 10, 20, "elbow flexion", None),  # no sourced threshold: not classified
        ("groc", None, 4, "", "responder"),
        ("groc", None, -5, "", "worsened"),
        ("groc", None, 2, "", "non-responder"),
    ],
)
def test_classification(instrument, baseline, current, context, expected):
    assert classify_measure(instrument, context, baseline, current) == expected


@given(st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=10, max_size=10))
def test_ndi_score_in_range_or_incomplete(items):
    s = score("ndi", {"items": items})
    assert (s.value is None) == (items.count(None) > 2)
    assert s.value is None or 0 <= s.value <= 100
