"""Parameters of the trigger point model: meaning, units, defaults and allowed ranges.

Time is in days. Concentration-like variables are in arbitrary units (a.u.) relative to
healthy tissue (= 1.0); pH is in pH units. Every field's bounds are what the stability
property test explores, so the model must stay finite and non-negative across all of them.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ModelParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Endplate (motor endplate spontaneous electrical activity, "endplate noise")
    a_rest: float = Field(
        0.05, ge=0.0, le=0.5, description="Endplate activity of healthy muscle (a.u.)"
    )
    a_max: float = Field(
        1.0,
        ge=0.2,
        le=3.0,
        description="Maximum endplate activity of a fully dysfunctional endplate (a.u.)",
    )
    load_gain: float = Field(
        1.5, ge=0.0, le=10.0, description="How strongly perpetuating load drives endplate activity"
    )
    crisis_feedback: float = Field(
        1.0,
        ge=0.0,
        le=8.0,
        description="Energy-crisis feedback on endplate activity (ACh release rises as ATP falls)",
    )
    drive_midpoint: float = Field(
        2.5, ge=0.1, le=6.0, description="Drive at which endplate activity is half-maximal"
    )
    k_endplate: float = Field(
        0.15,
        ge=0.01,
        le=2.0,
        description="Rate (1/day) at which endplate activity follows its drive; sets natural recovery",
    )
    # Taut band and circulation
    k_contract: float = Field(
        4.0,
        ge=0.1,
        le=24.0,
        description="Rate (1/day) at which contraction follows endplate activity",
    )
    contract_half: float = Field(
        0.3,
        ge=0.05,
        le=2.0,
        description="Endplate activity giving half-maximal sustained contraction",
    )
    compression: float = Field(
        0.7, ge=0.0, le=0.95, description="Fraction of local blood flow lost at full contraction"
    )
    k_flow: float = Field(6.0, ge=0.1, le=24.0, description="Rate (1/day) of blood-flow adjustment")
    demand: float = Field(
        1.5, ge=0.0, le=5.0, description="Extra energy demand of fully contracted fibres (relative)"
    )
    k_energy: float = Field(
        4.0, ge=0.1, le=24.0, description="Rate (1/day) of energy (ATP) adjustment"
    )
    # Chemistry: sensitising substances (composite of substance P, CGRP, bradykinin, TNF-a, IL-1b) and acid
    release: float = Field(
        2.0,
        ge=0.0,
        le=20.0,
        description="Release of sensitising substances per unit energy deficit (a.u./day)",
    )
    clearance: float = Field(
        1.0,
        ge=0.05,
        le=10.0,
        description="Wash-out of sensitising substances per unit blood flow (1/day)",
    )
    acid_gain: float = Field(
        4.0,
        ge=0.0,
        le=20.0,
        description="H+ production per unit energy deficit (relative to healthy)",
    )
    # Nociception and pain
    k_sensitise: float = Field(
        0.12,
        ge=0.05,
        le=10.0,
        description="Rate (1/day) of nociceptor sensitisation and its recovery (half-life ~6 days: relief builds over days to weeks)",
    )
    chem_half: float = Field(
        4.0, ge=0.2, le=10.0, description="Chemical drive giving half-maximal sensitisation"
    )
    spont_threshold: float = Field(
        0.5,
        ge=0.1,
        le=0.9,
        description="Sensitisation above which pain is spontaneous (active trigger point)",
    )
    pain_full: float = Field(
        0.75, ge=0.2, le=1.0, description="Sensitisation at which spontaneous pain reaches 10/10"
    )
    press_threshold: float = Field(
        0.2,
        ge=0.01,
        le=0.8,
        description="Sensitisation above which compression is painful (latent or active)",
    )
    referral_gain: float = Field(
        0.8,
        ge=0.0,
        le=1.5,
        description="Referred pain relative to local pain (central convergence)",
    )
    # Range of motion
    shortening: float = Field(
        0.35, ge=0.0, le=0.9, description="Fraction of range lost at full sustained contraction"
    )
    k_rom: float = Field(
        2.0, ge=0.1, le=24.0, description="Rate (1/day) at which range follows muscle length"
    )
    # Needling. The lasting effect depends on placement only; the twitch count sets an
    # immediate, short-lived relief (Fernandez-de-las-Penas et al. 2021, Acupunct Med,
    # doi 10.1177/09645284211056346: twitches helped immediately, not at follow-up).
    needle_knockdown: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="Fraction of endplate activity removed by a perfectly placed needle, whatever the twitch count (chosen)",
    )
    release_fraction: float = Field(
        0.38,
        ge=0.0,
        le=1.0,
        description="Fraction of sustained contraction released at once by a perfectly placed needle, whatever the twitch count (chosen)",
    )
    relief_max: float = Field(
        2.0,
        ge=0.0,
        le=6.0,
        description="Largest immediate post-needling relief (NRS points) with many twitches; chosen so twitch vs no twitch is ~1.4 points (meta-analysis MD -2.03, 95% CI -3.77 to -0.29)",
    )
    twitch_scale: float = Field(
        2.0, ge=0.3, le=10.0, description="Twitches for ~63% of the maximal immediate relief"
    )
    relief_decay: float = Field(
        2.0,
        ge=0.5,
        le=10.0,
        description="Decay rate (1/day) of the immediate relief: time constant 12 h (chosen), gone by a weekly follow-up",
    )
    soreness_per_needle: float = Field(
        2.5, ge=0.0, le=6.0, description="Post-needling soreness (NRS points) right after needling"
    )
    soreness_decay: float = Field(
        1.0, ge=0.2, le=5.0, description="Decay rate (1/day) of post-needling soreness (24-72 h)"
    )


DEFAULTS = ModelParams()

# Perpetuating load (0-1, dimensionless) that puts a trigger point in each state at rest.
STATE_LOADS = {"normal": 0.1, "latent": 0.4, "active": 0.8}
