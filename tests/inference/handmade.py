"""A small hand-made atlas for the service and property tests (independent of the data files).

Each region is in the essential zone of at most one trigger point per side: the condition
under which "a painful region in a trigger point's essential zone never lowers its posterior"
is a theorem of the model (see test_properties.py).
"""

from __future__ import annotations

from triggerpoint.atlas.loader import Atlas
from triggerpoint.atlas.schema import Muscle
from triggerpoint.bodychart.catalog import load_catalog

# muscle id -> [(tp id, position region, essential, spillover, local)]
PATTERNS: dict[str, list[tuple[str, str, list[str], list[str], list[str]]]] = {
    "alpha": [("tp1", "angle_of_neck", ["temple", "behind_the_ear"], ["occiput", "eye"], [])],
    "beta": [("tp1", "jaw", ["angle_of_jaw", "lower_teeth"], ["ear", "temple"], ["jaw"])],
    "gamma": [
        ("tp1", "top_of_shoulder", ["upper_posterior_neck"], ["occiput", "vertex"], []),
        ("tp2", "scapula", ["medial_scapular_border"], ["posterior_shoulder"], ["scapula"]),
    ],
    "delta": [("tp1", "lateral_neck", ["contra:lateral_neck"], ["lateral_arm"], [])],
    "epsilon": [("tp1", "lumbar_paraspinal", ["low_back", "upper_buttock"], ["sacrum"], [])],
    "zeta": [("tp1", "lateral_leg", ["lateral_ankle", "dorsum_of_foot"], ["lateral_leg"], [])],
}


def muscle(mid: str, tps: list[tuple[str, str, list[str], list[str], list[str]]]) -> Muscle:
    return Muscle.model_validate(
        {
            "id": mid,
            "name": f"Muscle {mid}",
            "group": "neck",
            "innervation": {"nerve": "Test nerve", "roots": ["C3"]},
            "actions": ["Test action."],
            "trigger_points": [
                {
                    "id": tid,
                    "name": f"{mid} {tid}",
                    "location": f"Test location of {mid} {tid}.",
                    "position": {"region": pos},
                    "zones": {"essential": ess, "spillover": spill, "local": local},
                }
                for tid, pos, ess, spill, local in tps
            ],
            "perpetuating_factors": ["Test factor."],
            "needling": {
                "patient_position": "Supine",
                "approach": "Test approach text.",
                "depth_mm": [5, 15],
                "structures_at_risk": [{"kind": "nerve", "structure": "Test nerve"}],
                "thorax": False,
                "compressible": True,
                "compressible_reason": "Test reason text.",
            },
            "sources": [
                {"citation": "Test citation, 2024.", "supports": ["referral", "compressibility"]}
            ],
        }
    )


def handmade_atlas(patterns=PATTERNS) -> Atlas:
    return Atlas(
        muscles={mid: muscle(mid, tps) for mid, tps in patterns.items()}, catalog=load_catalog()
    )
