"""Palpation findings as evidence on the three-state model, exactly (docs/inference.md).

Each sided trigger point j is absent, latent or active, independently a priori:
P(active) = pi_j (params `prior`), P(latent) = lambda (palpation `latent_prior`), the rest
absent. The drawing depends only on whether j is active, so a finding made on j alone is a
factor on one cause: with L_s = P(finding | s) (times the twitch and referral terms, taken
as conditionally independent given the state), the engine's prior for j becomes
pi L_a / (pi L_a + lambda L_l + alpha L_b), and P(latent | not active) = lambda L_l /
(lambda L_l + alpha L_b), which the drawing cannot change.

A finding on a muscle-side without a named point covers its points G that have no finding of
their own:
- "none": every point of G gave none, a factor on each cause;
- "familiar": at least one point of G would give the familiar pain: a noisy-OR "virtual"
  positive with per-point silence q_j(A) = P(not familiar | A_j), i.e. leak 1 - prod q_j(0)
  and links 1 - q_j(1)/q_j(0), which the exact engine handles as one more painful region;
- "tender": familiar nowhere (a factor u_j(A) = P(tender or none | A_j) on each cause) and
  tender somewhere (a virtual positive with q_j(A) = P(none | A_j) / u_j(A)).
Twitch and referral noted at muscle level are echoed but not used: which point showed them
is not known.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triggerpoint.inference.findings import Finding
from triggerpoint.inference.network import Network
from triggerpoint.inference.params import Palpation, Params
from triggerpoint.inference.schemas import PalpationValue

ACTIVE, LATENT, ABSENT = 0, 1, 2


@dataclass
class VirtualGroup:
    """One muscle-level familiar or tender finding, as a virtual positive column."""

    kind: str  # "familiar" | "tender"
    causes: np.ndarray  # cause indices of G (points without a finding of their own)
    q: np.ndarray  # (3, |G|) per-state silence q_j(state)
    q0: np.ndarray  # (|G|,) silence when not active (latent/absent mixed by the evidence)
    u: np.ndarray  # (3, |G|) per-cause factor by state (ones for "familiar")


@dataclass
class Evidence:
    findings: list[Finding]
    prior: np.ndarray | None  # engine priors after per-cause factors; None without findings
    # Per cause: P(state | per-cause findings) up to a constant, for latent and absent: the
    # weights that split "not active" (normalised: latent share of the not-active mass).
    latent_share: np.ndarray
    extra_link: np.ndarray | None = None
    extra_leak: np.ndarray | None = None
    groups: list[VirtualGroup] = field(default_factory=list)
    finding_of: dict[int, PalpationValue] = field(default_factory=dict)  # point-level, per cause
    covered: np.ndarray | None = None  # bool per cause: some finding covers it
    base_prior: np.ndarray | None = None  # the network's priors


@dataclass
class _Sides:
    """Cause indices per (muscle id, side), and per (muscle id, side, tp id)."""

    groups: dict[tuple[str, str], np.ndarray]
    point: dict[tuple[str, str, str], int]
    # The same groups as arrays, built once per network so a call reduces over every group in
    # one numpy call instead of two per group: keys in order, each cause's group index, and
    # the causes sorted by group with each group's start (for np.*.reduceat).
    keys: list[tuple[str, str]] = field(default_factory=list)
    group_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    by_group: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    starts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


_SIDES: dict[int, tuple[Network, _Sides]] = {}


def sides_of(net: Network) -> _Sides:
    hit = _SIDES.get(id(net))
    if hit is not None and hit[0] is net:
        return hit[1]
    groups: dict[tuple[str, str], list[int]] = {}
    point: dict[tuple[str, str, str], int] = {}
    for j, tp in enumerate(net.trigger_points):
        groups.setdefault((tp.muscle_id, tp.side), []).append(j)
        point[(tp.muscle_id, tp.side, tp.tp_id)] = j
    keys = list(groups)
    group_of = np.empty(len(net.trigger_points), dtype=np.int64)
    for g, key in enumerate(keys):
        group_of[groups[key]] = g
    by_group = np.concatenate([np.array(groups[k], dtype=np.int64) for k in keys] or [group_of])
    starts = np.cumsum([0] + [len(groups[k]) for k in keys[:-1]]).astype(np.int64)
    arrays = {k: np.array(v, dtype=np.int64) for k, v in groups.items()}
    sides = _Sides(arrays, point, keys, group_of, by_group, starts)
    _SIDES[id(net)] = (net, sides)
    while len(_SIDES) > 8:
        _SIDES.pop(next(iter(_SIDES)))
    return sides


def state_likelihood(
    pal: Palpation, finding: str, twitch: bool | None = None, referral: bool | None = None
) -> np.ndarray:
    """(3,) P(what was found | active, latent, absent)."""
    col = ("familiar", "tender", "none").index(finding)
    lik = np.array([pal.row(s)[col] for s in ("active", "latent", "absent")])
    for seen, sign in ((twitch, pal.twitch), (referral, pal.referral)):
        if seen is not None:
            p = np.array([sign.active, sign.latent, sign.absent])
            lik = lik * (p if seen else 1.0 - p)
    return lik


def latent_prior(params: Params, n: int) -> np.ndarray:
    return np.full(n, params.palpation.latent_prior)


def build_evidence(net: Network, params: Params, findings: list[Finding]) -> Evidence:
    """The engine's inputs for these findings: priors, virtual positives and the latent split."""
    n = len(net.causes)
    pi = net.prior
    lam = latent_prior(params, n)
    alpha = 1.0 - pi - lam
    if not findings:
        return Evidence(findings, None, lam / (lam + alpha), base_prior=pi)
    pal = params.palpation
    sides = sides_of(net)
    # Per-cause likelihood by state (ones where nothing was found).
    lik = np.ones((3, n))
    finding_of: dict[int, PalpationValue] = {}
    covered = np.zeros(n, dtype=bool)
    own = {(f.muscle_id, f.side, f.trigger_point_id) for f in findings if f.trigger_point_id}
    muscle_level: list[tuple[Finding, np.ndarray]] = []
    for f in findings:
        if f.trigger_point_id is not None:
            j = sides.point[(f.muscle_id, f.side, f.trigger_point_id)]
            lik[:, j] *= state_likelihood(pal, f.finding, f.twitch, f.referral)
            finding_of[j] = f.finding
            covered[j] = True
            continue
        g = np.array(
            [
                j
                for j in sides.groups[(f.muscle_id, f.side)]
                if (f.muscle_id, f.side, net.trigger_points[j].tp_id) not in own
            ],
            dtype=np.int64,
        )
        if g.size:
            covered[g] = True
            muscle_level.append((f, g))
    fam, ten, non = (
        np.array([pal.row(s)[c] for s in ("active", "latent", "absent")]) for c in range(3)
    )
    groups: list[VirtualGroup] = []
    for f, g in muscle_level:
        if f.finding == "none":
            lik[:, g] *= non[:, None]
            continue
        if f.finding == "tender":
            u = np.repeat((ten + non)[:, None], g.size, axis=1)
            q = np.repeat((non / (ten + non))[:, None], g.size, axis=1)
            lik[:, g] *= u
        else:
            u = np.ones((3, g.size))
            q = np.repeat((1.0 - fam)[:, None], g.size, axis=1)
        groups.append(VirtualGroup(f.finding, g, q, np.zeros(g.size), u))
    # Per-cause factors -> engine priors and the latent split of the not-active mass.
    w_act = pi * lik[ACTIVE]
    w_lat = lam * lik[LATENT]
    w_abs = alpha * lik[ABSENT]
    prior = w_act / (w_act + w_lat + w_abs)
    share = w_lat / (w_lat + w_abs)
    extra_link = extra_leak = None
    if groups:
        extra_link = np.zeros((n, len(groups)))
        extra_leak = np.zeros(len(groups))
        for c, grp in enumerate(groups):
            g = grp.causes
            # Not active: latent and absent mixed by what the per-cause factors left.
            wl, wb = lam[g] * grp.u[LATENT], alpha[g] * grp.u[ABSENT]
            grp.q0 = (wl * grp.q[LATENT] + wb * grp.q[ABSENT]) / (wl + wb)
            extra_link[g, c] = 1.0 - grp.q[ACTIVE] / grp.q0
            extra_leak[c] = 1.0 - float(np.prod(grp.q0))
    return Evidence(
        findings,
        prior,
        share,
        extra_link,
        extra_leak,
        groups,
        finding_of,
        covered,
        base_prior=pi,
    )
