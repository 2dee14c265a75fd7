"""Body chart SVG: one view (front or back) with optional zone shading and trigger point marks.

`render_view` gives a standalone SVG that needs no page CSS: zone fills are presentation attributes
and `<pattern>`s inside the SVG, chosen to stay distinct when printed in black and white
(solid, stipple, hatch), because the same SVG is rasterised by cairosvg for PDFs. Pages add
hover and selection styling through the `.region` class.

A page of many thumbnails (the patient timeline) draws each view once with `chart_symbols`
and then `render_thumbnail` per drawing: a `<use>` of that symbol plus only the marked
regions, so 20 visits cost 20 small overlays instead of 40 copies of a 170 kB chart.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from triggerpoint.bodychart.catalog import View, load_catalog
from triggerpoint.bodychart.geometry import load_geometry

ZONES = ("essential", "spillover", "local", "pain")
CAPTIONS = {"anterior": "Front", "posterior": "Back"}
ESSENTIAL = "#b3261e"
PAIN = "#d9480f"
FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
REGION_STROKE = "#aab3bc"
OUTLINE_STROKE = "#2f3a44"


def _patterns(prefix: str) -> str:
    """Stipple for spillover, hatch for local: readable in colour and in greyscale print."""
    return (
        f'<pattern id="{prefix}-spillover" width="5" height="5" patternUnits="userSpaceOnUse">'
        f'<rect width="5" height="5" fill="#fff"/>'
        f'<circle cx="1.25" cy="1.25" r="1.05" fill="{ESSENTIAL}"/>'
        f'<circle cx="3.75" cy="3.75" r="1.05" fill="{ESSENTIAL}"/></pattern>'
        f'<pattern id="{prefix}-local" width="5" height="5" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="5" height="5" fill="#fff"/>'
        f'<rect width="1.5" height="5" fill="#6b7480"/></pattern>'
    )


def _fill(zone: str | None, prefix: str) -> str:
    if zone is None:
        return "#ffffff"
    return {
        "essential": ESSENTIAL,
        "pain": PAIN,
        "spillover": f"url(#{prefix}-spillover)",
        "local": f"url(#{prefix}-local)",
    }[zone]


def _mark(x: float, y: float, label: str) -> str:
    """A black X on a white disc: visible on every fill, and on paper."""
    return (
        f'<g class="tp-mark" transform="translate({x:.1f},{y:.1f})">'
        f"<title>{escape(label)}</title>"
        f'<circle r="6.5" fill="#fff" stroke="#000" stroke-width="1.2"/>'
        f'<path d="M-3.4,-3.4L3.4,3.4M-3.4,3.4L3.4,-3.4" stroke="#000" stroke-width="2.2" '
        f'stroke-linecap="round"/></g>'
    )


def _side_markers(view: View, width: float) -> str:
    """Large R and L stating the PATIENT's sides, so nobody has to work out the mirroring."""
    left, right = ("R", "L") if view == "anterior" else ("L", "R")
    words = {"R": "patient's right", "L": "patient's left"}
    out = []
    for letter, x, anchor in ((left, 18.0, "start"), (right, width - 18.0, "end")):
        out.append(
            f'<text x="{x:.0f}" y="70" font-size="46" font-weight="bold" fill="#1b1f23" '
            f'text-anchor="{anchor}">{letter}</text>'
            f'<text x="{x:.0f}" y="88" font-size="12" fill="#4f5b66" '
            f'text-anchor="{anchor}">{words[letter]}</text>'
        )
    return "".join(out)


def _insets(data: dict) -> str:
    out = []
    for inset in data.get("insets", []):
        x0, y0, x1, y1 = inset["box"]
        label = inset["label"][0].upper() + inset["label"][1:]
        out.append(
            f'<rect x="{x0}" y="{y0}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="6" '
            f'fill="none" stroke="#c9d0d6" stroke-width="0.8" stroke-dasharray="3 2"/>'
            f'<text x="{(x0 + x1) / 2:.1f}" y="{y0 - 4:.1f}" font-size="10.5" '
            f'text-anchor="middle" fill="#4f5b66">{escape(label)}</text>'
        )
    return "".join(out)


def render_view(
    view: View,
    *,
    shading: dict[str, str] | None = None,
    marks: list[tuple[float, float, str]] | None = None,
    title: str | None = None,
    height: int | None = None,
    interactive: bool = True,
) -> str:
    """One view of the body chart as a standalone `<svg>` element.

    `shading` maps region id -> zone ("essential", "spillover", "local" or "pain"); regions
    of the other view are ignored. `marks` are trigger points as (x, y, label) in chart units.
    Interactive charts make every region a keyboard-focusable toggle button.
    """
    shading = shading or {}
    bad = {z for z in shading.values() if z not in ZONES}
    if bad:
        raise ValueError(f"unknown zone(s) {sorted(bad)}; expected one of {ZONES}")
    data = load_geometry()["views"][view]
    catalog = load_catalog()
    w, h = float(data["width"]), float(data["height"])
    out_h = float(height) if height else h
    out_w = w * out_h / h
    prefix = f"tp-{view}"
    name = title or f"Body chart, {CAPTIONS[view].lower()} view"
    role = "group" if interactive else "img"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'width="{out_w:.0f}" height="{out_h:.0f}" class="bodychart" data-view="{view}" '
        f'role="{role}" aria-label={quoteattr(name)} font-family="{FONT}">',
        f"<title>{escape(name)}</title>",
        f"<defs>{_patterns(prefix)}</defs>",
        f'<text x="{w / 2:.0f}" y="30" font-size="24" font-weight="bold" text-anchor="middle" '
        f'fill="#1b1f23">{CAPTIONS[view]}</text>',
        _side_markers(view, w),
        _insets(data),
        f'<path d="{data["outline"]}" fill="#fff"/>',
        f'<path class="unmapped" d="{data["unmapped"]}" fill="#eef0f2"/>',
        f'<g stroke="{REGION_STROKE}" stroke-width="0.7" stroke-linejoin="round">',
    ]
    for region_id, shape in data["regions"].items():
        zone = shading.get(region_id)
        label = catalog.regions[region_id].name if region_id in catalog.regions else region_id
        attrs = [
            f'class="region{f" shade-{zone}" if zone else ""}"',
            f'data-region="{region_id}"',
            f"data-name={quoteattr(label)}",
        ]
        if region_id in catalog.regions:
            attrs.append(f'data-group="{catalog.regions[region_id].group}"')
        if zone:
            attrs.append(f'data-zone="{zone}"')
        if interactive:
            attrs += ['tabindex="0"', 'role="button"', f"aria-label={quoteattr(label)}"]
            attrs.append('aria-pressed="false"')
        attrs += [f'fill="{_fill(zone, prefix)}"', f'd="{shape["d"]}"']
        tag = f"<path {' '.join(attrs)}"
        parts.append(f"{tag}><title>{escape(label)}</title></path>" if interactive else f"{tag}/>")
    parts.append("</g>")
    outlines = [data["outline"], *(inset["d"] for inset in data.get("insets", []))]
    parts.append(
        f'<path d="{"".join(outlines)}" fill="none" stroke="{OUTLINE_STROKE}" '
        f'stroke-width="1.6" stroke-linejoin="round" pointer-events="none"/>'
    )
    parts += [_mark(x, y, label) for x, y, label in marks or []]
    parts.append("</svg>")
    return "".join(parts)


def render_legend() -> str:
    """A one-line key to the zone fills and the trigger point mark, for referral maps."""
    items = [
        ("essential", "essential zone"),
        ("spillover", "spillover zone"),
        ("local", "local"),
    ]
    prefix = "tp-legend"
    parts = []
    x = 4.0
    for zone, text in items:
        parts.append(
            f'<rect x="{x:.0f}" y="9" width="22" height="18" fill="{_fill(zone, prefix)}" '
            f'stroke="#555" stroke-width="1"/>'
            f'<text x="{x + 30:.0f}" y="23" font-size="14" fill="#1b1f23">{text}</text>'
        )
        x += 30 + 8.5 * len(text) + 24
    parts.append(
        _mark(x + 8, 18, "trigger point")
        + f'<text x="{x + 22:.0f}" y="23" font-size="14" fill="#1b1f23">trigger point</text>'
    )
    width = x + 22 + 8.5 * len("trigger point") + 8
    parts.insert(
        0,
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} 36" '
        f'width="{width:.0f}" height="36" role="img" aria-label="Legend" font-family="{FONT}">'
        f"<title>Legend</title><defs>{_patterns(prefix)}</defs>",
    )
    parts.append("</svg>")
    return "".join(parts)


SYMBOL_PREFIX = "tp-sym"


def symbol_id(view: View, layer: str = "base") -> str:
    """The id of one view's shared drawing: "base" (figure and regions) or "lines" (outlines)."""
    return f"bodychart-{view}" if layer == "base" else f"bodychart-{view}-{layer}"


def chart_symbols() -> str:
    """Both views once, as `<symbol>`s in a zero-size `<svg>` for thumbnails to `<use>`.

    Put it once on a page before (or after) any `render_thumbnail` output. It is zero-size
    rather than display:none because Chromium does not paint patterns from a hidden SVG.
    """
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart-symbols" width="0" height="0" '
        'aria-hidden="true" focusable="false">',
        f"<defs>{_patterns(SYMBOL_PREFIX)}",
    ]
    catalog_views = load_geometry()["views"]
    for view in ("anterior", "posterior"):
        data = catalog_views[view]
        box = f'viewBox="0 0 {float(data["width"]):.0f} {float(data["height"]):.0f}"'
        regions = "".join(f'<path d="{shape["d"]}"/>' for shape in data["regions"].values())
        outlines = [data["outline"], *(inset["d"] for inset in data.get("insets", []))]
        parts += [
            f'<symbol id="{symbol_id(view)}" {box}>',
            f'<text x="{float(data["width"]) / 2:.0f}" y="30" font-size="24" font-weight="bold" '
            f'text-anchor="middle" fill="#1b1f23" font-family="{FONT}">{CAPTIONS[view]}</text>',
            f'<g font-family="{FONT}">{_side_markers(view, float(data["width"]))}'
            f"{_insets(data)}</g>",
            f'<path d="{data["outline"]}" fill="#fff"/>',
            f'<path d="{data["unmapped"]}" fill="#eef0f2"/>',
            f'<g fill="#fff" stroke="{REGION_STROKE}" stroke-width="0.7" '
            f'stroke-linejoin="round">{regions}</g>',
            "</symbol>",
            f'<symbol id="{symbol_id(view, "lines")}" {box}>',
            f'<path d="{"".join(outlines)}" fill="none" stroke="{OUTLINE_STROKE}" '
            f'stroke-width="1.6" stroke-linejoin="round"/>',
            "</symbol>",
        ]
    parts.append("</defs></svg>")
    return "".join(parts)


def render_thumbnail(
    view: View,
    *,
    shading: dict[str, str] | None = None,
    height: int = 150,
    title: str | None = None,
) -> str:
    """A small, non-interactive view that reuses `chart_symbols` and adds its marked regions.

    Only the shaded regions of this view are written out (as `.region.shade-<zone>` paths
    between the figure and its outline), so each thumbnail is a few hundred bytes per mark.
    """
    shading = shading or {}
    bad = {z for z in shading.values() if z not in ZONES}
    if bad:
        raise ValueError(f"unknown zone(s) {sorted(bad)}; expected one of {ZONES}")
    data = load_geometry()["views"][view]
    catalog = load_catalog()
    w, h = float(data["width"]), float(data["height"])
    name = title or f"Body chart, {CAPTIONS[view].lower()} view"
    marked = [
        f'<path class="region shade-{zone}" data-region="{rid}" data-zone="{zone}" '
        f"data-name={quoteattr(catalog.regions[rid].name if rid in catalog.regions else rid)} "
        f'fill="{_fill(zone, SYMBOL_PREFIX)}" d="{data["regions"][rid]["d"]}"/>'
        for rid, zone in shading.items()
        if rid in data["regions"]
    ]
    size = f'width="{w:.0f}" height="{h:.0f}"'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'width="{w * height / h:.0f}" height="{height}" class="bodychart thumb-chart" '
        f'data-view="{view}" role="img" aria-label={quoteattr(name)}>'
        f"<title>{escape(name)}</title>"
        f'<use href="#{symbol_id(view)}" {size}/>'
        f'<g stroke="{REGION_STROKE}" stroke-width="0.7" stroke-linejoin="round">'
        f"{''.join(marked)}</g>"
        f'<use href="#{symbol_id(view, "lines")}" {size}/>'
        "</svg>"
    )
