"""Independent references for the exactness tests: brute force, and pgmpy on full CPD tables.

The pgmpy reference lives in `bench/anchors.py`, shared with the suggestion benchmark (which
runs it from the repository root, where `tests` is not importable); pytest puts the root on
the path, so the tests import it from there.
"""

from __future__ import annotations

import itertools

import numpy as np
from bench.anchors import pgmpy_posteriors

from triggerpoint.inference.network import Network

__all__ = ["brute_force", "pgmpy_posteriors", "random_network"]


def random_network(rng: np.random.Generator, n: int, m: int, density: float = 0.35) -> Network:
    link = np.where(rng.random((n, m)) < density, rng.uniform(0.05, 0.95, (n, m)), 0.0)
    return Network(
        causes=tuple(f"c{j}" for j in range(n)),
        regions=tuple(f"r{i}" for i in range(m)),
        prior=rng.uniform(0.005, 0.4, n),
        link=link,
        leak=rng.uniform(0.005, 0.2, m),
    )


def brute_force(net: Network, pos: list[int], neg: list[int]) -> np.ndarray:
    """Sum over all 2^n cause configurations (only for small n)."""
    n = len(net.causes)
    conf = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)
    w = np.prod(np.where(conf == 1, net.prior, 1.0 - net.prior), axis=1)
    silent = (1.0 - net.leak) * np.exp(conf @ net.log_nolink)  # P(finding i silent | config)
    w = w * np.prod(1.0 - silent[:, pos], axis=1) * np.prod(silent[:, neg], axis=1)
    return (conf.T @ w) / w.sum()
