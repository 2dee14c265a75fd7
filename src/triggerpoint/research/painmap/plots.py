"""The pain-map figures: the cohort heat map on the body chart, the extent and agreement
distributions; SVG for the page, PNG and PDF (cairosvg) for papers.

The heat map's colour scale is matplotlib's cividis, reversed so that more patients read
darker on white paper. Cividis was designed to be perceptually uniform with lightness that
changes monotonically (Nuñez, Anderton & Renslow 2018, PLoS ONE 13:e0199239), so it reads in
greyscale and for people with colour-vision deficiency; `lightness` (CIE 1976 L*) lets the
tests prove the monotone order on the colours actually drawn. Regions no patient marked stay
white, areas the chart does not map stay grey, and the legend says so beside the n.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_hex

from triggerpoint.bodychart.catalog import load_catalog
from triggerpoint.bodychart.geometry import load_geometry
from triggerpoint.reports.plots import figure_svg, for_print
from triggerpoint.research.painmap.schemas import AgreementStats, ExtentStats, HeatMap

FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
INK, MUTED = "#1b1f23", "#4f5b66"
REGION_STROKE, OUTLINE_STROKE, UNMAPPED = "#9aa4ad", "#2f3a44", "#e4e7ea"
SCALE = colormaps["cividis_r"]
LEGEND_STEPS = 10
GAP = 20.0  # between the two views
LEGEND_H = 150.0
CAPTIONS = {"anterior": "Front", "posterior": "Back"}


# --- colour --------------------------------------------------------------------------------


def _step(i: int) -> str:
    """The colour of legend step i (1..LEGEND_STEPS), sampled evenly along the map."""
    return to_hex(SCALE(i / LEGEND_STEPS))


def colour(fraction: float, top: float) -> str:
    """The fill for a fraction of patients on a scale from 0 to `top`: white for none, else
    the legend step it falls in (binned, so every fill on the map is one the legend shows,
    and the map's own tiny lightness wobbles between neighbouring entries cannot show)."""
    if fraction <= 0 or top <= 0:
        return "#ffffff"
    return _step(min(LEGEND_STEPS, max(1, math.ceil(round(fraction / top * LEGEND_STEPS, 9)))))


def scale_top(fractions: Sequence[float]) -> float:
    """The legend's upper end: the largest fraction rounded up to a tenth (at least 0.1)."""
    peak = max(fractions, default=0.0)
    return min(1.0, max(0.1, math.ceil(round(peak * 10, 9)) / 10))


def legend_colours(top: float) -> list[tuple[float, str]]:
    """(upper fraction, colour) of the legend's steps, lightest first: what the tests measure."""
    return [(top * i / LEGEND_STEPS, _step(i)) for i in range(1, LEGEND_STEPS + 1)]


def lightness(hex_colour: str) -> float:
    """CIE 1976 L* of an sRGB colour (D65): sRGB companding (IEC 61966-2-1) to linear light,
    relative luminance Y, then L* = 116 f(Y) - 16 (CIE 15:2004)."""
    rgb = [int(hex_colour.lstrip("#")[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    f = y ** (1 / 3) if y > (6 / 29) ** 3 else y / (3 * (6 / 29) ** 2) + 4 / 29
    return 116 * f - 16


# --- heat map on the body chart ------------------------------------------------------------


def _view(view: str, x0: float, shares: dict[str, tuple[int, float]], n: int, top: float) -> str:
    data = load_geometry()["views"][view]
    regions = load_catalog().regions
    w = float(data["width"])
    parts = [
        f'<g transform="translate({x0:.0f},0)" data-view="{view}">',
        f'<text x="{w / 2:.0f}" y="30" font-size="24" font-weight="bold" text-anchor="middle" '
        f'fill="{INK}">{CAPTIONS[view]}</text>',
    ]
    left, right = ("R", "L") if view == "anterior" else ("L", "R")
    for letter, x, anchor in ((left, 18.0, "start"), (right, w - 18.0, "end")):
        parts.append(
            f'<text x="{x:.0f}" y="66" font-size="36" font-weight="bold" fill="{INK}" '
            f'text-anchor="{anchor}">{letter}</text>'
        )
    parts += [
        f'<path d="{data["outline"]}" fill="#ffffff"/>',
        f'<path d="{data["unmapped"]}" fill="{UNMAPPED}"/>',
        f'<g stroke="{REGION_STROKE}" stroke-width="0.7" stroke-linejoin="round">',
    ]
    for region_id, shape in data["regions"].items():
        k, frac = shares.get(region_id, (0, 0.0))
        name = regions[region_id].name if region_id in regions else region_id
        tip = f"{name}: {k} of {n} patients ({100 * frac:.0f}%)"
        parts.append(
            f'<path class="region" data-region="{region_id}" data-patients="{k}" '
            f'fill="{colour(frac, top)}" d="{shape["d"]}"><title>{escape(tip)}</title></path>'
        )
    parts.append("</g>")
    outlines = [data["outline"], *(inset["d"] for inset in data.get("insets", []))]
    parts.append(
        f'<path d="{"".join(outlines)}" fill="none" stroke="{OUTLINE_STROKE}" '
        f'stroke-width="1.6" stroke-linejoin="round" pointer-events="none"/></g>'
    )
    return "".join(parts)


def _legend(y: float, heat: HeatMap, top: float) -> str:
    step, x0 = 60.0, 40.0
    scope = (
        "the first drawing of each episode" if heat.view == "first" else "any drawing in the range"
    )
    parts = [
        f'<g transform="translate(0,{y:.0f})" class="legend">',
        f'<text x="{x0:.0f}" y="22" font-size="21" fill="{INK}">Share of the cohort\'s '
        f"patients with pain in the region: n = {heat.patients} patients, "
        f"{heat.drawings} drawings</text>",
    ]
    for i, (frac, fill) in enumerate(legend_colours(top)):
        x = x0 + i * step
        parts.append(
            f'<rect x="{x:.0f}" y="36" width="{step:.0f}" height="30" fill="{fill}" '
            f'stroke="{MUTED}" stroke-width="0.6"><title>up to {100 * frac:.0f}%</title></rect>'
        )
    for i in range(0, LEGEND_STEPS + 1, 2):
        parts.append(
            f'<text x="{x0 + i * step:.0f}" y="88" font-size="18" text-anchor="middle" '
            f'fill="{INK}">{100 * top * i / LEGEND_STEPS:.0f}%</text>'
        )
    kx = x0 + LEGEND_STEPS * step + 36
    parts += [
        f'<rect x="{kx:.0f}" y="36" width="30" height="30" fill="#ffffff" stroke="{MUTED}"/>',
        f'<text x="{kx + 40:.0f}" y="58" font-size="18" fill="{INK}">no patient</text>',
        f'<rect x="{kx:.0f}" y="76" width="30" height="30" fill="{UNMAPPED}" stroke="{MUTED}"/>',
        f'<text x="{kx + 40:.0f}" y="98" font-size="18" fill="{INK}">not a region</text>',
        f'<text x="{x0:.0f}" y="128" font-size="17" fill="{MUTED}">Counted from {scope}. '
        f"Darker means more patients; R and L are the patient's sides.</text>",
        "</g>",
    ]
    return "".join(parts)


def heatmap_svg(heat: HeatMap) -> str:
    """Both views side by side with the legend below, as one standalone SVG."""
    geometry = load_geometry()["views"]
    wa, wp = float(geometry["anterior"]["width"]), float(geometry["posterior"]["width"])
    h = float(geometry["anterior"]["height"])
    width, height = wa + GAP + wp, h + LEGEND_H
    shares = {r.region_id: (r.patients, r.fraction) for r in heat.regions}
    top = scale_top([r.fraction for r in heat.regions])
    what = "first drawing of each episode" if heat.view == "first" else "any drawing"
    name = (
        f"Pain heat map, front and back: share of {heat.patients} patients with pain in each "
        f"region ({what}); darker is more, scale 0 to {100 * top:.0f}%"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'width="{width:.0f}" height="{height:.0f}" class="plot painmap-heat" role="img" '
        f'aria-label={quoteattr(name)} font-family="{FONT}">'
        f"<title>{escape(name)}</title>"
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>'
        + _view("anterior", 0.0, shares, heat.patients, top)
        + _view("posterior", wa + GAP, shares, heat.patients, top)
        + _legend(h, heat, top)
        + "</svg>"
    )


# --- distributions -------------------------------------------------------------------------


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


def _style(ax: plt.Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8, colors=INK)


def extent_svg(stats: ExtentStats, pairs: Sequence[tuple[float, float]]) -> str:
    """Box plots of extent before and after, and a histogram of the paired change."""
    fig, (box, hist) = plt.subplots(1, 2, figsize=(7.6, 3.0), width_ratios=(1, 1.3))
    for ax in (box, hist):
        _style(ax)
    if not pairs:
        _empty(box, "no episode has a drawing before and after needling")
        _empty(hist, "no paired change")
    else:
        before = [b for b, _ in pairs]
        after = [a for _, a in pairs]
        parts = box.boxplot(
            [before, after], tick_labels=["before", "after"], patch_artist=True, widths=0.5
        )
        for patch, fill, hatch in zip(
            parts["boxes"], ("#ffffff", "#9aa4ad"), ("", "//"), strict=True
        ):
            patch.set(facecolor=fill, edgecolor=INK, hatch=hatch)
        for median in parts["medians"]:
            median.set(color=INK, linewidth=2)
        box.set_ylabel("pain extent (% of chart area)", fontsize=8)
        change = np.asarray(after) - np.asarray(before)
        hist.hist(
            change, bins=min(20, max(5, len(change) // 3)), color="#4f5b66", edgecolor="#ffffff"
        )
        hist.axvline(0, color=INK, linewidth=1, linestyle="--")
        hist.set_xlabel("change, after − before (percentage points)", fontsize=8)
        hist.set_ylabel("episodes", fontsize=8)
    box.set_title(f"Pain extent, n = {stats.pairs} pairs", fontsize=9, loc="left")
    hist.set_title("Paired change", fontsize=9, loc="left")
    label = (
        f"Pain extent before and after needling, {stats.pairs} episodes: median before "
        f"{_num(stats.before.median)}%, after {_num(stats.after.median)}%, "
        f"median change {_num(stats.change.median)} points"
    )
    return figure_svg(fig, label=label, prefix="pm-extent")


def agreement_svg(stats: AgreementStats, jaccard: Sequence[float], dice: Sequence[float]) -> str:
    """Histograms of the Jaccard and Dice scores of the test-retest pairs."""
    fig, axes = plt.subplots(1, 2, figsize=(7.6, 2.8), sharey=True)
    bins = np.linspace(0, 1, 11)
    for ax, values, name, fill in zip(
        axes, (jaccard, dice), ("Jaccard", "Dice"), ("#4f5b66", "#9aa4ad"), strict=True
    ):
        _style(ax)
        if not values:
            _empty(ax, "no pairs of drawings")
        else:
            ax.hist(values, bins=bins, color=fill, edgecolor=INK, linewidth=0.6)
            ax.set_xlim(0, 1)
            ax.set_xlabel(f"{name} (0 = no overlap, 1 = the same regions)", fontsize=8)
        ax.set_title(f"{name}, n = {stats.pairs} pairs", fontsize=9, loc="left")
    axes[0].set_ylabel("pairs of drawings", fontsize=8)
    label = (
        f"Test-retest agreement of {stats.pairs} pairs of drawings: median Jaccard "
        f"{_num(stats.jaccard.median)}, median Dice {_num(stats.dice.median)}"
    )
    return figure_svg(fig, label=label, prefix="pm-agree")


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


# --- files for papers ----------------------------------------------------------------------

_SIZE = re.compile(r'viewBox="0 0 ([\d.]+) ([\d.]+)"')


def standalone(svg: str) -> str:
    """The page's SVG with fixed pixel size and no hover titles (nobody hovers on paper)."""
    svg = for_print(svg)
    if 'xmlns="http://www.w3.org/2000/svg"' not in svg.split(">", 1)[0]:
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    match = _SIZE.search(svg)
    if match and 'width="100%"' in svg.split(">", 1)[0]:
        svg = svg.replace('width="100%"', f'width="{match.group(1)}" height="{match.group(2)}"', 1)
    return svg


def to_png(svg: str, *, scale: float = 2.0) -> bytes:
    import cairosvg

    png: bytes = cairosvg.svg2png(
        bytestring=standalone(svg).encode("utf-8"), scale=scale, background_color="white"
    )
    return png


def to_pdf(svg: str) -> bytes:
    import cairosvg

    pdf: bytes = cairosvg.svg2pdf(bytestring=standalone(svg).encode("utf-8"))
    return pdf
