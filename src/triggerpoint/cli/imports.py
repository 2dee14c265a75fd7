"""`triggerpoint import fhir FILE --user NAME`: bring a patient's FHIR bundle into a clinic.

The import runs the same service functions as the API (and so the same safety rules); the
command only reads the file, acts as the named user, and maps errors to exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from triggerpoint.cli.output import console, fail, print_json

app = typer.Typer(help="Import data: FHIR bundles.", no_args_is_help=True)
MAX_BYTES = 20 * 1024 * 1024


def _read_bundle(path: Path) -> dict:
    if not path.is_file():
        fail(f"{path} is not a file", field="FILE")
    if path.stat().st_size > MAX_BYTES:
        fail(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MB", field="FILE")
    try:
        data = json.loads(path.read_text("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"{path} is not JSON: {exc}", field="FILE")
    if not isinstance(data, dict):
        fail("a FHIR Bundle is a JSON object", field="FILE")
    return data


@app.command("fhir")
def fhir(
    file: Annotated[Path, typer.Argument(help="A FHIR R4 Bundle (JSON) exported by triggerpoint.")],
    user: Annotated[str, typer.Option("--user", help="Import as this clinician (and clinic).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print {patient_id} as JSON.")] = False,
) -> None:
    """Import one patient's record; nothing is written unless every resource is accepted."""
    from triggerpoint.accounts.models import User
    from triggerpoint.accounts.service import Forbidden, Principal
    from triggerpoint.db import open_session
    from triggerpoint.errors import Conflict, InvalidInput, NotFound, SafetyBlock
    from triggerpoint.interop.fhir import import_bundle

    bundle = _read_bundle(file)
    with open_session(clinic_id=None) as session:
        row = session.query(User).filter(User.username == user).one_or_none()
        if row is None or not row.active:
            fail(f"no active user {user!r}", field="--user")
        principal = Principal(row.id, row.clinic_id, row.username, row.role)
    with open_session(clinic_id=principal.clinic_id) as session:
        try:
            patient_id = import_bundle(session, principal=principal, bundle=bundle)
        except (InvalidInput, SafetyBlock, Conflict, NotFound, Forbidden) as exc:
            session.rollback()
            fail(str(exc), field=getattr(exc, "field", None))
        session.commit()
    if as_json:
        print_json({"patient_id": patient_id})
    else:
        console.print(f"imported patient {patient_id}")
