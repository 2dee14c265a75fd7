"""`suggest()`: from a pain drawing to ranked, explained trigger point candidates.

The one function behind the Python API, the CLI and `POST /api/suggest`. Region names are
resolved through the body-chart catalogue (`Catalog.resolve`) so every interface accepts the
same names and reports the same nearest matches.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Collection, Mapping, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import numpy as np
from pydantic import BaseModel, ValidationError

from triggerpoint.bodychart.catalog import Catalog, UnknownRegionError, load_catalog
from triggerpoint.errors import InvalidInput
from triggerpoint.inference.evidence import Evidence, build_evidence
from triggerpoint.inference.exact import EXACT_METHODS, Posterior, log_z_batch, posterior
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
    zone_hits,
)
from triggerpoint.inference.findings import Finding, label, point_label, resolve_findings
from triggerpoint.inference.muscles import (
    Rerun,
    RerunBatch,
    latent_marginals,
    muscle_posteriors,
)
from triggerpoint.inference.network import AtlasLike, Network, network_for
from triggerpoint.inference.params import Links, Params, configured_params
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


class DrawingError(InvalidInput):
    """Bad drawing input; `field` names where (e.g. "pain.2", "pain_free")."""


class UnknownDrawingRegion(DrawingError):
    def __init__(self, field: str, exc: UnknownRegionError) -> None:
        self.region_error = exc
        super().__init__(field, str(exc), suggestions=exc.suggestions)


def as_drawing(drawing: Drawing | Mapping[str, Any] | Sequence[str] | str) -> Drawing:
    """Accept a Drawing, its dict form, a list of painful names, or a comma-separated string."""
    if isinstance(drawing, Drawing):
        return drawing
    if isinstance(drawing, str):
        drawing = [p for p in drawing.replace(";", ",").split(",") if p.strip()]
    try:
        if isinstance(drawing, Mapping):
            return Drawing.model_validate(dict(drawing))
        return Drawing(pain=list(drawing))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise DrawingError(".".join(str(p) for p in err["loc"]), err["msg"]) from None


# Resolved names per catalogue (catalogues are immutable once loaded). Bounded: names come
# from user input.
_NAMES: dict[int, tuple[Catalog, dict[str, tuple[str, ...]]]] = {}
_NAMES_MAX = 4096


def _resolve(catalog: Catalog, names: list[str], field: str) -> list[str]:
    hit = _NAMES.get(id(catalog))
    if hit is None or hit[0] is not catalog:
        hit = _NAMES[id(catalog)] = (catalog, {})
    known = hit[1]
    out: dict[str, None] = {}
    for n, name in enumerate(names):
        ids = known.get(name)
        if ids is None:
            try:
                ids = tuple(r.id for r in catalog.resolve(name))
            except UnknownRegionError as exc:
                raise UnknownDrawingRegion(f"{field}.{n}", exc) from None
            if len(known) >= _NAMES_MAX:
                known.clear()
            known[name] = ids
        out.update(dict.fromkeys(ids))
    return list(out)


def suggest(
    drawing: Drawing | Mapping[str, Any] | Sequence[str] | str,
    *,
    atlas: AtlasLike | None = None,
    params: Params | None = None,
    top: int = 10,
    max_terms: float | None = None,
) -> SuggestResult:
    """Rank trigger points by P(active | drawing), with the best 1-3 point explanations.

    `atlas` may be any atlas-like object (the tests pass small hand-made ones); `params`
    defaults to the packaged defaults overridden by TRIGGERPOINT_INFERENCE_PARAMS.
    `max_terms` (default: the TRIGGERPOINT_SUGGEST_MAX_TERMS setting) caps the work of the
    call, approximation included: beyond it the bounded approximation answers, and the
    result says so (`exact: false`, `approximation`).
    """
    started = time.perf_counter()
    d = as_drawing(drawing)
    if atlas is None:
        from triggerpoint.atlas.loader import load_atlas

        atlas = load_atlas()
    catalog: Catalog = getattr(atlas, "catalog", None) or load_catalog()
    params = params if params is not None else configured_params()
    net = network_for(atlas, complete_params(params) if d.complete else params)
    findings = resolve_findings(d.palpation, atlas=atlas) if d.palpation else []
    pain = _resolve(catalog, d.pain, "pain")
    pain_free = _resolve(catalog, d.pain_free, "pain_free")
    if d.intensity:
        _resolve(catalog, list(d.intensity), "intensity")
    both = [r for r in pain_free if r in set(pain)]
    if both:
        names = ", ".join(catalog.regions[r].name for r in both)
        raise DrawingError("pain_free", f"marked both painful and pain-free: {names}")
    pos = np.array([net.region_index[r] for r in pain if r in net.region_index], dtype=np.int64)
    if d.complete:
        neg_mask = np.ones(len(net.regions), dtype=bool)
        neg_mask[pos] = False
        neg = np.flatnonzero(neg_mask)
    else:
        neg = np.array(
            [net.region_index[r] for r in pain_free if r in net.region_index], dtype=np.int64
        )
    if max_terms is None:
        from triggerpoint.config import get_settings

        max_terms = get_settings().suggest_max_terms
    ev = build_evidence(net, params, findings)
    post = posterior(
        net,
        pos,
        neg,
        exact_budget=params.exact_budget,
        max_active=params.approx_max_active,
        max_cost=max_terms,
        prior=ev.prior,
        extra_link=ev.extra_link,
        extra_leak=ev.extra_leak,
    )
    rerun: Rerun | None = None
    rerun_batch: RerunBatch | None = None
    if post.method in EXACT_METHODS:

        def rerun_batch(
            priors: np.ndarray, leaks: np.ndarray | None, cols: np.ndarray
        ) -> np.ndarray:
            n_pos = post.positives.size
            virtual = post.virtual[cols[cols >= n_pos] - n_pos]
            extra = virtual.size > 0 and ev.extra_link is not None and leaks is not None
            return log_z_batch(
                net,
                post.positives[cols[cols < n_pos]],
                (),  # the priors passed in have absorbed the negative findings already
                priors=priors,
                extra_link=(
                    ev.extra_link[:, virtual] if extra and ev.extra_link is not None else None
                ),
                extra_leaks=leaks[:, virtual] if extra and leaks is not None else None,
                exact_budget=params.exact_budget,
            )

        def rerun(prior: np.ndarray, leak: np.ndarray | None, cols: np.ndarray) -> float:
            n_pos = post.positives.size
            virtual = post.virtual[cols[cols >= n_pos] - n_pos]
            return posterior(
                net,
                post.positives[cols[cols < n_pos]],
                (),  # the priors passed in have absorbed the negative findings already
                exact_budget=params.exact_budget,
                max_active=params.approx_max_active,
                prior=prior,
                extra_link=(
                    ev.extra_link[:, virtual]
                    if virtual.size and ev.extra_link is not None
                    else None
                ),
                extra_leak=leak[virtual] if virtual.size and leak is not None else None,
                log_z_only=True,  # a clamped run needs log Z only: no backward sweep
            ).log_z

    p_latent = latent_marginals(net, ev, post, rerun, rerun_batch)
    result = _result(
        net, catalog, post, d, pain, pain_free, top=max(0, top), extra=_Extra(
            atlas, params, ev, p_latent, rerun, rerun_batch
        ),
    )  # fmt: skip
    result.cost = float(sum(c.cost for c in post.components))
    result.budget = float(max_terms)
    if not result.exact:
        result.approximation = approximation_note(post, params.exact_budget, max_terms)
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


_COMPLETE: dict[str, Params] = {}


def complete_params(params: Params) -> Params:
    """The parameters a complete drawing uses: every link scaled by `completeness` (the
    chance that a patient marks a region that hurts when the whole chart is offered)."""
    c = params.completeness
    if c >= 1.0:
        return params
    key = params.cache_key()
    hit = _COMPLETE.get(key)
    if hit is None:
        link = params.link
        scaled = Links(essential=c * link.essential, spillover=c * link.spillover,
                       local=c * link.local)  # fmt: skip
        hit = params.model_copy(update={"link": scaled})
        if len(_COMPLETE) >= 8:
            _COMPLETE.clear()
        _COMPLETE[key] = hit
    return hit


@dataclasses.dataclass
class _Extra:
    """What the palpation-aware parts of a result need besides the posterior."""

    atlas: AtlasLike
    params: Params
    ev: Evidence
    p_latent: np.ndarray
    rerun: Rerun | None
    rerun_batch: RerunBatch | None = None


def suggest_unplanned(
    drawing: Drawing | Mapping[str, Any] | Sequence[str] | str,
    *,
    planned: Collection[tuple[str, str, str]],
    top: int = 8,
    show: int = 6,
) -> list[Candidate]:
    """The suggestions for a drawing that are not yet planned: of the `top` ranked
    candidates, those whose (muscle_id, side, trigger_point_id) is not in `planned`, at most
    `show` of them, best first (the bedside list of a needling session)."""
    result = suggest(drawing, top=top)
    fresh = [
        c for c in result.candidates if (c.muscle_id, c.side, c.trigger_point_id) not in planned
    ]
    return fresh[:show]


def approximation_note(post: Posterior, exact_budget: float, max_terms: float) -> str:
    """The sentence an approximate answer carries: why, what was enumerated, how far to trust it."""
    k = min(
        int(c.algorithm.removeprefix("truncated-k"))
        for c in post.components
        if c.algorithm.startswith("truncated-k")
    )
    what = (
        "only the configurations with at most "
        f"{k} simultaneously active trigger point{'s' if k != 1 else ''} were enumerated"
        if k
        else "nothing was left of the budget to enumerate, so only the priors were used"
    )
    trust = (
        "The bounds are too wide for these probabilities to mean anything: use the ranking "
        "only, as a list of candidates to examine."
        if post.bound >= 0.5
        else "Each candidate's probability_interval holds the exact value."
    )
    return (
        f"Bounded approximation: the exact computation for this drawing exceeds the budget "
        f"({exact_budget:,.0f} terms per component, {max_terms:,.0f} per request), so {what}. "
        f"Every probability lies within its interval (widest {post.bound:.2f}). {trust}"
    )


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
        self.costs: dict[tuple[int, str], float] = {}

    def palpation_cost(self, net: Network, j: int, pal: Any, cost_key: str | None = None) -> float:
        """`cost_key`: pal.cost as JSON, when the caller asks for many points at once."""
        key = (j, pal.cost.model_dump_json() if cost_key is None else cost_key)
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
                "position_region": (
                    tp.position_region,
                    _region_name(self.catalog, tp.position_region),
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


def _result(
    net: Network,
    catalog: Catalog,
    post: Posterior,
    d: Drawing,
    pain: list[str],
    pain_free: list[str],
    *,
    top: int,
    extra: _Extra,
) -> SuggestResult:
    static = _static(net, catalog)
    ev = extra.ev
    shown = post.touched.copy()
    shown[list(ev.finding_of)] = True  # a palpated point is shown even if the drawing misses it
    negative = np.zeros(len(net.regions), dtype=bool)
    negative[post.negatives] = True
    ranked = _rank(static, post.marginal, np.flatnonzero(shown), max(top, EXAMINE_POOL))
    candidates = [_candidate(net, static, post, j, p, negative, extra) for j, p in ranked[:top]]
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
            painful=[_ref(catalog, r) for r in pain],
            pain_free=[_ref(catalog, r) for r in pain_free],
            complete=d.complete,
            negative_findings=int(post.negatives.size),
        ),
        unreferred=[_ref(catalog, r) for r in pain if r not in referred],
        message=message,
        explanation_definition=EXPLANATION_DEFINITION,
        disclaimer=DISCLAIMER,
        elapsed_ms=0.0,
        examine_next=_examine(net, static, post, extra, ranked, sets),
        muscles=_muscles(net, static, post, extra, shown, min(top, MUSCLES_SHOWN)),
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
    extra: _Extra,
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
    cost_key = pal.cost.model_dump_json()
    cost = np.array([static.palpation_cost(net, j, pal, cost_key) for j in pool])
    score = gain / cost
    order = [int(k) for k in np.argsort(-score, kind="stable") if gain[k] > 1e-12]
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
    net: Network, static: _Static, post: Posterior, extra: _Extra, shown: np.ndarray, top: int
) -> list[MuscleSummary]:
    ev = extra.ev
    involved = shown if ev.covered is None else shown | ev.covered
    out = []
    for (mid, side), g, p_any, p_lat in muscle_posteriors(
        net, ev, post, extra.rerun, involved=involved, top=top
    ):
        points = []
        for j in g.tolist():
            card = static.card(net, j)
            points.append(
                _fast(
                    MuscleTriggerPoint,
                    uid=card["uid"],
                    trigger_point_id=card["trigger_point_id"],
                    trigger_point=card["trigger_point"],
                    p_active=float(post.marginal[j]),
                    p_latent=float(extra.p_latent[j]),
                    explains=[net.regions[i] for i, _ in zone_hits(net, j, post.positives)],
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


TIE = 1e-12  # relative: probabilities this close are equal up to rounding


def _rank(
    static: _Static, marg: np.ndarray, touched: np.ndarray, top: int
) -> list[tuple[int, float]]:
    """The `top` causes by probability, as (cause, probability).

    Probabilities that agree to within rounding (mirror-image trigger points of a midline
    muscle, or muscles sharing a zone) are exact ties whose last bits depend on the order of
    the arithmetic. They are reported equal, and ordered so that each tied muscle is listed
    once before any is listed twice, then by uid: deterministic, and the short list shows
    more distinct muscles.
    """
    order = touched[np.argsort(-marg[touched], kind="stable")]
    out: list[tuple[int, float]] = []
    i = 0
    while i < order.size and len(out) < top:
        head = float(marg[order[i]])
        j = i + 1
        while j < order.size and head - marg[order[j]] <= TIE * head:
            j += 1
        seen: dict[str, int] = {}
        keyed = []
        for c in sorted(order[i:j].tolist(), key=lambda c: static.causes[c]):
            muscle = static.muscle_ids[c]
            keyed.append((seen.get(muscle, 0), static.causes[c], c))
            seen[muscle] = seen.get(muscle, 0) + 1
        out += [(c, head) for _, _, c in sorted(keyed)]
        i = j
    return out[:top]


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
    extra: _Extra,
) -> Candidate:
    """Model construction without re-validation: every field comes from validated data."""
    card = static.card(net, j)
    names = static.region_names
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
    explains = [
        _fast(ExplainedRegion, id=net.regions[i], name=names[i], zone=z)
        for i, z in zone_hits(net, j, post.positives)
    ]
    ess = static.essential[j]
    against = ess[negative[ess]] if ess.size else ess
    pos_id, pos_name = card["position_region"]
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
        against=[_fast(RegionRef, id=net.regions[i], name=names[i]) for i in against],
        location=card["location"],
        position_region=_fast(RegionRef, id=pos_id, name=pos_name),
        needling=card["needling"],
        depth_mm=card["depth_mm"],
        thorax=card["thorax"],
        zones=_fast(Zones, essential=list(essential), spillover=list(spillover), local=list(local)),
        p_active=p,
        p_latent=p_lat,
        palpation=finding,
        state=state_sentence(finding, p, p_lat, muscle=muscle_finding),
    )
