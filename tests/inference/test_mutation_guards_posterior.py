"""What the exact posterior reports besides the marginals, and how it spends `max_cost`
(issue 18: survivors of the inference mutation run, each written as a sentence about the
posterior)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.inference.reference import brute_force
from triggerpoint.inference.exact import absorb_negatives, posterior
from triggerpoint.inference.network import Network


def _net(link: list[list[float]], prior: list[float] | None = None) -> Network:
    a = np.asarray(link, dtype=np.float64)
    n, m = a.shape
    return Network(
        causes=tuple(f"c{j}" for j in range(n)),
        regions=tuple(f"r{i}" for i in range(m)),
        prior=np.full(n, 0.2) if prior is None else np.asarray(prior, dtype=np.float64),
        link=a,
        leak=np.full(m, 0.05),
    )


# c0 and c1 both refer pain to r0 and r1 (the core of one component); c2 only to r1 (summed
# out into r1's leak); c3 to r2 and r4; no trigger point refers pain to r3.
LINKS = [
    [0.6, 0.5, 0.0, 0.0, 0.0],
    [0.4, 0.7, 0.0, 0.0, 0.0],
    [0.0, 0.3, 0.0, 0.0, 0.0],
    [0.0, 0.0, 0.5, 0.0, 0.5],
]


def test_a_component_reports_its_painful_regions_its_causes_and_its_core():
    """Two painful regions shared by two trigger points, with a third reaching one of them:
    one component of 2 regions, 3 causes, 2 of them in the core, solved exactly (bound 0)."""
    got = posterior(_net(LINKS), [0, 1])
    assert len(got.components) == 1
    report = got.components[0]
    assert (report.positives, report.causes, report.core_causes) == (2, 3, 2)
    assert report.algorithm == "enumeration"
    assert report.bound == 0.0
    np.testing.assert_allclose(got.marginal, brute_force(_net(LINKS), [0, 1], []), atol=1e-12)


def test_a_truncated_component_reports_the_width_of_its_widest_interval():
    net = _net([[0.5, 0.5]] * 6)
    got = posterior(net, [0, 1], algorithm="truncated", max_active=1)
    (report,) = got.components
    assert report.algorithm == "truncated-k1"
    widest = float(np.max(got.upper - got.lower))
    assert report.bound == pytest.approx(widest) and report.bound > 0.0
    assert (report.positives, report.causes, report.core_causes) == (2, 6, 6)


def test_a_painful_region_no_trigger_point_refers_to_is_listed_as_unexplainable():
    net = _net(LINKS)
    got = posterior(net, [0, 1, 3])
    assert got.unexplainable.tolist() == [3]
    assert got.positives.tolist() == [0, 1]
    assert posterior(net, [0, 1]).unexplainable.tolist() == []
    # only that region painful: nothing to solve, and it is still listed
    alone = posterior(net, [3])
    assert alone.unexplainable.tolist() == [3]
    assert alone.positives.tolist() == []


def test_a_virtual_finding_without_a_parent_is_not_a_painful_region():
    """A muscle-level finding none of the network's causes reaches is dropped, not reported
    as an unexplainable region (it is no region)."""
    net = _net(LINKS)
    links = np.zeros((4, 1))
    got = posterior(net, [0, 1, 3], extra_link=links, extra_leak=np.array([0.1]))
    assert got.unexplainable.tolist() == [3]
    assert got.virtual.tolist() == []


def test_two_virtual_findings_with_parents_are_both_listed_and_are_no_regions():
    net = _net(LINKS)
    links = np.array([[0.5, 0.0], [0.5, 0.4], [0.0, 0.4], [0.0, 0.0]])
    got = posterior(net, [0, 1], extra_link=links, extra_leak=np.array([0.1, 0.1]))
    assert got.virtual.tolist() == [0, 1]
    assert got.positives.tolist() == [0, 1]


def test_with_no_painful_region_each_posterior_is_the_prior_updated_by_the_pain_free_ones():
    """The evidence of no positive finding has probability 1 (log Z = 0), and the priors the
    result carries are those after absorbing the negatives."""
    net = _net(LINKS)
    got = posterior(net, [], [2])
    expected = absorb_negatives(net, np.array([2]))
    np.testing.assert_allclose(got.prior_neg, expected)
    np.testing.assert_allclose(got.marginal, brute_force(net, [], [2]), atol=1e-12)
    # exact: each interval is the point itself
    np.testing.assert_array_equal(got.lower, got.marginal)
    np.testing.assert_array_equal(got.upper, got.marginal)
    assert got.touched.tolist() == [False] * 4  # no painful region to touch
    assert got.negatives.tolist() == [2]
    assert got.log_z == 0.0
    assert got.method == "exact" and got.bound == 0.0


def test_a_trigger_point_ruled_out_by_palpation_touches_no_painful_region():
    """Prior 0 (clamped inactive): it stays at 0 and counts as touching nothing."""
    net = _net(LINKS)
    prior = np.array([0.2, 0.0, 0.2, 0.2])
    got = posterior(net, [0, 1], prior=prior)
    assert got.touched.tolist() == [True, False, True, False]
    assert got.marginal[1] == 0.0
    clamped = Network(net.causes, net.regions, prior, net.link, net.leak)
    np.testing.assert_allclose(got.marginal, brute_force(clamped, [0, 1], []), atol=1e-12)


def test_a_log_z_only_run_gives_the_same_log_z_and_computes_no_marginals():
    net = _net(LINKS)
    full = posterior(net, [0, 1])
    only = posterior(net, [0, 1], log_z_only=True)
    assert only.log_z == pytest.approx(full.log_z)
    assert np.isnan(only.marginal[[0, 1]]).all()  # the core causes: not computed
    assert not np.isnan(full.marginal).any()
    assert only.parts == {} and full.parts != {}


# Three disjoint components, each two trigger points over two painful regions; each costs 16
# exactly (enumeration: 2^2 configurations x (2 + 2)).
THREE = [
    [0.6, 0.5, 0, 0, 0, 0],
    [0.4, 0.7, 0, 0, 0, 0],
    [0, 0, 0.6, 0.5, 0, 0],
    [0, 0, 0.4, 0.7, 0, 0],
    [0, 0, 0, 0, 0.6, 0.5],
    [0, 0, 0, 0, 0.4, 0.7],
]


def test_max_cost_covering_every_component_exactly_solves_them_all_exactly():
    net = _net(THREE)
    got = posterior(net, range(6), max_cost=48)
    assert [c.algorithm for c in got.components] == ["enumeration"] * 3
    assert [c.cost for c in got.components] == [16.0] * 3
    assert got.method == "exact-components"
    np.testing.assert_allclose(got.marginal, brute_force(net, list(range(6)), []), atol=1e-12)


def test_max_cost_one_short_of_the_three_components_truncates_the_last_one():
    """What the first two spent is counted: 47 leaves 15 for the third, less than its 16."""
    got = posterior(_net(THREE), range(6), max_cost=47)
    kinds = [c.algorithm for c in got.components]
    assert kinds[:2] == ["enumeration", "enumeration"]
    assert kinds[2].startswith("truncated")
    assert got.method == kinds[2]
    assert sum(c.cost for c in got.components) <= 47


# Six trigger points all referring pain to the same two regions: no exact algorithm fits a
# budget of 22 (enumeration costs 512), and the truncated enumeration costs 21 with one
# active cause, 88 with two.
SIX = [[0.5, 0.5]] * 6


def test_the_approximation_may_spend_four_times_the_exact_budget():
    net = _net(SIX)
    at = posterior(net, [0, 1], exact_budget=22)  # 4 x 22 = 88: two active causes fit
    assert at.method == "truncated-k2"
    under = posterior(net, [0, 1], exact_budget=21.9)  # 87.6: only one
    assert under.method == "truncated-k1"
    assert at.bound < under.bound
    assert posterior(net, [0, 1], exact_budget=20).method == "truncated-k1"  # 80; 5 x 20 = 100
