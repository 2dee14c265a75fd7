"""The exact posterior's defaults, pinned where a changed default would go unseen (issue 18)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.reference import brute_force, random_network
from triggerpoint.inference.exact import posterior


def test_a_truncated_posterior_keeps_at_most_three_active_causes_by_default():
    """K = 3 is the documented default: a forced truncated answer on a component of eight
    causes says so (truncated-k3), and its interval still holds the exact value."""
    rng = np.random.default_rng(3)
    net = random_network(rng, 8, 10, density=0.6)
    pos, neg = [0, 1, 2, 3, 4], [5]
    got = posterior(net, pos, neg, algorithm="truncated")
    kinds = {c.algorithm for c in got.components if c.algorithm.startswith("truncated")}
    assert kinds == {"truncated-k3"}
    assert got.method == "truncated-k3"
    expected = brute_force(net, pos, neg)
    assert np.all(got.lower <= expected + 1e-12) and np.all(expected <= got.upper + 1e-12)
    four = posterior(net, pos, neg, algorithm="truncated", max_active=4)
    assert {c.algorithm for c in four.components if c.algorithm.startswith("truncated")} == {
        "truncated-k4"
    }


def test_a_finding_both_painful_and_not_painful_is_refused_saying_so():
    net = random_network(np.random.default_rng(5), 4, 6, density=0.6)
    with pytest.raises(ValueError) as err:
        posterior(net, [0, 1], [1, 2])
    assert str(err.value) == "a finding cannot be both positive and negative"


def test_virtual_findings_given_without_their_leaks_change_nothing():
    """A virtual finding needs its links and its leak; links alone are not a finding."""
    net = random_network(np.random.default_rng(5), 4, 6, density=0.6)
    pos, neg = [0, 1], [2]
    plain = posterior(net, pos, neg).marginal
    links = np.full((net.link.shape[0], 1), 0.5)
    np.testing.assert_allclose(posterior(net, pos, neg, extra_link=links).marginal, plain)
    leaks = np.array([0.1])
    np.testing.assert_allclose(posterior(net, pos, neg, extra_leak=leaks).marginal, plain)
