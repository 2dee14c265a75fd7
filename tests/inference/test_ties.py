"""Ties in every ranked list are broken by a stable key, never by the last bits of a float.

Rankings go through `ties.ranked`: scores within a relative TIE are one tie group, ordered
by ids. So the order and the cut of a list stay the same when its scores move by rounding
(here a 1e-15 relative perturbation pushed in through the one helper every ranking uses).
"""

from __future__ import annotations

import numpy as np
import pytest

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.inference import explain, muscles, results, ties
from triggerpoint.inference.service import suggest

# Symmetric drawings: left and right of midline muscles tie exactly, and so do the sets.
SYMMETRIC = [
    {"pain": ["sacrum"]},
    {"pain": ["right_lower_abdomen", "left_lower_abdomen"]},
    {"pain": ["right_lumbar_paraspinal", "left_lumbar_paraspinal", "sacrum"], "complete": True},
    {"pain": ["right_upper_abdomen", "left_upper_abdomen", "right_lower_abdomen",
              "left_lower_abdomen"]},
]  # fmt: skip


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


def test_ranked_orders_ties_by_key_whatever_the_last_bits() -> None:
    rng = np.random.default_rng(0)
    base = np.array([0.3, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.1])
    want = ties.ranked(base, key=lambda k: -k, top=5)
    assert [k for k, _ in want] == [2, 1, 0, 6, 5]  # ties by the key (here: index descending)
    for _ in range(50):
        noisy = base * (1 + 1e-15 * rng.standard_normal(base.size))
        assert [k for k, _ in ties.ranked(noisy, key=lambda k: -k, top=5)] == [2, 1, 0, 6, 5]
    # A real difference is not a tie.
    assert [k for k, _ in ties.ranked([0.3, 0.3 * (1 + 1e-9)], key=lambda k: k)] == [1, 0]
    # Log scores: absolute tolerance.
    assert [k for k, _ in ties.ranked([-5.0, -5.0 + 1e-14], key=lambda k: -k, log=True)] == [
        1,
        0,
    ]


def _groups_by_definition(scores, top, log):
    """The rule as the docstring states it, the slow way: from the highest score left, every
    score within TIE of it (relative, or absolute for logs) is one group, in index order."""
    left = sorted(range(len(scores)), key=lambda k: (-scores[k], k))
    out = []
    while left and len(out) < top:
        head = scores[left[0]]
        tol = ties.TIE if log else ties.TIE * abs(head)
        group = [k for k in left if head - scores[k] <= tol] or [left[0]]
        out += [(k, head) for k in sorted(group)]
        left = [k for k in left if k not in group]
    return out[:top]


@pytest.mark.parametrize("log", [False, True])
def test_ranked_groups_match_the_stated_rule(log) -> None:
    rng = np.random.default_rng(7)
    for n in (0, 1, 2, 5, 40):
        for _ in range(20):
            # Planted ties (a few distinct values, each repeated with 1e-15 noise), real
            # gaps, and impossible sets (log 0 = -inf) among the log scores.
            values = rng.choice(rng.random(max(1, n // 3)), size=n)
            scores = values * (1 + 1e-15 * rng.standard_normal(n))
            if log:
                scores = np.log(scores)
                scores[rng.random(n) < 0.1] = -np.inf
            top = int(rng.integers(0, n + 2))
            got = ties.ranked(scores, top=top, log=log)
            assert got == _groups_by_definition(scores.tolist(), top, log)
            assert all(isinstance(k, int) and isinstance(p, float) for k, p in got)


def test_best_sets_cut_through_a_tie_keeps_the_key_order() -> None:
    """Eight tied sets for five places, offered in chunks with noisy scores in any order."""
    causes = np.arange(8)
    sets = np.arange(8)[:, None]
    rng = np.random.default_rng(1)
    cuts = set()
    for _ in range(20):
        top = explain._Top(5)
        perm = rng.permutation(8)
        noisy = -3.0 + 1e-15 * rng.standard_normal(8)
        for part in np.array_split(perm, 3):
            top.offer(noisy[part], sets[part], causes)
        cuts.add(tuple(m for _, _, m in top.best()))
    assert cuts == {((0,), (1,), (2,), (3,), (4,))}


def _lists(out) -> dict:
    d = out.model_dump(mode="json")
    return {
        "candidates": [c["uid"] for c in d["candidates"]],
        "muscles": [(m["muscle_id"], m["side"]) for m in d["muscles"]],
        "explanations": [[t["uid"] for t in e["trigger_points"]] for e in d["explanations"]],
        "examine_next": [e["uid"] for e in d["examine_next"]],
        "gains": [round(e["gain_bits"], 9) for e in d["examine_next"]],
    }


@pytest.mark.parametrize("drawing", SYMMETRIC)
def test_lists_survive_rounding_level_noise(atlas, monkeypatch, drawing) -> None:
    plain = _lists(suggest(drawing, atlas=atlas))
    real = ties.ranked
    for seed in range(3):
        rng = np.random.default_rng(seed)

        def noisy(scores, rng=rng, **kw):
            s = np.asarray(scores, dtype=float)
            if kw.get("log"):
                return real(s + 1e-15 * rng.standard_normal(s.size), **kw)
            return real(s * (1 + 1e-15 * rng.standard_normal(s.size)), **kw)

        monkeypatch.setattr(results, "tie_ranked", noisy)
        monkeypatch.setattr(muscles, "ranked", noisy)
        monkeypatch.setattr(explain, "ranked", noisy)
        assert _lists(suggest(drawing, atlas=atlas)) == plain
    # The drawings do tie: some candidate probabilities are equal.
    probs = [c.probability for c in suggest(drawing, atlas=atlas).candidates]
    assert len(set(probs)) < len(probs)
