"""Best explanations (sets of 1 to 3 trigger points) and per-candidate explanations.

A set S is scored by P(exactly S active among the trigger points that touch the drawing |
drawing). Trigger points that refer to no painful region are left out of "exactly": they are
independent of the drawing, so requiring them inactive would only scale every set alike.

The search is exact, best-first with an admissible bound. Write g_i(x) = log(1 - a_i e^x) for
painful region i, where x is the summed log(1 - link) of the active set and a_i = 1 - leak_i.
g_i is concave and decreasing, so adding a cause to a set gains at most what it gains alone:
log P(S + k) <= log P(S) + u_k, u_k = log P({k}) - log P({}). Sets are generated in order of
that bound and evaluated until the bound falls below the k-th best score found.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triggerpoint.inference.exact import EXACT_METHODS, Posterior
from triggerpoint.inference.network import ZONE_NAMES, Network, Zone
from triggerpoint.inference.ties import TIE, ranked

# Most candidate sets evaluated per size; past it the search is cut short and reported as not
# exhaustive (on the atlas the bound keeps every benchmark drawing far below it).
MAX_EVAL = 200_000
_CHUNK = 256


@dataclass
class _Scorer:
    """Scores of sets of touched causes (indices into `causes`, sorted by u descending)."""

    causes: np.ndarray  # touched cause indices, by u descending
    u: np.ndarray  # bound increments u_k, descending
    cap: np.ndarray  # log P(k active): no set holding k scores more
    log_odds: np.ndarray
    log_b: np.ndarray  # (t, k) log(1 - link) to the positives
    a: np.ndarray  # 1 - leak of the positives
    base: float  # sum log(1 - pi) over touched causes - log Z

    def score(self, idx: np.ndarray) -> np.ndarray:
        """Exact log P(exactly the set | drawing) for rows of local indices."""
        # Member by member, in column order: the same additions as `.sum(axis=1)` over a set's
        # 2 or 3 members (numpy adds a short axis left to right), without the (sets, members,
        # positives) gather; checked bit-identical.
        cols = [idx[:, n] for n in range(idx.shape[1])]
        log_b, log_odds = self.log_b, self.log_odds
        x, odds = log_b[cols[0]], log_odds[cols[0]]
        for c in cols[1:]:
            x = x + log_b[c]
            odds = odds + log_odds[c]
        return odds + np.log1p(-self.a * np.exp(x)).sum(axis=1) + self.base


class _Top:
    """The best `n` (score, size, members) seen, every set tied with the nth (see `ties`:
    which tied sets make the cut is decided by size and members, never by the last bits of
    the scores), and the score a new set must reach to matter."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[float, int, tuple[int, ...]]] = []
        self.kth = -np.inf  # the nth best score less the tie slack (scores are logs)

    def offer(self, scores: np.ndarray, sets: np.ndarray, causes: np.ndarray) -> None:
        keep = np.flatnonzero(scores >= self.kth)
        if keep.size > self.n:  # the chunk's n best and every set tied with its nth
            nth = -np.partition(-scores[keep], self.n - 1)[self.n - 1]
            keep = keep[scores[keep] >= nth - TIE]
        if keep.size == 0:
            return
        members = np.sort(causes[sets[keep]], axis=1).tolist()  # one conversion, not per set
        items = self.items
        for score, mem in zip(scores[keep].tolist(), members, strict=True):
            items.append((score, len(mem), tuple(mem)))
        order = ranked([t[0] for t in items], key=lambda k: items[k][1:], log=True)
        self.items = [items[k] for k, _ in order]
        if len(self.items) >= self.n:
            self.kth = self.items[self.n - 1][0] - TIE
            head, tail = self.items[: self.n], self.items[self.n :]
            self.items = head + [t for t in tail if t[0] >= self.kth]

    def best(self) -> list[tuple[float, int, tuple[int, ...]]]:
        return self.items[: self.n]


def best_sets(
    net: Network, post: Posterior, *, max_size: int = 3, top: int = 5
) -> tuple[list[tuple[tuple[int, ...], float]], bool]:
    """The `top` most probable sets of 1..max_size causes, as (cause indices, probability),
    and whether the search was exhaustive (no evaluation cap cut it short)."""
    touched = np.flatnonzero(post.touched)
    if touched.size == 0 or top <= 0:
        return [], True
    if not 1 <= max_size <= 3:
        raise ValueError("sets hold 1 to 3 trigger points")
    pos = post.positives
    pi = post.prior_neg[touched]
    a = 1.0 - net.leak[pos]
    log_b = net.log_nolink[np.ix_(touched, pos)]  # one gather of the touched rows' columns
    base = float(np.log1p(-pi).sum()) - post.log_z
    log_odds = np.log(pi) - np.log1p(-pi)
    single = log_odds + np.log1p(-a * np.exp(log_b)).sum(axis=1) + base
    empty = base + float(np.log1p(-a).sum())
    order = np.argsort(-single, kind="stable")
    cap = np.full(order.size, np.inf)
    if post.method in EXACT_METHODS:  # P(S) <= P(j active) for every member j
        cap = np.log(np.maximum(post.marginal[touched[order]], 1e-300)) + 1e-12
    sc = _Scorer(touched[order], single[order] - empty, cap, log_odds[order], log_b[order], a, base)
    best = _Top(top)
    best.offer(single[order], np.arange(order.size)[:, None], sc.causes)
    exhaustive = True
    if max_size >= 2:
        pairs, total = _pairs(sc, best.kth - empty)
        exhaustive &= _search(sc, best, pairs, _capped(sc, pairs, empty + total))
    if max_size >= 3:
        exhaustive &= _search(sc, best, *_triples(sc, best.kth, empty))
    return [(m, float(min(1.0, np.exp(s)))) for s, _, m in best.best()], exhaustive


def _spans(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(owner, value) for every value in [starts[r], ends[r]) of every row r, vectorised."""
    counts = np.maximum(ends - starts, 0)
    owner = np.repeat(np.arange(starts.size), counts)
    offsets = np.cumsum(counts) - counts
    return owner, np.arange(owner.size) - offsets[owner] + starts[owner]


def _reach(u: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Number of leading (descending) u values that are >= need, elementwise."""
    return np.searchsorted(-u, -need, side="right")


def _pairs(sc: _Scorer, need: float) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (a < b in u order) with u_a + u_b >= need, and that sum."""
    owner, second = _spans(np.arange(1, sc.u.size + 1), _reach(sc.u, need - sc.u))
    return np.stack([owner, second], axis=1), sc.u[owner] + sc.u[second]


def _capped(sc: _Scorer, idx: np.ndarray, bound: np.ndarray) -> np.ndarray:
    return np.minimum(bound, sc.cap[idx].min(axis=1))


def _triples(sc: _Scorer, kth: float, empty: float) -> tuple[np.ndarray, np.ndarray]:
    """Triples (a < b < c in u order) whose bound log P({a, b}) + u_c reaches kth."""
    t = sc.u.size
    if t < 3:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0)
    pairs, total = _pairs(sc, kth - empty - sc.u[2])  # u_c <= u[2] for any third c
    nxt = np.append(sc.u, -np.inf)[pairs[:, 1] + 1]  # the best third a pair can take
    pairs = pairs[empty + total + nxt >= kth]
    s = sc.score(pairs)
    owner, third = _spans(pairs[:, 1] + 1, _reach(sc.u, kth - s))
    idx = np.column_stack([pairs[owner], third])
    return idx, _capped(sc, idx, s[owner] + sc.u[third])


def _search(sc: _Scorer, best: _Top, cand: np.ndarray, bound: np.ndarray) -> bool:
    """Evaluate candidates best bound first until the bound drops below the k-th best score.
    Returns False if the evaluation cap left out a candidate that could still enter."""
    keep = bound >= best.kth
    cand, bound = cand[keep], bound[keep]
    order = np.argsort(-bound, kind="stable")
    cut = order[MAX_EVAL:]
    order = order[:MAX_EVAL]
    start, chunk = 0, _CHUNK
    while start < order.size and bound[order[start]] >= best.kth:
        rows = order[start : start + chunk]
        best.offer(sc.score(cand[rows]), cand[rows], sc.causes)
        start += chunk
        chunk *= 2
    return bool(cut.size == 0 or bound[cut[0]] < best.kth)


def explained_regions(net: Network, members: tuple[int, ...], positives: np.ndarray) -> np.ndarray:
    """Painful region indices that lie in a zone of at least one member."""
    if not members or positives.size == 0:
        return positives[:0]
    return positives[(net.link[np.asarray(members)][:, positives] > 0).any(axis=0)]


def zone_hits(net: Network, cause: int, regions: np.ndarray) -> list[tuple[int, Zone]]:
    """(region index, zone name) for the regions that lie in a zone of this cause."""
    regions = np.asarray(regions)
    if net.zone is None:
        return [(i, "essential") for i in regions[net.link[cause, regions] > 0].tolist()]
    # Plain lists: called per candidate and per muscle point, where numpy scalars cost more
    # than the work. A stable sort keeps the drawing's order within a zone.
    codes = net.zone[cause, regions].tolist()
    hits = [(c, r) for c, r in zip(codes, regions.tolist(), strict=True) if c > 0]
    hits.sort(key=lambda t: t[0])  # essential (1) first, then spillover (2), then local (3)
    return [(r, ZONE_NAMES[c]) for c, r in hits]


def zone_hits_many(
    net: Network, causes: list[int], regions: np.ndarray
) -> list[list[tuple[int, Zone]]]:
    """`zone_hits` for several causes, from one lookup of their rows (same lists, in the
    same order): a result asks it for a dozen or more causes at once."""
    regions = np.asarray(regions)
    if not causes:
        return []
    idx = np.asarray(causes, dtype=np.int64)
    region_list = regions.tolist()
    if net.zone is None:
        linked = (net.link[idx][:, regions] > 0).tolist()
        return [[(r, "essential") for r, x in zip(region_list, row, strict=True) if x]
                for row in linked]  # fmt: skip
    out = []
    for codes in net.zone[idx][:, regions].tolist():
        hits = [(c, r) for c, r in zip(codes, region_list, strict=True) if c > 0]
        hits.sort(key=lambda t: t[0])  # essential (1), spillover (2), local (3); stable
        out.append([(r, ZONE_NAMES[c]) for c, r in hits])
    return out


def needling_summary(tp: object) -> str:
    """One line from the muscle's needling notes: depth, thorax warning, structures at risk."""
    muscle = getattr(tp, "muscle", None)
    needling = getattr(muscle, "needling", None)
    if needling is None:
        return ""
    lo, hi = needling.depth_mm
    parts = [f"Depth {lo}-{hi} mm", needling.patient_position]
    if needling.thorax:
        parts.append("THORAX: the needle path can reach the pleura (pneumothorax risk)")
    risks = [r.structure for r in needling.structures_at_risk if r.kind != "lung"]
    if risks:
        parts.append("At risk: " + "; ".join(risks))
    return ". ".join(p.rstrip(".") for p in parts) + "."
