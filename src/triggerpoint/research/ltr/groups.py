"""Muscle groups for the twitch analysis, defined from the atlas's own body groups.

The atlas files each muscle under one of seven groups (head, neck, shoulder girdle, upper
limb, trunk, pelvis, lower limb). Seven levels of a nuisance covariate cost degrees of freedom
a clinic's registry rarely has, so neighbouring groups whose muscles share a region of
complaint are merged: head with neck (cervicogenic and jaw pain), pelvis with lower limb (hip
and leg). A muscle the atlas does not know (an imported record) is "other".
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, case, literal

from triggerpoint.atlas.loader import load_atlas

ANALYSIS_GROUP = {
    "head": "head_neck",
    "neck": "head_neck",
    "shoulder_girdle": "shoulder",
    "upper_limb": "upper_limb",
    "trunk": "trunk",
    "pelvis": "pelvis_lower_limb",
    "lower_limb": "pelvis_lower_limb",
}
LABELS = {
    "head_neck": "Head and neck",
    "shoulder": "Shoulder girdle",
    "upper_limb": "Upper limb",
    "trunk": "Trunk (back, chest and abdomen)",
    "pelvis_lower_limb": "Pelvis and lower limb",
    "other": "Other (muscle not in the atlas)",
}
OTHER = "other"


@cache
def group_of_muscle() -> dict[str, str]:
    """Atlas muscle id -> analysis group."""
    return {
        mid: ANALYSIS_GROUP.get(m.group, OTHER) for mid, m in sorted(load_atlas().muscles.items())
    }


def group_sql(muscle_id: Any) -> ColumnElement[str]:
    """The analysis group of a `needle_entry.muscle_id` column, as a SQL CASE."""
    by_group: dict[str, list[str]] = {}
    for mid, grp in group_of_muscle().items():
        by_group.setdefault(grp, []).append(mid)
    whens = [(muscle_id.in_(ids), literal(grp)) for grp, ids in sorted(by_group.items())]
    return case(*whens, else_=literal(OTHER))


def definitions() -> list[dict[str, object]]:
    """Each analysis group, its label and the atlas groups it merges (for the page and docs)."""
    merged: dict[str, list[str]] = {}
    for atlas_group, grp in ANALYSIS_GROUP.items():
        merged.setdefault(grp, []).append(atlas_group.replace("_", " "))
    return [
        {"group": g, "label": LABELS[g], "atlas_groups": merged.get(g, [])}
        for g in LABELS
        if g != OTHER
    ]
