"""`triggerpoint patients …`: patient records for scripts (system access, audited)."""

from __future__ import annotations

from typing import Annotated

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
    q: Annotated[str | None, typer.Option("--search", help="Name or external id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    json: JsonFlag = False,
) -> None:
    """List patients with their clinic (honours TRIGGERPOINT_DATABASE_URL)."""
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.audit.service import Actor, record
    from triggerpoint.db import open_session
    from triggerpoint.records.models import Patient
    from triggerpoint.records.service import search_key

    with open_session(clinic_id=None) as session:
        stmt = select(Patient, Clinic.name).join(Clinic, Clinic.id == Patient.clinic_id)
        if q:
            stmt = stmt.where(
                Patient.search_name.contains(search_key(q)) | (Patient.external_id == q)
            )
        rows = session.execute(stmt.order_by(Patient.search_name, Patient.id).limit(limit)).all()
        record(
            session,
            actor=Actor.system("cli"),
            action="list",
            entity="patient",
            detail={"q": q or "", "returned": len(rows)},
        )
        session.commit()
    data = [
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
