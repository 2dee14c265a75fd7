"""`triggerpoint export …`: research CSV and a patient's FHIR bundle, to stdout (audited)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated

import typer

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor
from triggerpoint.cli.output import fail, print_json

app = typer.Typer(help="Export data: research CSV, FHIR bundles.", no_args_is_help=True)


@dataclass(frozen=True)
class CliPrincipal(Principal):
    """The command line acting for one clinic; audited as the system actor 'cli'."""

    @property
    def actor(self) -> Actor:
        return Actor(None, self.clinic_id, "cli")


@app.command("csv")
def csv_(
    deidentify: Annotated[
        bool,
        typer.Option(
            "--deidentify",
            help="Drop names, contact details and ids; age bands; shift dates per patient.",
        ),
    ] = False,
    clinic: Annotated[
        int | None, typer.Option("--clinic", min=1, help="Only this clinic (default: all).")
    ] = None,
) -> None:
    """Outcome measurements as CSV, one row per measurement (honours TRIGGERPOINT_DATABASE_URL)."""
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.db import open_session
    from triggerpoint.reports.export import export_csv

    with open_session(clinic_id=None) as session:
        if clinic is not None and session.get(Clinic, clinic) is None:
            fail(f"clinic {clinic} not found", field="--clinic")
        export_csv(
            session,
            out=sys.stdout,
            actor=Actor.system("cli export csv"),
            clinic_id=clinic,
            deidentify=deidentify,
        )
        session.commit()


@app.command("fhir")
def fhir(patient_id: Annotated[int, typer.Argument(min=1, help="The patient's id.")]) -> None:
    """One patient's record as a FHIR R4 Bundle (JSON)."""
    from triggerpoint.db import open_session
    from triggerpoint.interop.fhir import export_patient
    from triggerpoint.records.models import Patient

    with open_session(clinic_id=None) as session:
        patient = session.get(Patient, patient_id)
        clinic_id = patient.clinic_id if patient else None
    if clinic_id is None:
        fail(f"patient {patient_id} not found", field="PATIENT_ID")
    principal = CliPrincipal(0, clinic_id, "cli", "admin")
    with open_session(clinic_id=clinic_id) as session:
        bundle = export_patient(session, principal=principal, patient_id=patient_id)
        session.commit()
    print_json(bundle)
