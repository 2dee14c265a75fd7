"""Pain extent: hand and foot insets are counted at the figure's scale, not their drawn size."""

from __future__ import annotations

import pytest
from shapely.geometry import Polygon

from triggerpoint.bodychart.geometry import load_geometry, path_rings
from triggerpoint.reports.extent import inset_scales, pain_extent, region_areas

HAND_WORDS = ("hand", "finger", "thumb", "palm", "wrist", "thenar")
FOOT_WORDS = ("toe", "foot", "heel", "sole")


def _square(x: float, y: float, side: float) -> str:
    return f"M{x},{y} {x + side},{y} {x + side},{y + side} {x},{y + side}Z"


def _raw_area(region_id: str) -> float:
    for view in load_geometry()["views"].values():
        if region_id in view["regions"]:
            return Polygon(path_rings(view["regions"][region_id]["d"])[0]).area
    raise KeyError(region_id)


def _share(words: tuple[str, ...], areas: dict[str, float]) -> float:
    return sum(a for r, a in areas.items() if any(w in r for w in words)) / sum(areas.values())


def test_an_inset_is_scaled_by_its_silhouette_over_its_outline():
    view = {
        "midline_x": 100.0,
        # grey figure parts: hands high up, feet low down, one of each per half
        "unmapped": _square(10, 10, 10)
        + _square(180, 10, 10)
        + _square(20, 300, 5)
        + _square(170, 300, 5),
        "insets": [
            {"label": "right hand (palm)", "box": [0, 100, 40, 140], "d": _square(0, 100, 40)},
            {"label": "left foot (top)", "box": [160, 200, 190, 230], "d": _square(160, 200, 30)},
        ],
    }
    (box_hand, hand), (box_foot, foot) = inset_scales(view)
    assert box_foot == (160, 200, 190, 230)
    assert box_hand == (0, 100, 40, 140)
    assert hand == pytest.approx(100 / 1600)
    assert foot == pytest.approx(25 / 900)


def test_an_inset_without_a_silhouette_is_an_error_not_a_guess():
    view = {
        "midline_x": 100.0,
        "unmapped": _square(10, 10, 10) + _square(20, 300, 5),  # nothing on the right half
        "insets": [
            {"label": "left hand (back)", "box": [150, 0, 190, 40], "d": _square(150, 0, 40)}
        ],
    }
    with pytest.raises(ValueError, match="left hand"):
        inset_scales(view)


def test_every_inset_of_the_real_chart_is_shrunk():
    for view in load_geometry()["views"].values():
        factors = [f for _, f in inset_scales(view)]
        assert len(factors) == 4
        assert all(0.05 < f < 1 for f in factors)


def test_hands_weigh_what_the_figure_gives_them():
    areas = region_areas()
    raw = {r: _raw_area(r) for r in areas}
    # Drawn at inset size the hands were about a tenth of the chart; the Lund-Browder chart
    # gives both hands about 5% of body surface, and scaled they now land near that.
    assert _share(HAND_WORDS, raw) > 0.09
    assert 0.03 < _share(HAND_WORDS, areas) < 0.08
    assert _share(FOOT_WORDS, areas) < _share(FOOT_WORDS, raw) / 3


def test_regions_outside_the_insets_keep_their_drawn_area():
    areas = region_areas()
    for region in ("right_temple", "right_low_back", "left_posterior_thigh"):
        assert areas[region] == pytest.approx(_raw_area(region))
    assert areas["right_palm"] < 0.5 * _raw_area("right_palm")


def test_pain_extent_is_a_plausible_percentage():
    areas = region_areas()
    assert pain_extent(areas) == 100.0
    assert pain_extent([]) == 0.0
    assert pain_extent(["right_palm"]) == pain_extent(["left_palm"])
    right_hand = [r for r in areas if r.startswith("right_") and any(w in r for w in HAND_WORDS)]
    # One whole hand, front and back, is a few percent of the chart (Lund-Browder: 2.5%).
    assert 1.5 <= pain_extent(right_hand) <= 4.0
    # A palm is much smaller than the posterior thigh it hangs beside, as on the body.
    assert pain_extent(["right_palm"]) < pain_extent(["right_posterior_thigh"]) / 2
