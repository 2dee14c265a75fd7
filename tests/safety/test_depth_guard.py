"""Depth guard: the formula, the table, the edges, and monotonicity."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from triggerpoint.safety.depth import max_thorax_depth


def test_kim_regression_at_the_study_mean():
    # SPD at BMI 21.1 = 0.380 * 21.1 - 4.301 = 3.717 cm; minus the 10 mm margin = 27.2 mm
    limit = max_thorax_depth(21.1)
    assert limit.pleura_estimate_mm == pytest.approx(27.2, abs=0.05)
    assert limit.rib_limit_mm == 17  # Seol 2014, BMI < 23: 21 - 4 mm
    assert limit.max_depth_mm == 17
    assert "Seol" in limit.basis


@pytest.mark.parametrize(
    ("bmi", "expected"), [(22.9, 17), (23.0, 15), (24.9, 15), (25.0, 22), (35.0, 22)]
)
def test_rib_table_boundaries(bmi, expected):
    assert max_thorax_depth(bmi).rib_limit_mm == expected


def test_thin_patient_is_limited_by_the_pleura_formula():
    limit = max_thorax_depth(17.0)
    assert limit.max_depth_mm == pytest.approx((0.380 * 17 - 4.301) * 10 - 10, abs=0.05)  # 11.6 mm
    assert "Kim" in limit.basis


def test_missing_bmi_assumes_the_lowest_studied_bmi_and_says_so():
    # Computed from the published formula (Kim 2002) at BMI 16, not from the function itself.
    unknown = max_thorax_depth(None)
    assert unknown.bmi_used == 16
    assert unknown.max_depth_mm == pytest.approx((0.380 * 16 - 4.301) * 10 - 10, abs=0.05)
    assert all(
        unknown.max_depth_mm <= max_thorax_depth(b).max_depth_mm for b in (16, 18, 21, 24, 27, 40)
    )
    assert "unknown" in unknown.explain() and not unknown.outside_studied_range


def test_bmi_below_the_studied_range_is_extrapolated_never_raised():
    # The old guard raised BMI 12 to 16 and allowed 7.8 mm where the formula leaves none.
    low = max_thorax_depth(12.0)
    assert low.max_depth_mm == 0 and low.outside_studied_range and low.no_safe_depth
    assert max_thorax_depth(15.0).max_depth_mm == pytest.approx(
        (0.380 * 15 - 4.301) * 10 - 10, abs=0.05
    )


@given(st.floats(min_value=10, max_value=70, allow_nan=False))
def test_limit_is_never_negative_nor_deeper_than_either_source(bmi):
    limit = max_thorax_depth(bmi)
    assert limit.max_depth_mm >= 0
    assert limit.max_depth_mm <= max(min(limit.pleura_estimate_mm, limit.rib_limit_mm), 0) + 1e-9
    assert limit.max_depth_mm <= 22
