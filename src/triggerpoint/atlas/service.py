"""Atlas queries shared by the CLI, the HTTP API and the pages.

Each function takes keyword arguments and returns plain data (dicts and lists of JSON types),
so every interface prints or serves exactly the same shape.
"""

from __future__ import annotations

from typing import Any

from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.atlas.schema import MUSCLE_GROUPS, Muscle
from triggerpoint.bodychart.catalog import Side
from triggerpoint.errors import InvalidInput


class UnknownGroupError(InvalidInput):
    def __init__(self, group: str) -> None:
        self.group = group
        super().__init__(
            "group", f"unknown muscle group {group!r}; choose one of: {', '.join(MUSCLE_GROUPS)}"
        )


def _atlas(atlas: Atlas | None) -> Atlas:
    return atlas if atlas is not None else load_atlas()


def muscle_summary(muscle: Muscle) -> dict[str, Any]:
    """A muscle as the list views show it: identity, group and trigger points with zones."""
    return {
        "id": muscle.id,
        "name": muscle.name,
        "group": muscle.group,
        "synonyms": list(muscle.synonyms),
        "thorax": muscle.needling.thorax,
        "trigger_points": [
            {
                "id": tp.id,
                "name": tp.name,
                "location": tp.location,
                "region": tp.position.region,
                "essential": list(tp.zones.essential),
                "spillover": list(tp.zones.spillover),
                "local": list(tp.zones.local),
            }
            for tp in muscle.trigger_points
        ],
    }


def muscle_detail(muscle: Muscle) -> dict[str, Any]:
    """Everything the atlas holds about one muscle (the schema's own JSON form)."""
    return muscle.model_dump(mode="json", exclude={"review_notes"})


def list_muscles(
    *, group: str | None = None, query: str | None = None, atlas: Atlas | None = None
) -> list[dict[str, Any]]:
    """Muscles sorted by name, optionally within one group or matching a name fragment."""
    if group is not None and group not in MUSCLE_GROUPS:
        raise UnknownGroupError(group)
    needle = (query or "").strip().lower()
    out = []
    for m in sorted(_atlas(atlas).muscles.values(), key=lambda m: m.name.lower()):
        if group and m.group != group:
            continue
        haystack = " ".join([m.id, m.name, *m.synonyms]).lower().replace("_", " ")
        if needle and needle not in haystack:
            continue
        out.append(muscle_summary(m))
    return out


def get_muscle(*, name: str, atlas: Atlas | None = None) -> Muscle:
    """A muscle by id, name or synonym; raises MuscleNotFoundError with nearest names."""
    return _atlas(atlas).find_muscle(name)


def sided_trigger_points(
    *, muscle: Muscle, side: Side, atlas: Atlas | None = None
) -> list[SidedTriggerPoint]:
    a = _atlas(atlas)
    return [a.trigger_point(f"{muscle.id}.{tp.id}.{side}") for tp in muscle.trigger_points]


def refers_to(*, region: str, atlas: Atlas | None = None) -> dict[str, Any]:
    """Trigger points whose essential or spillover zone covers the named region(s).

    A name may cover several regions ("right thumb" is its palmar and dorsal surface); a
    trigger point is then listed once, under its strongest zone. Essential comes first.
    """
    a = _atlas(atlas)
    regions = a.catalog.resolve(region)
    best: dict[str, tuple[SidedTriggerPoint, str]] = {}
    for r in regions:
        for tp, zone in a.refers_to(r.id):
            if tp.uid not in best or (zone == "essential" and best[tp.uid][1] != "essential"):
                best[tp.uid] = (tp, zone)
    ranked = sorted(
        best.values(), key=lambda h: (h[1] != "essential", h[0].muscle.name.lower(), h[0].tp_id)
    )
    return {
        "query": region,
        "regions": [r.as_dict() for r in regions],
        "matches": [
            {
                "muscle_id": tp.muscle_id,
                "muscle": tp.muscle.name,
                "side": tp.side,
                "trigger_point_id": tp.tp_id,
                "trigger_point": tp.tp.name,
                "zone": zone,
            }
            for tp, zone in ranked
        ],
    }
