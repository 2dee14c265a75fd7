"""`triggerpoint research …`: the research registry's analyses from the command line."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from triggerpoint.cli.output import console, fail, print_json

app = typer.Typer(help="Research registry analyses (research-consented patients only).")


class Measure(StrEnum):
    nprs = "nprs"
    ppt = "ppt"


def _clinic_id(clinic: int | None) -> int:
    """The clinic asked for, or the only clinic there is; exit 2 naming --clinic otherwise."""
    from sqlalchemy import select

    from triggerpoint.accounts.models import Clinic
    from triggerpoint.db import open_session

    with open_session(clinic_id=None) as session:
        if clinic is not None:
            if session.get(Clinic, clinic) is None:
                fail(f"clinic {clinic} not found", field="--clinic")
            return clinic
        ids = list(session.scalars(select(Clinic.id).order_by(Clinic.id).limit(11)))
    if len(ids) == 1:
        return ids[0]
    if not ids:
        fail("there is no clinic yet (run `triggerpoint setup`)", field="--clinic")
    fail(f"name the clinic: several exist (ids {', '.join(map(str, ids[:10]))})", field="--clinic")


@app.command("ltr")
def ltr(
    clinic: Annotated[
        int | None, typer.Option("--clinic", min=1, help="Clinic id (default: the only clinic).")
    ] = None,
    outcome: Annotated[Measure, typer.Option("--outcome", help="The measure.")] = Measure.nprs,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Does the twitch matter? Mixed models of change in NPRS or PPT against twitches."""
    from triggerpoint.cli.export import CliPrincipal
    from triggerpoint.db import open_session
    from triggerpoint.research.ltr.service import twitch_analysis

    clinic_id = _clinic_id(clinic)
    principal = CliPrincipal(0, clinic_id, "cli", "admin")
    with open_session(clinic_id=clinic_id) as session:
        report = twitch_analysis(session, principal=principal, instrument=outcome.value)
        session.commit()  # the audit event of the read
    if json:
        print_json(report.model_dump(mode="json"))
        return
    s = report.sample
    console.print(
        f"[bold]Does the twitch matter?[/] {report.instrument.upper()} ({report.unit}); "
        f"{s.consented_patients} patients with research consent"
        + (f", a sample of {s.sample_patients} fitted" if s.sampled else ""),
        highlight=False,
    )
    for f in report.fits:
        head = f"{f.label}: {f.n_sessions} sessions, {f.n_patients} patients"
        if f.twitch is None:
            console.print(f"{head}. Not fitted: {f.message}", highlight=False)
            continue
        c = f.twitch
        p = "p < 0.001" if c.p is not None and c.p < 0.001 else f"p = {c.p:.3f}" if c.p else ""
        note = "" if f.converged else " (did not converge; see --json warnings)"
        console.print(
            f"{head}. Per twitch {c.estimate:+.3f} (95% CI {c.ci_low:+.3f} to "
            f"{c.ci_high:+.3f}), {p}{note}",
            highlight=False,
        )
    console.print(report.caveat, highlight=False)
