"""Examine next: the closed-form information gain against brute-force enumeration."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.handmade import handmade_atlas
from tests.inference.test_palpation import DRAWINGS, PAL_PATTERNS, brute
from triggerpoint.inference.examine import information_gain, palpation_cost
from triggerpoint.inference.params import default_params
from triggerpoint.inference.service import suggest


@pytest.fixture(scope="module")
def atlas():
    return handmade_atlas(PAL_PATTERNS)


def _mutual_information(joint: np.ndarray) -> float:
    px = joint.sum(axis=1, keepdims=True)
    pf = joint.sum(axis=0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log2(joint[nz] / (px * pf)[nz])).sum())


@pytest.mark.parametrize("k", [0, 2, 3, 4])
def test_gain_matches_enumeration(atlas, k) -> None:
    result, _, _, _, _, (causes, conf, weights, rows, net) = brute(atlas, DRAWINGS[k])
    assert result.examine_next, "a drawing with rival explanations has something to examine"
    sets = [tuple(sorted(m.uid for m in e.trigger_points)) for e in result.explanations]
    x = np.full(len(conf), len(sets))
    for c, row in enumerate(conf):
        active = tuple(sorted(net.causes[j] for j, s in zip(causes, row, strict=True) if s == 0))
        if active in sets:
            x[c] = sets.index(active)
    states = ("active", "latent", "absent")
    for e in result.examine_next:
        col = causes.index(net.cause_index[e.uid])
        lik = np.array([[rows[states[s]][f] for f in ("familiar", "tender", "none")]
                        for s in conf[:, col]])  # fmt: skip
        joint = np.zeros((len(sets) + 1, 3))
        np.add.at(joint, x, weights[:, None] * lik)
        assert e.gain_bits == pytest.approx(_mutual_information(joint), abs=1e-9), e.uid
        assert e.gain_bits > 0 and e.cost >= 1.0 and e.reason.startswith("Palpate ")
    scores = [e.gain_bits / e.cost for e in result.examine_next]
    assert scores == sorted(scores, reverse=True)
    assert len(result.examine_next) <= 3


def test_palpated_points_are_not_offered(atlas) -> None:
    r = suggest(DRAWINGS[1], atlas=atlas)
    assert "m1.tp1.right" not in {e.uid for e in r.examine_next}
    r = suggest(DRAWINGS[3], atlas=atlas)
    assert not {e.uid for e in r.examine_next} & {"m1.tp1.right", "m1.tp2.right", "m1.tp3.right"}


def test_a_finding_that_cannot_change_the_picture_has_no_gain() -> None:
    p_sets = np.array([0.5, 0.2])
    member = np.array([[True, False], [False, True]])
    p_active = np.array([0.55, 0.3])
    same = np.array([0.2, 0.3, 0.5])
    gain = information_gain(p_sets, member, p_active, same, np.vstack([same, same]))
    assert np.allclose(gain, 0.0, rtol=0, atol=1e-12)
    # A candidate whose activity every explanation agrees on, and that is certain, gains 0.
    gain = information_gain(
        np.array([1.0]), np.array([[True]]), np.array([1.0]), np.array([0.8, 0.1, 0.1]),
        np.array([[0.05, 0.5, 0.45]]),
    )  # fmt: skip
    assert gain[0] == pytest.approx(0.0, abs=1e-12)
    # And a finding that does tell them apart gains something.
    gain = information_gain(p_sets, member, p_active, np.array([0.8, 0.1, 0.1]),
                            np.array([[0.05, 0.5, 0.45]] * 2))  # fmt: skip
    assert np.all(gain > 0.01)


def test_cost_counts_deep_and_incompressible_muscles() -> None:
    pal = default_params().palpation
    shallow = palpation_cost(pal, depth_max_mm=10, compressible=True)
    deep = palpation_cost(pal, depth_max_mm=pal.cost.deep_mm, compressible=True)
    both = palpation_cost(pal, depth_max_mm=pal.cost.deep_mm + 10, compressible=False)
    assert shallow == pal.cost.base
    assert deep == pal.cost.base + pal.cost.deep_extra
    assert both == deep + pal.cost.incompressible_extra
