"""The research exports: REDCap, CDISC ODM 1.3.2 and Parquet, de-identified by Safe Harbor.

Each export covers the patients of one clinic (or, for the command line's operator, of every
clinic) whose research consent is in force, de-identified per patient (`deidentify`), and is
audited once ("research-export", with the counts). A clinic's user may export only their own
clinic: `principal.clinic_id` must match, unless the principal is the operator (`OPERATOR`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.errors import Forbidden
from triggerpoint.research.exports import odm, parquet, redcap
from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.schemas import ExportSummary
from triggerpoint.research.exports.source import Scope, admit_all, patients_in_clinic

OPERATOR = 0  # the clinic_id of the command line's principal: may export any clinic, or all

Writer = Callable[[Session, Scope, Deidentifier], tuple[list[Path], dict[str, int]]]


def _run(
    session: Session, *, principal: Principal, clinic_id: int | None, fmt: str, writer: Writer
) -> ExportSummary:
    principal.require("clinical:read")
    if principal.clinic_id != OPERATOR and clinic_id != principal.clinic_id:
        raise Forbidden("a clinic's user may export only their own clinic")
    scope = Scope(clinic_id=clinic_id)
    deid = Deidentifier()
    included = admit_all(session, scope=scope, deid=deid)
    files, rows = writer(session, scope, deid)
    summary = ExportSummary(
        format=fmt,
        files=[str(f) for f in files],
        rows=rows,
        patients_included=included,
        patients_excluded_no_consent=patients_in_clinic(session, clinic_id=clinic_id) - included,
        clinic_id=clinic_id,
    )
    record(
        session,
        actor=principal.actor,
        action="research-export",
        entity="patient",
        detail={
            "format": fmt,
            "clinic_id": clinic_id,
            "patients": included,
            "rows": rows,
        },
    )
    return summary


def _ready(directory: Path) -> Path:
    """The target directory, created once the export is allowed."""
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def export_redcap(
    session: Session, *, principal: Principal, clinic_id: int | None, directory: Path
) -> ExportSummary:
    """data_dictionary.csv and records.csv in `directory` (created if absent)."""
    return _run(
        session,
        principal=principal,
        clinic_id=clinic_id,
        fmt="redcap",
        writer=lambda s, scope, deid: redcap.write(
            s, directory=_ready(directory), scope=scope, deid=deid
        ),
    )


def export_parquet(
    session: Session, *, principal: Principal, clinic_id: int | None, directory: Path
) -> ExportSummary:
    """One <table>.parquet per table and the data dictionary in `directory` (created if absent)."""
    return _run(
        session,
        principal=principal,
        clinic_id=clinic_id,
        fmt="parquet",
        writer=lambda s, scope, deid: parquet.write(
            s, directory=_ready(directory), scope=scope, deid=deid
        ),
    )


def export_odm(
    session: Session, *, principal: Principal, clinic_id: int | None, path: Path
) -> ExportSummary:
    """One CDISC ODM 1.3.2 XML file at `path`."""

    def write(s: Session, scope: Scope, deid: Deidentifier) -> tuple[list[Path], dict[str, int]]:
        rows = odm.write(s, path=path, scope=scope, deid=deid, created=datetime.now(UTC))
        return [path], rows

    return _run(session, principal=principal, clinic_id=clinic_id, fmt="odm", writer=write)
