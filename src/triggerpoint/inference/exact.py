"""Posterior marginals P(trigger point active | drawing) in the noisy-OR network, exactly.

The steps, each exact (docs/inference.md has the derivations):

1. Negative findings factorise per cause: each multiplies the cause's prior odds by
   prod_i (1 - link_ij). After this, only positive findings couple causes.
2. A cause that touches no positive finding keeps that updated prior as its posterior.
3. A cause touching exactly one positive finding i only changes i's chance of staying silent:
   it is summed out into an effective leak, a_i <- a_i * (1 - pi_j * link_ij), and its own
   posterior is read back afterwards from d log Z / d a_i (Z is affine in a_i).
4. The remaining "core" causes link positives into independent components; each component is
   solved on its own by whichever exact algorithm is cheaper:
   - enumeration of the 2^m configurations of its m core causes (few numpy calls), or
   - a forward-backward sweep over the core causes in a body-ordered sequence, carrying one
     "already fired" bit per open finding (the sequential decomposition of noisy-OR). Cost is
     sum_t 2^(open findings at t), which body locality keeps small, and every quantity summed
     is non-negative, so unlike Quickscore's signed inclusion-exclusion there is no
     cancellation at any number of positive findings.
5. Where a component's exact cost exceeds the budget, configurations with at most K active
   core causes are enumerated and the neglected prior mass P(more than K active), computed by
   a Poisson-binomial recursion, bounds every posterior rigorously. The result names the
   method and the bound.
6. The exact solvers keep their state (enumeration: the configuration weights; sweep: the
   forward and backward messages), so a "clamped run" (some priors set to 0, some leaks
   changed: a muscle's P(none of its points active), a latent probability) is answered by
   `clamped_ratio` from it, replaying only the steps between the first and last change.

`max_cost` caps the work of one call, summed over its components (costs in the units each
component reports): a component is solved exactly only within what is left of it, and the
truncated enumeration lowers K until it fits too (to K = 0, the prior alone, if nothing is
left). The enumeration runs in blocks, so its memory stays bounded whatever K and the size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import chain, combinations, islice
from math import comb, log
from typing import Any

import numpy as np

from triggerpoint.inference.network import Network

EXACT_METHODS = ("exact", "exact-components")
# An index into a sweep state: ints and slices, one per axis (numpy's stubs cannot say it).
_Index = tuple[Any, ...]
# Time models (microseconds: fixed, per step or per unit of cost), measured on the atlas, to
# choose between the two exact algorithms of a component.
_SWEEP_US = (50.0, 20.0, 0.01)
_ENUM_US = (20.0, 0.005)


@dataclass
class ComponentReport:
    positives: int
    causes: int  # causes touching the component's positives (core + summed-out)
    core_causes: int
    algorithm: str  # closed-form | enumeration | sweep | truncated-k<K>
    cost: float
    bound: float = 0.0


@dataclass
class Posterior:
    """Per-cause posterior (point, lower, upper), plus what the explainer needs."""

    marginal: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    prior_neg: np.ndarray  # priors after absorbing the negative findings
    touched: np.ndarray  # bool: cause touches a positive finding
    positives: np.ndarray  # region indices with at least one possible cause
    unexplainable: np.ndarray  # painful region indices no trigger point refers to
    negatives: np.ndarray
    log_z: float  # log P(positives | negatives), up to the parentless positives' leak terms
    method: str
    bound: float
    components: list[ComponentReport] = field(default_factory=list)
    # Virtual positive findings (extra columns passed to posterior()) that have a parent.
    virtual: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # Per positive column (the positives, then the virtual ones): its component's label, and
    # per label the component's log_z (so a clamped rerun can solve only the components a
    # set of causes touches: log Z is the sum over components).
    column_label: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    label_log_z: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # What each exactly solved component kept, and per summed-out cause its column and its
    # factor on that column's leak term: clamped_ratio answers a clamped run from them.
    parts: dict[int, _Part] = field(default_factory=dict)
    single: dict[int, tuple[int, float]] = field(default_factory=dict)


@dataclass
class _Part:
    """One component as `_solve` saw it (cause and column indices are the posterior's)."""

    rows: np.ndarray  # its core causes
    cols: np.ndarray  # its positive columns
    pi: np.ndarray  # the core causes' priors
    a: np.ndarray  # the columns' effective a (1 - leak, times the summed-out causes' terms)
    solo: np.ndarray  # bool per column: a single core parent (folded into its prior)
    parent: np.ndarray  # per solo column, its parent (index into rows)
    b: np.ndarray  # per solo column, 1 - link to its parent
    norm: np.ndarray  # per core cause, the folding's normaliser
    folded: np.ndarray  # per core cause, the prior after folding
    keep: np.ndarray  # bool per core cause: in the core solve (touches a non-solo column)
    kept: _Kept | None  # the core solve's state (None: no core solve, or not exact)
    # per core cause, the products over its solo columns of (1 - a) and (1 - a b): what a
    # clamped run that leaves every a as it was folds with again
    w0: np.ndarray | None = None
    w1: np.ndarray | None = None
    row_of: dict[int, int] = field(default_factory=dict)  # cause -> index into rows
    col_of: dict[int, int] = field(default_factory=dict)  # column -> index into cols


@dataclass
class _Kept:
    """What an exact solver of a component keeps for none_active: the configuration table
    and weights (enumeration), or the sweep's steps with its forward and backward messages."""

    kind: str  # "enumeration" | "sweep"
    conf: np.ndarray | None = None  # (2^m, m) 0/1: which core causes are active
    w: np.ndarray | None = None  # (2^m,) configuration weights, summing to z
    z: float = 1.0
    e: np.ndarray | None = None  # (2^m, k) P(no core cause fires finding i | configuration)
    steps: list[_Skel] = field(default_factory=list)  # the sweep's (cached) skeleton
    inits: list[np.ndarray | None] = field(default_factory=list)  # opening state at step t
    p: list[float] = field(default_factory=list)  # per core cause (local), its prior
    after: list[np.ndarray] = field(default_factory=list)  # state leaving step t (closed)
    scale: list[float] = field(default_factory=list)  # rescaling at step t (1 if none)
    beta: list[np.ndarray] = field(default_factory=list)  # backward message after step t
    at: dict[int, int] = field(default_factory=dict)  # core cause (local) -> its step
    opens_at: dict[int, int] | None = None  # finding (local) -> the step opening it


@dataclass
class _Comp:
    log_z: float
    marg: np.ndarray  # core causes, point estimate
    dlog_da: np.ndarray  # d log Z / d a_i per positive of the component
    rel_tail: float  # neglected mass / computed mass (0 when exact)
    algorithm: str
    cost: float
    kept: _Kept | None = None  # exact solvers' state, for clamped_ratio
    part: _Part | None = None  # set by _solve


def absorb_negatives(
    net: Network, negatives: np.ndarray, prior: np.ndarray | None = None
) -> np.ndarray:
    """Priors (default: the network's) updated by the negative findings (exact: they
    factorise per cause)."""
    prior = net.prior if prior is None else prior
    if negatives.size == 0:
        return prior.copy()
    if 2 * negatives.size > net.link.shape[1]:  # complete drawings: sum the few others
        rest = np.ones(net.link.shape[1], dtype=bool)
        rest[negatives] = False
        q = np.exp(net.log_nolink_total - net.log_nolink[:, rest].sum(axis=1))
    else:
        q = np.exp(net.log_nolink[:, negatives].sum(axis=1))
    return prior * q / (prior * q + 1.0 - prior)


def posterior(
    net: Network,
    positives: np.ndarray | Sequence[int],
    negatives: np.ndarray | Sequence[int] = (),
    *,
    exact_budget: float = 4e6,
    max_active: int = 3,
    algorithm: str = "auto",
    max_cost: float | None = None,
    prior: np.ndarray | None = None,
    extra_link: np.ndarray | None = None,
    extra_leak: np.ndarray | None = None,
    log_z_only: bool = False,
) -> Posterior:
    """Posterior marginals of every cause given positive and negative finding indices.

    `prior` (default: the network's) replaces the per-cause priors, e.g. after palpation
    findings, which factorise per cause; a cause with prior 0 is clamped inactive (it touches
    nothing). `extra_link` (causes x v) and `extra_leak` (v,) add v virtual positive findings
    (muscle-level palpation findings are noisy-OR positives over the muscle's points); they
    enter log_z like painful regions, and `Posterior.virtual` lists those with a parent.

    `log_z_only`: only `log_z` (and `label_log_z`) is wanted, as by a clamped rerun: the
    sweep skips its backward pass and the marginals are NaN where not computed.

    `algorithm` forces one per-component algorithm ("enumeration", "sweep", "truncated") for
    tests and benchmarks; "auto" picks the cheapest exact one within `exact_budget`.
    `max_cost` (None: no cap) bounds the summed cost of all components, the approximation's
    included; see the module docstring.
    """
    pos = _unique(positives)
    neg = _unique(negatives)
    if _overlap(pos, neg):
        raise ValueError("a finding cannot be both positive and negative")
    pi = absorb_negatives(net, neg, prior)
    n_regions = net.link.shape[1]
    link_pos = net.link[:, pos]
    leak_pos = net.leak[pos]
    if extra_link is not None and extra_leak is not None and extra_leak.size:
        link_pos = np.hstack([link_pos, extra_link])
        leak_pos = np.concatenate([leak_pos, extra_leak])
        pos = np.concatenate([pos, n_regions + np.arange(extra_leak.size)])
    linked = link_pos > 0
    has_parent = linked.any(axis=0)
    if has_parent.all():  # the usual case: nothing to filter out
        unexplainable = pos[:0]
    else:
        unexplainable, pos, link_pos = pos[~has_parent], pos[has_parent], link_pos[:, has_parent]
        leak_pos, linked = leak_pos[has_parent], linked[:, has_parent]
    virtual = pos[pos >= n_regions] - n_regions
    unexplainable = unexplainable[unexplainable < n_regions]
    adj = linked & (pi > 0)[:, None]
    deg = np.count_nonzero(adj, axis=1)
    touched = deg > 0
    marg, lower, upper = pi.copy(), pi.copy(), pi.copy()
    reports: list[ComponentReport] = []
    if pos.size == 0:
        empty = Posterior(
            marg, lower, upper, pi, touched, pos, unexplainable, neg, 0.0, "exact", 0.0
        )
        empty.virtual = virtual
        return empty

    single = (deg == 1).nonzero()[0]
    core = (deg >= 2).nonzero()[0]
    # Step 3: single-positive causes summed into an effective leak of their finding.
    a = 1.0 - leak_pos
    single_col = adj[single].argmax(axis=1)
    m_single = 1.0 - pi[single] * link_pos[single, single_col]
    log_a_eff = np.log(a) + np.bincount(single_col, np.log(m_single), minlength=pos.size)
    a_eff = np.exp(log_a_eff)

    adj_core = adj[core]
    labels = _components(adj_core)
    singles_per_label = np.bincount(labels[single_col], minlength=pos.size)
    log_z = 0.0
    spent = 0.0
    dlog_da = np.zeros(pos.size)
    rel_tail = np.zeros(pos.size)
    label_log_z = np.zeros(pos.size)
    parts: dict[int, _Part] = {}
    # A component's label is its smallest column (see _components): the labels in order are
    # the columns labelling themselves (what np.unique(labels) gives, without its sort).
    for label in np.flatnonzero(labels == np.arange(labels.size)).tolist():
        cols = (labels == label).nonzero()[0]
        rows = core[adj_core[:, cols].any(axis=1)]
        left = float("inf") if max_cost is None else max(max_cost - spent, 0.0)
        comp = _solve(
            pi[rows],
            np.log1p(-link_pos[rows][:, cols]),
            a_eff[cols],
            rank=net.sweep_rank[rows],
            budget=min(exact_budget, left),
            approx_budget=4 * exact_budget if max_cost is None else left,
            max_active=max_active,
            algorithm=algorithm,
            log_z_only=log_z_only,
        )
        spent += comp.cost
        log_z += comp.log_z
        label_log_z[label] = comp.log_z
        if comp.part is not None:
            part = comp.part
            part.rows, part.cols = rows, cols
            part.row_of = {c: n for n, c in enumerate(rows.tolist())}
            part.col_of = {c: n for n, c in enumerate(cols.tolist())}
            parts[label] = part
        dlog_da[cols] = comp.dlog_da
        rel_tail[cols] = comp.rel_tail
        lo, hi = _widen(comp.marg, comp.rel_tail)
        marg[rows], lower[rows], upper[rows] = comp.marg, lo, hi
        n_single = int(singles_per_label[label])
        reports.append(
            ComponentReport(
                positives=int(cols.size),
                causes=int(rows.size) + n_single,
                core_causes=int(rows.size),
                algorithm=comp.algorithm,
                cost=comp.cost,
                bound=float(np.max(hi - lo, initial=0.0)),
            )
        )
    # Read back the summed-out causes: Z is affine in a_i, so Z(a')/Z = 1 + (a' - a) dlogZ/da.
    if single.size:
        b = 1.0 - link_pos[single, single_col]
        a_i = a_eff[single_col]
        ratio = 1.0 + (a_i * b / m_single - a_i) * dlog_da[single_col]
        point = np.clip(pi[single] * ratio, 0.0, 1.0)
        lo, hi = _widen(point, rel_tail[single_col])
        marg[single], lower[single], upper[single] = point, lo, hi
    bound = float(np.max(upper - lower, initial=0.0))
    approx = [r.algorithm for r in reports if r.algorithm.startswith("truncated")]
    method = approx[0] if approx else ("exact-components" if len(reports) > 1 else "exact")
    return Posterior(
        np.clip(marg, 0.0, 1.0),
        lower,
        upper,
        pi,
        touched,
        pos[pos < n_regions],
        unexplainable,
        neg,
        log_z,
        method,
        bound,
        reports,
        virtual,
        labels,
        label_log_z,
        parts,
        dict(zip(single.tolist(), zip(single_col.tolist(), m_single.tolist(), strict=True),
                 strict=True)),
    )  # fmt: skip


def clamped_ratio(
    post: Posterior, label: int, clamp: Sequence[int], factors: Mapping[int, float]
) -> float | None:
    """Z'/Z of component `label`, where Z' has the priors of the causes `clamp` set to 0 and
    the effective a (1 - leak) of the columns in `factors` multiplied by their factor: the
    clamped run a muscle's P(none active) or a latent probability needs, exactly, from what
    the solver kept, without another run. None when it did not keep enough (a component
    solved by the bounded approximation, a cause or column outside the component): the
    caller then reruns.

    A summed-out cause is clamped by dividing its column's a by its factor; a column with a
    single core parent changes that parent's folded prior and normaliser. The core solve:
    enumeration reweighs its configurations; the sweep replays its forward pass from the
    first changed step to the last (on the original's scale) and weighs the state it leaves
    by the backward message there, against the original state. All sums are of
    non-negative terms."""
    part = post.parts.get(int(label))
    if part is None:
        return None
    row_of, col_of = part.row_of, part.col_of
    pi = part.pi.copy()
    a = part.a.copy()
    a_changed = bool(factors)
    for cause in clamp:
        if cause in row_of:
            pi[row_of[cause]] = 0.0
        elif cause in post.single and post.single[cause][0] in col_of:
            col, m_s = post.single[cause]
            a[col_of[col]] /= m_s
            a_changed = True
        else:
            return None
    for col, factor in factors.items():
        if col not in col_of:
            return None
        a[col_of[col]] *= factor
    if part.rows.size == 0:  # one column, every cause summed out
        return float((1.0 - a[0]) / (1.0 - part.a[0]))
    solo = part.solo
    if a_changed or part.w0 is None or part.w1 is None:
        w0, w1 = np.ones(pi.size), np.ones(pi.size)
        np.multiply.at(w0, part.parent, 1.0 - a[solo])
        np.multiply.at(w1, part.parent, 1.0 - a[solo] * part.b)
    else:  # every a as the solver had it: its products, computed the same way
        w0, w1 = part.w0, part.w1
    norm = pi * w1 + (1.0 - pi) * w0
    ratio = float(np.prod(norm / part.norm))
    folded = pi * w1 / norm
    rest = ~solo
    if not rest.any():
        return ratio
    kept = part.kept
    if kept is None:
        return None
    p_new, p_old = folded[part.keep], part.folded[part.keep]
    a_new, a_old = a[rest], part.a[rest]
    rows = (p_new != p_old).nonzero()[0]
    cols = (a_new != a_old).nonzero()[0] if a_changed else rows[:0]
    if kept.kind == "enumeration":
        assert kept.conf is not None and kept.w is not None and kept.e is not None
        w = kept.w
        if rows.size:
            # Column r of the configuration table is bit r of the row index: blocks of 2^r
            # rows off, then 2^r on. Each block is scaled in place through a view: the same
            # products w_c * factor, in the same order, as multiplying by a where() per row.
            w = w.copy()
            for r in rows.tolist():
                on, off = p_new[r] / p_old[r], (1.0 - p_new[r]) / (1.0 - p_old[r])
                blocks = w.reshape(-1, 2, 1 << r)
                blocks[:, 1, :] *= on
                blocks[:, 0, :] *= off
        if cols.size:
            e = kept.e[:, cols]
            w = w * np.prod((1.0 - a_new[cols] * e) / (1.0 - a_old[cols] * e), axis=1)
        return ratio * float(w.sum() / kept.z)
    opens_at = kept.opens_at
    if opens_at is None:
        opens_at = kept.opens_at = {i: t for t, st in enumerate(kept.steps) for i in st.opens}
    changed = [kept.at[r] for r in rows.tolist()] + [opens_at[i] for i in cols.tolist()]
    if not changed:
        return ratio
    t1, t2 = min(changed), max(changed)
    alpha = kept.after[t1 - 1] if t1 > 0 else np.ones(())
    new_a = set(cols.tolist())
    for t in range(t1, t2 + 1):
        st = kept.steps[t]
        if st.opens:
            init = kept.inits[t]
            if new_a.intersection(st.opens):
                init = None
                for i in st.opens:
                    v = np.array([a_new[i], 1.0 - a_new[i]])
                    init = v if init is None else np.multiply.outer(init, v)
            assert init is not None
            alpha = np.multiply.outer(alpha, init)
        p = float(p_new[st.cause])
        nxt = alpha * (1.0 - p)
        if p > 0.0:
            nxt += p * _on(st, alpha)
        if st.close is not None:
            nxt = nxt[st.close] / kept.scale[t]
        alpha = nxt
    beta = kept.beta[t2]
    return ratio * float(np.vdot(beta, alpha)) / float(np.vdot(beta, kept.after[t2]))


def _on(st: _Skel, alpha: np.ndarray) -> np.ndarray:
    """The state after the step's cause is active (its kernels applied)."""
    if st.dense is not None:
        return st.dense.dot(alpha.reshape(-1)).reshape(alpha.shape)
    on = alpha.copy()
    for lo, hi, b in st.kernels:
        v0 = on[lo]
        v1 = on[hi]
        v1 += (1.0 - b) * v0
        v0 *= b
    return on


def _unique(values: np.ndarray | Sequence[int]) -> np.ndarray:
    """np.unique of finding indices, without its sort when they are sorted and distinct
    already (as every caller passes them): the same array, as a copy."""
    a = np.array(values, dtype=np.int64)
    if a.ndim == 1 and (a.size < 2 or bool((a[1:] > a[:-1]).all())):
        return a
    return np.unique(a)


def _overlap(pos: np.ndarray, neg: np.ndarray) -> bool:
    """Whether two sorted, distinct index arrays share a value (np.intersect1d(...).size > 0,
    by one search instead of a concatenation and a sort)."""
    if pos.size == 0 or neg.size == 0:
        return False
    at = np.minimum(np.searchsorted(neg, pos), neg.size - 1)
    return bool((neg[at] == pos).any())


def _widen(point: np.ndarray, rel_tail: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Rigorous interval for x/(y+e) with 0 <= e_x <= e <= rel_tail * y (see docs)."""
    if isinstance(rel_tail, float) and rel_tail == 0.0:  # exact: x / 1 is x, x + 0 is x + 0
        return point.clip(0.0, 1.0), (point + 0.0).clip(0.0, 1.0)
    rho = np.asarray(rel_tail, dtype=np.float64)
    return np.clip(point / (1.0 + rho), 0.0, 1.0), np.clip((point + rho) / (1.0 + rho), 0.0, 1.0)


def _components(adj_core: np.ndarray) -> np.ndarray:
    """Connected components of positives linked by core causes: per positive, the smallest
    member index of its component (its label). Union-find over each core cause's columns,
    each set rooted at its smallest member (plain Python over a few dozen causes: a
    transitive closure by boolean matrix products cost more than the rest of the call)."""
    k = adj_core.shape[1]
    root = list(range(k))
    rows, cols = adj_core.nonzero()
    prev_row, first = -1, 0
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        if r != prev_row:  # the row's first column: the others join its set
            prev_row, first = r, c
            continue
        a, b = first, c
        while root[a] != a:
            a = root[a]
        while root[b] != b:
            b = root[b]
        if a != b:
            root[max(a, b)] = min(a, b)
    labels = []
    for c in range(k):
        a = c
        while root[a] != a:
            a = root[a]
        root[c] = a
        labels.append(a)
    return np.array(labels, dtype=np.intp)


def _solve(
    pi: np.ndarray,
    log_b: np.ndarray,
    a: np.ndarray,
    *,
    rank: np.ndarray,
    budget: float,
    approx_budget: float,
    max_active: int,
    algorithm: str,
    log_z_only: bool = False,
) -> _Comp:
    """One component: its log Z, and (unless `log_z_only`: a clamped rerun needs only log Z,
    and the sweep then skips its backward pass) the marginals of its core causes and
    d log Z / d a_i of its positives (NaN when not computed)."""
    m, k = log_b.shape
    if m == 0:  # one positive whose causes were all summed out: P = 1 - a_eff
        none = np.zeros(0)
        lone = _Part(none, none, none, a, np.zeros(a.size, dtype=bool), none.astype(np.int64),
                     none, none, none, none.astype(bool), None)  # fmt: skip
        return _Comp(float(np.log1p(-a[0])), none, -1.0 / (1.0 - a), 0.0, "closed-form", 1,
                     part=lone)  # fmt: skip
    # A finding with a single core parent only reweights that parent: fold it into the
    # parent's prior (exact), so it never occupies a bit of the sweep state.
    adj = log_b < 0
    solo = adj.sum(axis=0) == 1
    parent = adj[:, solo].argmax(axis=0)
    b = np.exp(log_b[parent, np.flatnonzero(solo)])
    a_s = a[solo]
    w0, w1 = np.ones(m), np.ones(m)
    np.multiply.at(w0, parent, 1.0 - a_s)
    np.multiply.at(w1, parent, 1.0 - a_s * b)
    norm = pi * w1 + (1.0 - pi) * w0
    pi0, pi = pi, pi * w1 / norm
    rest = ~solo
    keep = adj[:, rest].any(axis=1)
    marg, dlog_da = pi.copy(), np.zeros(k)
    comp = _Comp(0.0, np.zeros(0), np.zeros(0), 0.0, "closed-form", float(m))
    if rest.any():
        comp = _solve_core(
            pi[keep],
            log_b[keep][:, rest],
            a[rest],
            rank[keep],
            (budget, approx_budget),
            max_active,
            algorithm,
            log_z_only,
        )
        marg[keep], dlog_da[rest] = comp.marg, comp.dlog_da
    q = marg[parent]
    dlog_da[solo] = -((1.0 - q) / (1.0 - a_s) + q * b / (1.0 - a_s * b))
    log_z = comp.log_z + float(np.log(norm).sum())
    part: _Part | None = None
    if not log_z_only and (comp.kept is not None or not rest.any()):
        part = _Part(pi0, pi0, pi0, a, solo, parent, b, norm, pi, np.asarray(keep), comp.kept,
                     w0=w0, w1=w1)  # fmt: skip
    return _Comp(log_z, marg, dlog_da, comp.rel_tail, comp.algorithm, comp.cost, comp.kept, part)


def _solve_core(
    pi: np.ndarray,
    log_b: np.ndarray,
    a: np.ndarray,
    rank: np.ndarray,
    budgets: tuple[float, float],
    max_active: int,
    algorithm: str,
    log_z_only: bool = False,
) -> _Comp:
    """A component in which every finding has at least two core parents.

    `budgets`: (exact, approximate): the largest cost an exact algorithm may take, and the
    largest the truncated enumeration may take when no exact one fits.
    """
    budget, approx_budget = budgets
    algorithm, order, sweep_cost, enum_cost = _choose(log_b, rank, budget, algorithm)
    if algorithm == "enumeration":
        return _enumerate(pi, log_b, a, enum_cost, log_z_only=log_z_only)
    if algorithm == "sweep":
        return _sweep(pi, log_b, a, order, sweep_cost, log_z_only=log_z_only)
    return _truncated(pi, log_b, a, max_active, approx_budget)


# Structure-keyed caches: a call's clamped runs (and later drawings) meet the same
# components again, and the choice of algorithm, the greedy order and the sweep's plan depend
# on the structure alone (which causes refer to which findings, with which links), never on
# the priors or leaks. Bounded: cleared when full.
_CACHE_MAX = 512
_CHOICES: dict[tuple[object, ...], tuple[str, np.ndarray, float, float]] = {}
_SKELETONS: dict[tuple[object, ...], list[_Skel]] = {}


def _choose(
    log_b: np.ndarray, rank: np.ndarray, budget: float, algorithm: str
) -> tuple[str, np.ndarray, float, float]:
    """(algorithm, sweep order, sweep cost, enumeration cost) of a core component: its
    structure alone decides (not the priors), so clamped variants can share the choice."""
    key = (log_b.shape, (log_b < 0).tobytes(), rank.tobytes(), budget, algorithm)
    hit = _CHOICES.get(key)
    if hit is None:
        if len(_CHOICES) >= _CACHE_MAX:
            _CHOICES.clear()
        hit = _CHOICES[key] = _choose_uncached(log_b, rank, budget, algorithm)
        hit[1].setflags(write=False)  # shared between calls
    return hit


def _choose_uncached(
    log_b: np.ndarray, rank: np.ndarray, budget: float, algorithm: str
) -> tuple[str, np.ndarray, float, float]:
    m, k = log_b.shape
    enum_cost = float(2**m) * (k + m) if m <= 40 else float("inf")
    if (
        algorithm == "auto"
        and enum_cost <= budget
        and _ENUM_US[0] + _ENUM_US[1] * enum_cost <= _SWEEP_US[0] + _SWEEP_US[1] * m
    ):
        # Enumeration wins whatever the sweep would cost (its time model is at least this):
        # the sweep's order and cost are then never read, so they are not computed.
        return "enumeration", np.arange(m), float("nan"), enum_cost
    order = np.argsort(rank, kind="stable")
    sweep_cost = _sweep_cost(log_b[order] < 0)
    if sweep_cost > 2e4 and m > 2:  # worth a per-drawing order: try greedy min-width too
        for close_first in (False, True):
            if close_first and sweep_cost <= budget / 8:
                break  # cheap enough: a second greedy pass would cost more than it saves
            greedy = _greedy_order(log_b < 0, close_first=close_first)
            greedy_cost = _sweep_cost(log_b[greedy] < 0)
            if greedy_cost < sweep_cost:
                order, sweep_cost = greedy, greedy_cost
    if algorithm == "auto" and min(sweep_cost, enum_cost) <= budget:
        # Wall time, not state updates, decides: each sweep step costs a few dozen numpy
        # calls, whereas enumeration is a handful of calls over 2^m rows.
        sweep_us = _SWEEP_US[0] + _SWEEP_US[1] * m + _SWEEP_US[2] * sweep_cost
        enum_us = _ENUM_US[0] + _ENUM_US[1] * enum_cost
        algorithm = "enumeration" if enum_cost <= budget and enum_us <= sweep_us else "sweep"
    return algorithm, order, sweep_cost, enum_cost


def _configuration_table(m: int) -> np.ndarray:
    """The (2^m, m) 0/1 table of all configurations of m causes (row r: the bits of r),
    read-only. Up to _TABLE_CACHED causes it is built once per m (under 1 MB for all of
    them together): most components are that small, and its numpy calls are a good part
    of their enumeration. Larger tables (up to tens of MB) are built per call."""
    if m <= _TABLE_CACHED:
        return _cached_table(m)
    conf = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(np.float64)
    conf.setflags(write=False)
    return conf


_TABLE_CACHED = 12


@cache
def _cached_table(m: int) -> np.ndarray:
    conf = ((np.arange(2**m)[:, None] >> np.arange(m)) & 1).astype(np.float64)
    conf.setflags(write=False)
    return conf


def _enumerate(
    pi: np.ndarray, log_b: np.ndarray, a: np.ndarray, cost: float, *, log_z_only: bool = False
) -> _Comp:
    """All 2^m configurations of the core causes at once."""
    m = pi.size
    conf = _configuration_table(m)
    log_w = conf @ (np.log(pi) - np.log1p(-pi)) + np.log1p(-pi).sum()
    e = np.exp(conf @ log_b)  # P(no core cause fires finding i | config)
    f = 1.0 - a * e
    log_w = log_w + np.log(f).sum(axis=1)
    shift = log_w.max()
    w = np.exp(log_w - shift)
    z = w.sum()
    if log_z_only:
        nan = np.full(m, np.nan), np.full(a.size, np.nan)
        return _Comp(float(shift + np.log(z)), *nan, 0.0, "enumeration", cost)
    return _Comp(
        float(shift + np.log(z)),
        (conf.T @ w) / z,
        -(w @ (e / f)) / z,
        0.0,
        "enumeration",
        cost,
        _Kept("enumeration", conf=conf, w=w, z=float(z), e=e),
    )


def _sweep_cost(adj: np.ndarray) -> float:
    """Sum over steps of (state size x work per step) for the sweep in this cause order."""
    m = adj.shape[0]
    first = adj.argmax(axis=0)
    last = m - 1 - adj[::-1].argmax(axis=0)
    steps = np.arange(m)
    width = ((first[None, :] <= steps[:, None]) & (last[None, :] >= steps[:, None])).sum(axis=1)
    return float(np.sum(np.exp2(width) * (adj.sum(axis=1) + 4)) * 3)


def _greedy_order(adj: np.ndarray, *, close_first: bool = False) -> np.ndarray:
    """Cause order that keeps the open-finding set small: at each step take the cause whose
    step state is smallest, then the one that closes the most findings (or, with
    `close_first`, the one leaving the fewest findings open, then the smallest step state).
    Neither rule wins on every component, so large components try both.

    Finding sets are Python int bitmasks: a step of the search is then a few integer
    operations per cause instead of a dozen numpy calls (ties go to the lowest index)."""
    m, k = adj.shape
    if k < 63:  # the bitmasks in one numpy product (int64 holds them)
        masks = (adj @ (np.int64(1) << np.arange(k, dtype=np.int64))).tolist()
    else:
        masks = [sum(1 << i for i in np.flatnonzero(row).tolist()) for row in adj]
    remaining = adj.sum(axis=0).tolist()
    closes_with_one = sum(1 << i for i, r in enumerate(remaining) if r == 1)
    open_ = 0
    left = list(range(m))
    order = []
    k1 = k + 1
    for _ in range(m):
        best, best_j = 1 << 62, -1  # above any score; the first of equal scores wins
        if close_first:
            for j in left:
                mask = masks[j]
                during = (open_ | mask).bit_count()
                score = (during - (mask & closes_with_one).bit_count()) * k1 + during
                if score < best:
                    best, best_j = score, j
        else:
            for j in left:
                mask = masks[j]
                during = (open_ | mask).bit_count()
                score = during * k1 + during - (mask & closes_with_one).bit_count()
                if score < best:
                    best, best_j = score, j
        j = best_j
        order.append(j)
        left.remove(j)
        mask = masks[j]
        open_ |= mask
        bits = mask
        while bits:
            low = bits & -bits
            i = low.bit_length() - 1
            bits ^= low
            remaining[i] -= 1
            if remaining[i] == 1:
                closes_with_one |= low
            elif remaining[i] == 0:
                closes_with_one &= ~low
                open_ &= ~low
    return np.array(order, dtype=np.int64)


@dataclass(slots=True)
class _Skel:
    """The structural part of a sweep step (everything but the prior and the leaks)."""

    cause: int
    opens: tuple[int, ...]
    kernels: tuple[tuple[_Index, _Index, float], ...]
    close: _Index | None
    width: int
    dense: np.ndarray | None  # small states: all the kernels as one matrix (see _dense)
    dense_t: np.ndarray | None = None  # its transpose (a view), for the backward pass

    def __post_init__(self) -> None:
        if self.dense is not None:
            self.dense_t = self.dense.T


def _skeleton(log_b: np.ndarray, order: np.ndarray) -> list[_Skel]:
    """The sweep's steps without priors and leaks, cached by structure (see _CHOICES)."""
    key = (log_b.shape, log_b.tobytes(), order.tobytes())
    hit = _SKELETONS.get(key)
    if hit is None:
        if len(_SKELETONS) >= _CACHE_MAX:
            _SKELETONS.clear()
        hit = _SKELETONS[key] = _skeleton_uncached(log_b < 0, np.exp(log_b), order)
    return hit


def _skeleton_uncached(adj: np.ndarray, b_all: np.ndarray, order: np.ndarray) -> list[_Skel]:
    """Where each finding opens and closes, and its axis at each step. Plain lists inside
    the loop: numpy scalars would cost more than the arithmetic. The findings closing at
    each step are listed up front, and each open finding's axis kept in a dict, so a step
    costs no scan of the open findings beyond building its close index. Steps hold tuples,
    not lists: the skeletons live in a cache, and tuples of numbers drop out of the cyclic
    garbage collector's scans, whose pauses otherwise grow with the cache."""
    m = adj.shape[0]
    at = np.empty(m, dtype=np.int64)
    at[order] = np.arange(m)
    first = np.where(adj, at[:, None], m).min(axis=0).tolist()
    last = np.where(adj, at[:, None], -1).max(axis=0).tolist()
    opens_at: list[list[int]] = [[] for _ in range(m)]
    for i in sorted(range(len(first)), key=first.__getitem__):
        opens_at[first[i]].append(i)
    closes_at: list[list[int]] = [[] for _ in range(m)]
    for i, t in enumerate(last):
        closes_at[t].append(i)
    rows, cols = np.nonzero(adj)
    nbrs: list[list[tuple[int, float]]] = [[] for _ in range(m)]
    for r, c, b in zip(rows.tolist(), cols.tolist(), b_all[rows, cols].tolist(), strict=True):
        nbrs[r].append((c, b))
    axes: list[int] = []
    axis: dict[int, int] = {}  # open finding -> its axis in the state
    steps: list[_Skel] = []
    for t, j in enumerate(order.tolist()):
        opens = tuple(opens_at[t])
        for i in opens:
            axis[i] = len(axes)
            axes.append(i)
        dense = None
        kernels: tuple[tuple[_Index, _Index, float], ...] = ()
        if len(axes) <= _DENSE_WIDTH:
            dense = _dense(len(axes), tuple(sorted((axis[i], b) for i, b in nbrs[j])))
        else:
            kernels = tuple((*_bit_index(axis[i]), b) for i, b in nbrs[j])
        close = None
        shut = closes_at[t]
        if shut:
            closing = set(shut)
            close = tuple(1 if x in closing else _ALL for x in axes)
        steps.append(_Skel(j, opens, kernels, close, len(axes), dense))
        if shut:
            axes = [x for x in axes if x not in closing]
            axis = {x: n for n, x in enumerate(axes)}
    return steps


def _inits(steps: list[_Skel], a: np.ndarray) -> list[np.ndarray | None]:
    """Per step of the skeleton, the outer product of the opening states [a_i, 1 - a_i] of
    the findings it opens (None where it opens none)."""
    # Every finding's opening state as a row of one array: a step opening one finding (the
    # common case) takes its row (a view, never written) without a numpy call.
    rows = list(np.stack([a, 1.0 - a], axis=1))
    out: list[np.ndarray | None] = []
    for sk in steps:
        init = None
        for i in sk.opens:
            init = rows[i] if init is None else np.multiply.outer(init, rows[i])
        out.append(init)
    return out


_ALL = slice(None)
# States of at most 2^_DENSE_WIDTH entries apply a step's kernels as one small matrix (one
# numpy call instead of several per kernel: the sweep is bound by calls, not arithmetic).
# Width 5: with the atlas' three link values there are at most 4^5 distinct matrices of 8 KB
# (wider states would have 4^6 of 32 KB, too many to keep).
_DENSE_WIDTH = 5
_DENSE: dict[tuple[int, tuple[tuple[int, float], ...]], np.ndarray] = {}
_DENSE_BYTES = [0]  # bytes held by _DENSE; cleared past _DENSE_MAX_BYTES
_DENSE_MAX_BYTES = 32 << 20


def _dense(width: int, kernels: tuple[tuple[int, float], ...]) -> np.ndarray:
    """The matrix of a step's kernels on a C-ordered state of `width` bits: the Kronecker
    product over axes of [[b, 0], [1 - b, 1]] (rows: bit after) where the cause refers to the
    axis' finding, the identity elsewhere. Cached: keys repeat across drawings."""
    key = (width, kernels)
    mat = _DENSE.get(key)
    if mat is None:
        by_axis = dict(kernels)
        mat = np.ones((1, 1))
        for ax in range(width):  # Kronecker product, without np.kron's generality
            b = by_axis.get(ax)
            f = _EYE2 if b is None else np.array([[b, 0.0], [1.0 - b, 1.0]])
            n = mat.shape[0]
            mat = (mat[:, None, :, None] * f[None, :, None, :]).reshape(2 * n, 2 * n)
        if _DENSE_BYTES[0] + mat.nbytes > _DENSE_MAX_BYTES:
            _DENSE.clear()
            _DENSE_BYTES[0] = 0
        _DENSE[key] = mat
        _DENSE_BYTES[0] += mat.nbytes
    return mat


_EYE2 = np.eye(2)


@cache
def _bit_index(ax: int) -> tuple[_Index, _Index]:
    """Index tuples selecting bit 0 and bit 1 of axis `ax` (as views, whatever the rank)."""
    return (_ALL,) * ax + (0, ...), (_ALL,) * ax + (1, ...)


def _sweep(
    pi: np.ndarray,
    log_b: np.ndarray,
    a: np.ndarray,
    order: np.ndarray,
    cost: float,
    *,
    log_z_only: bool = False,
) -> _Comp:
    """Forward-backward over core causes with one 'fired yet' bit per open finding.

    Finding i opens at its first parent (bit = 1 with its leak probability), each active
    parent j flips 0 -> 1 with probability link_ij, and at its last parent the bit is fixed to 1
    (the region is painful). All sums are of non-negative terms. Only closing a finding changes
    the total mass, so states are rescaled only there.

    The loops run on the cached skeleton (no per-run step objects) and use the cheapest numpy
    call of each kind that computes exactly the same numbers: `a.dot(b)` for `a @ b` and
    `np.vdot` (the same BLAS kernels without the matmul ufunc's dispatch), broadcasting for
    `np.multiply.outer` (one product per entry either way).
    """
    m, k = log_b.shape
    steps = _skeleton(log_b, order)
    inits = _inits(steps, a)
    p_all = pi.tolist()
    alpha = np.ones(())
    log_scale = 0.0
    ys: list[np.ndarray] = []
    ons: list[np.ndarray] = []
    kept = _Kept("sweep", steps=steps, inits=inits, p=p_all)
    after, scales = kept.after, kept.scale
    for st, init in zip(steps, inits, strict=True):
        if init is not None:
            alpha = alpha.reshape(alpha.shape + (1,) * init.ndim) * init
        if st.dense is not None:
            on = st.dense.dot(alpha.reshape(-1)).reshape(alpha.shape)
        else:
            on = alpha.copy()
            for lo, hi, b in st.kernels:
                v0 = on[lo]
                v1 = on[hi]
                v1 += (1.0 - b) * v0
                v0 *= b
        p = p_all[st.cause]
        nxt = alpha * (1.0 - p)
        nxt += p * on
        s = 1.0
        if st.close is not None:
            nxt = nxt[st.close]
            s = float(nxt.sum())
            nxt = nxt / s
            log_scale += log(s)
        if not log_z_only:
            ys.append(alpha)
            ons.append(on)
            after.append(nxt)
            scales.append(s)
        alpha = nxt
    if log_z_only:
        return _Comp(log_scale, np.full(m, np.nan), np.full(k, np.nan), 0.0, "sweep", cost)

    marg = [0.0] * m
    dlog_da = np.zeros(k)
    a_all = a.tolist()
    beta = np.ones(())
    kept.at = {st.cause: t for t, st in enumerate(steps)}
    betas: list[np.ndarray] = []
    for t in range(len(steps) - 1, -1, -1):
        st, y, init = steps[t], ys[t], inits[t]
        betas.append(beta)
        p = p_all[st.cause]
        if st.close is not None:
            e = np.zeros(y.shape)
            e[st.close] = beta / beta.max()
        else:
            e = beta
        flat_e = e.reshape(-1)
        w_on = float(flat_e.dot(ons[t].reshape(-1))) * p
        w_off = float(flat_e.dot(y.reshape(-1))) * (1.0 - p)
        marg[st.cause] = w_on / (w_on + w_off)
        if st.dense_t is not None:
            w = st.dense_t.dot(flat_e).reshape(e.shape)
        else:
            w = e.copy()
            for lo, hi, b in st.kernels:
                w0 = w[lo]
                w0 *= b
                w0 += (1.0 - b) * w[hi]
        w *= p
        w += (1.0 - p) * e
        if init is not None:
            n = init.ndim
            flat = w.reshape(-1, 2**n)
            q = (flat * y.reshape(-1, 2**n)).sum(axis=0)
            if n > 1:
                q = q.reshape((2,) * n)
            for ax, i in enumerate(st.opens):
                qi = q.sum(axis=tuple(x for x in range(n) if x != ax)) if n > 1 else q
                q0, q1 = qi.tolist()  # Python floats: cheaper than numpy scalars here
                ai = a_all[i]
                dlog_da[i] = (q0 / ai - q1 / (1.0 - ai)) / (q0 + q1)
            w = flat.dot(init if n == 1 else init.reshape(-1)).reshape(w.shape[: w.ndim - n])
        beta = w
    kept.beta = betas[::-1]
    return _Comp(log_scale, np.array(marg), dlog_da, 0.0, "sweep", cost, kept)


def tail_probability(pi: np.ndarray, k: int) -> float:
    """P(more than k of independent Bernoulli(pi) are 1): Poisson-binomial recursion.

    The "more than k" mass is accumulated directly (never as 1 - sum), so a tiny tail is not
    lost to rounding and the bound stays rigorous.
    """
    dist = np.zeros(k + 2)  # counts 0..k, then the cell for "more than k"
    dist[0] = 1.0
    for p in pi:
        new = np.empty_like(dist)
        new[0] = dist[0] * (1.0 - p)
        new[1 : k + 1] = dist[1 : k + 1] * (1.0 - p) + dist[:k] * p
        new[k + 1] = dist[k + 1] + dist[k] * p
        dist = new
    return float(dist[k + 1])


def truncated_cost(m: int, k: int, kmax: int) -> float:
    """Cost of enumerating the configurations of at most `kmax` of `m` causes over `k` findings."""
    return float(sum(comb(m, s) for s in range(min(kmax, m) + 1)) * (k + kmax))


_BLOCK_VALUES = 1 << 15  # configurations x findings per block (256 KB arrays stay in cache)


def _configurations(m: int, kmax: int, rows: int) -> Iterator[np.ndarray]:
    """The active sets of at most `kmax` of `m` causes, as (rows, size) index blocks."""
    yield np.zeros((1, 0), dtype=np.int64)  # nobody active
    for size in range(1, min(kmax, m) + 1):
        sets = combinations(range(m), size)
        while True:
            flat = np.fromiter(chain.from_iterable(islice(sets, rows)), dtype=np.int64)
            if flat.size == 0:
                break
            yield flat.reshape(-1, size)


def _truncated(
    pi: np.ndarray, log_b: np.ndarray, a: np.ndarray, max_active: int, budget: float
) -> _Comp:
    """Enumerate configurations with at most K active core causes; bound the rest.

    Neglected mass <= P(more than K active) under the priors (the likelihood is <= 1), which
    gives each posterior the rigorous interval [p/(1+rho), (p+rho)/(1+rho)], rho = tail / Z_K.
    K starts at `max_active` and is lowered until the cost fits `budget` (K = 0 keeps only
    the configuration with nothing active: the bound then says the answer carries no
    information). Configurations are summed in blocks, rescaled to a running maximum, so the
    memory is bounded by the block size however many there are.
    """
    m, k = log_b.shape
    kmax = max_active
    while kmax > 0 and truncated_cost(m, k, kmax) > budget:
        kmax -= 1
    log_odds = np.log(pi) - np.log1p(-pi)
    base = float(np.log1p(-pi).sum())
    shift = -np.inf
    z = 0.0
    num = np.zeros(m)
    de = np.zeros(k)  # sum over configurations of w * e / f
    for idx in _configurations(m, kmax, max(64, _BLOCK_VALUES // max(k, 1))):
        log_e = np.zeros((idx.shape[0], k))
        for col in range(idx.shape[1]):
            log_e += log_b[idx[:, col]]
        e = np.exp(log_e)  # P(no core cause fires finding i | config)
        f = 1.0 - a * e
        log_w = log_odds[idx].sum(axis=1) + base + np.log(f).sum(axis=1)
        top = float(log_w.max())
        if top > shift:
            scale = float(np.exp(shift - top))
            z, shift = z * scale, top
            num *= scale
            de *= scale
        w = np.exp(log_w - shift)
        z += float(w.sum())
        for col in range(idx.shape[1]):
            num += np.bincount(idx[:, col], weights=w, minlength=m)
        de += w @ (e / f)
    tail = tail_probability(pi, kmax)
    log_zk = shift + log(z)
    rel = float(np.exp(np.log(tail) - log_zk)) if tail > 0 else 0.0
    return _Comp(log_zk, num / z, -de / z, rel, f"truncated-k{kmax}", truncated_cost(m, k, kmax))


# --- Batched log Z for clamped reruns -------------------------------------------------------
#
# The muscle-level and latent probabilities need log Z of the same evidence under several
# variants of the priors (some causes clamped to 0) and of the virtual findings' leaks. One
# posterior() per variant repeats the same numpy calls each time; here every variant rides
# along a leading batch axis of the same plan: the structure (which causes touch which
# findings, the components, the sweep order) is that of the union of the variants, and a
# clamped cause simply contributes the identity (prior 0), which is exact.


class BatchOverBudget(Exception):
    """A component of the batch has no exact algorithm within the budget: rerun one by one."""


def log_z_batch(
    net: Network,
    positives: np.ndarray | Sequence[int],
    negatives: np.ndarray | Sequence[int] = (),
    *,
    priors: np.ndarray,
    extra_link: np.ndarray | None = None,
    extra_leaks: np.ndarray | None = None,
    exact_budget: float = 4e6,
) -> np.ndarray:
    """log Z for each row of `priors` (B x causes) and of `extra_leaks` (B x v): row b equals
    `posterior(net, positives, negatives, prior=priors[b], extra_link=extra_link,
    extra_leak=extra_leaks[b]).log_z` (to rounding), computed in one pass. Raises
    BatchOverBudget where a component would need the bounded approximation."""
    pos = np.unique(np.asarray(positives, dtype=np.int64))
    neg = np.unique(np.asarray(negatives, dtype=np.int64))
    priors = np.atleast_2d(np.asarray(priors, dtype=np.float64))
    n_batch = priors.shape[0]
    pi = absorb_negatives(net, neg, priors)  # (B, n): the update is per cause, broadcast
    link_pos = net.link[:, pos]
    leak_pos = np.broadcast_to(net.leak[pos], (n_batch, pos.size))
    if extra_link is not None and extra_leaks is not None and extra_link.shape[1]:
        link_pos = np.hstack([link_pos, extra_link])
        leak_pos = np.hstack([leak_pos, np.atleast_2d(extra_leaks)])
    has_parent = (link_pos > 0).any(axis=0)
    link_pos, leak_pos = link_pos[:, has_parent], leak_pos[:, has_parent]
    live = np.asarray((pi > 0).any(axis=0))  # a cause some variant leaves unclamped
    adj = (link_pos > 0) & live[:, None]
    deg = adj.sum(axis=1)
    out = np.zeros(n_batch)
    if not has_parent.any():
        return out
    single = np.flatnonzero(deg == 1)
    core = np.flatnonzero(deg >= 2)
    a = 1.0 - leak_pos  # (B, k)
    single_col = adj[single].argmax(axis=1)
    m_single = 1.0 - pi[:, single] * link_pos[single, single_col]  # (B, s)
    spread = np.zeros((single.size, link_pos.shape[1]))
    spread[np.arange(single.size), single_col] = 1.0
    a_eff = np.exp(np.log(a) + np.log(m_single) @ spread)
    labels = _components(adj[core])
    for label in np.unique(labels):
        cols = np.flatnonzero(labels == label)
        rows = core[adj[core][:, cols].any(axis=1)]
        out += _solve_batch(
            pi[:, rows],
            np.log1p(-link_pos[rows][:, cols]),
            a_eff[:, cols],
            net.sweep_rank[rows],
            exact_budget,
        )
    return out


def _solve_batch(
    pi: np.ndarray, log_b: np.ndarray, a: np.ndarray, rank: np.ndarray, budget: float
) -> np.ndarray:
    """log Z of one component for each batch row: `_solve` with a leading batch axis."""
    m, k = log_b.shape
    if m == 0:
        return np.log1p(-a[:, 0])
    adj = log_b < 0
    solo = adj.sum(axis=0) == 1
    parent = adj[:, solo].argmax(axis=0)
    b = np.exp(log_b[parent, np.flatnonzero(solo)])
    a_s = a[:, solo]
    spread = np.zeros((parent.size, m))
    spread[np.arange(parent.size), parent] = 1.0
    w0 = np.exp(np.log1p(-a_s) @ spread)  # (B, m): product over a cause's solo findings
    w1 = np.exp(np.log1p(-a_s * b) @ spread)
    norm = pi * w1 + (1.0 - pi) * w0
    pi = pi * w1 / norm
    log_z = np.log(norm).sum(axis=1)
    rest = ~solo
    if not rest.any():
        return log_z
    keep = adj[:, rest].any(axis=1)
    log_b, pi, a = log_b[keep][:, rest], pi[:, keep], a[:, rest]
    algorithm, order, _, _ = _choose(log_b, rank[keep], budget, "auto")
    if algorithm == "enumeration":
        return log_z + _enumerate_batch(pi, log_b, a)
    if algorithm == "sweep":
        return log_z + _sweep_batch(pi, log_b, a, order)
    raise BatchOverBudget(f"a component of {m} causes x {k} findings exceeds the budget")


# Stands in for log(0) in a product over configurations: finite, so 0 * it is 0 (not NaN),
# and a sum of up to 40 of them is still finite, while exp() of it is exactly 0.
_LOG_ZERO = -1e300


def _enumerate_batch(pi: np.ndarray, log_b: np.ndarray, a: np.ndarray) -> np.ndarray:
    """log Z by enumerating the 2^m configurations, for each batch row."""
    m = pi.shape[1]
    conf = _configuration_table(m)
    with np.errstate(divide="ignore"):
        log_on = np.where(pi > 0, np.log(pi), _LOG_ZERO)
    log_off = np.log1p(-pi)
    log_w = (conf @ (log_on - log_off).T).T + log_off.sum(axis=1)[:, None]  # (B, 2^m)
    e = np.exp(conf @ log_b)  # (2^m, k), shared
    log_w = log_w + np.log1p(-a[:, None, :] * e[None]).sum(axis=2)
    shift = log_w.max(axis=1)
    return shift + np.log(np.exp(log_w - shift[:, None]).sum(axis=1))


def _sweep_batch(pi: np.ndarray, log_b: np.ndarray, a: np.ndarray, order: np.ndarray) -> np.ndarray:
    """log Z by the forward sweep (no backward pass), for each batch row: the state carries
    a leading batch axis; plan, kernels and dense matrices are those of `_sweep`."""
    n_batch = pi.shape[0]
    steps = _skeleton(log_b, order)
    alpha = np.ones(n_batch)
    log_scale = np.zeros(n_batch)
    for st in steps:
        for i in st.opens:
            v = np.stack([a[:, i], 1.0 - a[:, i]], axis=1)  # (B, 2)
            alpha = alpha[..., None] * v.reshape((n_batch,) + (1,) * (alpha.ndim - 1) + (2,))
        if st.dense is not None:
            on = (alpha.reshape(n_batch, -1) @ st.dense.T).reshape(alpha.shape)
        else:
            on = alpha.copy()
            for lo, hi, b in st.kernels:
                v0 = on[(_ALL, *lo)]
                v1 = on[(_ALL, *hi)]
                v1 += (1.0 - b) * v0
                v0 *= b
        p = pi[:, st.cause].reshape((n_batch,) + (1,) * (alpha.ndim - 1))
        nxt = alpha * (1.0 - p)
        nxt += p * on
        if st.close is not None:
            nxt = nxt[(_ALL, *st.close)]
            s = nxt.reshape(n_batch, -1).sum(axis=1)
            nxt = nxt / s.reshape((n_batch,) + (1,) * (nxt.ndim - 1))
            log_scale += np.log(s)
        alpha = nxt
    return log_scale
