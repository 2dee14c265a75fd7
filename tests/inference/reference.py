"""Independent references for the exactness tests: brute force and pgmpy on full CPD tables."""

from __future__ import annotations

import itertools

import numpy as np

from triggerpoint.inference.network import Network


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


def pgmpy_posteriors(net: Network, pos: list[int], neg: list[int]) -> np.ndarray:
    """pgmpy VariableElimination on the same network with full noisy-OR CPD tables."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork

    observed = sorted(set(pos) | set(neg))
    model = DiscreteBayesianNetwork()
    model.add_nodes_from(net.causes)
    cpds = [TabularCPD(c, 2, [[1 - p], [p]]) for c, p in zip(net.causes, net.prior, strict=True)]
    for i in observed:
        parents = [j for j in range(len(net.causes)) if net.link[j, i] > 0]
        name = net.regions[i]
        model.add_node(name)
        model.add_edges_from((net.causes[j], name) for j in parents)
        # pgmpy column order: the last evidence variable varies fastest.
        conf = np.array(list(itertools.product([0, 1], repeat=len(parents))), dtype=np.float64)
        conf = conf.reshape(-1, len(parents))
        silent = (1.0 - net.leak[i]) * np.exp(conf @ net.log_nolink[parents, i])
        cpds.append(
            TabularCPD(
                name,
                2,
                np.vstack([silent, 1.0 - silent]),
                evidence=[net.causes[j] for j in parents] or None,
                evidence_card=[2] * len(parents) or None,
            )
        )
    model.add_cpds(*cpds)
    infer = VariableElimination(model)
    evidence = {net.regions[i]: 1 for i in pos} | {net.regions[i]: 0 for i in neg}
    out = np.zeros(len(net.causes))
    for j, c in enumerate(net.causes):
        q = infer.query([c], evidence=evidence, show_progress=False)
        out[j] = float(q.values[1])
    return out
