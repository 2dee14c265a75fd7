"""The twitch effect the simulation builds in, derived from the model by matched sessions.

The bulk registry (`demo.registry`) gives each patient one simulated trigger point, needled at
5 weekly visits (`physiology.virtual.course`, dt 0.5 day), and records NPRS as
clip(round(pain + offset + noise), 0, 10), offset ~ clip(N(1.5, 1), 0, 4) per patient and
noise ~ N(0, 0.6) per reading. Here the same virtual patients (the same draws, in the same
order as `course`) are followed visit by visit along their own (factual) course; at each visit
v < 5 the session is replayed with k = 0, 1, ..., K twitches and everything else equal, and the
patient is followed to the next visit. The expected NPRS (over the reading noise, exactly, via
the normal CDF) then gives E[change | k] per patient and visit.

Twitch counts are drawn Poisson(2.5) independently of everything else, so the coefficient a
linear model estimates for "twitches" is the population least-squares slope
Cov(T, E[change | T]) / Var(T), T ~ Poisson(2.5), averaged over patients and visits (adjusting
for covariates independent of T does not change it).

What the model does (checked here, and by the recovery test), following the trials
(Fernández-de-las-Peñas et al. 2021: twitches helped right after needling, not at follow-up):
twitches add an immediate relief (relief_max x (1 - exp(-twitches / twitch_scale)) NRS points,
time constant 12 h), which the immediate reading (0.05 day after, before the next time step)
sees in full, so the immediate change falls with more twitches (about -0.14 NPRS per twitch
here, diluted by patients whose pain is already near 0). The lasting effect of a session
depends on the needle's accuracy only and the relief has faded by the next visit, so the
follow-up change does not depend on the twitch count (slope ~0, |slope| < 1e-4).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy.stats import norm, poisson

from triggerpoint.physiology.dynamics import State, _Decay, apply_needling, equilibrium, pains, step
from triggerpoint.physiology.params import DEFAULTS, ModelParams

VISITS = 5
MEAN_TWITCHES = 2.5
NOISE_SD = 0.6


@dataclass
class Truth:
    immediate: float  # NPRS points per twitch, immediate change
    follow_up: float  # NPRS points per twitch, change to the next visit
    by_visit: list[float]  # follow-up slope at visits 1..4
    immediate_by_visit: list[float]  # immediate slope at visits 1..4


def _pain(s: State, p: ModelParams) -> np.ndarray:
    local, _press, referred = pains(s, p)
    return np.maximum(local - s.soreness, referred)  # as course() records it


def _take(s: State, idx: np.ndarray) -> State:
    return State(*(getattr(s, f.name)[idx] for f in fields(s)))


def _advance(
    s: State,
    t: np.ndarray,
    target: np.ndarray,
    load: np.ndarray,
    flare: np.ndarray,
    dt: float,
    p: ModelParams,
) -> tuple[State, np.ndarray]:
    """Step each element on its own clock up to its target day, as course()'s loop does."""
    decay = _Decay.of(p, dt)
    t = t.copy()
    while (active := t + dt <= target + 1e-9).any():
        spike = (t >= flare) & (t < flare + 3)
        new = step(s, np.where(spike, np.minimum(1.0, load + 0.6), load), dt, p, decay)
        s = State(*(np.where(active, getattr(new, f.name), getattr(s, f.name)) for f in fields(s)))
        t = np.where(active, t + dt, t)
    return s, t


def _expected_nprs(pain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """E[clip(round(pain + offset + N(0, sd)), 0, 10)] = sum_j P(reading >= j), j = 1..10."""
    z = pain + offset
    return sum(norm.cdf((z - j + 0.5) / NOISE_SD) for j in range(1, 11))


def registry_truth(
    n: int = 3000, *, seed: int = 1, kmax: int = 12, dt: float = 0.5, p: ModelParams = DEFAULTS
) -> Truth:
    """Per-twitch slopes of immediate and follow-up NPRS change in the registry's world."""
    rng = np.random.default_rng(seed)
    days = 7.0 * np.arange(VISITS) + rng.integers(0, 3, (n, VISITS))
    # The draws of physiology.virtual.course, in its order.
    load_before = rng.uniform(0.55, 1.0, n)
    load = np.where(rng.random(n) < 0.7, load_before * rng.uniform(0.2, 0.6, n), load_before)
    twitches = rng.poisson(MEAN_TWITCHES, (n, VISITS)).astype(float)
    accuracy = rng.beta(4, 2, (n, VISITS))
    horizon = float(days.max()) + 1
    flare = np.where(rng.random(n) < 0.15, rng.uniform(2, max(horizon, 3.0), n), np.inf)
    offset = np.clip(rng.normal(1.5, 1.0, n), 0, 4)  # registry.py's per-patient offset

    ks = np.arange(kmax + 1)
    w = poisson.pmf(ks, MEAN_TWITCHES)
    w /= w.sum()
    mu = float((w * ks).sum())
    var = float((w * (ks - mu) ** 2).sum())

    s = equilibrium(load_before, p, days=150, dt=1.0)
    t = np.zeros(n)
    immediate, follow_up = [], []
    for v in range(VISITS - 1):
        s, t = _advance(s, t, days[:, v], load, flare, dt, p)
        before = _expected_nprs(_pain(s, p), offset)
        idx = np.repeat(np.arange(n), kmax + 1)
        k = np.tile(ks, n).astype(float)
        needled = apply_needling(_take(s, idx), np.ones(len(idx), bool), k, accuracy[idx, v], p)
        after = _expected_nprs(_pain(needled, p), offset[idx]).reshape(n, -1)
        later, _ = _advance(needled, t[idx], days[idx, v + 1], load[idx], flare[idx], dt, p)
        nxt = _expected_nprs(_pain(later, p), offset[idx]).reshape(n, -1)
        slope = lambda change: float(((change * w * (ks - mu)).sum(1)).mean() / var)  # noqa: E731
        immediate.append(slope(after - before[:, None]))
        follow_up.append(slope(nxt - before[:, None]))
        s = apply_needling(s, np.ones(n, bool), twitches[:, v], accuracy[:, v], p)  # factual
    return Truth(float(np.mean(immediate)), float(np.mean(follow_up)), follow_up, immediate)
