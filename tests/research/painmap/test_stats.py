"""Jaccard and Dice on known sets, the summaries, and the colour scale's greyscale order."""

from __future__ import annotations

import itertools

import pytest

from triggerpoint.research.painmap import plots
from triggerpoint.research.painmap.service import dice, jaccard, summarise


def sizes(a: set[str], b: set[str]) -> tuple[int, int, int]:
    return len(a), len(b), len(a & b)


@pytest.mark.parametrize(
    ("a", "b", "j", "d"),
    [
        ({"x", "y"}, {"x", "y"}, 1.0, 1.0),  # identical
        ({"x"}, {"y"}, 0.0, 0.0),  # disjoint
        ({"x", "y", "z"}, {"y", "z", "w"}, 2 / 4, 4 / 6),  # 2 shared of 4 in all
        ({"x"}, {"x", "y", "z", "w"}, 1 / 4, 2 / 5),  # one inside the other
        ({"x"}, set(), 0.0, 0.0),  # pain against no pain
        (set(), set(), 1.0, 1.0),  # both "no pain": perfect agreement, by our definition
    ],
)
def test_jaccard_and_dice_on_known_sets(a, b, j, d):
    assert jaccard(*sizes(a, b)) == pytest.approx(j)
    assert dice(*sizes(a, b)) == pytest.approx(d)


def test_dice_is_the_monotone_transform_of_jaccard():
    """D = 2J / (1 + J) for any two non-empty sets (a known identity): the two agree in order."""
    for a, b, i in [(3, 3, 2), (5, 2, 1), (4, 4, 0), (7, 3, 3)]:
        j = jaccard(a, b, i)
        assert dice(a, b, i) == pytest.approx(2 * j / (1 + j))


def test_summary_quartiles_are_numpy_type_7():
    s = summarise([1, 2, 3, 4, 5, 6, 7, 8])
    assert (s.n, s.median, s.q1, s.q3, s.mean) == (8, 4.5, 2.75, 6.25, 4.5)
    assert summarise([]).n == 0 and summarise([]).median is None


def test_lightness_of_reference_colours():
    assert plots.lightness("#ffffff") == pytest.approx(100, abs=0.01)
    assert plots.lightness("#000000") == pytest.approx(0, abs=0.01)
    assert plots.lightness("#777777") == pytest.approx(50.03, abs=0.1)  # sRGB 119 grey


@pytest.mark.parametrize("top", [0.1, 0.3, 1.0])
def test_scale_is_strictly_darker_with_more_patients(top):
    """Legible in greyscale: L* falls strictly along the legend, from white (none) down."""
    shades = [plots.lightness("#ffffff")]
    shades += [plots.lightness(c) for _, c in plots.legend_colours(top)]
    assert all(later < earlier for earlier, later in itertools.pairwise(shades))
    assert shades[1] - shades[-1] > 60  # and spans most of the lightness range
    # every fill a region can get is a legend step, never lighter with more patients
    fills = [plots.colour(top * k / 200, top) for k in range(1, 201)]
    assert set(fills) == {c for _, c in plots.legend_colours(top)}
    fine = [plots.lightness(c) for c in fills]
    assert all(b <= a for a, b in itertools.pairwise(fine))
    assert (
        plots.colour(0, top) == "#ffffff"
        and plots.colour(top, top) == plots.legend_colours(top)[-1][1]
    )


def test_scale_top_rounds_up_to_a_tenth():
    assert plots.scale_top([]) == 0.1
    assert plots.scale_top([0.04]) == 0.1
    assert plots.scale_top([0.3]) == pytest.approx(0.3)
    assert plots.scale_top([0.31, 0.2]) == pytest.approx(0.4)
    assert plots.scale_top([1.0]) == 1.0
