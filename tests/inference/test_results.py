"""The result builder's caches and fast paths give exactly what the plain computation gives.

Issue 15's speed work replaced loops by vectorised or cached forms: the tie-aware ranking,
the per-network arrays of muscle-sides, the shared leaf models and the sweep's skeleton.
These tests pin each one to a plain reference, and check that a cache built for one network
(atlas, parameters) never answers for another.
"""

from __future__ import annotations

import numpy as np
import pytest

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.inference import evidence, exact, results, ties
from triggerpoint.inference.network import network_for
from triggerpoint.inference.params import default_params
from triggerpoint.inference.service import complete_params, suggest

DRAWINGS = [
    {"pain": ["right temple", "right occiput", "right ear"]},
    {"pain": ["right temple", "right occiput", "right upper cervical region"], "complete": True},
    {
        "pain": ["right temple", "right occiput", "right ear"],
        "complete": True,
        "palpation": [
            {"site": "right upper trapezius", "finding": "tender"},
            {"site": "right sternocleidomastoid", "finding": "none"},
        ],
    },
]


@pytest.fixture(scope="module")
def atlas():
    return load_atlas()


def _plain_rank(static, marg: np.ndarray, touched: np.ndarray, top: int):
    """The ranking as first written: a scalar loop over each tie group."""
    order = touched[np.argsort(-marg[touched], kind="stable")]
    out = []
    i = 0
    while i < order.size and len(out) < top:
        head = float(marg[order[i]])
        j = i + 1
        while j < order.size and head - marg[order[j]] <= ties.TIE * head:
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


@pytest.mark.parametrize("seed", range(8))
def test_rank_matches_the_plain_loop_with_many_ties(atlas, seed) -> None:
    net = network_for(atlas, default_params())
    static = results._static(net, atlas.catalog or load_catalog())
    rng = np.random.default_rng(seed)
    n = len(net.causes)
    # Few distinct values, some a rounding step apart: large tie groups and near-ties.
    levels = rng.choice([0.3, 0.3 * (1 + 1e-13), 0.2, 0.05, 0.05 * (1 - 1e-13), 1e-9], size=n)
    touched = np.flatnonzero(rng.random(n) < 0.5)
    for top in (1, 3, 10, 40):
        assert results._rank(static, levels, touched, top) == _plain_rank(
            static, levels, touched, top
        )


def test_sides_arrays_agree_with_the_groups(atlas) -> None:
    net = network_for(atlas, default_params())
    sides = evidence.sides_of(net)
    assert sides.keys == list(sides.groups)
    for g, key in enumerate(sides.keys):
        members = sides.groups[key]
        assert (sides.group_of[members] == g).all()
        start = int(sides.starts[g])
        assert sides.by_group[start : start + members.size].tolist() == members.tolist()
    assert sorted(sides.by_group.tolist()) == list(range(len(net.causes)))


def test_sides_are_built_per_network(atlas) -> None:
    """Another network (other parameters: a complete drawing's scaled links) gets its own
    arrays, never those cached for the first."""
    params = default_params().model_copy(update={"completeness": 0.7})
    a, b = network_for(atlas, params), network_for(atlas, complete_params(params))
    assert a is not b
    assert evidence.sides_of(a) is evidence.sides_of(a)
    assert evidence.sides_of(a) is not evidence.sides_of(b)


def test_leaf_models_belong_to_their_network_and_catalogue(atlas) -> None:
    catalog = atlas.catalog or load_catalog()
    net = network_for(atlas, default_params())
    static = results._static(net, catalog)
    assert results._static(net, catalog) is static
    other = network_for(atlas, complete_params(default_params()))
    assert results._static(other, catalog) is not static
    i = net.region_index[net.regions[3]]
    ref = static.ref(net, i)
    assert (ref.id, ref.name) == (net.regions[i], catalog.regions[net.regions[i]].name)
    assert static.ref(net, i) is ref
    hit = static.explained(net, i, "spillover")
    assert (hit.id, hit.zone) == (net.regions[i], "spillover")
    assert static.ref_id(net.regions[i]).model_dump() == ref.model_dump()


def _clear_caches() -> None:
    results._STATIC.clear()
    evidence._SIDES.clear()
    exact._CHOICES.clear()
    exact._SKELETONS.clear()
    exact._DENSE.clear()
    exact._DENSE_BYTES[0] = 0


@pytest.mark.parametrize("drawing", DRAWINGS)
def test_a_result_is_the_same_from_cold_and_warm_caches(atlas, drawing) -> None:
    _clear_caches()
    cold = suggest(drawing, atlas=atlas).model_dump(exclude={"elapsed_ms"})
    warm = suggest(drawing, atlas=atlas).model_dump(exclude={"elapsed_ms"})
    assert cold["candidates"] and cold == warm


def test_shared_leaf_models_are_not_altered_by_later_results(atlas) -> None:
    first = suggest(DRAWINGS[0], atlas=atlas)
    before = first.model_dump(exclude={"elapsed_ms"})
    suggest(DRAWINGS[1], atlas=atlas)
    suggest(DRAWINGS[2], atlas=atlas)
    assert first.model_dump(exclude={"elapsed_ms"}) == before


def test_skeleton_marks_each_finding_open_from_its_first_to_its_last_cause() -> None:
    """The sweep's plan, rebuilt with per-step close lists, against its definition: a
    finding occupies an axis from the step of its first parent to that of its last."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        m, k = int(rng.integers(2, 12)), int(rng.integers(2, 9))
        adj = rng.random((m, k)) < 0.4
        adj[rng.integers(m, size=k), np.arange(k)] = True
        adj[np.arange(m), rng.integers(k, size=m)] = True
        log_b = np.where(adj, np.log(0.4), 0.0)
        order = rng.permutation(m)
        steps = exact._skeleton_uncached(adj, np.exp(log_b), order)
        at = {int(j): t for t, j in enumerate(order)}
        first = [min(at[j] for j in np.flatnonzero(adj[:, i])) for i in range(k)]
        last = [max(at[j] for j in np.flatnonzero(adj[:, i])) for i in range(k)]
        for t, st in enumerate(steps):
            open_now = sorted(i for i in range(k) if first[i] <= t <= last[i])
            assert st.width == len(open_now)
            assert sorted(st.opens) == [i for i in range(k) if first[i] == t]
            closing = sum(1 for i in open_now if last[i] == t)
            if closing:
                assert st.close is not None and st.close.count(1) == closing
            else:
                assert st.close is None


@pytest.mark.parametrize("m", [0, 1, 3, exact._TABLE_CACHED, exact._TABLE_CACHED + 1])
def test_configuration_table_lists_every_configuration_once(m) -> None:
    conf = exact._configuration_table(m)
    assert conf.shape == (2**m, m) and not conf.flags.writeable
    rows = {tuple(r) for r in conf.astype(int).tolist()}
    assert len(rows) == 2**m
    assert (conf @ (2.0 ** np.arange(m))).tolist() == list(range(2**m))


def test_zone_hits_many_equals_zone_hits_one_by_one(atlas) -> None:
    from triggerpoint.inference.explain import zone_hits, zone_hits_many

    net = network_for(atlas, default_params())
    rng = np.random.default_rng(5)
    regions = rng.choice(len(net.regions), size=25, replace=False)
    causes = rng.choice(len(net.causes), size=40, replace=False).tolist()
    many = zone_hits_many(net, causes, regions)
    assert many == [zone_hits(net, j, regions) for j in causes]
    assert any(many) and zone_hits_many(net, [], regions) == []


def test_params_cache_key_follows_each_instance() -> None:
    from triggerpoint.inference.params import Params

    params = default_params()
    assert params.cache_key() == params.cache_key() == params.model_dump_json()
    edited = params.model_copy(update={"completeness": 0.6})
    assert edited.cache_key() == edited.model_dump_json() != params.cache_key()
    again = Params.model_validate(params.model_dump())
    assert again is not params and again.cache_key() == params.cache_key()


def test_palpation_cost_cache_follows_the_cost_settings(atlas) -> None:
    net = network_for(atlas, default_params())
    static = results._static(net, atlas.catalog or load_catalog())
    pal = default_params().palpation
    j = next(k for k, tp in enumerate(net.trigger_points) if tp.muscle.needling.depth_mm[1] > 0)
    first = static.palpation_cost(net, j, pal)
    dearer = pal.model_copy(
        update={"cost": pal.cost.model_copy(update={"base": pal.cost.base + 5})}
    )
    assert static.palpation_cost(net, j, dearer) == pytest.approx(first + 5)
    assert static.palpation_cost(net, j, pal) == first
