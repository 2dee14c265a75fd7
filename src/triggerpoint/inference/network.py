"""The bipartite noisy-OR network: sided trigger points (causes) -> body-chart regions (findings).

P(region i painful | active causes A) = 1 - (1 - leak_i) * prod_{j in A} (1 - link_ij).
Arrays are plain numpy so inference is a handful of vectorised operations; a network is built
once per (atlas, parameters) pair and cached, because atlases are immutable after loading.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from triggerpoint.inference.params import Params, ParamsError

ZONE_CODES = {"essential": 1, "spillover": 2, "local": 3}
Zone = Literal["essential", "spillover", "local"]
ZONE_NAMES: dict[int, Zone] = {1: "essential", 2: "spillover", 3: "local"}


class AtlasLike(Protocol):
    @property
    def trigger_points(self) -> Sequence[Any]: ...


@dataclass(eq=False)
class Network:
    """Causes x findings arrays. `link[j, i]` is 0 where cause j does not refer to region i."""

    causes: tuple[str, ...]
    regions: tuple[str, ...]
    prior: np.ndarray  # (n,)
    link: np.ndarray  # (n, m)
    leak: np.ndarray  # (m,)
    zone: np.ndarray | None = None  # (n, m) int8 zone codes, for explanations
    trigger_points: tuple[Any, ...] = ()
    region_index: dict[str, int] = field(init=False)
    cause_index: dict[str, int] = field(init=False)
    log_nolink: np.ndarray = field(init=False)  # log(1 - link)
    log_nolink_total: np.ndarray = field(init=False)  # per cause, summed over all regions
    sweep_rank: np.ndarray = field(init=False)  # static cause order for the exact sweep

    def __post_init__(self) -> None:
        self.prior = np.asarray(self.prior, dtype=np.float64)
        self.link = np.asarray(self.link, dtype=np.float64)
        self.leak = np.asarray(self.leak, dtype=np.float64)
        n, m = self.link.shape
        if self.prior.shape != (n,) or self.leak.shape != (m,):
            raise ValueError("prior must have one entry per cause and leak one per region")
        if not (np.all((self.link >= 0) & (self.link < 1)) and np.all(self.leak > 0)):
            raise ValueError("links must lie in [0, 1) and leaks in (0, 1)")
        self.region_index = {r: i for i, r in enumerate(self.regions)}
        self.cause_index = {c: j for j, c in enumerate(self.causes)}
        self.log_nolink = np.log1p(-self.link)
        self.log_nolink_total = self.log_nolink.sum(axis=1)
        self.sweep_rank = _sweep_rank(self.link > 0)


def _sweep_rank(adj: np.ndarray) -> np.ndarray:
    """Rank causes along a Cuthill-McKee order of the regions they touch.

    Neighbouring body regions share trigger points, so walking causes in this order keeps few
    findings "open" at once, which is what the exact sweep's cost grows with (2^open).
    """
    n, m = adj.shape
    region_adj = (adj.T.astype(np.int32) @ adj.astype(np.int32)) > 0
    degree = region_adj.sum(axis=1)
    rank = np.full(m, -1)
    pos = 0
    for start in np.argsort(degree, kind="stable"):
        if rank[start] >= 0:
            continue
        rank[start] = pos
        pos += 1
        queue = deque([start])
        while queue:
            r = queue.popleft()
            nbrs = [int(x) for x in np.flatnonzero(region_adj[r]) if rank[x] < 0]
            for x in sorted(nbrs, key=lambda x: degree[x]):
                rank[x] = pos
                pos += 1
                queue.append(x)
    key = np.array([rank[adj[j]].mean() if adj[j].any() else m for j in range(n)])
    return np.argsort(np.argsort(key, kind="stable"), kind="stable")


_CACHE: OrderedDict[tuple[int, str], tuple[object, Network]] = OrderedDict()


def network_for(atlas: AtlasLike, params: Params) -> Network:
    """The network of an atlas under parameters, cached (atlases are immutable once loaded)."""
    key = (id(atlas), params.cache_key())
    hit = _CACHE.get(key)
    if hit is not None and hit[0] is atlas:
        _CACHE.move_to_end(key)
        return hit[1]
    net = build_network(atlas, params)
    _CACHE[key] = (atlas, net)
    while len(_CACHE) > 8:
        _CACHE.popitem(last=False)
    return net


def build_network(atlas: AtlasLike, params: Params) -> Network:
    """Arrays for any atlas-like object: `trigger_points` with uid, muscle_id and zone tuples."""
    tps = tuple(atlas.trigger_points)
    catalog = getattr(atlas, "catalog", None)
    regions: dict[str, str] = {}  # region id -> unsided key
    if catalog is not None:
        regions = {rid: r.key for rid, r in catalog.regions.items()}
    for tp in tps:
        for rid in (*tp.essential, *tp.spillover, *tp.local):
            regions.setdefault(rid, rid.removeprefix("right_").removeprefix("left_"))
    unknown = sorted(set(params.prior_multiplier) - {tp.muscle_id for tp in tps})
    if unknown:
        raise ParamsError(f"prior_multiplier.{unknown[0]}: no such muscle in the atlas")
    keys = set(regions.values())
    bad = sorted(k for k in params.leak_by_region if k not in regions and k not in keys)
    if bad:
        raise ParamsError(f"leak_by_region.{bad[0]}: no such region")
    region_ids = tuple(regions)
    index = {r: i for i, r in enumerate(region_ids)}
    link = np.zeros((len(tps), len(region_ids)))
    zone = np.zeros(link.shape, dtype=np.int8)
    strength = {"essential": params.link.essential, "spillover": params.link.spillover}
    strength["local"] = params.link.local
    for j, tp in enumerate(tps):
        for kind in ("local", "spillover", "essential"):  # strongest zone wins on overlap
            for rid in getattr(tp, kind):
                link[j, index[rid]] = strength[kind]
                zone[j, index[rid]] = ZONE_CODES[kind]
    return Network(
        causes=tuple(tp.uid for tp in tps),
        regions=region_ids,
        prior=np.array([params.prior_for(tp.muscle_id) for tp in tps]),
        link=link,
        leak=np.array([params.leak_for(r, regions[r]) for r in region_ids]),
        zone=zone,
        trigger_points=tps,
    )
