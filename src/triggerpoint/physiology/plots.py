"""Plots of model trajectories (matplotlib, SVG-friendly) for the CLI, web and handout."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from triggerpoint.physiology.dynamics import Trajectory


def trajectory_figure(traj: Trajectory, *, title: str, index: int = 0) -> Figure:
    """Pain and range of motion (top), the chemistry and endplate (bottom)."""
    d = traj.days
    s = {k: v[:, index] for k, v in traj.series.items()}
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(7.5, 5.6), sharex=True, constrained_layout=True
    )
    top.plot(d, s["local_pain"], color="#b3261e", lw=2, label="local pain (0-10)")
    top.plot(d, s["referred_pain"], color="#b3261e", lw=2, ls="--", label="referred pain (0-10)")
    top.plot(d, s["soreness"], color="#7a5c00", lw=1.2, ls=":", label="post-needling soreness")
    top.set_ylim(0, 10)
    top.set_ylabel("pain (NRS)")
    rom = top.twinx()
    rom.plot(d, 100 * s["rom"], color="#0b5f66", lw=2, label="range of motion (% of normal)")
    rom.set_ylim(50, 100)
    rom.set_ylabel("range of motion (%)")
    lines = top.get_lines() + rom.get_lines()
    top.legend(
        lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8, frameon=False
    )
    top.set_title(title, fontsize=11)
    bottom.plot(
        d,
        s["endplate_activity"],
        color="#333",
        lw=1.8,
        label="endplate activity (a.u.; healthy 0.05)",
    )
    bottom.plot(
        d, s["blood_flow"], color="#1f6fb2", lw=1.8, label="local blood flow (fraction of normal)"
    )
    bottom.set_ylim(0, 1.1)
    bottom.set_ylabel("activity, flow")
    chem = bottom.twinx()
    chem.plot(
        d,
        s["sensitisers"],
        color="#8a4fff",
        lw=1.8,
        label="sensitising substances (a.u.; healthy 1)",
    )
    chem.set_ylim(0, max(4.0, float(s["sensitisers"].max()) * 1.1))
    chem.set_ylabel("sensitisers (a.u.)")
    lines = bottom.get_lines() + chem.get_lines()
    bottom.legend(
        lines, [ln.get_label() for ln in lines], loc="upper right", fontsize=8, frameon=False
    )
    bottom.set_xlabel("days after needling")
    for ax in (top, bottom):
        ax.spines[["top"]].set_visible(False)
    return fig
