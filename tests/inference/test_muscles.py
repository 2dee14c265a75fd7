"""The muscle list: P(at least one trigger point of the muscle-side active), exactly."""

from __future__ import annotations

import pytest

from tests.inference.handmade import handmade_atlas
from tests.inference.test_palpation import PAL_PATTERNS, brute
from triggerpoint.inference.params import default_params
from triggerpoint.inference.service import MUSCLES_SHOWN, suggest

COMPLETE = [
    {"pain": ["right temple", "right occiput", "right ear"], "complete": True},
    {"pain": ["right temple", "vertex"], "complete": True,
     "palpation": [{"site": "right m1", "finding": "tender"},
                   {"site": "left m1 tp2", "finding": "familiar", "referral": True}]},
]  # fmt: skip


@pytest.fixture(scope="module")
def atlas():
    return handmade_atlas(PAL_PATTERNS)


@pytest.mark.parametrize("drawing", COMPLETE)
@pytest.mark.parametrize("completeness", [1.0, 0.7])
def test_complete_drawings_match_enumeration(atlas, drawing, completeness) -> None:
    params = default_params().model_copy(update={"completeness": completeness})
    result, p_act, p_lat, muscles, sets, _ = brute(atlas, drawing, params)
    assert result.exact and result.muscles and result.drawing.negative_findings > 10
    for c in result.candidates:
        assert c.p_active == pytest.approx(p_act[c.uid], abs=1e-9)
        assert c.p_latent == pytest.approx(p_lat[c.uid], abs=1e-9)
    for m in result.muscles:
        p_any, p_none_latent = muscles[(m.muscle_id, m.side)]
        assert m.p_active == pytest.approx(p_any, abs=1e-9)
        assert m.p_latent == pytest.approx(p_none_latent, abs=1e-9)
    for e in result.explanations:
        key = tuple(sorted(t.uid for t in e.trigger_points))
        assert e.probability == pytest.approx(sets[key], abs=1e-9)


def test_completeness_below_one_forgives_an_unmarked_essential_region(atlas) -> None:
    drawing = {"pain": ["right temple"], "complete": True}  # m1 tp1 also wants the occiput
    p = {}
    for c in (1.0, 0.6):
        params = default_params().model_copy(update={"completeness": c})
        r = suggest(drawing, atlas=atlas, params=params)
        p[c] = next(x.p_active for x in r.candidates if x.uid == "m1.tp1.right")
    assert p[0.6] > p[1.0]
    partial = {"pain": ["right temple"]}
    params = default_params().model_copy(update={"completeness": 0.6})
    a = suggest(partial, atlas=atlas, params=params).candidates
    b = suggest(partial, atlas=atlas).candidates
    assert [(x.uid, x.p_active) for x in a] == [(x.uid, x.p_active) for x in b], (
        "partial: no effect"
    )


def test_muscle_entries_bound_and_list_their_points(atlas) -> None:
    r = suggest({"pain": ["right temple", "right occiput", "right ear"]}, atlas=atlas)
    assert [m.p_active for m in r.muscles] == sorted((m.p_active for m in r.muscles), reverse=True)
    for m in r.muscles:
        ps = [t.p_active for t in m.trigger_points]
        assert max(ps) - 1e-12 <= m.p_active <= min(1.0, sum(ps)) + 1e-12
        assert 0.0 <= m.p_latent <= 1.0 - m.p_active + 1e-12
    m1 = next(m for m in r.muscles if (m.muscle_id, m.side) == ("m1", "right"))
    explains = {t.trigger_point_id: set(t.explains) for t in m1.trigger_points}
    assert explains["tp1"] == {"right_temple", "right_occiput"}
    assert explains["tp3"] == {"right_occiput"}


def test_top_limits_the_muscle_list(atlas) -> None:
    drawing = {"pain": ["right temple", "right occiput", "right ear"]}
    full = suggest(drawing, atlas=atlas, top=10).muscles
    short = suggest(drawing, atlas=atlas, top=2).muscles
    assert 2 < len(full) <= MUSCLES_SHOWN and len(short) == 2
    assert [(m.muscle_id, m.side, m.p_active) for m in short] == [
        (m.muscle_id, m.side, m.p_active) for m in full[:2]
    ]


def test_top_zero_lists_nothing(atlas) -> None:
    r = suggest({"pain": ["right temple", "right occiput"]}, atlas=atlas, top=0)
    assert r.muscles == [] and r.candidates == []
