"""A forest plot of the per-twitch coefficient with its 95% CI, one row per outcome.

Hand-written SVG (a point, a line and a zero line need no plotting library): black on white,
so it reads in greyscale and in print; `<title>`, `<desc>` and the numbers as text make it
readable without sight. PNG and PDF for papers come from the same SVG through cairosvg.
"""

from __future__ import annotations

import math
from html import escape

from triggerpoint.research.ltr.schemas import LtrReport

WIDTH, ROW, TOP, LEFT, RIGHT = 720, 46, 40, 190, 200
DIRECTION = {
    "nprs": "left of 0: less pain",
    "ppt": "right of 0: higher threshold (less tender)",
}


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    raw = span / 4
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def forest_svg(report: LtrReport) -> str:
    """The twitch coefficient of each outcome (a row each), with its CI and a line at zero."""
    fits = report.fits
    bounds = [0.0]
    for f in fits:
        if f.twitch is not None:
            bounds += [f.twitch.ci_low, f.twitch.ci_high]
    lo, hi = min(bounds), max(bounds)
    pad = max((hi - lo) * 0.15, 0.05)
    lo, hi = lo - pad, hi + pad
    plot_w = WIDTH - LEFT - RIGHT
    digits = 3 if hi - lo < 0.3 else 2  # PPT effects are hundredths of a kg/cm²
    height = TOP + ROW * len(fits) + 50

    def x(v: float) -> float:
        return LEFT + (v - lo) / (hi - lo) * plot_w

    unit = escape(report.unit)
    title = f"Change in {report.instrument.upper()} per twitch, with 95% confidence intervals"
    desc = "; ".join(
        f"{f.outcome.replace('_', '-')}: "
        + (
            f"{f.twitch.estimate:+.3f} {report.unit} per twitch "
            f"(95% CI {f.twitch.ci_low:+.3f} to {f.twitch.ci_high:+.3f})"
            if f.twitch
            else f"not fitted ({f.message})"
        )
        for f in fits
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'class="plot" width="{WIDTH}" height="{height}" role="img" '
        'aria-labelledby="ltr-title ltr-desc" '
        f'font-family="sans-serif" font-size="13">',
        f'<title id="ltr-title">{escape(title)}</title>',
        f'<desc id="ltr-desc">{escape(desc)}</desc>',
        f'<rect width="{WIDTH}" height="{height}" fill="#fff"/>',
        f'<text x="{LEFT}" y="18" font-weight="bold">Change per twitch, {unit}</text>',
        f'<text x="{WIDTH - RIGHT + 10}" y="18" font-weight="bold">estimate (95% CI)</text>',
    ]
    axis_y = TOP + ROW * len(fits)
    for t in _ticks(lo, hi):
        out.append(
            f'<line x1="{x(t):.1f}" y1="{axis_y}" x2="{x(t):.1f}" y2="{axis_y + 5}" stroke="#000"/>'
            f'<text x="{x(t):.1f}" y="{axis_y + 19}" text-anchor="middle">{t:g}</text>'
        )
    out.append(
        f'<line x1="{LEFT}" y1="{axis_y}" x2="{LEFT + plot_w}" y2="{axis_y}" stroke="#000"/>'
        f'<line x1="{x(0):.1f}" y1="{TOP - 10}" x2="{x(0):.1f}" y2="{axis_y}" stroke="#000" '
        f'stroke-dasharray="4 3"/>'
        f'<text x="{LEFT + plot_w / 2}" y="{axis_y + 38}" text-anchor="middle">'
        f"change per additional twitch; {DIRECTION.get(report.instrument, '')}"
        "</text>"
    )
    for i, f in enumerate(fits):
        y = TOP + ROW * i + ROW / 2
        name = "Immediate" if f.outcome == "immediate" else "Follow-up"
        out.append(
            f'<text x="8" y="{y - 3:.1f}">{name}</text>'
            f'<text x="8" y="{y + 13:.1f}" font-size="11">{f.n_sessions} sessions, '
            f"{f.n_patients} patients</text>"
        )
        if f.twitch is None:
            out.append(
                f'<text x="{LEFT + 6}" y="{y + 4:.1f}" font-style="italic">not fitted</text>'
            )
            continue
        c = f.twitch
        out.append(
            f"<g><title>{escape(name)}: {c.estimate:+.3f} (95% CI {c.ci_low:+.3f} to "
            f"{c.ci_high:+.3f})</title>"
            f'<line x1="{x(c.ci_low):.1f}" y1="{y:.1f}" x2="{x(c.ci_high):.1f}" y2="{y:.1f}" '
            f'stroke="#000" stroke-width="2"/>'
            f'<rect x="{x(c.estimate) - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" fill="#000"/>'
            "</g>"
            f'<text x="{WIDTH - RIGHT + 10}" y="{y + 4:.1f}">{c.estimate:+.{digits}f} '
            f"({c.ci_low:+.{digits}f} to {c.ci_high:+.{digits}f})</text>"
        )
    out.append("</svg>")
    return "".join(out)


def forest_file(report: LtrReport, fmt: str) -> bytes:
    """The forest plot as PNG (for slides) or PDF (for papers), or the SVG itself."""
    svg = forest_svg(report)
    if fmt == "svg":
        return svg.encode()
    import cairosvg

    if fmt == "png":
        return bytes(cairosvg.svg2png(bytestring=svg.encode(), output_width=WIDTH * 2))
    return bytes(cairosvg.svg2pdf(bytestring=svg.encode()))
