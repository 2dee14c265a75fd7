"""Plots as SVG strings (matplotlib), one drawing for both the web page and the PDF.

The SVG is made safe to inline under the app's Content-Security-Policy (no inline `style`):
matplotlib's `style="k: v"` attributes become SVG presentation attributes, ids get a per-plot
prefix so several plots can share a page, and elements drawn with a `gid` can carry a
`<title>` (the browser shows it on hover, with no script).
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

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


def _date_axis(ax: plt.Axes, dates: Sequence[datetime]) -> None:
    """Day-month ticks; a single day is padded by a week each side, because matplotlib's own
    padding of one date spans years of meaningless ticks."""
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
    ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=8))
    if dates and max(dates) - min(dates) < timedelta(days=1):
        week = timedelta(days=7)
        ax.set_xlim(min(dates) - week, max(dates) + week)  # type: ignore[arg-type]  # stubs: floats; matplotlib's date units take datetimes


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
    a threshold there is no band: the change is not classified."""
    fig, ax = _axes()
    titles: dict[str, str] = {}
    if dashed is None and mdc95 is not None:
        dashed = ("MDC95", mdc95)
    if groc_thresholds is not None:
        lo, hi = groc_thresholds
        ax.axhspan(lo, hi, color=BAND, alpha=0.12, lw=0, gid="mcid-band")
        titles["mcid-band"] = f"between {lo:g} and +{hi:g}: no meaningful change"
    elif baseline is not None and mcid is not None:
        ax.axhspan(baseline - mcid, baseline + mcid, color=BAND, alpha=0.14, lw=0, gid="mcid-band")
        titles["mcid-band"] = f"baseline {baseline:g} ± {band_label} {mcid:g} {unit}"
        ax.axhline(baseline, color=BAND, lw=1, ls="-", alpha=0.7)
        if dashed is not None:
            dash_label, dash_value = dashed
            for y in (baseline - dash_value, baseline + dash_value):
                gid = f"{dash_label.lower()}-{y:.2f}"
                ax.axhline(y, color=MDC, lw=0.9, ls=(0, (4, 3)), gid=gid)
    for i, s in enumerate(sessions):
        gid = f"session-{i}"
        ax.axvline(s.at, color=SESSION, lw=0.8, ls=":", alpha=0.8, gid=f"{gid}-line")  # type: ignore[arg-type]  # stubs: floats; matplotlib's date units take datetimes
        ax.plot(
            [s.at],  # type: ignore[arg-type]  # stubs: floats; matplotlib's date units take datetimes
            [1.0],
            marker="v",
            ms=9,
            color=SESSION,
            transform=ax.get_xaxis_transform(),
            clip_on=False,
            gid=gid,
            ls="none",
        )
        titles[gid] = titles[f"{gid}-line"] = s.label
    for timing, colour, marker, lab in (
        ("pre", PRE, "o", "before needling"),
        ("post", POST, "s", "after needling"),
        ("", INK, "D", "measured"),
    ):
        pts = [p for p in points if (p.get("timing") or "") == timing]
        if pts:
            ax.plot(
                [p["at"] for p in pts],
                [p["score"] for p in pts],
                marker=marker,
                ms=5,
                color=colour,
                lw=1.2,
                label=lab,
            )
    ax.set_ylabel(unit, fontsize=8)
    arrow = "lower is better" if better == "lower" else "higher is better"
    ax.set_title(f"{name} ({arrow})", fontsize=9, loc="left", color=INK)
    _date_axis(ax, [p["at"] for p in points] + [s.at for s in sessions])
    if points:
        ax.legend(fontsize=7, frameon=False, loc="best")
    else:
        ax.text(0.5, 0.5, "no measurements", transform=ax.transAxes, ha="center", color=MUTED)
    fig.autofmt_xdate(rotation=0, ha="center")
    band = (
        "the band of no meaningful change"
        if groc_thresholds
        else f"the {band_label} band"
        if mcid is not None
        else "no threshold (not classified)"
    )
    return figure_svg(fig, titles=titles, label=f"{name} over time with {band}")


def extent_svg(*, dates: Sequence[datetime], extents: Sequence[float]) -> str:
    """Pain extent (% of body area) per drawing."""
    fig, ax = _axes(7.0, 2.2)
    ax.plot(dates, extents, marker="o", color=POST, lw=1.4)  # type: ignore[arg-type]  # stubs: floats; matplotlib's date units take datetimes
    ax.set_ylim(0, max(10.0, max(extents, default=0) * 1.2))
    ax.set_ylabel("% of body area", fontsize=8)
    ax.set_title("Pain extent per visit", fontsize=9, loc="left")
    _date_axis(ax, dates)
    return figure_svg(fig, label="Pain extent as a percentage of body area, per visit")


# --- clinic dashboard ---------------------------------------------------------------------


def _empty(ax: plt.Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color=MUTED)
    ax.set_xticks([])
    ax.set_yticks([])


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
