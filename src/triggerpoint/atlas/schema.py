"""The shape of one muscle file in the referred-pain atlas.

A clinician should be able to review `atlas/data/muscles/<id>.yaml` without reading Python,
so the schema is strict: unknown keys, empty referral zones and unsourced patterns are all
load errors rather than silent gaps.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MuscleGroup = Literal[
    "head", "neck", "shoulder_girdle", "upper_limb", "trunk", "pelvis", "lower_limb"
]
MUSCLE_GROUPS: dict[MuscleGroup, str] = {
    "head": "Head",
    "neck": "Neck",
    "shoulder_girdle": "Shoulder girdle",
    "upper_limb": "Upper limb",
    "trunk": "Trunk",
    "pelvis": "Pelvis and hip",
    "lower_limb": "Lower limb",
}

Slug = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
# A zone entry names a region key. Unprefixed means the same side as the trigger point;
# "contra:" the opposite side; "both:" both sides. Midline regions take no prefix.
ZoneRef = Annotated[str, Field(pattern=r"^(contra:|both:)?[a-z][a-z0-9_]*$")]
_ROOT = re.compile(r"^(CN ?[IVX]+|C[1-8]|T(1[0-2]|[1-9])|L[1-5]|S[1-5]|Co1)$")

# "pleural_recess": the costodiaphragmatic recess of the pleura reaches below the medial part
# of the twelfth rib, so a needle aimed too high or too steeply in the upper lumbar region can
# reach it. It is deliberately not "lung": the thorax depth guard is built from interscapular
# depth data, which do not describe the lumbar level, so these muscles keep `thorax: false`.
RiskKind = Literal["lung", "vessel", "nerve", "organ", "pleural_recess", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Innervation(_Strict):
    nerve: str = Field(min_length=2)
    roots: list[str] = Field(min_length=1)

    @field_validator("roots")
    @classmethod
    def _roots_are_segments(cls, roots: list[str]) -> list[str]:
        bad = [r for r in roots if not _ROOT.match(r)]
        if bad:
            raise ValueError(
                f"not a spinal segment or cranial nerve: {bad} (use C5, T12, L4, S1, CN V)"
            )
        return roots


class Position(_Strict):
    """Where the trigger point sits, as a region plus a spot inside it.

    `at` is anatomical, not pixel-based, so it survives redrawing the chart:
    u = 0 medial … 1 lateral, v = 0 superior … 1 inferior, both within the region.
    For midline regions u = 0 is the patient's right edge.
    """

    region: Slug
    at: tuple[float, float] = (0.5, 0.5)

    @field_validator("at")
    @classmethod
    def _in_unit_square(cls, at: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= c <= 1.0 for c in at):
            raise ValueError("both coordinates must lie in [0, 1]")
        return at


class Zones(_Strict):
    """Referral pattern: essential (nearly always), spillover (sometimes), local (at the TP)."""

    essential: list[ZoneRef] = Field(min_length=1)
    spillover: list[ZoneRef] = []
    local: list[ZoneRef] = []

    @model_validator(mode="after")
    def _zones_disjoint(self) -> Zones:
        seen: dict[str, str] = {}
        for zone in ("essential", "spillover", "local"):
            for ref in getattr(self, zone):
                if ref in seen:
                    raise ValueError(f"region {ref!r} is listed in both {seen[ref]} and {zone}")
                seen[ref] = zone
        return self


class TriggerPoint(_Strict):
    id: Slug
    name: str = Field(min_length=2)
    location: str = Field(min_length=10, description="Where to find it, in our own words")
    position: Position
    zones: Zones
    note: str | None = None
    compressible: bool | None = Field(
        default=None,
        strict=True,
        description=(
            "Override of needling.compressible for this trigger point, where one muscle has "
            "both superficial and deep points; unset means the muscle's value applies"
        ),
    )


class Risk(_Strict):
    kind: RiskKind
    structure: str = Field(min_length=2)


class Needling(_Strict):
    patient_position: str = Field(min_length=3)
    approach: str = Field(min_length=10)
    depth_mm: tuple[int, int]
    structures_at_risk: list[Risk] = []
    thorax: bool = Field(description="True where the needle path can reach the pleura or lung")
    compressible: bool = Field(
        strict=True,
        description=(
            "Whether firm pressure over the needle site can stop bleeding at this muscle's "
            "usual needling depth"
        ),
    )
    compressible_reason: str = Field(
        min_length=10,
        description="One short sentence, in our own words, on why the muscle is or is not compressible",
    )

    @field_validator("depth_mm")
    @classmethod
    def _depth_range(cls, depth: tuple[int, int]) -> tuple[int, int]:
        lo, hi = depth
        if not (1 <= lo <= hi <= 120):
            raise ValueError("must be [min, max] in mm with 1 <= min <= max <= 120")
        return depth

    @model_validator(mode="after")
    def _thorax_flag_matches_risks(self) -> Needling:
        lung = any(r.kind == "lung" for r in self.structures_at_risk)
        if lung != self.thorax:
            raise ValueError("thorax must be true exactly when a structure at risk has kind 'lung'")
        return self


class Source(_Strict):
    citation: str = Field(min_length=10)
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    supports: list[
        Literal["referral", "location", "needling", "innervation", "compressibility"]
    ] = Field(min_length=1)


class Muscle(_Strict):
    id: Slug
    name: str = Field(min_length=3)
    synonyms: list[str] = []
    group: MuscleGroup
    innervation: Innervation
    actions: list[str] = Field(min_length=1)
    trigger_points: list[TriggerPoint] = Field(min_length=1)
    perpetuating_factors: list[str] = Field(min_length=1)
    needling: Needling
    sources: list[Source] = Field(min_length=1)
    review_notes: str | None = Field(
        default=None, description="Doubts a clinical reviewer should look at (kept out of the UI)"
    )

    @model_validator(mode="after")
    def _unique_tp_ids_and_referral_source(self) -> Muscle:
        ids = [tp.id for tp in self.trigger_points]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate trigger point ids: {dupes}")
        if not any("referral" in s.supports for s in self.sources):
            raise ValueError("at least one source must support the referral pattern")
        if not any("compressibility" in s.supports for s in self.sources):
            raise ValueError(
                "at least one source must support compressibility (whether pressure can stop "
                "bleeding at the needle site)"
            )
        return self

    def compressible_at(self, tp_id: str) -> bool:
        """Whether pressure can stop bleeding at this trigger point's needling depth.

        The trigger point's own override wins where it is set (a deep point in a muscle that
        is otherwise compressible, or the reverse); else the muscle's value applies. An
        unknown trigger point id raises KeyError rather than falling back silently.
        """
        for tp in self.trigger_points:
            if tp.id == tp_id:
                return (
                    tp.compressible if tp.compressible is not None else self.needling.compressible
                )
        raise KeyError(f"{self.id} has no trigger point {tp_id!r}")

    @property
    def pleural_recess(self) -> bool:
        """True when the needle can reach the pleural recess below the twelfth rib."""
        return any(r.kind == "pleural_recess" for r in self.needling.structures_at_risk)
