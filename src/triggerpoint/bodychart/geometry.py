"""Body chart geometry: region outlines and chart coordinates, read from data/geometry.json.

The JSON is built once by tools/build_bodychart.py (from anatomapa's silhouettes, MIT) and
committed; nothing here computes shapes at runtime except the point look-up below.

Coordinates are SVG user units, origin top left, y down. On the anterior (front) view the
patient's right is on the viewer's LEFT; on the posterior (back) view it is on the viewer's
right. Hands and feet are drawn as enlarged insets beside the legs.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from typing import Any

from shapely.geometry import Point, Polygon
from shapely.ops import nearest_points

_PAIR = re.compile(r"(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)")


@cache
def load_geometry() -> dict[str, Any]:
    """The packaged geometry (parsed once per process); treat it as read-only."""
    text = (
        resources.files("triggerpoint.bodychart").joinpath("data/geometry.json").read_text("utf-8")
    )
    return json.loads(text)


def path_rings(d: str) -> list[list[tuple[float, float]]]:
    """Rings of a path in the compact form the build writes ("Mx,y x,y ...Z" per ring)."""
    return [
        [(float(x), float(y)) for x, y in _PAIR.findall(ring)]
        for ring in d.split("Z")
        if ring.strip()
    ]


@cache
def region_polygon(region_id: str) -> Polygon:
    """The region's outline as a shapely polygon (KeyError for an unknown id)."""
    entry = _find(region_id)[1]
    rings = path_rings(entry["d"])
    return Polygon(rings[0], rings[1:])


def region_view(region_id: str) -> str:
    """The view ("anterior" or "posterior") the region is drawn on."""
    return _find(region_id)[0]


def _find(region_id: str) -> tuple[str, dict[str, Any]]:
    for view, data in load_geometry()["views"].items():
        if region_id in data["regions"]:
            return view, data["regions"][region_id]
    raise KeyError(f"no geometry for region {region_id!r}")


def region_point(region_id: str, u: float, v: float) -> tuple[float, float]:
    """Chart coordinates for a point given relative to the region's bounding box.

    `u` runs 0 = medial .. 1 = lateral (for a midline region 0 = the patient's right edge);
    `v` runs 0 = superior .. 1 = inferior. The point is moved to the nearest place inside the
    region when the box point falls outside it, so a marker always sits on its region.
    """
    view, entry = _find(region_id)
    data = load_geometry()["views"][view]
    x0, y0, x1, y1 = entry["bbox"]
    u, v = min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0)
    if region_id.startswith(("right_", "left_")):  # lateral end is away from the midline
        low_end_is_zero = entry["centroid"][0] > data["midline_x"]
    else:  # midline region: u = 0 is the patient's right, the viewer's left in front
        low_end_is_zero = view == "anterior"
    x = x0 + u * (x1 - x0) if low_end_is_zero else x1 - u * (x1 - x0)
    y = y0 + v * (y1 - y0)
    shape = region_polygon(region_id)
    point = Point(x, y)
    if shape.contains(point):
        return x, y
    inner = shape.buffer(-1.5)
    target = inner if not inner.is_empty else shape
    p = nearest_points(target, point)[0]
    if not shape.contains(p):  # degenerate sliver: fall back to a point known to be inside
        p = shape.representative_point()
    return p.x, p.y
