"""Palpation findings against a brute-force enumeration of the three-state joint.

A small hand-made atlas whose muscles share regions (so points couple through the drawing),
with point-level and muscle-level findings; the reference sums P(states, drawing, findings)
over all 3^n states of the trigger points that touch the evidence (the others are
independent of it) and must agree with suggest() to 1e-9 on P(active), P(latent), the
muscle-level P(at least one active), P(none active, some latent), the explanation
probabilities and the examine-next gains.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.inference.handmade import handmade_atlas
from triggerpoint.errors import InvalidInput
from triggerpoint.inference.evidence import state_likelihood
from triggerpoint.inference.findings import UnknownSite, resolve_site
from triggerpoint.inference.network import network_for
from triggerpoint.inference.params import default_params, validate_params
from triggerpoint.inference.service import DrawingError, complete_params, suggest

PAL_PATTERNS = {
    "m1": [
        ("tp1", "angle_of_neck", ["temple", "occiput"], ["eye"], []),
        ("tp2", "angle_of_neck", ["occiput", "vertex"], ["temple"], []),
        ("tp3", "angle_of_neck", ["eye"], ["occiput"], []),
    ],
    "m2": [
        ("tp1", "jaw", ["temple", "ear"], ["vertex"], []),
        ("tp2", "jaw", ["ear"], ["eye"], []),
    ],
    "m3": [("tp1", "lateral_neck", ["vertex", "occiput"], [], [])],
}
PAIN = ["right temple", "right occiput", "right ear"]
PAIN_FREE = ["right eye"]
STATES = ("active", "latent", "absent")


@pytest.fixture(scope="module")
def atlas():
    return handmade_atlas(PAL_PATTERNS)


def _finding_probs(pal, state: str) -> dict[str, float]:
    return dict(zip(("familiar", "tender", "none"), pal.row(state), strict=True))


def brute(atlas, drawing: dict, params=None):
    """Reference by enumeration: per-cause P(active), P(latent), muscle-side P(any active),
    P(none active & some latent), P(exactly S active among the evidence's points), and the
    joint state weights (for the examine-next reference)."""
    params = params or default_params()
    pal = params.palpation
    result = suggest(drawing, atlas=atlas, params=params)
    net = network_for(atlas, complete_params(params) if result.drawing.complete else params)
    pos = [net.region_index[r.id] for r in result.drawing.painful if r.id in net.region_index]
    neg = [net.region_index[r.id] for r in result.drawing.pain_free]
    if result.drawing.complete:
        neg = [i for i in range(len(net.regions)) if i not in set(pos)]
    findings = result.palpation
    index = {(tp.muscle_id, tp.side, tp.tp_id): j for j, tp in enumerate(net.trigger_points)}
    groups = {}
    for j, tp in enumerate(net.trigger_points):
        groups.setdefault((tp.muscle_id, tp.side), []).append(j)
    touched = set(np.flatnonzero((net.link[:, pos] > 0).any(axis=1)).tolist())
    for f in findings:
        if f.trigger_point_id is None:
            touched |= set(groups[(f.muscle_id, f.side)])
        else:
            touched.add(index[(f.muscle_id, f.side, f.trigger_point_id)])
    causes = sorted(touched)
    own = {(f.muscle_id, f.side, f.trigger_point_id) for f in findings if f.trigger_point_id}
    rows = {s: _finding_probs(pal, s) for s in STATES}
    configs = list(itertools.product(range(3), repeat=len(causes)))
    weights = np.zeros(len(configs))
    for c, conf in enumerate(configs):
        state = {j: STATES[s] for j, s in zip(causes, conf, strict=True)}
        w = 1.0
        for j in causes:
            pi = net.prior[j]
            lam = pal.latent_prior
            w *= {"active": pi, "latent": lam, "absent": 1 - pi - lam}[state[j]]
        for f in findings:
            if f.trigger_point_id is not None:
                j = index[(f.muscle_id, f.side, f.trigger_point_id)]
                w *= state_likelihood(pal, f.finding, f.twitch, f.referral)[STATES.index(state[j])]
                continue
            g = [
                j
                for j in groups[(f.muscle_id, f.side)]
                if (f.muscle_id, f.side, net.trigger_points[j].tp_id) not in own
            ]
            fam = [rows[state[j]]["familiar"] for j in g]
            ten = [rows[state[j]]["tender"] for j in g]
            non = [rows[state[j]]["none"] for j in g]
            if f.finding == "familiar":
                w *= 1 - math.prod(1 - x for x in fam)
            elif f.finding == "none":
                w *= math.prod(non)
            else:
                w *= math.prod(t + n for t, n in zip(ten, non, strict=True)) - math.prod(non)
        weights[c] = w
    conf = np.array(configs)
    # The drawing: noisy-OR over the active points (vectorised over the configurations).
    act = (conf == 0).astype(np.float64)
    silent = (1 - net.leak) * np.exp(act @ np.log1p(-net.link[causes]))
    weights *= np.prod(1 - silent[:, pos], axis=1) * np.prod(silent[:, neg], axis=1)
    weights /= weights.sum()
    p_act = {net.causes[j]: float(weights[conf[:, k] == 0].sum()) for k, j in enumerate(causes)}
    p_lat = {net.causes[j]: float(weights[conf[:, k] == 1].sum()) for k, j in enumerate(causes)}
    muscles = {}
    for key, g in groups.items():
        ks = [causes.index(j) for j in g if j in touched]
        if not ks:
            continue
        # Points untouched by the positives are independent of them: their priors, updated
        # by the negative findings alone, multiply.
        rest = [j for j in g if j not in touched]
        q = {j: math.prod(1 - net.link[j, i] for i in neg) for j in rest}
        norm = {j: net.prior[j] * q[j] + 1 - net.prior[j] for j in rest}
        inactive = math.prod((1 - net.prior[j]) / norm[j] for j in rest)
        absent = math.prod((1 - net.prior[j] - pal.latent_prior) / norm[j] for j in rest)
        none = (conf[:, ks] != 0).all(axis=1)
        all_absent = (conf[:, ks] == 2).all(axis=1)
        p_none = float(weights[none].sum()) * inactive
        muscles[key] = (1 - p_none, p_none - float(weights[all_absent].sum()) * absent)
    sets = {}
    for c, row in enumerate(conf):
        s = tuple(sorted(net.causes[j] for j, x in zip(causes, row, strict=True) if x == 0))
        sets[s] = sets.get(s, 0.0) + weights[c]
    return result, p_act, p_lat, muscles, sets, (causes, conf, weights, rows, net)


DRAWINGS = [
    {"pain": PAIN, "pain_free": PAIN_FREE},
    {"pain": PAIN, "palpation": [{"site": "right m1 tp1", "finding": "familiar"}]},
    {
        "pain": PAIN,
        "pain_free": PAIN_FREE,
        "palpation": [
            {"site": "right m1 tp2", "finding": "tender", "twitch": True},
            {"muscle_id": "m2", "side": "right", "trigger_point_id": "tp1", "finding": "none",
             "referral": False},
        ],
    },
    {"pain": PAIN, "palpation": [{"site": "right m1", "finding": "familiar"}]},
    {"pain": PAIN, "palpation": [{"site": "right m1", "finding": "tender"}]},
    {
        "pain": PAIN,
        "palpation": [
            {"site": "right m1", "finding": "none"},
            {"site": "right m2", "finding": "familiar", "twitch": True},
            {"site": "right m2 tp2", "finding": "tender"},
        ],
    },
    {"pain": ["vertex"], "palpation": [{"site": "right m3", "finding": "familiar"}]},
]  # fmt: skip


@pytest.mark.parametrize("drawing", DRAWINGS)
def test_point_probabilities_match_enumeration(atlas, drawing) -> None:
    result, p_act, p_lat, _, _, _ = brute(atlas, drawing)
    assert result.exact and result.candidates
    for c in result.candidates:
        assert c.p_active == c.probability
        assert c.p_active == pytest.approx(p_act[c.uid], abs=1e-9), c.uid
        assert c.p_latent == pytest.approx(p_lat[c.uid], abs=1e-9), c.uid


@pytest.mark.parametrize("drawing", DRAWINGS)
def test_muscle_probabilities_match_enumeration(atlas, drawing) -> None:
    result, _, _, muscles, _, _ = brute(atlas, drawing)
    assert result.muscles
    ranked = [m.p_active for m in result.muscles]
    assert ranked == sorted(ranked, reverse=True)
    for m in result.muscles:
        p_any, p_lat = muscles[(m.muscle_id, m.side)]
        assert m.p_active == pytest.approx(p_any, abs=1e-9), m.muscle_id
        assert m.p_latent == pytest.approx(p_lat, abs=1e-9), m.muscle_id
        assert {t.trigger_point_id for t in m.trigger_points} == {
            t[0] for t in PAL_PATTERNS[m.muscle_id]
        }


@pytest.mark.parametrize("drawing", DRAWINGS)
def test_explanations_match_enumeration(atlas, drawing) -> None:
    result, _, _, _, sets, _ = brute(atlas, drawing)
    assert result.explanations
    for e in result.explanations:
        key = tuple(sorted(m.uid for m in e.trigger_points))
        assert e.probability == pytest.approx(sets[key], abs=1e-9), key


def test_familiar_raises_and_none_lowers_p_active(atlas) -> None:
    base = {c.uid: c.p_active for c in suggest({"pain": PAIN}, atlas=atlas).candidates}
    uid = "m1.tp1.right"
    for finding, up in (("familiar", True), ("none", False), ("tender", False)):
        r = suggest({"pain": PAIN, "palpation": [{"site": "right m1 tp1", "finding": finding}]},
                    atlas=atlas)  # fmt: skip
        c = next(c for c in r.candidates if c.uid == uid)
        assert (c.p_active > base[uid]) is up, finding
        assert c.palpation == finding
    r = suggest({"pain": PAIN, "palpation": [{"site": "right m1 tp1", "finding": "tender"}]},
                atlas=atlas)  # fmt: skip
    c = next(c for c in r.candidates if c.uid == uid)
    assert c.p_latent > c.p_active
    assert "likely latent" in c.state and "does not explain today's complaint" in c.state


def test_state_sentences_never_equate_latent_with_local(atlas) -> None:
    r = suggest({"pain": PAIN, "palpation": [{"site": "right m1 tp1", "finding": "familiar"}]},
                atlas=atlas)  # fmt: skip
    states = [c.state for c in r.candidates]
    assert states[0].startswith("Pressure reproduced the familiar pain: likely active")
    assert any(s.startswith("Not palpated yet: P(active)") for s in states)
    for s in states:
        assert "local" not in s.lower() and "referred" not in s.lower()


def test_palpated_point_outside_the_drawing_is_listed(atlas) -> None:
    r = suggest({"pain": ["right ear"], "palpation": [{"site": "right m3", "finding": "none"},
                {"site": "right m1 tp3", "finding": "familiar"}]}, atlas=atlas)  # fmt: skip
    uids = [c.uid for c in r.candidates]
    assert "m1.tp3.right" in uids
    assert [p.label for p in r.palpation] == ["right muscle m3", "right muscle m1 (m1 tp3)"]


def test_resolve_site_forms(atlas) -> None:
    assert resolve_site("Right Muscle m1 tp2", atlas=atlas).trigger_point_id == "tp2"
    assert resolve_site("left m2", atlas=atlas).trigger_point_id is None
    with pytest.raises(UnknownSite) as exc:
        resolve_site("right m1 tp9", atlas=atlas, field="palpation.0.site")
    assert exc.value.field == "palpation.0.site"
    assert exc.value.suggestions == [f"right muscle m1 tp{i}" for i in (1, 2, 3)]
    with pytest.raises(UnknownSite) as exc:
        resolve_site("m1", atlas=atlas)
    assert exc.value.suggestions == ["right muscle m1", "left muscle m1"]


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"site": "right nosuch", "finding": "none"}, "palpation.0.site"),
        ({"site": "right m1", "finding": "maybe"}, "palpation.0.finding"),
        ({"muscle_id": "nosuch", "side": "right", "finding": "none"}, "palpation.0.muscle_id"),
        ({"muscle_id": "m1", "side": "up", "finding": "none"}, "palpation.0.side"),
        ({"muscle_id": "m1", "side": "right", "trigger_point_id": "x", "finding": "none"},
         "palpation.0.trigger_point_id"),
    ],
)  # fmt: skip
def test_bad_findings_name_the_field(atlas, entry, field) -> None:
    with pytest.raises(InvalidInput) as exc:
        suggest({"pain": PAIN, "palpation": [entry]}, atlas=atlas)
    assert exc.value.field == field


def test_the_same_site_twice_is_refused(atlas) -> None:
    entry = {"site": "right m1 tp1", "finding": "none"}
    with pytest.raises(InvalidInput) as exc:
        suggest({"pain": PAIN, "palpation": [entry, {**entry, "finding": "familiar"}]}, atlas=atlas)
    assert exc.value.field == "palpation.1"
    with pytest.raises(DrawingError):
        suggest({"pain": PAIN, "palpation": [{"finding": "none"}]}, atlas=atlas)


def test_palpation_table_is_validated() -> None:
    from triggerpoint.inference.params import ParamsError

    with pytest.raises(ParamsError, match=r"palpation\.finding\.active"):
        validate_params({"palpation": {"finding": {"active": {"familiar": 0.5}}}})
    with pytest.raises(ParamsError, match="familiar must be more likely when active"):
        validate_params({"palpation": {"finding": {
            "active": {"familiar": 0.1, "tender": 0.8, "none": 0.1},
        }}})  # fmt: skip
    with pytest.raises(ParamsError, match=r"palpation\.twitch\.active"):
        validate_params({"palpation": {"twitch": {"active": 1.0}}})
    assert validate_params({"palpation": {"latent_prior": 0.2}}).palpation.latent_prior == 0.2


def test_state_sentence_says_likely_only_when_the_posterior_agrees() -> None:
    from triggerpoint.inference.service import state_sentence

    assert "likely latent" in state_sentence("tender", 0.1, 0.7, muscle=None)
    strong = state_sentence("tender", 0.6, 0.3, muscle=None)
    assert "likely" not in strong and "still favours an active one" in strong
    assert "likely active" in state_sentence("familiar", 0.8, 0.1, muscle=None)
    assert "weighs against it" in state_sentence("familiar", 0.2, 0.1, muscle=None)
    assert state_sentence(None, 0.004, 0.15, muscle=None) == (
        "Not palpated yet: P(active) <1%, P(latent) 15%; confirm by palpation."
    )
