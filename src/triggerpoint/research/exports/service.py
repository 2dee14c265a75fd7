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

from sqlalchemy import select
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import record
from triggerpoint.errors import Conflict, Forbidden, InvalidInput, NotFound
from triggerpoint.research.exports import odm, parquet, redcap
from triggerpoint.research.exports.bundle import export_dir
from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.models import FORMATS, ResearchExportJob
from triggerpoint.research.exports.schemas import ExportSummary, Progress
from triggerpoint.research.exports.source import Scope, admit_all, patients_in_clinic

OPERATOR = 0  # the clinic_id of the command line's principal: may export any clinic, or all

Writer = Callable[[Session, Scope, Deidentifier], tuple[list[Path], dict[str, int]]]


def _run(
    session: Session,
    *,
    principal: Principal,
    clinic_id: int | None,
    fmt: str,
    writer: Writer,
    audit_session: Session | None,
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
        audit_session or session,
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


# Each export reads through `session` and queues its audit event in `audit_session` (default:
# the same session). A background job reads in a read-only snapshot, which cannot write, and
# audits in a transaction of its own (jobs.py). `progress`: see schemas.Progress.


def export_redcap(
    session: Session,
    *,
    principal: Principal,
    clinic_id: int | None,
    directory: Path,
    progress: Progress | None = None,
    audit_session: Session | None = None,
) -> ExportSummary:
    """data_dictionary.csv and records.csv in `directory` (created if absent)."""
    return _run(
        session,
        principal=principal,
        clinic_id=clinic_id,
        fmt="redcap",
        audit_session=audit_session,
        writer=lambda s, scope, deid: redcap.write(
            s, directory=_ready(directory), scope=scope, deid=deid, progress=progress
        ),
    )


def export_parquet(
    session: Session,
    *,
    principal: Principal,
    clinic_id: int | None,
    directory: Path,
    progress: Progress | None = None,
    audit_session: Session | None = None,
) -> ExportSummary:
    """One <table>.parquet per table and the data dictionary in `directory` (created if absent)."""
    return _run(
        session,
        principal=principal,
        clinic_id=clinic_id,
        fmt="parquet",
        audit_session=audit_session,
        writer=lambda s, scope, deid: parquet.write(
            s, directory=_ready(directory), scope=scope, deid=deid, progress=progress
        ),
    )


def export_odm(
    session: Session,
    *,
    principal: Principal,
    clinic_id: int | None,
    path: Path,
    progress: Progress | None = None,
    audit_session: Session | None = None,
) -> ExportSummary:
    """One CDISC ODM 1.3.2 XML file at `path`."""

    def write(s: Session, scope: Scope, deid: Deidentifier) -> tuple[list[Path], dict[str, int]]:
        created = datetime.now(UTC)
        rows = odm.write(s, path=path, scope=scope, deid=deid, created=created, progress=progress)
        return [path], rows

    return _run(
        session,
        principal=principal,
        clinic_id=clinic_id,
        fmt="odm",
        writer=write,
        audit_session=audit_session,
    )


# --- background jobs (issue 17, "At scale") ----------------------------------------------
# Who may: the same rule as the exports themselves (`clinical:read`, own clinic); the job's
# export runs later as the user who asked, through the export above, so the rule is checked
# again then (jobs.py): a user disabled or demoted meanwhile gets a failed job, not a file.


def request_export(session: Session, *, principal: Principal, fmt: str) -> ResearchExportJob:
    """A queued job for this clinic; the caller enqueues `jobs.run_export` after commit."""
    principal.require("clinical:read")
    if fmt not in FORMATS:
        raise InvalidInput("format", f"format must be one of {', '.join(FORMATS)}")
    job = ResearchExportJob(
        clinic_id=principal.clinic_id,
        requested_by_id=principal.user_id,
        format=fmt,
        status="queued",
    )
    session.add(job)
    session.flush()
    record(
        session,
        actor=principal.actor,
        action="research-export-request",
        entity="research_export_job",
        entity_id=job.id,
        detail={"format": fmt},
    )
    return job


def export_jobs(
    session: Session, *, principal: Principal, limit: int = 100
) -> list[ResearchExportJob]:
    """This clinic's jobs, newest first."""
    principal.require("clinical:read")
    stmt = select(ResearchExportJob).order_by(ResearchExportJob.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def export_job(session: Session, *, principal: Principal, job_id: int) -> ResearchExportJob:
    """One of this clinic's jobs; another clinic's id is not found."""
    principal.require("clinical:read")
    job = session.get(ResearchExportJob, job_id)
    if job is None or job.clinic_id != principal.clinic_id:
        raise NotFound("research_export_job", job_id)
    return job


def export_download(session: Session, *, principal: Principal, job_id: int) -> Path:
    """The finished job's zip, audited as a download; Conflict while it is not done."""
    job = export_job(session, principal=principal, job_id=job_id)
    if job.status != "done" or job.result_file is None:
        raise Conflict(f"export job {job_id} is {job.status}, not done")
    path = export_dir() / job.result_file
    if not path.is_file():
        raise Conflict(f"export job {job_id}'s bundle is no longer on disk")
    record(
        session,
        actor=principal.actor,
        action="research-export-download",
        entity="research_export_job",
        entity_id=job.id,
        detail={"format": job.format, "sha256": job.result_sha256, "size": job.result_size},
    )
    return path
