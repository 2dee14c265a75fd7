"""A state model of one myofascial trigger point, vectorised over many (numpy arrays).

Simons' integrated hypothesis as a causal chain: perpetuating load and a dysfunctional motor
endplate raise endplate activity -> sustained contraction of the taut band -> compressed
circulation -> energy crisis (which feeds back on the endplate) -> release of sensitising
substances and acid -> nociceptor sensitisation -> local and referred pain; contraction also
shortens the muscle and limits range of motion. A well-placed needle knocks down endplate
activity and releases contraction; circulation washes out the chemistry over the following
days, with a transient post-needling soreness. Local twitch responses add an immediate,
short-lived relief (half-life ~8 h) and nothing lasting, as the clinical evidence suggests
(Fernandez-de-las-Penas et al. 2021, Acupunct Med, doi 10.1177/09645284211056346): more
relief right after needling, no difference by the next visit.

Each variable relaxes toward a target that depends on the others, integrated with the exact
exponential step `x <- target + (x - target) * exp(-k dt)`. With targets that are finite and
non-negative, every variable stays finite and non-negative for any step size: stability by
construction, which the property tests check over the whole parameter space.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from triggerpoint.physiology.params import DEFAULTS, ModelParams

STATE_VARIABLES = {
    "endplate_activity": "a.u. (healthy 0.05): spontaneous electrical activity at the motor endplate",
    "contraction": "fraction 0-1 of taut-band fibres in sustained contraction",
    "blood_flow": "fraction of normal local blood flow",
    "energy": "fraction of normal local ATP availability",
    "sensitisers": "a.u. (healthy 1.0): composite of substance P, CGRP, bradykinin and cytokines",
    "ph": "pH units: local tissue pH",
    "sensitisation": "0-1: peripheral nociceptor sensitisation",
    "soreness": "NRS points: post-needling soreness (a transient)",
    "relief": "NRS points: immediate post-needling relief that grows with twitches (a transient)",
    "local_pain": "NRS 0-10: spontaneous pain felt at the trigger point",
    "pressure_pain": "NRS 0-10: pain on firm compression of the trigger point",
    "referred_pain": "NRS 0-10: spontaneous referred pain in the referral zone",
    "rom": "fraction of normal range of motion",
}


@dataclass
class Needling:
    """Needling events: per trigger point, the day, the twitch count and the accuracy (0-1)."""

    day: np.ndarray
    twitches: np.ndarray
    accuracy: np.ndarray


@dataclass
class State:
    endplate_activity: np.ndarray
    contraction: np.ndarray
    blood_flow: np.ndarray
    energy: np.ndarray
    sensitisers: np.ndarray
    acid: np.ndarray  # H+ relative to healthy tissue (pH 7.4 when 1.0)
    sensitisation: np.ndarray
    soreness: np.ndarray
    rom: np.ndarray
    relief: np.ndarray  # NRS points taken off spontaneous pain, fading within a day or two

    @classmethod
    def healthy(cls, n: int, p: ModelParams = DEFAULTS) -> State:
        one = np.ones(n)
        return cls(
            p.a_rest * one,
            0 * one,
            one.copy(),
            one.copy(),
            one.copy(),
            one.copy(),
            0 * one,
            0 * one,
            one.copy(),
            0 * one,
        )


def ph_of(acid: np.ndarray) -> np.ndarray:
    return 7.4 - np.log10(np.maximum(acid, 1e-12))


def _spontaneous(s: State, p: ModelParams) -> np.ndarray:
    """Spontaneous pain (0-10) the sensitisation alone would give, before any transient."""
    full = max(p.pain_full, p.spont_threshold + 0.05)
    return 10 * np.clip((s.sensitisation - p.spont_threshold) / (full - p.spont_threshold), 0, 1)


def pains(s: State, p: ModelParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(spontaneous local, on compression, referred) pain on a 0-10 scale.

    Active: sensitisation above the spontaneous threshold, so pain is felt without pressure
    and refers; latent: tender on compression only (it may refer when pressed). The
    post-needling relief lowers spontaneous and referred pain, not pressure pain (the
    meta-analysis found no twitch effect on pressure pain threshold); soreness adds to local.
    """
    full = max(p.pain_full, p.spont_threshold + 0.05)
    felt = np.maximum(_spontaneous(s, p) - s.relief, 0)
    press_full = max(full, p.press_threshold + 0.05)  # a threshold at 10/10 would divide by 0
    press = 10 * np.clip(
        (s.sensitisation - p.press_threshold) / (press_full - p.press_threshold), 0, 1
    )
    local = np.minimum(10, felt + s.soreness)
    return local, press, np.minimum(10, p.referral_gain * felt)


@dataclass(frozen=True)
class _Decay:
    """exp(-k dt) for the constant rates, computed once per run rather than every step."""

    endplate: float
    contract: float
    flow: float
    energy: float
    sensitise: float
    soreness: float
    rom: float
    relief: float

    @classmethod
    def of(cls, p: ModelParams, dt: float) -> _Decay:
        e = np.exp
        return cls(
            e(-p.k_endplate * dt),
            e(-p.k_contract * dt),
            e(-p.k_flow * dt),
            e(-p.k_energy * dt),
            e(-p.k_sensitise * dt),
            e(-p.soreness_decay * dt),
            e(-p.k_rom * dt),
            e(-p.relief_decay * dt),
        )


def _toward(x: np.ndarray, target: np.ndarray, decay: float | np.ndarray) -> np.ndarray:
    return target + (x - target) * decay


def step(
    s: State, load: np.ndarray, dt: float, p: ModelParams, decay: _Decay | None = None
) -> State:
    d = decay or _Decay.of(p, dt)
    drive = p.load_gain * load + p.crisis_feedback * (1 - s.energy)
    drive2 = drive * drive
    a = _toward(
        s.endplate_activity,
        p.a_rest + (p.a_max - p.a_rest) * drive2 / (drive2 + p.drive_midpoint**2),
        d.endplate,
    )
    excess = np.maximum(a - p.a_rest, 0)
    c = _toward(s.contraction, excess / (excess + p.contract_half), d.contract)
    q = _toward(s.blood_flow, 1 - p.compression * c, d.flow)
    e = _toward(s.energy, q / (q + p.demand * c), d.energy)
    deficit = 1 - e
    q_floor = np.maximum(q, 0.05)
    k_sens = p.clearance * q_floor
    wash = np.exp(-k_sens * dt)
    sens = _toward(s.sensitisers, (p.clearance + p.release * deficit) / k_sens, wash)
    acid = _toward(s.acid, (1 + p.acid_gain * deficit) / q_floor, wash)
    chem = np.maximum(sens - 1, 0) + np.maximum(acid - 1, 0)
    n = _toward(s.sensitisation, chem / (chem + p.chem_half), d.sensitise)
    rom = _toward(s.rom, 1 - p.shortening * c, d.rom)
    return State(a, c, q, e, sens, acid, n, s.soreness * d.soreness, rom, s.relief * d.relief)


def apply_needling(
    s: State, hit: np.ndarray, twitches: np.ndarray, accuracy: np.ndarray, p: ModelParams
) -> State:
    """Needling now where `hit` is true.

    The lasting effect (endplate knock-down, released contraction) grows with accuracy only;
    twitches add immediate relief, saturating, which fades over a day or two. That split
    follows the trials: twitches made a difference right after needling, not at follow-up
    (Fernandez-de-las-Penas et al. 2021); whether they are needed is debated (Perreault,
    Dunning & Butts 2017, doi 10.1016/j.jbmt.2017.03.008).
    """
    effect = np.where(hit, accuracy, 0.0)
    relief = np.where(hit, p.relief_max * (1 - np.exp(-twitches / p.twitch_scale)), 0.0)
    return State(
        s.endplate_activity * (1 - p.needle_knockdown * effect),
        s.contraction * (1 - p.release_fraction * effect),
        s.blood_flow,
        s.energy,
        s.sensitisers,
        s.acid,
        s.sensitisation,
        s.soreness + np.where(hit, p.soreness_per_needle * (0.5 + 0.5 * accuracy), 0.0),
        s.rom,
        s.relief + relief,
    )


@dataclass
class Trajectory:
    days: np.ndarray
    series: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (steps, n)

    def at_end(self, name: str) -> np.ndarray:
        return self.series[name][-1]


def equilibrium(
    load: np.ndarray, p: ModelParams = DEFAULTS, days: float = 400, dt: float = 0.5
) -> State:
    """The state a trigger point settles in under a constant load (no needling)."""
    s = State.healthy(len(load), p)
    decay = _Decay.of(p, dt)
    for _ in range(int(days / dt)):
        s = step(s, load, dt, p, decay)
    return s


def simulate(
    start: State,
    load: np.ndarray | None = None,
    *,
    days: float = 14,
    dt: float = 0.05,
    needling: Needling | None = None,
    load_fn=None,
    p: ModelParams = DEFAULTS,
    record: bool = True,
) -> Trajectory:
    """Integrate from `start`; returns every state variable and the pains per step."""
    n = len(start.endplate_activity)
    load = np.zeros(n) if load is None else np.broadcast_to(load, (n,)).astype(float)
    steps = round(days / dt)
    days_arr = np.arange(steps + 1) * dt
    s = start
    decay = _Decay.of(p, dt)
    done = np.zeros(n, dtype=bool)
    out = {k: np.empty((steps + 1, n)) for k in STATE_VARIABLES} if record else {}
    for i in range(steps + 1):
        t = days_arr[i]
        if record or i == steps:
            _store(out, i, s, p, record, steps)  # the state at t, before anything happens at t
        if i == steps:
            break
        if needling is not None:
            due = (~done) & (needling.day <= t + 1e-9)
            if due.any():
                s = apply_needling(s, due, needling.twitches, needling.accuracy, p)
                done |= due
        s = step(s, load_fn(i, t) if load_fn is not None else load, dt, p, decay)
    return Trajectory(days_arr if record else days_arr[-1:], out)


def _store(out: dict, i: int, s: State, p: ModelParams, record: bool, steps: int) -> None:
    local, press, referred = pains(s, p)
    values = {
        "endplate_activity": s.endplate_activity,
        "contraction": s.contraction,
        "blood_flow": s.blood_flow,
        "energy": s.energy,
        "sensitisers": s.sensitisers,
        "ph": ph_of(s.acid),
        "sensitisation": s.sensitisation,
        "soreness": s.soreness,
        "relief": s.relief,
        "local_pain": local,
        "pressure_pain": press,
        "referred_pain": referred,
        "rom": s.rom,
    }
    for k, v in values.items():
        if record:
            out[k][i] = v
        else:
            out[k] = v[None, :]


def classify_state(s: State, p: ModelParams = DEFAULTS) -> np.ndarray:
    """'active' (spontaneously painful), 'latent' (painful only on compression) or 'normal'.

    From the sensitisation, so a transient (soreness, post-needling relief) never changes it.
    """
    _local, press, _ = pains(s, p)
    spont = _spontaneous(s, p)
    return np.where(spont > 0.5, "active", np.where(press > 0.5, "latent", "normal"))
