"""`triggerpoint demo seed`: a demo clinic with synthetic patients."""

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
        bool, typer.Option("--if-empty", help="Do nothing if the demo clinic exists.")
    ] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create the demo clinic (first time) and add synthetic patients with a progress bar."""
    from sqlalchemy import select

    from triggerpoint.accounts.models import Clinic
    from triggerpoint.db import open_session
    from triggerpoint.demo.generator import DEMO_CLINIC
    from triggerpoint.demo.generator import seed as do_seed
    from triggerpoint.migrate import upgrade

    upgrade()
    with open_session(clinic_id=None) as session:
        if (
            if_empty
            and session.scalar(select(Clinic.id).where(Clinic.name == DEMO_CLINIC)) is not None
        ):
            console.print("Demo clinic exists already; nothing to do.")
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
        session.commit()
    if json:
        print_json(vars(result))
    elif result.username:
        console.print(
            f"Demo clinic ready with {patients} patients. Log in as [bold]{result.username}[/] "
            f"with password [bold]{result.password}[/] (shown once)."
        )
    else:
        console.print(f"Added {patients} patients to the demo clinic.")


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
