"""Latent probabilities and muscle-level posteriors, exact, from a posterior and clamped runs.

Clamping: a cause with prior 0 is inactive in every configuration, so for a set G of causes
P(E, none of G active) / P(E) = prod_{j in G} (1 - p''_j) * Z_G / Z, where p'' are the
engine's priors after the negative findings and Z, Z_G the partition functions (exp log_z) of
the free and the clamped runs: the per-cause normalisers of the other causes cancel. Only a
muscle-side with at least two points touching the evidence needs a clamped run; untouched
points are independent of the evidence beyond their own factors.

Given "not active", the drawing cannot tell latent from absent, so P(latent_j | E) =
(1 - P(A_j | E)) * share_j, with share_j from the per-cause findings alone, except for points
under a muscle-level familiar or tender finding (a virtual positive over the muscle's points,
which latent and absent points feed differently): those are clamped one at a time, with the
virtual finding's leak set to what a latent j contributes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from triggerpoint.inference.evidence import ABSENT, LATENT, Evidence, sides_of
from triggerpoint.inference.exact import BatchOverBudget, Posterior, clamped_ratio
from triggerpoint.inference.network import Network
from triggerpoint.inference.ties import ranked, tie_slack

# Rerun of the same posterior on a subset of its positive columns (indices into the
# positives followed by the virtual ones), with other virtual leaks and with priors that
# already include the negative findings (post.prior_neg, some clamped to 0): returns log_z.
Rerun = Callable[[np.ndarray, np.ndarray | None, np.ndarray], float]
# The same for many variants in one pass (exact.log_z_batch): priors (B x causes), virtual
# leaks (B x v, or None), columns -> log Z per row. Raises BatchOverBudget when a component
# has no exact algorithm within the budget (the runs then go one by one).
RerunBatch = Callable[[np.ndarray, np.ndarray | None, np.ndarray], np.ndarray]


def _batched(
    post: Posterior,
    rerun_batch: RerunBatch | None,
    priors: np.ndarray,
    leaks: np.ndarray | None,
    labels: np.ndarray,
) -> np.ndarray | None:
    """log(Z_b / Z) over the components `labels` for each variant, in one pass; None when
    there is no batch (or it is over budget): the caller then reruns one by one."""
    if rerun_batch is None or not priors.size:
        return None
    labels = np.unique(labels)
    cols = np.flatnonzero(np.isin(post.column_label, labels))
    try:
        return rerun_batch(priors, leaks, cols) - float(post.label_log_z[labels].sum())
    except BatchOverBudget:
        return None


def _components_of(
    net: Network, ev: Evidence, post: Posterior, causes: np.ndarray
) -> tuple[np.ndarray, float]:
    """The positive columns of the components these causes touch, and those components'
    summed log_z in the free run: clamping the causes changes nothing else."""
    hit = (net.link[causes][:, post.positives] > 0).any(axis=0)
    if post.virtual.size and ev.extra_link is not None:
        hit = np.concatenate([hit, (ev.extra_link[causes][:, post.virtual] > 0).any(axis=0)])
    labels = np.unique(post.column_label[hit])
    cols = np.flatnonzero(np.isin(post.column_label, labels))
    return cols, float(post.label_log_z[labels].sum())


def latent_marginals(
    net: Network,
    ev: Evidence,
    post: Posterior,
    rerun: Rerun | None,
    rerun_batch: RerunBatch | None = None,
) -> np.ndarray:
    """P(latent | E) for every cause."""
    p_lat = (1.0 - post.marginal) * ev.latent_share
    if not ev.groups or rerun is None or ev.prior is None or ev.extra_leak is None:
        return p_lat
    virtual = set(post.virtual.tolist())
    runs = []
    n_pos = post.positives.size
    column = {int(c): n_pos + n for n, c in enumerate(post.virtual.tolist())}
    for c, grp in enumerate(ev.groups):
        if c not in virtual:
            continue
        col = column[c]
        lab = int(post.column_label[col])
        for k, j in enumerate(grp.causes.tolist()):
            # A latent j is not active (clamped) and feeds the virtual finding its latent
            # silence: the column's a scales by q_latent / q0 (see the batch below).
            clamp = (j,) if post.touched[j] else ()
            ratio = clamped_ratio(post, lab, clamp, {col: float(grp.q[LATENT, k] / grp.q0[k])})
            if ratio is None:
                runs.append((c, k, j))
            else:
                p_lat[j] = float(ev.latent_share[j]) * (1.0 - post.prior_neg[j]) * ratio
    if runs and rerun_batch is not None:
        priors = np.tile(post.prior_neg, (len(runs), 1))
        leaks = np.tile(ev.extra_leak, (len(runs), 1))
        labels = []
        for b, (c, k, j) in enumerate(runs):
            grp = ev.groups[c]
            priors[b, j] = 0.0
            leaks[b, c] = 1.0 - (1.0 - leaks[b, c]) * grp.q[LATENT, k] / grp.q0[k]
            cols, _ = _components_of(net, ev, post, np.array([j]))
            labels.extend(post.column_label[cols].tolist())
        deltas = _batched(post, rerun_batch, priors, leaks, np.array(labels, dtype=np.int64))
        if deltas is not None:
            for (_, _, j), dz in zip(runs, deltas.tolist(), strict=True):
                split = float(ev.latent_share[j])
                p_lat[j] = split * (1.0 - post.prior_neg[j]) * np.exp(dz)
            return np.clip(p_lat, 0.0, 1.0)
    for c, k, j in runs:
        grp = ev.groups[c]
        prior = post.prior_neg.copy()
        prior[j] = 0.0
        leak = ev.extra_leak.copy()
        leak[c] = 1.0 - (1.0 - leak[c]) * grp.q[LATENT, k] / grp.q0[k]
        cols, base = _components_of(net, ev, post, np.array([j]))
        delta = rerun(prior, leak, cols) - base
        split = float(ev.latent_share[j])  # latent share of the not-active mass, per cause
        p_lat[j] = split * (1.0 - post.prior_neg[j]) * np.exp(delta)
    return np.clip(p_lat, 0.0, 1.0)


def _cause_labels(net: Network, ev: Evidence, post: Posterior) -> np.ndarray:
    """Component label of each cause touching a positive column (-1 for the others)."""
    hit = net.link[:, post.positives] > 0
    if post.virtual.size and ev.extra_link is not None:
        hit = np.hstack([hit, ev.extra_link[:, post.virtual] > 0])
    labels = np.full(hit.shape[0], -1, dtype=np.int64)
    rows = np.flatnonzero(hit.any(axis=1) & post.touched)
    if rows.size:
        labels[rows] = post.column_label[hit[rows].argmax(axis=1)]
    return labels


def _entry(
    ev: Evidence, key: tuple[str, str], g: np.ndarray, none: float
) -> tuple[tuple[str, str], np.ndarray, float, float]:
    none = min(max(none, 0.0), 1.0)
    return (key, g, 1.0 - none, none * (1.0 - _all_absent(ev, g)))


def _all_absent(ev: Evidence, g: np.ndarray) -> float:
    """P(every point of g absent | none of g active, E): closed form (see module docstring)."""
    p = float(np.prod(1.0 - ev.latent_share[g]))
    members = set(g.tolist())
    for grp in ev.groups:
        if not members.intersection(grp.causes.tolist()):
            continue
        p *= (1.0 - float(np.prod(grp.q[ABSENT]))) / (1.0 - float(np.prod(grp.q0)))
    return p


def muscle_posteriors(
    net: Network,
    ev: Evidence,
    post: Posterior,
    rerun: Rerun | None,
    *,
    involved: np.ndarray,
    top: int,
) -> list[tuple[tuple[str, str], np.ndarray, float, float]]:
    """The `top` muscle-sides with a point in `involved` (bool per cause), by P(at least one
    point active | E): (muscle id, side), cause indices, P(any active), P(none active, some
    latent). Exact when `rerun` is given (an exact posterior); otherwise P(any active) takes
    the points as independent (stated in the result's approximation note)."""
    sides = sides_of(net)
    gids = sides.group_of[involved]
    if not gids.size or top <= 0:
        return []
    # The involved muscle-sides in order of their first involved cause (as a scan finds them).
    gids = np.array(list(dict.fromkeys(gids.tolist())), dtype=np.int64)  # no sort needed
    marg = post.marginal
    by_group = marg[sides.by_group]
    lower = np.maximum.reduceat(by_group, sides.starts)[gids]
    upper = np.minimum(np.add.reduceat(by_group, sides.starts)[gids], 1.0)
    kth = np.sort(lower)[::-1][min(top, len(lower)) - 1]
    # Only the muscle-sides whose upper bound can reach the top `top` go on (in one call: a
    # drawing involves a hundred or more of them).
    reach = ~(upper < kth - tie_slack(kth))  # a muscle tied with the kth can still enter
    gids, upper = gids[reach], upper[reach]
    keys = [sides.keys[g] for g in gids.tolist()]
    groups = [sides.groups[k] for k in keys]
    touched = post.touched
    cause_label = _cause_labels(net, ev, post) if rerun is not None else None

    def blocks(g: np.ndarray) -> tuple[float, list[tuple[int, np.ndarray]]]:
        """P(no untouched or lone point of g active), and the blocks of >= 2 points of g
        sharing a component (those need a clamped run). Components are independent given
        the evidence, and untouched points are independent of it. Plain Python over the
        group's few points (products in the same order as numpy's): a dozen numpy calls
        per muscle cost more than the arithmetic."""
        points = g.tolist()
        p_g, t_g = marg[g].tolist(), touched[g].tolist()
        none = 1.0
        for p, t in zip(p_g, t_g, strict=True):
            if not t:
                none *= 1.0 - p
        by_label: dict[int, list[int]] = {}
        labels = cause_label[g].tolist() if cause_label is not None else range(len(points))
        for n, (t, lab) in enumerate(zip(t_g, labels, strict=False)):
            if t:
                by_label.setdefault(lab if cause_label is not None else n, []).append(n)
        shared = []
        for lab in sorted(by_label):
            at = by_label[lab]
            if len(at) == 1 or rerun is None:
                block = 1.0
                for n in at:
                    block *= 1.0 - p_g[n]
                none *= block
            else:
                shared.append((int(lab), g[at]))
        return none, shared

    def clamped(lab: int, members: np.ndarray) -> float:
        assert rerun is not None
        prior = post.prior_neg.copy()
        prior[members] = 0.0
        cols = np.flatnonzero(post.column_label == lab)
        return float(np.prod(1.0 - post.prior_neg[members])) * float(
            np.exp(rerun(prior, ev.extra_leak, cols) - post.label_log_z[lab])
        )

    out: list[tuple[tuple[str, str], np.ndarray, float, float]] = []
    pending = []
    for key, g in zip(keys, groups, strict=True):
        none, shared = blocks(g)
        if not shared:
            out.append(_entry(ev, key, g, none))
            continue
        # Bounds on P(any active) from the blocks' marginals (union and single-point bounds).
        lo_none = none * float(np.prod([max(0.0, 1.0 - marg[m].sum()) for _, m in shared]))
        hi_none = none * float(np.prod([1.0 - marg[m].max() for _, m in shared]))
        pending.append((1.0 - lo_none, 1.0 - hi_none, key, g, none, shared))
    # The muscles that need clamped runs, best upper bound first, only while they can still
    # enter: once `top` exact values exceed a muscle's upper bound, it and all after it cannot.
    pending.sort(key=lambda t: -t[0])
    # P(none of a block active) straight from what the exact solver kept (clamped_ratio):
    # cheap, so computed only for the muscles that can still enter (the loop stops at the
    # first that cannot). A block it cannot answer goes to a clamped run.
    for hi, _, key, g, none, shared in pending:
        known = sorted((t[2] for t in out), reverse=True)
        if len(known) >= top and hi < known[top - 1] - tie_slack(known[top - 1]):
            break
        for lab, members in shared:
            ratio = clamped_ratio(post, lab, members.tolist(), {})
            if ratio is None:
                none *= clamped(lab, members)
            else:
                none *= float(np.prod(1.0 - post.prior_neg[members])) * ratio
        out.append(_entry(ev, key, g, none))
    # Mirror-image muscles tie exactly up to rounding: ties (see `ties`) go by muscle and
    # side, so the order and the cut never flip.
    return [out[k] for k, _ in ranked([t[2] for t in out], key=lambda k: out[k][0], top=top)]
