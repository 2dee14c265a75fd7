"""Plots as SVG strings, one drawing for both the web page and the PDF.

A patient's plots (trajectories, pain extent) are drawn as SVG directly, since a page shows
several on every view; the clinic's and the education page's come from matplotlib and are
drawn once per content (`by_content`). PDFs show pain-drawing thumbnails as small PNGs
(`print_thumbnail`, served by `chart_fetcher`).

The SVG is made safe to inline under the app's Content-Security-Policy (no inline `style`):
matplotlib's `style="k: v"` attributes become SVG presentation attributes, ids get a per-plot
prefix so several plots can share a page, and elements drawn with a `gid` can carry a
`<title>` (the browser shows it on hover, with no script).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache, wraps
from html import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from PIL import Image, ImageChops

from triggerpoint.bodychart.catalog import View
from triggerpoint.bodychart.geometry import load_geometry

INK, MUTED, BAND, MDC = "#1d2a33", "#6b7780", "#2e7d32", "#7a5c00"
PRE, POST, SESSION = "#1f6fb2", "#b3261e", "#8a4fff"
_counter = itertools.count(1)
_STYLE = re.compile(r' style="([^"]*)"')
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|xlink:href="#|href="#)([^)"]+)')


def _style_to_attributes(match: re.Match[str]) -> str:
    attrs = []
    for decl in match.group(1).split(";"):
        key, _, value = decl.partition(":")
        if key.strip() and value.strip():
            attrs.append(f'{key.strip()}="{escape(value.strip(), quote=True)}"')
    return " " + " ".join(attrs) if attrs else ""


def figure_svg(
    fig: Figure, *, titles: dict[str, str] | None = None, label: str = "", prefix: str = ""
) -> str:
    """Serialise a figure as inline-ready SVG (closes the figure).

    `titles` maps an artist's gid to hover text; `label` becomes the SVG's accessible name.
    """
    buf = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "triggerpoint"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>", "", svg, flags=re.S)
    svg = _STYLE.sub(_style_to_attributes, svg)
    p = prefix or f"p{next(_counter)}"
    svg = _ID.sub(lambda m: f'id="{p}-{m.group(1)}"', svg)
    svg = _REF.sub(lambda m: f"{m.group(1)}{p}-{m.group(2)}", svg)
    for gid, text in (titles or {}).items():
        svg = svg.replace(f'<g id="{p}-{gid}">', f'<g id="{p}-{gid}"><title>{escape(text)}</title>')
    svg = re.sub(
        r'<svg ([^>]*?)width="[^"]+" height="[^"]+"',
        r'<svg \1width="100%" stroke-linejoin="round" stroke-linecap="butt"',
        svg,
        count=1,
    )
    aria = f' role="img" aria-label="{escape(label, quote=True)}"' if label else ""
    return svg.replace("<svg ", f'<svg class="plot"{aria} ', 1).strip()


def _axes(width: float = 7.0, height: float = 3.0) -> tuple[Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=(width, height))
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8, colors=INK)
    return fig, ax


# --- patient trajectory -------------------------------------------------------------------


@dataclass(frozen=True)
class SessionMark:
    at: datetime
    label: str  # e.g. "Session 3, 2026-11-02: upper trapezius (right), levator scapulae (left)"


def trajectory_svg(
    *,
    name: str,
    unit: str,
    better: str,
    points: Sequence[dict],
    baseline: float | None,
    mcid: float | None,
    mdc95: float | None = None,
    groc_thresholds: tuple[float, float] | None = None,
    sessions: Sequence[SessionMark] = (),
    band_label: str = "MCID",
    dashed: tuple[str, float] | None = None,
) -> str:
    """One measure over time: pre/post needling points, the band around baseline that a
    change must leave to count (`mcid`: the measure's threshold, named by `band_label`, e.g.
    "MDC95" for PPT), the other published figure as dashed lines, and the sessions. Without
    a threshold there is no band: the change is not classified.

    Drawn as SVG directly (no matplotlib): a patient page shows one per measure on every
    view, and matplotlib took 0.1-0.4 s for each.
    """
    if dashed is None and mdc95 is not None:
        dashed = ("MDC95", mdc95)
    ys = [float(p["score"]) for p in points]
    if groc_thresholds is not None:
        ys += list(groc_thresholds)
    elif baseline is not None and mcid is not None:
        ys += [baseline - mcid, baseline + mcid]
        if dashed is not None:
            ys += [baseline - dashed[1], baseline + dashed[1]]
    chart = _Chart([p["at"] for p in points] + [s.at for s in sessions], ys, width=700, height=300)
    body: list[str] = []
    if groc_thresholds is not None:
        lo, hi = groc_thresholds
        text = f"between {lo:g} and +{hi:g}: no meaningful change"
        body.append(chart.band("mcid-band", lo, hi, text, opacity=0.12))
    elif baseline is not None and mcid is not None:
        text = f"baseline {baseline:g} ± {band_label} {mcid:g} {unit}"
        body.append(chart.band("mcid-band", baseline - mcid, baseline + mcid, text))
        body.append(chart.hline(baseline, BAND, opacity=0.7))
        if dashed is not None:
            dash_label, dash_value = dashed
            for y in (baseline - dash_value, baseline + dash_value):
                line = chart.hline(y, MDC, width=0.9, dash="4 3")
                body.append(f'<g id="{chart.p}-{dash_label.lower()}-{y:.2f}">{line}</g>')
    for i, s in enumerate(sessions):
        body.append(chart.session(i, s))
    legend = []
    for timing, colour, marker, lab in (
        ("pre", PRE, "o", "before needling"),
        ("post", POST, "s", "after needling"),
        ("", INK, "D", "measured"),
    ):
        pts = [p for p in points if (p.get("timing") or "") == timing]
        if pts:
            body.append(chart.series([(p["at"], float(p["score"])) for p in pts], colour, marker))
            legend.append((colour, marker, lab))
    arrow = "lower is better" if better == "lower" else "higher is better"
    if not points:
        body.append(chart.note("no measurements"))
    band = (
        "the band of no meaningful change"
        if groc_thresholds
        else f"the {band_label} band"
        if mcid is not None
        else "no threshold (not classified)"
    )
    return chart.svg(
        body,
        title=f"{name} ({arrow})",
        ylabel=unit,
        legend=legend,
        label=f"{name} over time with {band}",
    )


def extent_svg(*, dates: Sequence[datetime], extents: Sequence[float]) -> str:
    """Pain extent (% of body area) per drawing."""
    top = max(10.0, max(extents, default=0) * 1.2)
    chart = _Chart(list(dates), [0.0, top], width=700, height=220, pad_y=False)
    body = [chart.series(list(zip(dates, extents, strict=True)), POST, "o", width=1.4)]
    return chart.svg(
        body,
        title="Pain extent per visit",
        ylabel="% of body area",
        label="Pain extent as a percentage of body area, per visit",
    )


# --- the SVG drawing behind the patient plots ---------------------------------------------

FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
DAY = 86400.0


def _seconds(at: datetime) -> float:
    """Epoch seconds; a naive time (SQLite gives them) is UTC, as everywhere in the app."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _nice_step(span: float, n: int) -> float:
    raw = span / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    return next(k * mag for k in (1, 2, 2.5, 5, 10) if k * mag >= raw - 1e-12)


def _value_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step(hi - lo, 5)
    first = math.ceil(lo / step - 1e-9) * step
    count = math.floor((hi - first) / step + 1e-9) + 1
    return [round(first + i * step, 10) for i in range(count)]


def _date_ticks(lo: float, hi: float) -> list[datetime]:
    """Midnights (UTC) every 1, 2, 3, 7 or 14 days, or month starts every 1, 2, 3 or 6
    months, whichever gives at most eight ticks (as matplotlib's AutoDateLocator)."""
    span = (hi - lo) / DAY
    start = datetime.fromtimestamp(lo, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for days in (1, 2, 3, 7, 14):
        if span / days <= 7:
            first = start if _seconds(start) >= lo else start + timedelta(days=1)
            ticks = [first + timedelta(days=days * i) for i in range(int(span / days) + 2)]
            return [t for t in ticks if _seconds(t) <= hi]
    for months in (1, 2, 3, 6, 12, 24, 60):
        if span / (30.44 * months) <= 7:
            break
    ticks = []
    y, m = start.year, start.month
    while True:
        m += 1
        if m > 12:
            y, m = y + 1, m - 12
        if (m - 1) % months:
            continue
        t = datetime(y, m, 1, tzinfo=UTC)
        if _seconds(t) > hi:
            return ticks
        ticks.append(t)


MARKERS = {"o", "s", "D", "v"}


class _Chart:
    """A date axis and a value axis in a fixed frame, and the SVG pieces drawn on them."""

    LEFT, RIGHT, TOP, BOTTOM = 58.0, 14.0, 30.0, 34.0

    def __init__(
        self,
        dates: Sequence[datetime],
        values: Sequence[float],
        *,
        width: float,
        height: float,
        pad_y: bool = True,
    ) -> None:
        self.width, self.height = width, height
        self.p = f"p{next(_counter)}"
        xs = [_seconds(d) for d in dates]
        if not xs:
            now = datetime.now(UTC).timestamp()
            xs = [now - 7 * DAY, now + 7 * DAY]
        lo, hi = min(xs), max(xs)
        if hi - lo < DAY:  # a single day: a week each side, not years of meaningless ticks
            lo, hi = lo - 7 * DAY, hi + 7 * DAY
        else:
            lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        self.x0, self.x1 = lo, hi
        vlo, vhi = (min(values), max(values)) if values else (0.0, 1.0)
        if vhi - vlo < 1e-9:
            vlo, vhi = vlo - 1, vhi + 1
        elif pad_y:
            vlo, vhi = vlo - 0.05 * (vhi - vlo), vhi + 0.05 * (vhi - vlo)
        self.y0, self.y1 = vlo, vhi

    def x(self, at: datetime) -> float:
        span = self.width - self.LEFT - self.RIGHT
        return self.LEFT + (_seconds(at) - self.x0) / (self.x1 - self.x0) * span

    def y(self, v: float) -> float:
        span = self.height - self.TOP - self.BOTTOM
        return self.height - self.BOTTOM - (v - self.y0) / (self.y1 - self.y0) * span

    def _clip_y(self, v: float) -> float:
        return min(max(self.y(v), self.TOP), self.height - self.BOTTOM)

    def band(self, gid: str, lo: float, hi: float, title: str, opacity: float = 0.14) -> str:
        top, bottom = self._clip_y(hi), self._clip_y(lo)
        return (
            f'<g id="{self.p}-{gid}"><title>{escape(title)}</title>'
            f'<rect x="{self.LEFT:.1f}" y="{top:.1f}" width="{self.width - self.LEFT - self.RIGHT:.1f}" '
            f'height="{bottom - top:.1f}" fill="{BAND}" fill-opacity="{opacity}"/></g>'
        )

    def hline(
        self, v: float, colour: str, *, width: float = 1, opacity: float = 1, dash: str = ""
    ) -> str:
        y = self.y(v)
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        return (
            f'<line x1="{self.LEFT:.1f}" x2="{self.width - self.RIGHT:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{colour}" stroke-width="{width}" stroke-opacity="{opacity}"{extra}/>'
        )

    def session(self, i: int, s: SessionMark) -> str:
        x, title = self.x(s.at), f"<title>{escape(s.label)}</title>"
        top, bottom = self.TOP, self.height - self.BOTTOM
        return (
            f'<g id="{self.p}-session-{i}-line">{title}<line x1="{x:.1f}" x2="{x:.1f}" '
            f'y1="{top:.1f}" y2="{bottom:.1f}" stroke="{SESSION}" stroke-width="0.8" '
            f'stroke-opacity="0.8" stroke-dasharray="1 2"/></g>'
            f'<g id="{self.p}-session-{i}">{title}{_marker("v", x, top - 1, SESSION, 6)}</g>'
        )

    def series(
        self, pts: Sequence[tuple[datetime, float]], colour: str, marker: str, width: float = 1.2
    ) -> str:
        xy = [(self.x(at), self.y(v)) for at, v in pts]
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        marks = "".join(_marker(marker, x, y, colour) for x, y in xy)
        return (
            f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="{width}"/>'
            f"{marks}"
        )

    def note(self, text: str) -> str:
        x = (self.LEFT + self.width - self.RIGHT) / 2
        y = (self.TOP + self.height - self.BOTTOM) / 2
        return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" fill="{MUTED}" font-size="11">{escape(text)}</text>'

    def _axes(self, ylabel: str) -> list[str]:
        left, right = self.LEFT, self.width - self.RIGHT
        top, bottom = self.TOP, self.height - self.BOTTOM
        out = [
            f'<path d="M{left:.1f},{top:.1f}V{bottom:.1f}H{right:.1f}" fill="none" stroke="{INK}" stroke-width="0.8"/>'
        ]
        for v in _value_ticks(self.y0, self.y1):
            y = self.y(v)
            out.append(
                f'<line x1="{left - 4:.1f}" x2="{left:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{INK}" stroke-width="0.8"/>'
                f'<text x="{left - 7:.1f}" y="{y + 3.5:.1f}" text-anchor="end" font-size="10" fill="{INK}">{v:g}</text>'
            )
        for t in _date_ticks(self.x0, self.x1):
            x = self.x(t)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom:.1f}" y2="{bottom + 4:.1f}" stroke="{INK}" stroke-width="0.8"/>'
                f'<text x="{x:.1f}" y="{bottom + 16:.1f}" text-anchor="middle" font-size="10" fill="{INK}">{t:%d %b}</text>'
            )
        mid = (top + bottom) / 2
        out.append(
            f'<text transform="translate(14 {mid:.1f}) rotate(-90)" text-anchor="middle" font-size="10" fill="{INK}">{escape(ylabel)}</text>'
        )
        return out

    def _legend(self, entries: Sequence[tuple[str, str, str]]) -> str:
        out, x = [], self.width - self.RIGHT
        for colour, marker, text in reversed(entries):
            x -= 7 * len(text) + 30
            out.append(
                f'<line x1="{x:.1f}" x2="{x + 16:.1f}" y1="{self.TOP - 14:.1f}" y2="{self.TOP - 14:.1f}" stroke="{colour}" stroke-width="1.2"/>'
                f"{_marker(marker, x + 8, self.TOP - 14, colour)}"
                f'<text x="{x + 21:.1f}" y="{self.TOP - 10.5:.1f}" font-size="10" fill="{INK}">{escape(text)}</text>'
            )
        return "".join(out)

    def svg(
        self,
        body: Sequence[str],
        *,
        title: str,
        ylabel: str,
        label: str,
        legend: Sequence[tuple[str, str, str]] = (),
    ) -> str:
        return "".join(
            [
                f'<svg class="plot" role="img" aria-label="{escape(label, quote=True)}" '
                f'xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width:.0f} {self.height:.0f}" '
                f'width="100%" stroke-linejoin="round" stroke-linecap="butt" font-family="{FONT}">',
                f'<text x="{self.LEFT:.1f}" y="12" font-size="11" fill="{INK}">{escape(title)}</text>',
                *body,
                *self._axes(ylabel),
                self._legend(legend),
                "</svg>",
            ]
        )


def _marker(kind: str, x: float, y: float, colour: str, size: float = 3.5) -> str:
    """A point marker: circle, square, diamond or a downward triangle."""
    if kind == "o":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:g}" fill="{colour}"/>'
    if kind == "s":
        return f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:g}" height="{2 * size:g}" fill="{colour}"/>'
    if kind == "D":
        d = f"M{x:.1f},{y - size - 0.8:.1f}L{x + size:.1f},{y:.1f}L{x:.1f},{y + size + 0.8:.1f}L{x - size:.1f},{y:.1f}Z"
    else:  # "v"
        d = f"M{x - size:.1f},{y - size:.1f}H{x + size:.1f}L{x:.1f},{y + size:.1f}Z"
    return f'<path d="{d}" fill="{colour}"/>'


# --- clinic dashboard ---------------------------------------------------------------------


_RENDERED: OrderedDict[str, str] = OrderedDict()
_RENDER_LOCK = threading.Lock()  # pyplot's figure registry is not thread-safe
RENDERED_MAX = 64


def by_content(draw: Callable[[Sequence[dict]], str]) -> Callable[[Sequence[dict]], str]:
    """Draw a matplotlib plot once per distinct content (a hash of its rows) and reuse it:
    the dashboard's figures change only when the clinic's tallies do, and each costs
    0.1-0.3 s to draw."""

    @wraps(draw)
    def cached(rows: Sequence[dict]) -> str:
        text = json.dumps([draw.__name__, list(rows)], sort_keys=True, default=str)
        key = hashlib.sha256(text.encode("utf-8")).hexdigest()
        with _RENDER_LOCK:
            if key in _RENDERED:
                _RENDERED.move_to_end(key)
                return _RENDERED[key]
            svg = draw(rows)
            _RENDERED[key] = svg
            while len(_RENDERED) > RENDERED_MAX:
                _RENDERED.popitem(last=False)
            return svg

    return cached


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


@by_content
def responder_rates_svg(rows: Sequence[dict]) -> str:
    """Share of patients who responded, per measure, with 95% Wilson intervals."""
    fig, ax = _axes(7.0, 0.5 + 0.45 * max(len(rows), 2))
    if not rows:
        _empty(ax, "no patients with a baseline and a follow-up yet")
    else:
        y = np.arange(len(rows))[::-1]
        rate = np.array([100 * r["rate"] for r in rows])
        lo = np.array([100 * r["ci95"][0] for r in rows])
        hi = np.array([100 * r["ci95"][1] for r in rows])
        ax.barh(y, rate, color=BAND, alpha=0.75, height=0.55)
        ax.errorbar(rate, y, xerr=_ci_errors(rate, lo, hi), fmt="none", ecolor=INK, capsize=3)
        ax.set_yticks(y, [f"{r['name']} (n={r['n']})" for r in rows], fontsize=8)
        ax.set_xlim(0, 100)
        ax.set_xlabel(
            "% of patients responding (beyond the measure's threshold), 95% CI", fontsize=8
        )
    ax.set_title("Responder rate per measure", fontsize=9, loc="left")
    return figure_svg(fig, label="Responder rates per measure with 95% confidence intervals")


@by_content
def ae_rates_svg(rows: Sequence[dict]) -> str:
    """Clinic rates per 1,000 sessions (95% CI) beside the published rates."""
    shown = [r for r in rows if r["events"] or r["published"]]
    fig, ax = _axes(7.0, 0.6 + 0.38 * max(len(shown), 2))
    if not shown:
        _empty(ax, "no sessions yet")
    else:
        y = np.arange(len(shown))[::-1]
        rate = np.array([r["per_1000"] for r in shown])
        lo = np.array([r["ci95_per_1000"][0] for r in shown])
        hi = np.array([r["ci95_per_1000"][1] for r in shown])
        ax.errorbar(
            rate,
            y,
            xerr=_ci_errors(rate, lo, hi),
            fmt="o",
            color=POST,
            capsize=3,
            label="this clinic",
        )
        markers = {"brady_2014": ("|", "Brady 2014"), "boyce_2020": ("x", "Boyce 2020")}
        for study, (mk, lab) in markers.items():
            pts = [
                (r["published"][study], yy)
                for r, yy in zip(shown, y, strict=True)
                if study in r["published"]
            ]
            if pts:
                ax.plot(*zip(*pts, strict=True), ls="none", marker=mk, ms=10, color=INK, label=lab)
        ax.set_yticks(y, [r["label"] for r in shown], fontsize=8)
        ax.set_xlabel("events per 1,000 sessions (95% CI)", fontsize=8)
        ax.legend(
            fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1)
        )  # clear of the rows
    ax.set_title("Adverse events: this clinic and published rates", fontsize=9, loc="left")
    return figure_svg(fig, label="Adverse-event rates against published rates")


@by_content
def muscles_svg(rows: Sequence[dict]) -> str:
    fig, ax = _axes(7.0, 0.5 + 0.32 * max(len(rows), 2))
    if not rows:
        _empty(ax, "no needle entries yet")
    else:
        y = np.arange(len(rows))[::-1]
        ax.barh(y, [r["sessions"] for r in rows], color=SESSION, alpha=0.7, height=0.6)
        ax.set_yticks(y, [r["name"] for r in rows], fontsize=8)
        ax.set_xlabel("sessions in which the muscle was needled", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no 0.2-session ticks
    ax.set_title("Most-treated muscles", fontsize=9, loc="left")
    return figure_svg(fig, label="Most-treated muscles")


@by_content
def twitch_svg(rows: Sequence[dict]) -> str:
    """Immediate NPRS change by twitch responses elicited: an association, not an effect."""
    fig, ax = _axes(7.0, 2.6)
    rows = [r for r in rows if r["n"]]
    if not rows:
        _empty(ax, "no sessions with NPRS before and after needling")
    else:
        x = np.arange(len(rows))
        mean = np.array([r["mean_change"] for r in rows])
        half = np.array([r["ci95_half"] for r in rows])
        ax.errorbar(x, mean, yerr=half, fmt="o", color=PRE, capsize=3)
        ax.axhline(0, color=MUTED, lw=0.8)
        ax.set_xticks(x, [f"{r['label']}\n(n={r['n']})" for r in rows], fontsize=8)
        ax.set_xlabel("local twitch responses elicited in the session", fontsize=8)
        ax.set_ylabel("NPRS post - pre (mean, 95% CI)", fontsize=8)
    ax.set_title(
        "Immediate pain change by twitch responses: observational — not evidence of effect",
        fontsize=9,
        loc="left",
    )
    return figure_svg(fig, label="Observational: immediate pain change by number of twitches")


# --- the mechanistic model, for patient education -----------------------------------------


def model_states_svg() -> str:
    """Inside a normal, latent and active trigger point under the model (its assumptions)."""
    from triggerpoint.physiology.dynamics import equilibrium, ph_of
    from triggerpoint.physiology.params import STATE_LOADS

    names = list(STATE_LOADS)
    s = equilibrium(np.array([STATE_LOADS[k] for k in names]))
    panels = (
        ("Electrical activity at the nerve-muscle junction", s.endplate_activity, "a.u."),
        ("Irritating chemicals", s.sensitisers, "× normal"),
        ("Acidity (pH: lower is more acid)", ph_of(s.acid), "pH"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(7.2, 2.3))
    for ax, (title, values, unit) in zip(axes, panels, strict=True):
        ax.bar(names, values, color=[BAND, MDC, POST])
        ax.set_title(title, fontsize=8)
        ax.set_ylabel(unit, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
        if unit == "pH":
            ax.set_ylim(6.4, 7.5)
    fig.tight_layout()
    return figure_svg(
        fig, label="Model: endplate activity, chemicals and acidity in normal, latent and active"
    )


def model_needling_svg(days: float = 7) -> str:
    """Pain after needling with no, one and several twitch responses (model, not a promise)."""
    from triggerpoint.physiology.dynamics import Needling, equilibrium, simulate
    from triggerpoint.physiology.params import STATE_LOADS

    twitches = np.array([0.0, 1.0, 4.0])
    load = STATE_LOADS["active"]
    start = equilibrium(np.full(3, load))
    traj = simulate(
        start,
        np.full(3, load / 2),
        days=days,
        dt=0.05,
        needling=Needling(np.zeros(3), twitches, np.ones(3)),
    )
    fig, (left, right) = plt.subplots(1, 2, figsize=(7.2, 2.6))
    for i, (t, colour) in enumerate(zip(twitches, (MUTED, PRE, POST), strict=True)):
        lab = f"{int(t)} twitch{'es' if t != 1 else ''}"
        left.plot(traj.days, traj.series["local_pain"][:, i], color=colour, lw=1.6, label=lab)
        right.plot(traj.days, 100 * traj.series["rom"][:, i], color=colour, lw=1.6, label=lab)
    left.plot(
        traj.days, traj.series["soreness"][:, 2], color=MDC, lw=1.2, ls=":", label="soreness part"
    )
    left.axvspan(1, 3, color=MDC, alpha=0.08, lw=0)
    left.set_title("Pain at the trigger point (0-10)", fontsize=8)
    right.set_title("Range of motion (% of normal)", fontsize=8)
    for ax in (left, right):
        ax.set_xlabel("days after needling", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    left.set_ylim(0, 10)
    left.legend(fontsize=6.5, frameon=False)
    fig.tight_layout()
    return figure_svg(fig, label="Model: pain and movement over the days after needling")


def _ci_errors(rate: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> list[np.ndarray]:
    """Error-bar lengths; rounding can put a stored rate a hair outside its stored interval."""
    return [np.clip(rate - lo, 0, None), np.clip(hi - rate, 0, None)]


_TITLE = re.compile(r"<title>.*?</title>", re.S)


def for_print(svg: str) -> str:
    """A plot for paper: without its `<title>` hover texts, which nobody can hover there and
    which cost WeasyPrint about 0.4 s in a 20-visit progress report (measured)."""
    return _TITLE.sub("", svg)


# --- body-chart thumbnails in a PDF -------------------------------------------------------

CHART_SCHEME = "triggerpoint-chart:"
PRINT_SCALE = 0.4  # chart units -> PNG pixels: a 130 px thumbnail printed at about 300 dpi


@cache
def chart_layer_png(view: View, layer: str) -> bytes:
    """One view's shared drawing (`bodychart.svg.chart_symbols`: "base", the figure and its
    regions, or "lines", its outline) rasterised once per process.

    WeasyPrint lays each inline SVG out on its own, so the web page's `<symbol>` cannot be
    shared, and drawing the 200-odd region paths of every thumbnail took 20 s for a
    20-visit progress report.
    """
    import cairosvg

    from triggerpoint.bodychart.svg import chart_symbols, symbol_id

    data = load_geometry()["views"][view]
    w, h = float(data["width"]), float(data["height"])
    symbols = chart_symbols()
    defs = symbols[symbols.index("<defs>") : symbols.rindex("</svg>")]
    ref = f"#{symbol_id(view, layer)}"
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'viewBox="0 0 {w:.0f} {h:.0f}" width="{w * PRINT_SCALE:.0f}" '
        f'height="{h * PRINT_SCALE:.0f}">{defs}'
        f'<use xlink:href="{ref}" href="{ref}" width="{w:.0f}" height="{h:.0f}"/></svg>'
    )
    png: bytes = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    return png


def print_thumbnail(view: View, *, region_ids: Sequence[str], width_mm: float = 19) -> str:
    """A pain-drawing thumbnail for a PDF: one small PNG (the chart drawn once, the marked
    regions painted on it), fetched by `chart_fetcher` from a URL that names its content.

    WeasyPrint lays out each inline SVG on its own (a web page's shared `<symbol>` cannot
    be reused), and that cost about 25 ms a thumbnail, 1 s of a 20-visit progress report.
    """
    from triggerpoint.bodychart.svg import CAPTIONS

    data = load_geometry()["views"][view]
    known = sorted(r for r in set(region_ids) if r in data["regions"])
    w, h = float(data["width"]), float(data["height"])
    px = width_mm * 96 / 25.4
    name = f"Body chart, {CAPTIONS[view].lower()} view, {len(known)} marked"
    return (
        f'<img class="thumb-chart" src="{CHART_SCHEME}thumb/{view}/{",".join(known)}.png" '
        f'alt="{escape(name, quote=True)}" width="{px:.0f}" height="{px * h / w:.0f}">'
    )


@cache
def _region_mask(view: View, region_id: str) -> Image.Image:
    """Where one region lies on the rasterised chart (8-bit coverage), drawn once."""
    import cairosvg

    data = load_geometry()["views"][view]
    w, h = float(data["width"]), float(data["height"])
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.0f} {h:.0f}" '
        f'width="{w * PRINT_SCALE:.0f}" height="{h * PRINT_SCALE:.0f}">'
        f'<path d="{data["regions"][region_id]["d"]}" fill="#000"/></svg>'
    )
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"))
    return Image.open(io.BytesIO(png)).getchannel("A")


@lru_cache(maxsize=512)
def thumbnail_png(view: View, region_ids: tuple[str, ...]) -> bytes:
    """The chart with `region_ids` painted in the pain colour, as PNG (cached by content);
    regions of the other view are not on this one."""
    from triggerpoint.bodychart.svg import PAIN

    base = Image.open(io.BytesIO(chart_layer_png(view, "base"))).convert("RGBA")
    lines = Image.open(io.BytesIO(chart_layer_png(view, "lines"))).convert("RGBA")
    on_view = [r for r in region_ids if r in load_geometry()["views"][view]["regions"]]
    if on_view:
        mask = Image.new("L", base.size, 0)
        for rid in on_view:
            mask = ImageChops.lighter(mask, _region_mask(view, rid))
        base.paste(Image.new("RGBA", base.size, PAIN), (0, 0), mask)
    out = Image.alpha_composite(base, lines)
    flat = Image.new("RGB", out.size, "#ffffff")
    flat.paste(out, (0, 0), out)
    buf = io.BytesIO()
    flat.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _chart_image(url: str) -> bytes | None:
    """The PNG a `CHART_SCHEME` URL names, or None if it names none."""
    rest = url.removeprefix(CHART_SCHEME)
    if rest == url or not rest.endswith(".png"):
        return None
    parts = rest.removesuffix(".png").split("/")
    views = load_geometry()["views"]
    if len(parts) == 3 and parts[0] == "thumb" and parts[1] in ("anterior", "posterior"):
        view: View = "anterior" if parts[1] == "anterior" else "posterior"
        ids = tuple(r for r in parts[2].split(",") if r)
        if all(r in views[view]["regions"] for r in ids):
            return thumbnail_png(view, ids)
    return None


def chart_fetcher() -> object:
    """A WeasyPrint URL fetcher that serves the chart layers from memory and refuses every
    other URL: a report is built from the app's own data, never from the network or disk."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class ChartFetcher(URLFetcher):
        def fetch(self, url: str, headers: object = None) -> URLFetcherResponse:
            body = _chart_image(url)
            if body is not None:
                return URLFetcherResponse(url, body, {"Content-Type": "image/png"})
            if url.startswith("data:"):
                return super().fetch(url, headers)
            raise ValueError(f"reports fetch nothing from outside: {url[:60]}")

    return ChartFetcher()
