"""Exactness of the posterior engine against two independent references.

Brute force sums all 2^n cause configurations; pgmpy runs VariableElimination on the same
network written as full noisy-OR CPD tables. Every exact algorithm (enumeration, sweep, and
the automatic choice with its reductions) must match both within 1e-9.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.inference.reference import brute_force, pgmpy_posteriors, random_network
from triggerpoint.inference.exact import posterior, tail_probability
from triggerpoint.inference.network import Network

ALGORITHMS = ("auto", "enumeration", "sweep")


def _case(seed: int) -> tuple[Network, list[int], list[int]]:
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 13)), int(rng.integers(1, 16))
    net = random_network(rng, n, m, density=float(rng.uniform(0.1, 0.7)))
    obs = rng.integers(0, 3, m)  # 0 unobserved, 1 positive, 2 negative
    return (
        net,
        [int(i) for i in np.flatnonzero(obs == 1)],
        [int(i) for i in np.flatnonzero(obs == 2)],
    )


@pytest.mark.parametrize("seed", range(150))
def test_matches_brute_force(seed: int) -> None:
    net, pos, neg = _case(seed)
    expected = brute_force(net, pos, neg)
    for algorithm in ALGORITHMS:
        got = posterior(net, pos, neg, algorithm=algorithm)
        np.testing.assert_allclose(got.marginal, expected, rtol=0, atol=1e-9, err_msg=algorithm)
        assert got.method in ("exact", "exact-components")
        assert got.bound == 0.0


@pytest.mark.parametrize("seed", [3, 11, 17, 29, 41, 58])
def test_matches_pgmpy_variable_elimination(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    n, m = int(rng.integers(6, 13)), int(rng.integers(8, 16))
    net = random_network(rng, n, m, density=0.3)
    obs = rng.integers(0, 3, m)
    pos = [int(i) for i in np.flatnonzero(obs == 1)]
    neg = [int(i) for i in np.flatnonzero(obs == 2)]
    reference = pgmpy_posteriors(net, pos, neg)
    np.testing.assert_allclose(brute_force(net, pos, neg), reference, rtol=0, atol=1e-9)
    for algorithm in ALGORITHMS:
        got = posterior(net, pos, neg, algorithm=algorithm).marginal
        np.testing.assert_allclose(got, reference, rtol=0, atol=1e-9, err_msg=algorithm)


@pytest.mark.parametrize("seed", range(60))
def test_truncated_bounds_hold(seed: int) -> None:
    net, pos, neg = _case(seed)
    expected = brute_force(net, pos, neg)
    for k in (1, 2, 3):
        got = posterior(net, pos, neg, algorithm="truncated", max_active=k)
        assert np.all(got.lower <= expected + 1e-12) and np.all(expected <= got.upper + 1e-12)
        assert got.bound == pytest.approx(float(np.max(got.upper - got.lower, initial=0)))
        if any(c.algorithm.startswith("truncated") for c in got.components):
            assert got.method.startswith("truncated-k")


def test_truncated_with_enough_terms_is_tight() -> None:
    """With K = number of core causes nothing is neglected: the interval collapses."""
    rng = np.random.default_rng(7)
    net = random_network(rng, 4, 6, density=0.6)
    pos, neg = [0, 1, 2], [3]
    got = posterior(net, pos, neg, algorithm="truncated", max_active=4)
    np.testing.assert_allclose(got.marginal, brute_force(net, pos, neg), atol=1e-12)
    assert got.bound < 1e-12


@pytest.mark.parametrize("seed", range(40))
def test_max_cost_caps_the_whole_call_and_the_bounds_still_hold(seed: int) -> None:
    """A per-call cap: the components' costs add up to at most it, and every interval holds
    the exact value. Only the floor may go over: closed forms and K = 0 (the priors alone,
    one configuration), linear in a component's size, are what is left when nothing is."""
    net, pos, neg = _case(seed)
    expected = brute_force(net, pos, neg)
    for cap in (0.0, 50.0, 400.0, 1e9):
        got = posterior(net, pos, neg, exact_budget=1e9, max_active=3, max_cost=cap)
        floor = ("closed-form", "truncated-k0")
        assert sum(c.cost for c in got.components if c.algorithm not in floor) <= cap
        assert np.all(got.lower <= expected + 1e-12) and np.all(expected <= got.upper + 1e-12)
        if cap == 1e9:
            assert got.method in ("exact", "exact-components")
            np.testing.assert_allclose(got.marginal, expected, atol=1e-9)


def test_truncated_enumeration_in_blocks_equals_one_block(monkeypatch) -> None:
    """The blockwise sums (rescaled to a running maximum) give what one block gives."""
    from triggerpoint.inference import exact

    rng = np.random.default_rng(11)
    net = random_network(rng, 12, 14, density=0.6)
    pos = list(range(10))
    whole = posterior(net, pos, [], algorithm="truncated", max_active=3)
    monkeypatch.setattr(exact, "_BLOCK_VALUES", 1)  # 64 configurations a block
    blocks = posterior(net, pos, [], algorithm="truncated", max_active=3)
    np.testing.assert_allclose(blocks.marginal, whole.marginal, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(blocks.upper, whole.upper, rtol=1e-12, atol=1e-15)
    assert blocks.log_z == pytest.approx(whole.log_z, rel=1e-12)


def test_tail_probability_matches_enumeration() -> None:
    pi = np.array([0.1, 0.3, 0.05, 0.5, 0.2])
    conf = np.array(list(itertools.product([0, 1], repeat=5)))
    p = np.prod(np.where(conf == 1, pi, 1 - pi), axis=1)
    for k in range(6):
        assert tail_probability(pi, k) == pytest.approx(p[conf.sum(axis=1) > k].sum(), abs=1e-15)


def test_many_positives_are_stable() -> None:
    """40 positive findings: Quickscore's signed sum would cancel; the sweep must not."""
    rng = np.random.default_rng(5)
    band = np.abs(np.arange(12)[:, None] * 3.5 - np.arange(40)[None, :]) <= 4  # body-like locality
    link = np.where(band, rng.uniform(0.2, 0.9, (12, 40)), 0.0)
    net = Network(
        tuple(f"c{j}" for j in range(12)), tuple(f"r{i}" for i in range(40)),
        rng.uniform(0.01, 0.2, 12), link, rng.uniform(0.005, 0.05, 40),
    )  # fmt: skip
    pos = list(range(40))
    expected = brute_force(net, pos, [])
    got = posterior(net, pos, [], algorithm="sweep")
    np.testing.assert_allclose(got.marginal, expected, rtol=1e-9, atol=1e-12)
    assert np.isfinite(got.log_z) and got.log_z < 0


def test_structure_is_exploited() -> None:
    """Causes touching no positive keep their negative-updated prior; components split."""
    link = np.zeros((4, 4))
    link[0, 0] = link[0, 1] = 0.8  # component {0, 1}
    link[1, 1] = 0.5
    link[2, 2] = link[2, 3] = 0.7  # component {2, 3}
    link[3, 3] = 0.4  # cause 3 only touches finding 3, which is negative
    net = Network(("a", "b", "c", "d"), ("r0", "r1", "r2", "r3"), [0.1] * 4, link, [0.01] * 4)
    got = posterior(net, [0, 1, 2], [3])
    assert got.method == "exact-components" and len(got.components) == 2
    assert not got.touched[3]
    assert got.marginal[3] == pytest.approx(0.1 * 0.6 / (0.1 * 0.6 + 0.9))
    np.testing.assert_allclose(got.marginal, brute_force(net, [0, 1, 2], [3]), atol=1e-12)


def test_contradictory_findings_rejected() -> None:
    net = random_network(np.random.default_rng(0), 3, 3)
    with pytest.raises(ValueError):
        posterior(net, [0, 1], [1])
