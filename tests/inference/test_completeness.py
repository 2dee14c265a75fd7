"""Complete drawings with part of a pattern left out (issue 15).

Patients often leave out part of a pattern. In complete mode every unmarked region counts as
pain-free, so without a completeness term one unmarked essential region multiplies a
candidate's odds by 1 - 0.85. The rule tested, over every muscle of the packaged atlas: a
clear pattern (the muscle's most distinctive trigger point's essential zone, drawn on a
complete chart) must not fall more than two ranks in the muscle list when one of its
essential regions is left unmarked, nor when two are left out of a pattern of four or more.

A clear pattern needs at least three regions: with one of two left out, a single region
remains, which several muscles refer to equally well (the groin alone does not tell adductor
brevis from pectineus), and no completeness value changes that: 19 or 20 of 165 such cases
fall more than two ranks at every value from 0.3 to 1.0.

The rules are tested at the value the product ships (chosen on the tuned vignettes,
docs/inference.md); COMPLETENESS_LIMIT is the largest value (in steps of 0.05) at which they
hold (at 0.95 and 1.0 one case with two regions left out falls four ranks).
"""

from __future__ import annotations

import itertools
from functools import cache

import pytest

from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.inference import service
from triggerpoint.inference.params import Params, default_params
from triggerpoint.inference.service import suggest

COMPLETENESS_LIMIT = 0.9
MAX_FALL = 2
MIN_REGIONS = 3  # left with one region, a pattern is no longer a pattern (see docstring)
LISTED = 40  # muscles listed; a muscle not listed counts as rank LISTED + 1


@cache
def _atlas() -> Atlas:
    return load_atlas()


def _distinctive(muscle_id: str, tps: list[SidedTriggerPoint]) -> SidedTriggerPoint:
    own = [t for t in tps if t.muscle_id == muscle_id]

    def rivals(tp: SidedTriggerPoint) -> int:
        zone = set(tp.essential)
        return len(
            {t.muscle_id for t in tps if t.muscle_id != muscle_id and zone <= set(t.essential)}
        )

    return min(own, key=lambda t: (rivals(t), -len(t.essential), t.tp_id))


def _rank(pain: list[str], muscle_id: str, params: Params) -> int:
    shown = service.MUSCLES_SHOWN
    service.MUSCLES_SHOWN = LISTED  # the whole ranking, not the bedside list
    try:
        result = suggest(
            {"pain": pain, "complete": True}, atlas=_atlas(), params=params, top=LISTED
        )
    finally:
        service.MUSCLES_SHOWN = shown
    keys = [(m.muscle_id, m.side) for m in result.muscles]
    key = (muscle_id, "right")
    return keys.index(key) + 1 if key in keys else LISTED + 1


def falls(completeness: float, left_out: int = 1) -> list[tuple[str, tuple[str, ...], int, int]]:
    """(muscle, regions left out, rank with the whole pattern, rank without them) for every
    muscle whose distinctive pattern keeps at least two regions when `left_out` are left out."""
    atlas = _atlas()
    params = default_params().model_copy(update={"completeness": completeness})
    tps = [t for t in atlas.trigger_points if t.side == "right"]
    out = []
    for muscle_id in sorted(atlas.muscles):
        tp = _distinctive(muscle_id, tps)
        if len(tp.essential) < MIN_REGIONS + left_out - 1:
            continue
        full = _rank(list(tp.essential), muscle_id, params)
        for gone in itertools.combinations(tp.essential, left_out):
            pain = [r for r in tp.essential if r not in gone]
            out.append((muscle_id, gone, full, _rank(pain, muscle_id, params)))
    return out


@pytest.mark.parametrize(("left_out", "muscles"), [(1, 15), (2, 4)])
def test_a_clear_pattern_falls_at_most_two_ranks_when_regions_are_left_out(
    left_out: int, muscles: int
) -> None:
    rows = falls(default_params().completeness, left_out)
    assert len({m for m, *_ in rows}) >= muscles, "too few muscles with a clear pattern"
    bad = [f"{m} without {r}: rank {a} -> {b}" for m, r, a, b in rows if b - a > MAX_FALL]
    assert not bad, "\n".join(bad)


def test_the_scalene_pattern_without_the_hand_stays_on_top() -> None:
    """The issue's example: chest, arm and scapula drawn, the hand left out."""
    tp = _atlas().trigger_point("anterior_scalene.tp1.right")
    pain = [r for r in tp.essential if not any(w in r for w in ("thumb", "finger", "hand"))]
    assert 0 < len(pain) < len(tp.essential)
    assert _rank(pain, "anterior_scalene", default_params()) == 1
    untuned = default_params().model_copy(update={"completeness": 1.0})
    assert _rank(pain, "anterior_scalene", untuned) > 3  # what the issue found


def test_the_shipped_completeness_is_tuned_and_within_the_limit() -> None:
    shipped = default_params().completeness
    assert shipped < 1.0, "complete drawings must not judge a forgotten region as pain-free"
    assert shipped <= COMPLETENESS_LIMIT
    untuned = [(m, r, a, b) for m, r, a, b in falls(1.0, 2) if b - a > MAX_FALL]
    assert untuned, "without the completeness term a pattern with two regions left out falls"
