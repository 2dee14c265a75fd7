"""`suggest()`: from a pain drawing to ranked, explained trigger point candidates.

The one function behind the Python API, the CLI and `POST /api/suggest`. Region names are
resolved through the body-chart catalogue (`Catalog.resolve`) so every interface accepts the
same names and reports the same nearest matches.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from triggerpoint.bodychart.catalog import Catalog, UnknownRegionError, load_catalog
from triggerpoint.inference.exact import EXACT_METHODS, Posterior, posterior
from triggerpoint.inference.explain import (
    best_sets,
    explained_regions,
    needling_summary,
    zone_hits,
)
from triggerpoint.inference.network import AtlasLike, Network, network_for
from triggerpoint.inference.params import Params, configured_params
from triggerpoint.inference.schemas import (
    EMPTY_MESSAGE,
    NOTHING_REFERS,
    Candidate,
    ComponentInfo,
    Drawing,
    DrawingEcho,
    ExplainedRegion,
    Explanation,
    ExplanationMember,
    RegionRef,
    SuggestResult,
    Zones,
)


class DrawingError(ValueError):
    """Bad drawing input; `field` names where (e.g. "pain.2", "pain_free")."""

    def __init__(self, field: str, message: str, *, suggestions: list[str] | None = None):
        self.field = field
        self.suggestions = suggestions
        super().__init__(message)


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


def _resolve(catalog: Catalog, names: list[str], field: str) -> list[str]:
    out: dict[str, None] = {}
    for n, name in enumerate(names):
        try:
            out.update(dict.fromkeys(r.id for r in catalog.resolve(name)))
        except UnknownRegionError as exc:
            raise UnknownDrawingRegion(f"{field}.{n}", exc) from None
    return list(out)


def suggest(
    drawing: Drawing | Mapping[str, Any] | Sequence[str] | str,
    *,
    atlas: AtlasLike | None = None,
    params: Params | None = None,
    top: int = 10,
) -> SuggestResult:
    """Rank trigger points by P(active | drawing), with the best 1-3 point explanations.

    `atlas` may be any atlas-like object (the tests pass small hand-made ones); `params`
    defaults to the packaged defaults overridden by TRIGGERPOINT_INFERENCE_PARAMS.
    """
    started = time.perf_counter()
    d = as_drawing(drawing)
    if atlas is None:
        from triggerpoint.atlas.loader import load_atlas

        atlas = load_atlas()
    catalog: Catalog = getattr(atlas, "catalog", None) or load_catalog()
    params = params if params is not None else configured_params()
    net = network_for(atlas, params)
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
    post = posterior(
        net,
        pos,
        neg,
        exact_budget=params.exact_budget,
        max_active=params.approx_max_active,
    )
    result = _result(net, catalog, post, d, pain, pain_free, top=max(0, top))
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


def _ref(catalog: Catalog, region_id: str) -> RegionRef:
    region = catalog.regions.get(region_id)
    return RegionRef(id=region_id, name=region.name if region else region_id.replace("_", " "))


def _result(
    net: Network,
    catalog: Catalog,
    post: Posterior,
    d: Drawing,
    pain: list[str],
    pain_free: list[str],
    *,
    top: int,
) -> SuggestResult:
    touched = np.flatnonzero(post.touched)
    ranked = touched[np.lexsort((np.array(net.causes)[touched], -post.marginal[touched]))]
    negatives = post.negatives
    candidates = [_candidate(net, catalog, post, int(j), negatives) for j in ranked[:top]]
    explanations = []
    sets, exhaustive = best_sets(net, post, top=5)
    for members, prob in sets:
        hit = explained_regions(net, members, post.positives)
        explanations.append(
            Explanation(
                trigger_points=[_member(net.trigger_points[j]) for j in members],
                probability=prob,
                explained_share=hit.size / max(len(pain), 1),
                explained=[net.regions[i] for i in hit],
                unexplained=[r for r in pain if r not in {net.regions[i] for i in hit}],
            )
        )
    message = None
    if not pain:
        message = EMPTY_MESSAGE
    elif not candidates:
        message = NOTHING_REFERS
    unreferred = [r for r in pain if r not in {net.regions[i] for i in post.positives}]
    return SuggestResult(
        candidates=candidates,
        explanations=explanations,
        explanations_exhaustive=exhaustive,
        method=post.method,
        exact=post.method in EXACT_METHODS,
        bound=post.bound,
        components=[ComponentInfo(**vars(c)) for c in post.components],
        drawing=DrawingEcho(
            painful=[_ref(catalog, r) for r in pain],
            pain_free=[_ref(catalog, r) for r in pain_free],
            complete=d.complete,
            negative_findings=int(negatives.size),
        ),
        unreferred=[_ref(catalog, r) for r in unreferred],
        message=message,
    )


def _member(tp: Any) -> ExplanationMember:
    return ExplanationMember(
        uid=tp.uid, muscle_id=tp.muscle_id, muscle=tp.muscle.name, side=tp.side,
        trigger_point_id=tp.tp_id,
    )  # fmt: skip


def _candidate(
    net: Network, catalog: Catalog, post: Posterior, j: int, negatives: np.ndarray
) -> Candidate:
    tp = net.trigger_points[j]
    explains = [
        ExplainedRegion(id=net.regions[i], name=_ref(catalog, net.regions[i]).name, zone=z)
        for i, z in zone_hits(net, j, post.positives)
    ]
    neg = {net.regions[i] for i in negatives}
    needling = tp.muscle.needling
    return Candidate(
        uid=tp.uid,
        muscle_id=tp.muscle_id,
        muscle=tp.muscle.name,
        side=tp.side,
        trigger_point_id=tp.tp_id,
        trigger_point=tp.tp.name,
        probability=float(post.marginal[j]),
        probability_interval=(float(post.lower[j]), float(post.upper[j])),
        prior=float(net.prior[j]),
        explains=explains,
        against=[_ref(catalog, r) for r in tp.essential if r in neg],
        location=tp.tp.location,
        position_region=_ref(catalog, tp.position_region),
        needling=needling_summary(tp),
        depth_mm=tuple(needling.depth_mm),
        thorax=needling.thorax,
        zones=Zones(
            essential=list(tp.essential), spillover=list(tp.spillover), local=list(tp.local)
        ),
    )
