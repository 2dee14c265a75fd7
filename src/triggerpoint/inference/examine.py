"""Examine next: which trigger point's palpation would tell most about the explanation.

X = which explanation is true: one of the best explanation sets S_1..S_N (the exact
`best_sets`: "exactly S active among the trigger points touching the evidence") or "something
else". Palpating j gives a finding F in {familiar, tender, none} whose likelihood depends on
j's state only; every S says whether j is active (j touches the evidence), and given "not
active" the split latent/absent is the per-cause one (the drawing cannot change it). So

    P(X = S, F = f) = P(S | E) * P(f | A_j = [j in S])
    P(X = else, F = f) = (P(A_j | E) - sum_{S ∋ j} P(S)) P(f | active)
                         + (1 - P(A_j | E) - sum_{S ∌ j} P(S)) P(f | not active)

closed form, with no further posterior run, and the expected information gain is the mutual
information I(X; F) in bits. The score divides it by the cost of palpating j (deep or
incompressible muscles cost more; data/palpation.yaml `cost`).
"""

from __future__ import annotations

import numpy as np

from triggerpoint.inference.params import Palpation


def likelihoods(pal: Palpation, latent_share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """P(finding | active) (3,) and P(finding | not active) (c, 3) for each candidate."""
    act = np.array(pal.row("active"))
    lat, absent = np.array(pal.row("latent")), np.array(pal.row("absent"))
    share = np.asarray(latent_share, dtype=np.float64)[:, None]
    return act, share * lat + (1.0 - share) * absent


def information_gain(
    p_sets: np.ndarray,
    member: np.ndarray,
    p_active: np.ndarray,
    lik_active: np.ndarray,
    lik_inactive: np.ndarray,
) -> np.ndarray:
    """I(X; F_j) in bits for each candidate j.

    p_sets (N,): P(S_i | E); member (c, N) bool: j in S_i; p_active (c,): P(A_j | E);
    lik_active (3,) or (c, 3); lik_inactive (c, 3) or (3,).
    """
    c = member.shape[0]
    p_sets = np.asarray(p_sets, dtype=np.float64)
    la = np.broadcast_to(np.asarray(lik_active, dtype=np.float64), (c, 3))
    li = np.broadcast_to(np.asarray(lik_inactive, dtype=np.float64), (c, 3))
    on = np.where(member, p_sets[None, :], 0.0)  # P(X = S_i, A_j = 1)
    off = np.where(member, 0.0, p_sets[None, :])  # P(X = S_i, A_j = 0)
    else_on = np.clip(p_active - on.sum(axis=1), 0.0, None)
    else_off = np.clip(1.0 - p_active - off.sum(axis=1), 0.0, None)
    on = np.concatenate([on, else_on[:, None]], axis=1)  # (c, N + 1)
    off = np.concatenate([off, else_off[:, None]], axis=1)
    joint = on[:, :, None] * la[:, None, :] + off[:, :, None] * li[:, None, :]  # (c, N+1, 3)
    total = joint.sum(axis=(1, 2), keepdims=True)
    joint = joint / np.where(total > 0, total, 1.0)
    px = joint.sum(axis=2, keepdims=True)
    pf = joint.sum(axis=1, keepdims=True)
    denom = px * pf
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(joint > 0, joint * np.log2(joint / np.where(denom > 0, denom, 1.0)), 0.0)
    return np.maximum(terms.sum(axis=(1, 2)), 0.0)


def palpation_cost(pal: Palpation, *, depth_max_mm: int, compressible: bool) -> float:
    cost = pal.cost.base
    if depth_max_mm >= pal.cost.deep_mm:
        cost += pal.cost.deep_extra
    if not compressible:
        cost += pal.cost.incompressible_extra
    return float(cost)


def reason(label: str, j: int, sets: list[tuple[tuple[int, ...], float]]) -> str:
    """One sentence on why palpating j would help."""
    head = f"Palpate {label}"
    if not sets:
        return f"{head}: its finding would change its probability most."
    in_first = j in sets[0][0]
    if len(sets) >= 2:
        in_second = j in sets[1][0]
        if in_first != in_second:
            return f"{head}: it separates the two best explanations."
        if in_first:
            return (
                f"{head}: it is in both best explanations; the familiar pain would support "
                "them, no finding would count against both."
            )
    if in_first:
        return f"{head}: it is in the best explanation; the familiar pain would confirm it."
    holding = [p for m, p in sets if j in m]
    if holding:
        return (
            f"{head}: it is in a less likely explanation ({_pct(holding[0])}) that its "
            "finding could confirm or rule out."
        )
    return (
        f"{head}: it is in none of the best explanations; the familiar pain would point elsewhere."
    )


def _pct(p: float) -> str:
    return "<1%" if 0 < p < 0.005 else f"{p:.0%}"
