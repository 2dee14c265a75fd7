"""Pain extent: the painted share of the body chart's area, front and back views together.

This is the usual pain-drawing measure (painted area over the total body-chart area). Our chart
draws hands and feet twice: as small grey, unmapped silhouettes on the figure, and as enlarged
insets beside the legs where their regions can be painted. Counted at inset size, a hand or foot
would weigh several times what the figure itself gives it (hands and feet were about 19% of
all region area), so each inset region's area is scaled by

    area of the figure's own grey hand/foot  /  area of the inset's outline,

which puts it back at the figure's scale. Feet are drawn foreshortened on the figure (seen from
the front or back), so like any front/back body chart this counts the foot at its projected,
small size; it is a chart-area measure, not a body-surface-area estimate.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from shapely.geometry import Polygon

from triggerpoint.bodychart.geometry import load_geometry, path_rings


def _polygon(d: str) -> Polygon:
    rings = path_rings(d)
    return Polygon(rings[0], rings[1:])


def _kind(label: str) -> str:
    return "hand" if "hand" in label else "foot"


def inset_scales(view: dict[str, Any]) -> list[tuple[tuple[float, float, float, float], float]]:
    """(inset box, area factor) for each inset of one view.

    The inset is paired with the grey silhouette of the same kind (hand or foot) on the same
    half of the view: insets sit beside the part they enlarge. The factor is below 1.
    """
    midline = view["midline_x"]
    grey = [_polygon(ring) for ring in view["unmapped"].split("Z") if ring.strip()]
    ys = [g.centroid.y for g in grey]
    split_y = (min(ys) + max(ys)) / 2  # hands hang well above the feet
    scales = []
    for inset in view.get("insets", []):
        x0, y0, x1, y1 = inset["box"]
        left_half = (x0 + x1) / 2 < midline
        kind = _kind(inset["label"])
        matches = [
            g
            for g in grey
            if (g.centroid.x < midline) == left_half
            and (kind == "hand") == (g.centroid.y < split_y)
        ]
        if len(matches) != 1:
            raise ValueError(f"cannot pair inset {inset['label']!r} with one figure silhouette")
        scales.append(((x0, y0, x1, y1), matches[0].area / _polygon(inset["d"]).area))
    return scales


def _scale_for(entry: dict[str, Any], scales: list) -> float:
    cx, cy = entry["centroid"]
    for (x0, y0, x1, y1), factor in scales:
        if x0 <= cx <= x1 and y0 <= cy <= y1:
            return factor
    return 1.0


@cache
def region_areas() -> dict[str, float]:
    """Area of every body-chart region at the figure's scale, summed over both views."""
    areas: dict[str, float] = {}
    for view in load_geometry()["views"].values():
        scales = inset_scales(view)
        for region_id, entry in view["regions"].items():
            area = _polygon(entry["d"]).area * _scale_for(entry, scales)
            areas[region_id] = areas.get(region_id, 0.0) + area
    return areas


def pain_extent(region_ids: Iterable[str]) -> float | None:
    """Painted area as a percentage of all region area on both views (None if there is none)."""
    areas = region_areas()
    total = sum(areas.values())
    if not total:
        return None
    painted = sum(areas.get(r, 0.0) for r in set(region_ids))
    return round(100 * painted / total, 1)
