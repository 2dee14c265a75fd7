"""`triggerpoint export …`: research CSV and a patient's FHIR bundle to stdout, and the
de-identified research exports (REDCap, CDISC ODM, Parquet) to files; all audited."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor
from triggerpoint.cli.output import fail, print_json

if TYPE_CHECKING:
    from triggerpoint.research.exports.schemas import ExportSummary

app = typer.Typer(
    help="Export data: research CSV, FHIR bundles, REDCap, CDISC ODM, Parquet.",
    no_args_is_help=True,
)


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


# --- research exports (issue 17): REDCap, CDISC ODM, Parquet ---------------------------

ClinicOpt = Annotated[
    int | None, typer.Option("--clinic", min=1, help="Only this clinic (default: all).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON summary of what was written.")]


@dataclass(frozen=True)
class ResearchOperator(Principal):
    """The command line's operator for research exports: any clinic, audited as 'cli'."""

    @property
    def actor(self) -> Actor:
        return Actor.system("cli export research")


def _directory(path: Path) -> Path:
    """DIR: created if absent; refused if it is a file."""
    if path.exists() and not path.is_dir():
        fail(f"{path} is a file, not a directory", field="DIR")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create {path}: {exc.strerror}", field="DIR")
    return path


def _research_export(kind: str, clinic: int | None, as_json: bool, **target: Path) -> None:
    from triggerpoint.accounts.models import Clinic
    from triggerpoint.db import open_session
    from triggerpoint.research.exports import service
    from triggerpoint.research.exports.service import OPERATOR

    runs: dict[str, Callable[..., ExportSummary]] = {
        "redcap": service.export_redcap,
        "odm": service.export_odm,
        "parquet": service.export_parquet,
    }
    run = runs[kind]
    operator = ResearchOperator(0, OPERATOR, "cli", "admin")
    with open_session(clinic_id=None) as session:
        if clinic is not None and session.get(Clinic, clinic) is None:
            fail(f"clinic {clinic} not found", field="--clinic")
        summary = run(session, principal=operator, clinic_id=clinic, **target)
        session.commit()
    if as_json:
        print_json(summary.as_dict())
    else:
        sys.stdout.write(
            f"{kind}: {summary.patients_included} patients with research consent "
            f"({summary.patients_excluded_no_consent} without, left out); "
            f"{len(summary.files)} files in {target.popitem()[1]}\n"
        )


@app.command("redcap")
def redcap(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Directory to write into.")],
    clinic: ClinicOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """De-identified REDCap data dictionary and records (patients with research consent)."""
    _research_export("redcap", clinic, as_json, directory=_directory(directory))


@app.command("parquet")
def parquet(
    directory: Annotated[Path, typer.Argument(metavar="DIR", help="Directory to write into.")],
    clinic: ClinicOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """De-identified Parquet, one file per table, and a data dictionary."""
    _research_export("parquet", clinic, as_json, directory=_directory(directory))


@app.command("odm")
def odm(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The XML file to write.")],
    clinic: ClinicOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """De-identified CDISC ODM 1.3.2 XML (patients with research consent)."""
    if file.is_dir():
        fail(f"{file} is a directory", field="FILE")
    if file.exists() and not force:
        fail(f"{file} exists; add --force to overwrite it", field="FILE")
    if not file.parent.is_dir():
        fail(f"directory {file.parent} does not exist", field="FILE")
    _research_export("odm", clinic, as_json, path=file)
