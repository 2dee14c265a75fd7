"""`exact.clamped_ratio` (issue 15): P(evidence, a set of points clamped inactive) / P(evidence)
read from what the exact solver kept, checked against a real clamped rerun on the full atlas.

The muscle list ranks muscles by P(at least one point active) = 1 - that ratio, and the latent
marginals under a muscle-level finding use it too; a wrong ratio would misrank muscles while
every single-point marginal stayed right. Drawings are simulated patients (as the benchmark's),
each run through every exact algorithm that fits, with a virtual (muscle-level) finding, so
enumeration, the sweep, one-region components and single-parent regions are all reached.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.inference.exact import clamped_ratio, posterior
from triggerpoint.inference.network import Network, network_for
from triggerpoint.inference.params import default_params


@cache
def _net() -> Network:
    return network_for(load_atlas(), default_params())


def _drawing(net: Network, rng: np.random.Generator, size: int) -> np.ndarray:
    """Painful region indices of a few random trigger points' essential and spillover zones."""
    regions: dict[int, None] = {}
    while len(regions) < size:
        j = int(rng.integers(len(net.causes)))
        hit = np.flatnonzero(net.link[j] >= net.link[j].max() * 0.2)
        regions.update(dict.fromkeys(int(i) for i in hit))
    return np.array(sorted(regions)[:size])


def _cases(seed: int, size: int, algorithm: str):
    net = _net()
    rng = np.random.default_rng(seed)
    pos = _drawing(net, rng, size)
    neg = np.setdiff1d(np.arange(len(net.regions)), pos)
    touched = np.flatnonzero((net.link[:, pos] > 0).any(axis=1))
    group = rng.choice(touched, size=min(3, touched.size), replace=False)
    xl = np.zeros((len(net.causes), 1))
    xl[group, 0] = 0.6
    xleak = np.array([0.05])
    post = posterior(net, pos, neg, algorithm=algorithm, extra_link=xl, extra_leak=xleak)
    assert post.method.startswith("exact"), f"{algorithm} fell back to {post.method}"
    return net, rng, post, xl, xleak


@pytest.mark.parametrize("algorithm", ["auto", "sweep"])
@pytest.mark.parametrize(("seed", "size"), [(1, 5), (2, 10), (3, 20), (4, 12), (5, 8)])
def test_the_kept_ratio_equals_a_clamped_rerun(seed: int, size: int, algorithm: str) -> None:
    net, rng, post, xl, xleak = _cases(seed, size, algorithm)
    n_pos = post.positives.size
    checked = 0
    touched = set(np.flatnonzero(post.touched).tolist())
    for lab in post.parts:
        cols = np.flatnonzero(post.column_label == lab)
        part = post.parts[lab]
        own = {int(c) for c in part.rows.tolist()}
        own |= {c for c, v in post.single.items() if v[0] in set(cols.tolist())}
        members = sorted(own & touched)
        for k in range(1, min(3, len(members)) + 1):
            clamp = [int(c) for c in rng.choice(members, size=k, replace=False)]
            ratio = clamped_ratio(post, lab, clamp, {})
            if ratio is None:
                continue
            prior = post.prior_neg.copy()
            prior[clamp] = 0.0
            virtual = cols[cols >= n_pos]
            ref = posterior(
                net,
                post.positives[cols[cols < n_pos]],
                (),
                prior=prior,
                extra_link=xl if virtual.size else None,
                extra_leak=xleak if virtual.size else None,
                log_z_only=True,
            ).log_z
            expected = float(np.exp(ref - post.label_log_z[lab]))
            assert ratio == pytest.approx(expected, rel=1e-9), (lab, clamp)
            checked += 1
    assert checked >= 1
