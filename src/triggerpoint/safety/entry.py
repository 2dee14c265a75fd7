"""The one place that decides whether a needle may go in: every write path calls `check_entry`.

The web form, the JSON API, the CLI, FHIR import, the demo clinic and the registry generator
all chart through here, so a rule changed here changes everywhere. Planning calls
`blocked_reasons` to mark candidates a clinician must not plan for this patient.

Inputs are the patient's structured restrictions (from `safety.screening`), the BMI, and
the atlas's own data: where each trigger point lies, whether the muscle is compressible at
its usual depth, whether it lies over the lung (thorax guard) or near the pleural recess
below the 12th rib.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.atlas.schema import Muscle
from triggerpoint.errors import InvalidInput, SafetyBlock
from triggerpoint.safety.depth import DepthLimit, max_thorax_depth

PLEURAL_RECESS = (
    "the pleura can reach below the 12th rib here: insert below the 12th rib and aim at the "
    "transverse process, never upwards or towards the rib"
)


@dataclass(frozen=True)
class PatientSafety:
    """What the entry rules need to know about one patient, from the screening and record."""

    restrictions: tuple[dict[str, Any], ...] = ()
    bmi: float | None = None

    @classmethod
    def of(cls, restrictions: list[dict[str, Any]] | None, bmi: float | None) -> PatientSafety:
        return cls(tuple(restrictions or ()), bmi)


@dataclass(frozen=True)
class EntryCheck:
    """An allowed entry: the thorax limit that applied and whether the entry is over it."""

    limit: DepthLimit | None
    over_limit: bool


def tp_region(muscle: Muscle, tp_id: str, side: str) -> str:
    """The body-chart region the trigger point lies in, on this side (from its position)."""
    return load_atlas().trigger_point(f"{muscle.id}.{tp_id}.{side}").position_region


def _restriction_block(r: dict[str, Any], muscle: Muscle, tp_id: str, side: str) -> str | None:
    scope = r.get("scope")
    where = f"{muscle.name} ({side}, trigger point {tp_id})"
    if scope in ("limb", "site"):
        if "regions" not in r:
            return (
                f"{r.get('reason')}: this screening was recorded before restrictions were "
                "stored as body-chart regions; screen the patient again before needling"
            )
        region = tp_region(muscle, tp_id, side)
        if region in r["regions"]:
            return f"{where} lies in {r.get('where') or region}, which is restricted: {r['reason']}"
    if scope == "deep" and not muscle.compressible_at(tp_id):
        return (
            f"{where} cannot be compressed at its usual depth "
            f"({muscle.needling.depth_mm[0]}-{muscle.needling.depth_mm[1]} mm), so bleeding could "
            f"not be stopped by pressure: {r['reason']}"
        )
    return None


def blocked_reasons(
    patient: PatientSafety,
    *,
    muscle: Muscle,
    tp_id: str,
    side: str,
    technique: str | None = None,
) -> list[str]:
    """Every reason this patient's screening forbids needling this trigger point (empty:
    allowed). The technique is checked when it is known (charting, not planning)."""
    out = [
        reason
        for r in patient.restrictions
        if (reason := _restriction_block(r, muscle, tp_id, side)) is not None
    ]
    if technique == "electrical":
        out += [
            f"electrical stimulation is contraindicated for this patient: {r['reason']}"
            for r in patient.restrictions
            if r.get("scope") == "electrical"
        ]
    return out


def thorax_limit_for(muscle: Muscle, bmi: float | None) -> DepthLimit | None:
    """The patient's depth limit where the muscle lies over the lung, else None."""
    return max_thorax_depth(bmi) if muscle.needling.thorax else None


def check_entry(
    patient: PatientSafety,
    *,
    muscle: Muscle,
    tp_id: str,
    side: str,
    technique: str,
    depth_mm: float,
    over_limit_reason: str | None = None,
    pleural_recess_acknowledged: bool = False,
) -> EntryCheck:
    """Allow the entry or raise: `SafetyBlock` (409) for a restriction, `InvalidInput` (422,
    naming the field) for a missing reason or acknowledgement."""
    if blocks := blocked_reasons(
        patient, muscle=muscle, tp_id=tp_id, side=side, technique=technique
    ):
        raise SafetyBlock("; ".join(blocks))
    limit = thorax_limit_for(muscle, patient.bmi)
    # With no safe depth at all, every entry over the thorax is "over" and needs its reason.
    over = limit is not None and (depth_mm > limit.max_depth_mm or limit.no_safe_depth)
    if limit is not None and over and not (over_limit_reason or "").strip():
        raise InvalidInput(
            "over_limit_reason",
            f"{depth_mm:g} mm is deeper than this patient's thorax limit of "
            f"{limit.max_depth_mm:g} mm for {muscle.name}; record why before saving. "
            + limit.explain(),
        )
    if muscle.pleural_recess and not pleural_recess_acknowledged:
        raise InvalidInput(
            "pleural_recess_acknowledged",
            f"{muscle.name}: {PLEURAL_RECESS}. Confirm the level and direction before saving.",
        )
    return EntryCheck(limit=limit, over_limit=over)
