"""The best-set search (bounded, best-first) against brute force over every set of 1 to 3."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from tests.inference.reference import random_network
from triggerpoint.inference.exact import posterior
from triggerpoint.inference.explain import best_sets


def _all_sets(net, pos: list[int], neg: list[int]) -> list[tuple[float, tuple[int, ...]]]:
    """P(exactly S active among the touched causes | drawing) for every S, by enumeration."""
    n = len(net.causes)
    conf = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).astype(np.float64)
    w = np.prod(np.where(conf == 1, net.prior, 1.0 - net.prior), axis=1)
    silent = (1.0 - net.leak) * np.exp(conf @ net.log_nolink)
    w = w * np.prod(1.0 - silent[:, pos], axis=1) * np.prod(silent[:, neg], axis=1)
    w = w / w.sum()
    touched = [j for j in range(n) if (net.link[j, pos] > 0).any()]
    out = []
    for size in (1, 2, 3):
        for s in combinations(touched, size):
            on = np.zeros(n, dtype=bool)
            on[list(s)] = True
            match = (conf[:, touched] == on[touched]).all(axis=1)
            out.append((float(w[match].sum()), s))
    return sorted(out, key=lambda x: -x[0])


@pytest.mark.parametrize("seed", range(60))
def test_best_sets_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(500 + seed)
    n, m = int(rng.integers(3, 12)), int(rng.integers(2, 12))
    net = random_network(rng, n, m, density=float(rng.uniform(0.2, 0.6)))
    obs = rng.integers(0, 3, m)
    pos = [int(i) for i in np.flatnonzero(obs == 1)]
    neg = [int(i) for i in np.flatnonzero(obs == 2)]
    post = posterior(net, pos, neg)
    got, exhaustive = best_sets(net, post, top=5)
    expected = _all_sets(net, pos, neg)[:5]
    assert exhaustive
    np.testing.assert_allclose([p for _, p in got], [p for p, _ in expected], rtol=1e-9, atol=0)
    truth = dict((s, p) for p, s in _all_sets(net, pos, neg))
    for members, prob in got:  # each reported set really has the reported probability
        assert truth[tuple(sorted(members))] == pytest.approx(prob, rel=1e-9)
