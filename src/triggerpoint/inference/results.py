"""The result of `suggest()`: candidates, explanations, examine-next and the muscle list,
built from an exact (or bounded) posterior.

Kept apart from the service so the service reads as the steps of a call. Everything here
trusts its inputs (validated drawing, resolved findings, a posterior of this network) and
builds the response models without re-validating them (`_fast`): a result holds about a
hundred small models, and their validation cost more than the inference. What depends only
on the network and the catalogue (`_Static`: the cards of the candidates, region names,
leaf models) is built once per network.
"""

from __future__ import annotations

import dataclasses
import gc
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel

from triggerpoint.bodychart.catalog import Catalog
from triggerpoint.inference.evidence import Evidence
from triggerpoint.inference.exact import EXACT_METHODS, Posterior
from triggerpoint.inference.examine import (
    information_gain,
    likelihoods,
    palpation_cost,
    reason,
)
from triggerpoint.inference.explain import (
    best_sets,
    explained_regions,
    needling_summary,
    zone_hits_many,
)
from triggerpoint.inference.findings import Finding, label, point_label
from triggerpoint.inference.muscles import Rerun, RerunBatch, muscle_posteriors
from triggerpoint.inference.network import AtlasLike, Network, Zone
from triggerpoint.inference.params import Params
from triggerpoint.inference.schemas import (
    DISCLAIMER,
    EMPTY_MESSAGE,
    EXPLANATION_DEFINITION,
    NOTHING_REFERS,
    Candidate,
    ComponentInfo,
    Drawing,
    DrawingEcho,
    ExamineNext,
    ExplainedRegion,
    Explanation,
    ExplanationMember,
    MuscleSummary,
    MuscleTriggerPoint,
    PalpationEcho,
    RegionRef,
    SuggestResult,
    Zones,
)
from triggerpoint.inference.ties import ranked as tie_ranked


@dataclasses.dataclass
class Extra:
    """What the palpation-aware parts of a result need besides the posterior."""

    atlas: AtlasLike
    params: Params
    ev: Evidence
    p_latent: np.ndarray
    rerun: Rerun | None
    rerun_batch: RerunBatch | None = None


_M = TypeVar("_M", bound=BaseModel)
_set_attr = object.__setattr__


def _fast(cls: type[_M], /, **values: Any) -> _M:
    """`cls.model_construct(**values)` for trusted values that name every field (all the
    result's parts but the top level): the same instance, without model_construct's
    per-field alias and default lookups, which cost more than the rest of a small model's
    construction (a result holds about a hundred). Falls back when a field is left out."""
    if len(values) != len(cls.__pydantic_fields__):
        return cls.model_construct(**values)
    m = cls.__new__(cls)
    _set_attr(m, "__dict__", values)
    _set_attr(m, "__pydantic_fields_set__", set(values))
    _set_attr(m, "__pydantic_extra__", None)
    _set_attr(m, "__pydantic_private__", None)
    return m


def _ref(catalog: Catalog, region_id: str) -> RegionRef:
    return _fast(RegionRef, id=region_id, name=_region_name(catalog, region_id))


def _region_name(catalog: Catalog, region_id: str) -> str:
    region = catalog.regions.get(region_id)
    return region.name if region else region_id.replace("_", " ")


class _Static:
    """What a result needs that depends only on (network, catalogue): built once, so a call
    builds models only for the candidates and explanations it returns."""

    def __init__(self, net: Network, catalog: Catalog) -> None:
        self.catalog = catalog
        self.region_names = [_region_name(catalog, r) for r in net.regions]
        self.causes = net.causes
        self.muscle_ids = [tp.muscle_id for tp in net.trigger_points]
        self.essential = [
            np.array([net.region_index[r] for r in tp.essential if r in net.region_index])
            for tp in net.trigger_points
        ]
        self.cards: list[dict[str, Any] | None] = [None] * len(net.causes)
        self.costs: dict[tuple[int, object], float] = {}
        # Leaf models (a region, a region with its zone), built once and shared by every
        # result: nothing writes to a result's models once built (the routes, the CLI and the
        # pages only read them), and a result holds dozens of them.
        self._refs: dict[int, RegionRef] = {}
        self._explained: dict[tuple[int, Zone], ExplainedRegion] = {}
        self._by_id: dict[str, RegionRef] = {}

    def ref(self, net: Network, i: int) -> RegionRef:
        """Region i (an index into net.regions) as a RegionRef."""
        hit = self._refs.get(i)
        if hit is None:
            hit = self._refs[i] = _fast(RegionRef, id=net.regions[i], name=self.region_names[i])
        return hit

    def ref_id(self, region_id: str) -> RegionRef:
        """A catalogue region (painful or pain-free, in the network or not) as a RegionRef."""
        hit = self._by_id.get(region_id)
        if hit is None:
            hit = self._by_id[region_id] = _ref(self.catalog, region_id)
        return hit

    def explained(self, net: Network, i: int, zone: Zone) -> ExplainedRegion:
        """Region i in a zone of a candidate, as an ExplainedRegion."""
        hit = self._explained.get((i, zone))
        if hit is None:
            hit = self._explained[(i, zone)] = _fast(
                ExplainedRegion, id=net.regions[i], name=self.region_names[i], zone=zone
            )
        return hit

    def palpation_cost(self, net: Network, j: int, pal: Any) -> float:
        """Keyed by the cost settings themselves (a frozen model: hashed and compared by
        value), so other settings never read a stale cost."""
        key = (j, pal.cost)
        cost = self.costs.get(key)
        if cost is None:
            tp = net.trigger_points[j]
            muscle = tp.muscle
            compressible = (
                muscle.compressible_at(tp.tp_id)
                if hasattr(muscle, "compressible_at")
                else bool(muscle.needling.compressible)
            )
            cost = self.costs[key] = palpation_cost(
                pal, depth_max_mm=int(muscle.needling.depth_mm[1]), compressible=compressible
            )
        return cost

    def label(self, net: Network, j: int) -> str:
        """ "right levator scapulae upper trigger point (angle of the neck)" """
        tp = net.trigger_points[j]
        return point_label(tp.side, tp.muscle.name, tp.tp_id, getattr(tp.tp, "name", None))

    def card(self, net: Network, j: int) -> dict[str, Any]:
        """The fields of candidate j that do not depend on the drawing."""
        card = self.cards[j]
        if card is None:
            tp = net.trigger_points[j]
            needling = tp.muscle.needling
            card = self.cards[j] = {
                "uid": tp.uid,
                "muscle_id": tp.muscle_id,
                "muscle": tp.muscle.name,
                "side": tp.side,
                "trigger_point_id": tp.tp_id,
                "trigger_point": tp.tp.name,
                "prior": float(net.prior[j]),
                "location": tp.tp.location,
                "position_region": _fast(
                    RegionRef,
                    id=tp.position_region,
                    name=_region_name(self.catalog, tp.position_region),
                ),
                "needling": needling_summary(tp),
                "depth_mm": tuple(needling.depth_mm),
                "thorax": needling.thorax,
                "zones": (list(tp.essential), list(tp.spillover), list(tp.local)),
            }
        return card


_STATIC: dict[int, tuple[Network, Catalog, _Static]] = {}


def _static(net: Network, catalog: Catalog) -> _Static:
    hit = _STATIC.get(id(net))
    if hit is None or hit[0] is not net or hit[1] is not catalog:
        hit = _STATIC[id(net)] = (net, catalog, _Static(net, catalog))
        while len(_STATIC) > 8:
            _STATIC.pop(next(iter(_STATIC)))
        _process_setup_once()
    return hit[2]


_SET_UP = [False]


def _process_setup_once() -> None:
    """Once per process, when the first result's caches are built: move what is alive then
    (the atlas, the network, the catalogue: they live for the process) out of the cyclic
    garbage collector, and keep BLAS to one thread. Without the first, every full collection
    walks them again (about 20 ms measured on the atlas, paid by whichever call triggers it:
    it set the benchmark's p99). Garbage is collected first, so nothing unreachable is kept;
    objects made later are collected as usual."""
    if _SET_UP[0]:
        return
    _SET_UP[0] = True
    gc.collect()
    gc.freeze()
    _single_blas_thread()


def _single_blas_thread() -> None:
    """One BLAS thread for the process (via threadpoolctl, where installed). The engine's
    products are small (at most a few thousand rows): OpenBLAS's threads cost far more than
    they save there, and on a loaded machine a threaded product waits for a busy core (an
    11-cause enumeration: 3.4 ms threaded at load 10 on 2 cores, 0.4 ms on one thread). A
    web server runs requests side by side, so one thread per product is what it wants too."""
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # no stubs
    except ImportError:  # not installed: BLAS keeps its default
        return
    threadpool_limits(limits=1, user_api="blas")


def build_result(
    net: Network,
    catalog: Catalog,
    post: Posterior,
    d: Drawing,
    pain: list[str],
    pain_free: list[str],
    *,
    top: int,
    extra: Extra,
    muscles_shown: int = 5,
) -> SuggestResult:
    """The whole response for one posterior (`elapsed_ms`, `cost`, `budget` and the
    approximation note are the caller's). `muscles_shown` caps the muscle list: each listed
    muscle-side whose points share a component costs a clamped run."""
    static = _static(net, catalog)
    ev = extra.ev
    shown = post.touched.copy()
    if ev.finding_of:
        shown[list(ev.finding_of)] = True  # a palpated point is shown even if the drawing misses it
    negative = np.zeros(len(net.regions), dtype=bool)
    negative[post.negatives] = True
    ranked = _rank(static, post.marginal, np.flatnonzero(shown), max(top, EXAMINE_POOL))
    hits = zone_hits_many(net, [j for j, _ in ranked[:top]], post.positives)
    candidates = [
        _candidate(net, static, post, j, p, negative, extra, hit)
        for (j, p), hit in zip(ranked[:top], hits, strict=True)
    ]
    explanations = []
    sets, exhaustive = _best_sets(net, post, ev)
    for members, prob in sets:
        explained = [net.regions[i] for i in explained_regions(net, members, post.positives)]
        hit = set(explained)
        explanations.append(
            _fast(
                Explanation,
                trigger_points=[_member(static.card(net, j)) for j in members],
                probability=prob,
                explained_share=len(hit) / max(len(pain), 1),
                explained=explained,
                unexplained=[r for r in pain if r not in hit],
            )
        )
    message = None
    if not pain:
        message = EMPTY_MESSAGE
    elif not candidates:
        message = NOTHING_REFERS
    referred = {net.regions[i] for i in post.positives}
    return SuggestResult.model_construct(
        candidates=candidates,
        explanations=explanations,
        explanations_exhaustive=exhaustive,
        method=post.method,
        exact=post.method in EXACT_METHODS,
        bound=post.bound,
        components=[_fast(ComponentInfo, **vars(c)) for c in post.components],
        drawing=_fast(
            DrawingEcho,
            painful=[static.ref_id(r) for r in pain],
            pain_free=[static.ref_id(r) for r in pain_free],
            complete=d.complete,
            negative_findings=int(post.negatives.size),
        ),
        unreferred=[static.ref_id(r) for r in pain if r not in referred],
        message=message,
        explanation_definition=EXPLANATION_DEFINITION,
        disclaimer=DISCLAIMER,
        elapsed_ms=0.0,
        examine_next=_examine(net, static, post, extra, ranked, sets),
        muscles=_muscles(net, static, post, extra, shown, min(top, muscles_shown)),
        palpation=[_echo(extra.atlas, f) for f in ev.findings],
    )


EXAMINE_POOL = 10  # candidates considered for "examine next"
EXAMINE_SHOWN = 3
# Muscle-sides listed: each one whose points share a component costs a clamped run (exact),
# so the list is kept to what a bedside view shows.
MUSCLES_SHOWN = 5
EXPLANATIONS = 5


def _best_sets(
    net: Network, post: Posterior, ev: Evidence
) -> tuple[list[tuple[tuple[int, ...], float]], bool]:
    """best_sets, with muscle-level palpation findings as extra positive columns: the
    search reads only the leaks and log(1 - link) of the positives, so a view holding the
    painful regions' columns followed by the virtual ones gives the exact scores."""
    if post.virtual.size == 0 or ev.extra_link is None or ev.extra_leak is None:
        return best_sets(net, post, top=EXPLANATIONS)
    pos = post.positives
    view = SimpleNamespace(
        leak=np.concatenate([net.leak[pos], ev.extra_leak[post.virtual]]),
        log_nolink=np.hstack([net.log_nolink[:, pos], np.log1p(-ev.extra_link[:, post.virtual])]),
    )
    flat = dataclasses.replace(post, positives=np.arange(pos.size + post.virtual.size))
    return best_sets(cast(Network, view), flat, top=EXPLANATIONS)


def _examine(
    net: Network,
    static: _Static,
    post: Posterior,
    extra: Extra,
    ranked: list[tuple[int, float]],
    sets: list[tuple[tuple[int, ...], float]],
) -> list[ExamineNext]:
    """The best 3 of the top 10 unpalpated candidates by information gain per cost."""
    ev = extra.ev
    covered = ev.covered
    pool = [
        j
        for j, _ in ranked[:EXAMINE_POOL]
        if post.touched[j] and (covered is None or not covered[j])
    ]
    if not pool or post.method not in EXACT_METHODS:
        return []
    idx = np.array(pool)
    pal = extra.params.palpation
    member = np.array([[j in m for m, _ in sets] for j in pool], dtype=bool).reshape(idx.size, -1)
    p_sets = np.array([p for _, p in sets])
    lik_a, lik_i = likelihoods(pal, ev.latent_share[idx])
    gain = information_gain(p_sets, member, post.marginal[idx], lik_a, lik_i)
    cost = np.array([static.palpation_cost(net, j, pal) for j in pool])
    score = gain / cost
    # Tied gains (the two sides of one muscle) in uid order, never by the last bits.
    order = [
        k for k, _ in tie_ranked(score, key=lambda k: static.causes[pool[k]]) if gain[k] > 1e-12
    ]
    out = []
    for k in order[:EXAMINE_SHOWN]:
        j = pool[k]
        card = static.card(net, j)
        out.append(
            _fast(
                ExamineNext,
                uid=card["uid"],
                muscle_id=card["muscle_id"],
                muscle=card["muscle"],
                side=card["side"],
                trigger_point_id=card["trigger_point_id"],
                trigger_point=card["trigger_point"],
                gain_bits=float(gain[k]),
                cost=float(cost[k]),
                reason=reason(static.label(net, j), j, sets),
            )
        )
    return out


def _muscles(
    net: Network, static: _Static, post: Posterior, extra: Extra, shown: np.ndarray, top: int
) -> list[MuscleSummary]:
    ev = extra.ev
    involved = shown if ev.covered is None else shown | ev.covered
    listed = muscle_posteriors(net, ev, post, extra.rerun, involved=involved, top=top)
    everyone = [j for _, g, _, _ in listed for j in g.tolist()]
    hits = iter(zone_hits_many(net, everyone, post.positives))
    marginal, latent = post.marginal[everyone].tolist(), extra.p_latent[everyone].tolist()
    at = iter(range(len(everyone)))
    out = []
    for (mid, side), g, p_any, p_lat in listed:
        points = []
        for j in g.tolist():
            card = static.card(net, j)
            n = next(at)
            points.append(
                _fast(
                    MuscleTriggerPoint,
                    uid=card["uid"],
                    trigger_point_id=card["trigger_point_id"],
                    trigger_point=card["trigger_point"],
                    p_active=marginal[n],
                    p_latent=latent[n],
                    explains=[net.regions[i] for i, _ in next(hits)],
                )
            )
        card = static.card(net, int(g[0]))
        out.append(
            _fast(
                MuscleSummary,
                muscle_id=mid,
                muscle=card["muscle"],
                side=side,
                p_active=p_any,
                p_latent=p_lat,
                trigger_points=points,
            )
        )
    return out


_TP_NAMES: dict[int, tuple[AtlasLike, dict[tuple[str, str], str]]] = {}


def _tp_names(atlas: AtlasLike) -> dict[tuple[str, str], str]:
    """Trigger point names by (muscle id, point id), per atlas (the first of each pair, as a
    scan of atlas.trigger_points finds it): an echo otherwise scans every sided point."""
    hit = _TP_NAMES.get(id(atlas))
    if hit is None or hit[0] is not atlas:
        names: dict[tuple[str, str], str] = {}
        for tp in atlas.trigger_points:
            names.setdefault((tp.muscle_id, tp.tp_id), tp.tp.name)
        hit = _TP_NAMES[id(atlas)] = (atlas, names)
        while len(_TP_NAMES) > 8:
            _TP_NAMES.pop(next(iter(_TP_NAMES)))
    return hit[1]


def _echo(atlas: AtlasLike, f: Finding) -> PalpationEcho:
    from triggerpoint.inference.findings import muscle_name

    tp_name = None
    if f.trigger_point_id is not None:
        tp_name = _tp_names(atlas).get((f.muscle_id, f.trigger_point_id))
    return _fast(PalpationEcho,
        muscle_id=f.muscle_id, muscle=muscle_name(atlas, f.muscle_id), side=f.side,
        trigger_point_id=f.trigger_point_id, trigger_point=tp_name, finding=f.finding,
        twitch=f.twitch, referral=f.referral, label=label(atlas, f.site),
    )  # fmt: skip


def _pct(p: float) -> str:
    return "<1%" if 0 < p < 0.005 else (">99%" if 0.995 <= p < 1 else f"{p:.0%}")


def state_sentence(
    finding: str | None, p_active: float, p_latent: float, *, muscle: str | None
) -> str:
    """One sentence that tells active from latent.

    Active: spontaneously painful, and pressure reproduces the familiar pain. Latent: hurts
    only when pressed, without the familiar complaint. Both can refer pain, so the sentence
    never ties latent to local pain or active to referred pain. "Likely" is said only when
    the posterior agrees with what the finding points to.
    """
    odds = f"P(active) {_pct(p_active)}, P(latent) {_pct(p_latent)}"
    absent = 1.0 - p_active - p_latent
    if finding == "familiar":
        if p_active >= max(p_latent, absent):
            return f"Pressure reproduced the familiar pain: likely active ({odds})."
        return (
            "Pressure reproduced the familiar pain, which points to an active trigger point, "
            f"though the rest of the evidence weighs against it ({odds})."
        )
    if finding == "tender":
        if p_latent >= max(p_active, absent):
            return (
                "Pressure reproduced a different pain (tender, not the familiar pain): likely "
                f"latent; it does not explain today's complaint ({odds})."
            )
        return (
            "Tender without the familiar pain, which points to a latent trigger point, though "
            f"the drawing still favours an active one ({odds})."
        )
    if finding == "none":
        return f"No tender spot or taut band on palpation: unlikely here ({odds})."
    if muscle is not None:
        return f"The muscle was palpated as a whole ({muscle}): {odds}."
    return f"Not palpated yet: {odds}; confirm by palpation."


def _rank(
    static: _Static, marg: np.ndarray, touched: np.ndarray, top: int
) -> list[tuple[int, float]]:
    """The `top` causes by probability, as (cause, probability).

    Probabilities that agree to within rounding (mirror-image trigger points of a midline
    muscle, or muscles sharing a zone) are exact ties (see `ties`). They are reported equal,
    and ordered so that each tied muscle is listed once before any is listed twice, then by
    uid: deterministic, and the short list shows more distinct muscles.
    """

    def arrange(group: list[int]) -> list[int]:
        seen: dict[str, int] = {}
        keyed = []
        for k in sorted(group, key=lambda k: static.causes[touched[k]]):
            muscle = static.muscle_ids[touched[k]]
            keyed.append((seen.get(muscle, 0), static.causes[touched[k]], k))
            seen[muscle] = seen.get(muscle, 0) + 1
        return [k for _, _, k in sorted(keyed)]

    return [(int(touched[k]), p) for k, p in tie_ranked(marg[touched], arrange=arrange, top=top)]


def _member(card: dict[str, Any]) -> ExplanationMember:
    return _fast(ExplanationMember,
        uid=card["uid"], muscle_id=card["muscle_id"], muscle=card["muscle"], side=card["side"],
        trigger_point_id=card["trigger_point_id"],
    )  # fmt: skip


def _candidate(
    net: Network,
    static: _Static,
    post: Posterior,
    j: int,
    p: float,
    negative: np.ndarray,
    extra: Extra,
    hits: list[tuple[int, Zone]],
) -> Candidate:
    """Model construction without re-validation: every field comes from validated data."""
    card = static.card(net, j)
    p_lat = float(extra.p_latent[j])
    finding = extra.ev.finding_of.get(j)
    muscle_finding = None
    if finding is None and extra.ev.covered is not None and extra.ev.covered[j]:
        tp = net.trigger_points[j]
        muscle_finding = next(
            f.finding
            for f in extra.ev.findings
            if f.trigger_point_id is None and (f.muscle_id, f.side) == (tp.muscle_id, tp.side)
        )
    explains = [static.explained(net, i, z) for i, z in hits]
    ess = static.essential[j]
    against = ess[negative[ess]] if ess.size else ess
    essential, spillover, local = card["zones"]
    return _fast(
        Candidate,
        uid=card["uid"],
        muscle_id=card["muscle_id"],
        muscle=card["muscle"],
        side=card["side"],
        trigger_point_id=card["trigger_point_id"],
        trigger_point=card["trigger_point"],
        probability=p,
        probability_interval=(
            (p, p)
            if post.method in EXACT_METHODS
            else (min(float(post.lower[j]), p), max(float(post.upper[j]), p))
        ),
        prior=card["prior"],
        explains=explains,
        against=[static.ref(net, i) for i in against.tolist()],
        location=card["location"],
        position_region=card["position_region"],
        needling=card["needling"],
        depth_mm=card["depth_mm"],
        thorax=card["thorax"],
        zones=_fast(Zones, essential=list(essential), spillover=list(spillover), local=list(local)),
        p_active=p,
        p_latent=p_lat,
        palpation=finding,
        state=state_sentence(finding, p, p_lat, muscle=muscle_finding),
    )
