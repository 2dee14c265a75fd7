"""`triggerpoint patients …`: patient records for scripts (system access, audited)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select

from triggerpoint.cli.output import console, print_json

app = typer.Typer(help="Patient records.", no_args_is_help=True)
JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON (see docs/cli.md).")
]


@app.command("list")
def list_(
    q: Annotated[
        str | None,
        typer.Option("--search", help="Start of a name word (accents ignored) or external id."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    json: JsonFlag = False,
) -> None:
    """List patients with their clinic (honours TRIGGERPOINT_DATABASE_URL)."""
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.audit.service import Actor
    from triggerpoint.db import open_session
    from triggerpoint.records.service import search_patients

    with open_session(clinic_id=None) as session:  # every clinic's patients
        patients, _total = search_patients(session, actor=Actor.system("cli"), q=q, limit=limit)
        clinics = dict(session.execute(select(Clinic.id, Clinic.name)).all())
        rows = [(p, clinics.get(p.clinic_id)) for p in patients]
        session.commit()
    data: list[dict[str, Any]] = [
        {
            "id": p.id,
            "name": f"{p.given_name} {p.family_name}",
            "clinic": clinic,
            "clinic_id": p.clinic_id,
            "date_of_birth": p.date_of_birth.isoformat(),
            "external_id": p.external_id,
        }
        for p, clinic in rows
    ]
    if json:
        print_json(data)
        return
    table = Table(title=f"{len(data)} patients")
    for col in ("id", "name", "date of birth", "clinic"):
        table.add_column(col)
    for d in data:
        table.add_row(str(d["id"]), d["name"], d["date_of_birth"], d["clinic"])
    console.print(table)
