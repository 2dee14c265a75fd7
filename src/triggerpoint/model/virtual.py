"""Virtual patients: many trigger points with varied loads, needling and flare-ups.

Used by the demo generator to give synthetic patients plausible outcome trajectories,
including non-responders (poorly placed needles, persisting load) and flare-ups (load spikes).
Deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triggerpoint.model.dynamics import Needling, Trajectory, equilibrium, simulate
from triggerpoint.model.params import DEFAULTS, ModelParams


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
