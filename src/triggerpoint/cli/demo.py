"""`triggerpoint demo seed`: synthetic patients, in the setup clinic on a fresh installation
(so its admin sees them), else in a demo clinic of their own (`demo.generator.demo_target`)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from triggerpoint.cli.output import console, print_json

app = typer.Typer(help="Demo data.", no_args_is_help=True)


@app.command("seed")
def seed(
    patients: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="How many synthetic patients to add.")
    ] = 50,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 20261124,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the demo was seeded before.")
    ] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add synthetic patients (with a progress bar) and, the first time, the demo login.

    On a fresh installation (one clinic, no patients: just after `triggerpoint setup`) they
    go into that clinic, so its admin sees them; otherwise into a clinic of their own, "Demo
    clinic". The demo login's one-time password is printed once and must be changed at
    first login, like every printed password.
    """
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.db import open_session
    from triggerpoint.demo.generator import existing_demo_clinic
    from triggerpoint.demo.generator import seed as do_seed
    from triggerpoint.migrate import upgrade

    upgrade()
    with open_session(clinic_id=None) as session:
        if if_empty and (existing := existing_demo_clinic(session)) is not None:
            console.print(f"The demo is in {existing.name!r} already; nothing to do.")
            return
        columns = [
            TextColumn("Seeding demo patients"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        ]
        with Progress(*columns, console=console, disable=json) as bar:
            task = bar.add_task("seed", total=patients)
            result = do_seed(
                session, patients=patients, seed=seed, progress=lambda n: bar.advance(task, n)
            )
        clinic = session.get(Clinic, result.clinic_id)
        clinic_name = clinic.name if clinic else str(result.clinic_id)
        session.commit()
    if json:
        print_json(vars(result))
    elif result.username:
        console.print(
            f"Demo ready in clinic {clinic_name!r} with {patients} patients. Log in as "
            f"[bold]{result.username}[/] with the one-time password [bold]{result.password}[/] "
            "(shown only now; you must change it at first login)."
        )
    else:
        console.print(f"Added {patients} patients to the demo in clinic {clinic_name!r}.")


@app.command("registry")
def registry(
    sessions: Annotated[
        int, typer.Option(min=5, max=5_000_000, help="About how many needling sessions to add.")
    ] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 20261124,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Add a research-scale synthetic registry (bulk inserts) to a 'Registry clinic'."""
    import time

    from triggerpoint.db import get_engine
    from triggerpoint.demo.registry import generate
    from triggerpoint.migrate import upgrade

    upgrade()
    columns = [
        TextColumn("Generating sessions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    ]
    started = time.perf_counter()
    with Progress(*columns, console=console, disable=json) as bar:
        task = bar.add_task("registry", total=sessions)
        result = generate(
            get_engine(), sessions=sessions, seed=seed, progress=lambda n: bar.advance(task, n)
        )
    elapsed = time.perf_counter() - started
    if json:
        print_json(vars(result) | {"seconds": round(elapsed, 1)})
    else:
        total = sum(result.rows.values())
        console.print(
            f"Registry clinic {result.clinic_id}: {result.sessions:,} sessions for "
            f"{result.patients:,} patients ({total:,} rows) in {elapsed:.0f} s."
        )
