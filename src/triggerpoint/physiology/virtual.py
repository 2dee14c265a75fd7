"""Virtual patients: many trigger points with varied loads, needling and flare-ups.

Used by the demo generator to give synthetic patients plausible outcome trajectories,
including non-responders (poorly placed needles, persisting load) and flare-ups (load spikes).
Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triggerpoint.physiology.dynamics import (
    Needling,
    Trajectory,
    _Decay,
    apply_needling,
    equilibrium,
    pains,
    simulate,
    step,
)
from triggerpoint.physiology.params import DEFAULTS, ModelParams


@dataclass
class Cohort:
    load_before: np.ndarray
    load_after: np.ndarray
    twitches: np.ndarray
    accuracy: np.ndarray
    flare_day: np.ndarray  # day of a flare-up (load spike), or inf
    trajectory: Trajectory


def cohort(
    n: int,
    *,
    days: float = 30,
    seed: int = 0,
    dt: float = 0.1,
    p: ModelParams = DEFAULTS,
    record: bool = True,
) -> Cohort:
    """n virtual trigger points, needled on day 0, followed for `days`."""
    rng = np.random.default_rng(seed)
    load_before = rng.uniform(0.55, 1.0, n)
    # Some patients address their perpetuating factors, some do not.
    load_after = np.where(rng.random(n) < 0.7, load_before * rng.uniform(0.2, 0.6, n), load_before)
    twitches = rng.poisson(2.5, n).astype(float)
    accuracy = rng.beta(4, 2, n)
    flare_day = np.where(rng.random(n) < 0.15, rng.uniform(3, days, n), np.inf)
    start = equilibrium(load_before, p, days=150, dt=1.0)

    def load_fn(_i: int, t: float) -> np.ndarray:
        spike = (t >= flare_day) & (t < flare_day + 3)
        return np.where(spike, np.minimum(1.0, load_after + 0.6), load_after)

    traj = simulate(
        start,
        load_after,
        days=days,
        dt=dt,
        needling=Needling(np.zeros(n), twitches, accuracy),
        load_fn=load_fn,
        p=p,
        record=record,
    )
    return Cohort(load_before, load_after, twitches, accuracy, flare_day, traj)


@dataclass
class Course:
    """What a course of needling visits looked like, per virtual trigger point and visit.

    Arrays are (n, visits). `pre_*` is the state at the start of a visit, before needling;
    `post_*` is `post_after_days` later, still within the visit: it shows the immediate
    relief that grows with the twitch count (pain here excludes soreness, charted as
    `post_soreness`); the lasting effect, which depends on accuracy only, shows at the next
    visit's `pre_*`.
    """

    pre_pain: np.ndarray
    post_pain: np.ndarray
    pre_pressure_pain: np.ndarray
    post_pressure_pain: np.ndarray
    pre_rom: np.ndarray
    post_rom: np.ndarray
    post_soreness: np.ndarray
    twitches: np.ndarray
    accuracy: np.ndarray
    load: np.ndarray
    flare_day: np.ndarray


def course(
    visit_days: np.ndarray,
    *,
    seed: int = 0,
    dt: float = 0.25,
    post_after_days: float = 0.05,
    p: ModelParams = DEFAULTS,
) -> Course:
    """Needle n virtual trigger points at their visits; `visit_days` is (n, visits), NaN = none.

    Vectorised over trigger points: one time loop for the whole cohort. Loads, twitch counts,
    accuracy and flare-ups vary as in `cohort()`, so some patients respond and some do not.
    """
    rng = np.random.default_rng(seed)
    n: int
    visits: int
    n, visits = visit_days.shape
    load_before = rng.uniform(0.55, 1.0, n)
    load = np.where(rng.random(n) < 0.7, load_before * rng.uniform(0.2, 0.6, n), load_before)
    twitches = rng.poisson(2.5, (n, visits)).astype(float)
    accuracy = rng.beta(4, 2, (n, visits))
    horizon = float(np.nanmax(visit_days)) + 1 if np.isfinite(visit_days).any() else 1.0
    flare_day = np.where(rng.random(n) < 0.15, rng.uniform(2, max(horizon, 3.0), n), np.inf)
    s = equilibrium(load_before, p, days=150, dt=1.0)
    out = {k: np.full((n, visits), np.nan) for k in ("pre", "post", "pre_pp", "post_pp")}
    out |= {k: np.full((n, visits), np.nan) for k in ("pre_rom", "post_rom", "soreness")}
    decay = _Decay.of(p, dt)
    events = sorted(
        {(d, "pre") for d in visit_days[np.isfinite(visit_days)]}
        | {(d + post_after_days, "post") for d in visit_days[np.isfinite(visit_days)]}
    )
    t = 0.0
    for when, kind in events:
        while t + dt <= when + 1e-9:
            spike = (t >= flare_day) & (t < flare_day + 3)
            s = step(s, np.where(spike, np.minimum(1.0, load + 0.6), load), dt, p, decay)
            t += dt
        base = visit_days if kind == "pre" else visit_days + post_after_days
        due = np.isclose(base, when)
        local, press, referred = pains(s, p)
        rows, cols = np.nonzero(due)
        key = "" if kind == "pre" else "post"
        out[key or "pre"][rows, cols] = np.maximum(local - s.soreness, referred)[rows]
        if kind == "post":
            out["soreness"][rows, cols] = s.soreness[rows]
        out[f"{kind}_pp"][rows, cols] = press[rows]
        out[f"{kind}_rom"][rows, cols] = s.rom[rows]
        if kind == "pre":
            hit = np.zeros(n, dtype=bool)
            hit[rows] = True
            tw = np.zeros(n)
            ac = np.zeros(n)
            tw[rows], ac[rows] = twitches[rows, cols], accuracy[rows, cols]
            s = apply_needling(s, hit, tw, ac, p)
    return Course(
        out["pre"],
        out["post"],
        out["pre_pp"],
        out["post_pp"],
        out["pre_rom"],
        out["post_rom"],
        out["soreness"],
        twitches,
        accuracy,
        load,
        flare_day,
    )
