"""Best explanations (sets of 1 to 3 trigger points) and per-candidate explanations.

A set S is scored by P(exactly S active among the trigger points that touch the drawing |
drawing). Trigger points that refer to no painful region are left out of "exactly": they are
independent of the drawing, so requiring them inactive would only scale every set alike.

Search is exact, not heuristic: P(S | drawing) <= P(j active | drawing) for every j in S, so
once k sets are found, no set holding a trigger point whose marginal is below the k-th best
set's probability can enter the top k (pools are capped at MAX_POOL per size as a guard).
"""

from __future__ import annotations

from functools import cache
from itertools import combinations

import numpy as np

from triggerpoint.inference.exact import Posterior
from triggerpoint.inference.network import ZONE_NAMES, Network

# Largest candidate pool per set size; beyond it the search would no longer be exact, so
# `best_sets` reports whether a cap was hit.
MAX_POOL = {1: 10_000, 2: 120, 3: 32}


@cache
def _combos(n: int, size: int) -> np.ndarray:
    return np.array(list(combinations(range(n), size)), dtype=np.int64).reshape(-1, size)


def best_sets(
    net: Network, post: Posterior, *, max_size: int = 3, top: int = 5
) -> tuple[list[tuple[tuple[int, ...], float]], bool]:
    """The `top` most probable sets of 1..max_size causes, as (cause indices, probability),
    and whether the search was exhaustive (no pool cap cut off an eligible cause).

    Sizes are searched in turn; the k-th best probability found so far only grows, and only
    causes whose (upper) marginal reaches it can belong to a better set, so each size searches
    a pool that is usually small.
    """
    touched = np.flatnonzero(post.touched)
    if touched.size == 0:
        return [], True
    pos = post.positives
    exhaustive = True
    by_marginal = touched[np.argsort(-post.upper[touched], kind="stable")]
    pi = post.prior_neg
    base = float(np.log1p(-pi[touched]).sum()) - post.log_z
    a = 1.0 - net.leak[pos]
    log_odds_all = np.log(pi) - np.log1p(-pi)
    found: list[tuple[float, tuple[int, ...]]] = []
    kth = -np.inf
    for size in range(1, max_size + 1):
        eligible = by_marginal[np.log(np.maximum(post.upper[by_marginal], 1e-300)) >= kth]
        cand = eligible[: MAX_POOL[size]]
        exhaustive &= eligible.size <= MAX_POOL[size]
        if cand.size < size:
            break
        idx = _combos(int(cand.size), size)
        log_b = net.log_nolink[np.ix_(cand, pos)]
        e = np.exp(log_b[idx].sum(axis=1))
        score = log_odds_all[cand][idx].sum(axis=1) + np.log1p(-a * e).sum(axis=1) + base
        best = np.argsort(-score, kind="stable")[:top]
        found += [(float(score[b]), tuple(int(cand[i]) for i in idx[b])) for b in best]
        found.sort(key=lambda f: -f[0])
        found = found[:top]
        if len(found) >= top:
            kth = found[-1][0]
    return [(m, float(min(1.0, np.exp(score)))) for score, m in found], exhaustive


def explained_regions(net: Network, members: tuple[int, ...], positives: np.ndarray) -> np.ndarray:
    """Painful region indices that lie in a zone of at least one member."""
    if not members or positives.size == 0:
        return positives[:0]
    return positives[(net.link[np.ix_(list(members), positives)] > 0).any(axis=0)]


def zone_hits(net: Network, cause: int, regions: np.ndarray) -> list[tuple[int, str]]:
    """(region index, zone name) for the regions that lie in a zone of this cause."""
    if net.zone is None:
        return [(int(i), "essential") for i in regions if net.link[cause, i] > 0]
    codes = net.zone[cause, regions]
    order = np.argsort(codes, kind="stable")  # essential first, then spillover, then local
    return [(int(regions[o]), ZONE_NAMES[int(codes[o])]) for o in order if codes[o] > 0]


def needling_summary(tp: object) -> str:
    """One line from the muscle's needling notes: depth, thorax warning, structures at risk."""
    muscle = getattr(tp, "muscle", None)
    needling = getattr(muscle, "needling", None)
    if needling is None:
        return ""
    lo, hi = needling.depth_mm
    parts = [f"{lo}-{hi} mm", needling.patient_position]
    if needling.thorax:
        parts.append("THORAX: the needle path can reach the pleura (pneumothorax risk)")
    risks = [r.structure for r in needling.structures_at_risk if r.kind != "lung"]
    if risks:
        parts.append("at risk: " + "; ".join(risks))
    return ". ".join(p.rstrip(".") for p in parts) + "."
