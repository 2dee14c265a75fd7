"""Independent anchors for the exact engine: pgmpy, pyAgrum and a pruned Quickscore.

Shared by the suggestion benchmark (`bench/suggest.py`, which imports it as a sibling module,
so it works when run from the repository root as `make bench` does) and by the exactness tests
(`tests/inference/reference.py` re-exports `pgmpy_posteriors`). Each anchor takes a network and
the positive and negative finding indices, and returns P(cause active | findings) for every
cause, computed without any of the engine's own code beyond `absorb_negatives` (negative
findings factorise per cause; that step is textbook and two lines).

- pgmpy: VariableElimination on full noisy-OR CPD tables (2^parents columns per finding).
- pyAgrum: LazyPropagation (junction tree) on noisy-OR CPTs with leak, built with
  `BayesNet.addNoisyORCompound`. aGrUM's compound noisy-OR is parametrised by the probability
  that a finding fires when only that parent is active, leak included (P(y=0 | only j) =
  1 - w_j, and P(y=0 | x) = (1 - leak) * prod_j ((1 - w_j) / (1 - leak))^x_j), so our link is
  passed as w_j = 1 - (1 - leak)(1 - link_j): the same distribution, checked by the error
  column of the benchmark.
- Quickscore (Heckerman 1989): the signed sum over the 2^k subsets of the positive findings,
  over the causes that touch a positive finding only (the others factor out of every term and
  keep their prior, updated by the negatives), vectorised with numpy in chunks of subsets.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from triggerpoint.inference.exact import absorb_negatives
from triggerpoint.inference.network import Network


def subnetwork(net: Network, pos: np.ndarray, neg: np.ndarray) -> Network:
    """Positives and the causes touching them, with negatives absorbed into the priors: the
    pruning any engineer applies first (the rest of the network is independent of the drawing
    once the negatives are absorbed)."""
    pi = absorb_negatives(net, neg)
    causes = np.flatnonzero((net.link[:, pos] > 0).any(axis=1))
    return Network(
        tuple(net.causes[j] for j in causes),
        tuple(net.regions[i] for i in pos),
        pi[causes],
        net.link[np.ix_(causes, pos)],
        net.leak[pos],
    )


def quickscore(net: Network, pos: np.ndarray, neg: np.ndarray, *, chunk: int = 8192) -> np.ndarray:
    """Quickscore over the causes touching the positives:
    Z = sum over subsets S of the positives of (-1)^|S| prod_{i in S}(1 - leak_i)
        prod_j [(1 - pi'_j) + pi'_j prod_{i in S}(1 - p_ij)],
    and the numerator of P(j active) the same sum with cause j's factor replaced by its
    second term. Causes touching no positive keep pi'_j (they factor out of every term)."""
    pi_all = absorb_negatives(net, neg)
    out = pi_all.copy()
    pos = np.asarray(pos, dtype=np.int64)
    touched = np.flatnonzero((net.link[:, pos] > 0).any(axis=1))
    if pos.size == 0 or touched.size == 0:
        return out
    pi = pi_all[touched]
    log_b = net.log_nolink[np.ix_(touched, pos)]  # (n, k)
    log_a = np.log1p(-net.leak[pos])
    k = pos.size
    bits = np.arange(k)
    z = 0.0
    num = np.zeros(touched.size)
    for start in range(0, 2**k, chunk):
        s = np.arange(start, min(start + chunk, 2**k))
        member = ((s[:, None] >> bits) & 1).astype(np.float64)  # (c, k)
        sign = np.where(member.sum(axis=1) % 2, -1.0, 1.0) * np.exp(member @ log_a)
        on = pi * np.exp(member @ log_b.T)  # (c, n): pi_j prod_{i in S} b_ij
        term = (1.0 - pi) + on
        weight = sign * np.prod(term, axis=1)
        z += float(weight.sum())
        num += weight @ (on / term)
    out[touched] = num / z
    return out


def pgmpy_posteriors(net: Network, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
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
        conf = conf.reshape(2 ** len(parents), len(parents))  # (1, 0) for a parentless one
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


def pyagrum_posteriors(net: Network, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
    """pyAgrum LazyPropagation on noisy-OR CPTs with leak (one inference, every marginal)."""
    import pyagrum as gum

    bn = gum.BayesNet("drawing")
    ids = []
    for j, c in enumerate(net.causes):
        ids.append(bn.add(gum.LabelizedVariable(f"c{j}", c, 2)))
        bn.cpt(ids[j]).fillWith([1.0 - float(net.prior[j]), float(net.prior[j])])
    painful = set(pos)
    evidence: dict[str, int] = {}
    for i in sorted(painful | set(neg)):
        leak = float(net.leak[i])
        node = bn.addNoisyORCompound(gum.LabelizedVariable(f"r{i}", net.regions[i], 2), leak)
        for j in np.flatnonzero(net.link[:, i] > 0):
            weight = 1.0 - (1.0 - leak) * (1.0 - float(net.link[j, i]))
            bn.addWeightedArc(ids[j], node, weight)
        evidence[f"r{i}"] = 1 if i in painful else 0
    ie = gum.LazyPropagation(bn)
    ie.setEvidence(evidence)
    ie.makeInference()
    return np.array([float(ie.posterior(ids[j])[1]) for j in range(len(net.causes))])


ANCHORS = {"pgmpy": pgmpy_posteriors, "pyagrum": pyagrum_posteriors}
IMPORTS = {"pgmpy": "pgmpy.inference", "pyagrum": "pyagrum"}


def _brute_force(net: Network, pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
    """Sum over all 2^n cause configurations (small n only): the anchors' own reference."""
    n = len(net.causes)
    conf = np.array(list(itertools.product([0, 1], repeat=n)), dtype=np.float64)
    w = np.prod(np.where(conf == 1, net.prior, 1.0 - net.prior), axis=1)
    silent = (1.0 - net.leak) * np.exp(conf @ net.log_nolink)
    w = w * np.prod(1.0 - silent[:, list(pos)], axis=1) * np.prod(silent[:, list(neg)], axis=1)
    return (conf.T @ w) / w.sum()


def main() -> int:
    """Self-check (run by `make bench`): every anchor against brute force on small random
    networks, so a broken anchor shows here before it skews a ratio."""
    import json

    rng = np.random.default_rng(1989)
    worst: dict[str, float | str] = {}
    for _ in range(5):
        n, m = 10, 8
        link = np.where(rng.random((n, m)) < 0.35, rng.uniform(0.05, 0.95, (n, m)), 0.0)
        net = Network(
            tuple(f"c{j}" for j in range(n)),
            tuple(f"r{i}" for i in range(m)),
            rng.uniform(0.005, 0.4, n),
            link,
            rng.uniform(0.005, 0.2, m),
        )
        pos, neg = [0, 2, 3, 5], [1, 4, 7]
        exact = _brute_force(net, pos, neg)
        for name in ("quickscore", *ANCHORS):
            try:
                if name == "quickscore":
                    got = quickscore(net, np.array(pos), np.array(neg))
                else:
                    got = ANCHORS[name](net, pos, neg)
                err = float(np.max(np.abs(got - exact)))
            except ModuleNotFoundError as exc:  # optional package not installed: said, not fatal
                worst[name] = f"UNAVAILABLE (the package does not import): {exc}"
                continue
            except Exception as exc:  # a broken anchor: say which, and fail
                worst[name] = f"FAILED: {type(exc).__name__}: {exc}"
                continue
            if not isinstance(worst.get(name), str):
                worst[name] = max(float(worst.get(name, 0.0)), err)
    print("anchor       max |error| vs brute force (5 random networks, 10 causes x 8 findings)")
    for name, value in worst.items():
        print(f"{name:<12} {value if isinstance(value, str) else f'{value:.1e}'}")
    print(json.dumps({"anchor_max_error": worst}))
    bad = [k for k, v in worst.items() if isinstance(v, str) and v.startswith("FAILED")]
    bad += [k for k, v in worst.items() if not isinstance(v, str) and v > 1e-9]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
