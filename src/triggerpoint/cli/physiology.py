"""`triggerpoint simulate`: run the trigger point model for one trigger point."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from triggerpoint.cli.output import console, fail, print_json


def simulate(
    ltr: Annotated[
        int,
        typer.Option(
            "--ltr",
            min=0,
            max=50,
            help="Local twitch responses elicited on day 0 (0: no needling).",
        ),
    ] = 3,
    days: Annotated[float, typer.Option(min=1, max=365, help="Days to simulate.")] = 14,
    state: Annotated[
        str, typer.Option(help="Starting state: active, latent or normal.")
    ] = "active",
    accuracy: Annotated[
        float, typer.Option(min=0, max=1, help="How well the needle hit the trigger point (0-1).")
    ] = 1.0,
    load_after: Annotated[
        float | None,
        typer.Option(
            min=0,
            max=1,
            help="Perpetuating load after day 0 (default: half the starting load, as when perpetuating factors are addressed).",
        ),
    ] = None,
    png: Annotated[Path | None, typer.Option(help="Write a plot of the trajectory.")] = None,
    json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print equal-length arrays: days, local_pain, referred_pain, rom and every state variable.",
        ),
    ] = False,
) -> None:
    """Simulate one trigger point under the mechanistic model (see docs/model.md)."""
    import numpy as np

    from triggerpoint.physiology.dynamics import STATE_VARIABLES, Needling, equilibrium
    from triggerpoint.physiology.dynamics import simulate as run
    from triggerpoint.physiology.params import STATE_LOADS

    if state not in STATE_LOADS:
        fail(f"must be one of {', '.join(STATE_LOADS)}, not {state!r}", field="--state")
    load = STATE_LOADS[state]
    after = load / 2 if load_after is None else load_after
    start = equilibrium(np.array([load]))
    needling = (
        Needling(np.zeros(1), np.full(1, float(ltr)), np.full(1, accuracy)) if ltr > 0 else None
    )
    traj = run(start, np.array([after]), days=days, dt=0.05, needling=needling)
    series = {k: traj.series[k][:, 0].round(5).tolist() for k in STATE_VARIABLES}
    data = {"days": traj.days.round(4).tolist(), **series, "units": STATE_VARIABLES}
    if png:
        from triggerpoint.physiology.plots import trajectory_figure

        trajectory_figure(
            traj, title=f"{state.capitalize()} trigger point, {ltr} twitch response(s) on day 0"
        ).savefig(png, dpi=120)
    if json:
        print_json(data)
        return
    end = {
        k: series[k][-1] for k in ("local_pain", "referred_pain", "rom", "endplate_activity", "ph")
    }
    console.print(
        f"Day 0 -> day {days:g}: local pain {series['local_pain'][0]:.1f} -> {end['local_pain']:.1f}, "
        f"referred {series['referred_pain'][0]:.1f} -> {end['referred_pain']:.1f}, ROM {series['rom'][0]:.0%} -> {end['rom']:.0%}"
    )
    if png:
        console.print(f"Wrote {png}")
