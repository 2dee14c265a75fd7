"""`suggest()`: from a pain drawing to ranked, explained trigger point candidates.

The one function behind the Python API, the CLI and `POST /api/suggest`. Region names are
resolved through the body-chart catalogue (`Catalog.resolve`) so every interface accepts the
same names and reports the same nearest matches.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import ValidationError

from triggerpoint.bodychart.catalog import Catalog, UnknownRegionError, load_catalog
from triggerpoint.errors import InvalidInput
from triggerpoint.inference.evidence import build_evidence
from triggerpoint.inference.exact import EXACT_METHODS, Posterior, log_z_batch, posterior
from triggerpoint.inference.findings import resolve_findings
from triggerpoint.inference.muscles import Rerun, RerunBatch, latent_marginals
from triggerpoint.inference.network import AtlasLike, network_for
from triggerpoint.inference.params import Links, Params, configured_params
from triggerpoint.inference.results import (  # re-exported: the service's public names
    MUSCLES_SHOWN,
    Extra,
    build_result,
    state_sentence,
)
from triggerpoint.inference.schemas import Candidate, Drawing, SuggestResult

__all__ = [
    "MUSCLES_SHOWN",
    "DrawingError",
    "UnknownDrawingRegion",
    "as_drawing",
    "complete_params",
    "state_sentence",
    "suggest",
    "suggest_unplanned",
]


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
    result = build_result(
        net, catalog, post, d, pain, pain_free, top=max(0, top),
        extra=Extra(atlas, params, ev, p_latent, rerun, rerun_batch),
        muscles_shown=MUSCLES_SHOWN,
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
