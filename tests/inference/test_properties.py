"""Properties of suggestions (hypothesis), on a small hand-made atlas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.inference.handmade import handmade_atlas
from tests.inference.reference import brute_force
from triggerpoint.bodychart.catalog import mirror_region_id
from triggerpoint.inference.exact import posterior
from triggerpoint.inference.network import Network, network_for
from triggerpoint.inference.params import default_params
from triggerpoint.inference.service import suggest

ATLAS = handmade_atlas()
PARAMS = default_params()
NET = network_for(ATLAS, PARAMS)
ZONED = sorted(
    {r for tp in ATLAS.trigger_points for r in (*tp.essential, *tp.spillover, *tp.local)}
)
# a few regions no trigger point refers to, so drawings also hold unexplained pain
REGIONS = [*ZONED, "right_heel", "left_palm", "sternum"]

drawings = st.fixed_dictionaries(
    {
        "pain": st.lists(st.sampled_from(REGIONS), max_size=8, unique=True),
        "pain_free": st.lists(st.sampled_from(REGIONS), max_size=6, unique=True),
        "complete": st.booleans(),
    }
).map(lambda d: d | {"pain_free": [r for r in d["pain_free"] if r not in d["pain"]]})

FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _probs(result) -> dict[str, float]:
    return {c.uid: c.probability for c in result.candidates}


def test_monotonicity_precondition_holds_for_this_atlas() -> None:
    """The theorem behind the property: for region i in j's essential zone, if j's link is at
    least the noisy-OR of all other parents' links, then P(i | j on, rest) >= P(i | j off, rest)
    for every rest, so observing i painful cannot lower P(j)."""
    for j, tp in enumerate(ATLAS.trigger_points):
        for rid in tp.essential:
            i = NET.region_index[rid]
            others = np.prod(1 - np.delete(NET.link[:, i], j))
            assert 1 - NET.link[j, i] <= others, (tp.uid, rid)


@FAST
@given(drawings, st.data())
def test_essential_pain_never_lowers_posterior(drawing, data) -> None:
    tp = data.draw(st.sampled_from(ATLAS.trigger_points))
    region = data.draw(st.sampled_from(tp.essential))
    before = drawing | {"pain": [r for r in drawing["pain"] if r != region]}
    before["pain_free"] = [r for r in drawing["pain_free"] if r != region]
    after = before | {"pain": [*before["pain"], region]}
    p_before = _posterior_of(before, tp.uid)
    p_after = _posterior_of(after, tp.uid)
    assert p_after >= p_before - 1e-12


def _posterior_of(drawing: dict, uid: str) -> float:
    result = suggest(drawing, atlas=ATLAS, params=PARAMS, top=100)
    probs = _probs(result)
    if uid in probs:
        return probs[uid]
    # not a candidate (touches no painful region): its posterior is its negative-updated prior
    idx = [NET.region_index[r] for r in drawing["pain"]]
    neg = [NET.region_index[r] for r in drawing["pain_free"]]
    if drawing["complete"]:
        neg = [i for i in range(len(NET.regions)) if i not in set(idx)]
    return float(posterior(NET, idx, neg).marginal[NET.cause_index[uid]])


def test_explaining_away_can_lower_a_shared_essential_cause() -> None:
    """Why the property needs its precondition: when two other causes share the essential
    region and are otherwise needed, a new painful region favours them over j. The exact
    posterior (checked by brute force) reflects this; it is not a defect."""
    link = np.array(
        [
            [0.85, 0.85, 0.05],  # j: essential for g1, g2, weak for i
            [0.85, 0.00, 0.85],  # k1: explains g1 and i
            [0.00, 0.85, 0.85],  # k2: explains g2 and i
        ]
    )
    net = Network(("j", "k1", "k2"), ("g1", "g2", "i"), [0.01, 0.3, 0.3], link, [0.02] * 3)
    before = posterior(net, [0, 1], []).marginal[0]
    after = posterior(net, [0, 1, 2], []).marginal[0]
    assert after < before
    assert after == pytest.approx(brute_force(net, [0, 1, 2], [])[0], abs=1e-12)


@FAST
@given(drawings)
def test_all_probabilities_in_unit_interval(drawing) -> None:
    result = suggest(drawing, atlas=ATLAS, params=PARAMS, top=100)
    for c in result.candidates:
        lo, hi = c.probability_interval
        assert 0.0 <= lo <= c.probability <= hi <= 1.0
        assert 0.0 < c.prior < 1.0
    for e in result.explanations:
        assert 0.0 <= e.probability <= 1.0 and 0.0 <= e.explained_share <= 1.0
    total = sum(e.probability for e in result.explanations)
    assert total <= 1.0 + 1e-9  # distinct exact sets are disjoint events
    probs = [c.probability for c in result.candidates]
    assert probs == sorted(probs, reverse=True)


@FAST
@given(drawings)
def test_mirroring_the_drawing_mirrors_the_result(drawing) -> None:
    mirrored = drawing | {
        "pain": [mirror_region_id(r) for r in drawing["pain"]],
        "pain_free": [mirror_region_id(r) for r in drawing["pain_free"]],
    }
    a = suggest(drawing, atlas=ATLAS, params=PARAMS, top=100)
    b = suggest(mirrored, atlas=ATLAS, params=PARAMS, top=100)
    pa, pb = _probs(a), _probs(b)
    assert {ATLAS.trigger_point(u).mirror_uid for u in pa} == set(pb)
    for uid, p in pa.items():
        assert pb[ATLAS.trigger_point(uid).mirror_uid] == pytest.approx(p, abs=1e-12)
    assert [e.probability for e in a.explanations] == pytest.approx(
        [e.probability for e in b.explanations], abs=1e-12
    )
