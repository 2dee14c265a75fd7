"""Referral maps: a muscle's trigger points and zones drawn on the body chart.

Shading comes straight from the sided trigger points, so what is drawn is exactly what the
data says (the tests parse the SVG to check this). Where trigger points of one muscle
overlap, a region takes its strongest zone: essential over spillover over local.
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from triggerpoint.atlas.loader import Atlas, SidedTriggerPoint, load_atlas
from triggerpoint.atlas.schema import Muscle
from triggerpoint.bodychart.catalog import Side, View
from triggerpoint.bodychart.geometry import load_geometry, region_point
from triggerpoint.bodychart.svg import render_legend, render_view

ZONE_RANK = {"essential": 0, "spillover": 1, "local": 2}
VIEWS: tuple[View, View] = ("anterior", "posterior")


def zone_shading(tps: list[SidedTriggerPoint]) -> dict[str, str]:
    """Region id -> strongest zone over the given trigger points."""
    shading: dict[str, str] = {}
    for tp in tps:
        for zone in ZONE_RANK:
            for region_id in getattr(tp, zone):
                if region_id not in shading or ZONE_RANK[zone] < ZONE_RANK[shading[region_id]]:
                    shading[region_id] = zone
    return shading


def trigger_point_marks(
    tps: list[SidedTriggerPoint], view: View, atlas: Atlas
) -> list[tuple[float, float, str]]:
    """Chart coordinates of each trigger point drawn on this view."""
    marks = []
    for tp in tps:
        if atlas.catalog.regions[tp.position_region].view != view:
            continue
        x, y = region_point(tp.position_region, *tp.tp.position.at)
        marks.append((x, y, tp.tp.name))
    return marks


def sided(muscle: Muscle, side: Side, atlas: Atlas) -> list[SidedTriggerPoint]:
    return [atlas.trigger_point(f"{muscle.id}.{tp.id}.{side}") for tp in muscle.trigger_points]


def view_svg(
    muscle: Muscle, side: Side, view: View, *, atlas: Atlas | None = None, height: int | None = None
) -> str:
    """One view of a muscle's referral map, as a standalone interactive SVG."""
    atlas = atlas or load_atlas()
    tps = sided(muscle, side, atlas)
    return render_view(
        view,
        shading={
            r: z for r, z in zone_shading(tps).items() if atlas.catalog.regions[r].view == view
        },
        marks=trigger_point_marks(tps, view, atlas),
        title=f"{muscle.name} ({side})",
        height=height,
    )


def referral_map_svg(muscle: Muscle, side: Side, *, atlas: Atlas | None = None) -> str:
    """Both views side by side with a title and legend, for files and PDFs."""
    atlas = atlas or load_atlas()
    geometry = load_geometry()
    parts, x = [], 0.0
    height = max(geometry["views"][v]["height"] for v in VIEWS)
    for view in VIEWS:
        width = geometry["views"][view]["width"]
        inner = view_svg(muscle, side, view, atlas=atlas)
        parts.append(f'<g transform="translate({x:.1f},40)">{_strip_xml_decl(inner)}</g>')
        x += width + 20
    legend = render_legend()
    total_w, total_h = x - 20, height + 40 + 70
    title = escape(f"{muscle.name}: referred pain, patient's {side} side")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {total_w:.0f} {total_h:.0f}" '
        f'width="{total_w:.0f}" height="{total_h:.0f}" font-family="DejaVu Sans, Arial, sans-serif">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<text x="10" y="26" font-size="20" font-weight="bold">{title}</text>'
        + "".join(parts)
        + f'<g transform="translate(10,{height + 50:.0f})">{_strip_xml_decl(legend)}</g></svg>'
    )


def _strip_xml_decl(svg: str) -> str:
    return svg.split("?>", 1)[1] if svg.startswith("<?xml") else svg


def svg_to_png(svg: str, *, scale: float = 1.5) -> bytes:
    """Rasterise with cairosvg (Cairo is a system library the PDF renderer needs anyway)."""
    import cairosvg

    return cairosvg.svg2png(bytestring=svg.encode("utf-8"), scale=scale)
