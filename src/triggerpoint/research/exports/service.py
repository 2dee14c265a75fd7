"""The research exports: REDCap, CDISC ODM 1.3.2 and Parquet, de-identified by Safe Harbor.

Each export covers the patients of one clinic (or, for the command line's operator, of every
clinic) whose research consent is in force, de-identified per patient (`deidentify`), and is
audited once ("research-export", with the counts). A clinic's user may export only their own
clinic: `principal.clinic_id` must match, unless the principal is the operator (`OPERATOR`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, Engine, select, update
from sqlalchemy.orm import Session

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor, record
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, rowcount, unit_of_work, utcnow
from triggerpoint.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from triggerpoint.research.exports import odm, parquet, redcap
from triggerpoint.research.exports.bundle import discard_attempt, export_dir
from triggerpoint.research.exports.deidentify import Deidentifier
from triggerpoint.research.exports.models import FORMATS, ResearchExportJob
from triggerpoint.research.exports.schemas import ExportSummary, Progress
from triggerpoint.research.exports.source import Scope, admit_all, patients_in_clinic

log = logging.getLogger(__name__)
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


Enqueue = Callable[[int], None]  # asks a worker to run a job (jobs.enqueue; the router's)


def export_jobs(
    session: Session, *, principal: Principal, enqueue: Enqueue, limit: int = 100
) -> list[ResearchExportJob]:
    """This clinic's jobs, newest first; a running one whose lease ran out is recovered
    first (`recover_stalled`), so the list shows it queued again (and `enqueue`d) or failed."""
    principal.require("clinical:read")
    stmt = select(ResearchExportJob).order_by(ResearchExportJob.id.desc()).limit(limit)
    return _recovered(session, principal, list(session.scalars(stmt)), enqueue)


def export_job(
    session: Session, *, principal: Principal, job_id: int, enqueue: Enqueue
) -> ResearchExportJob:
    """One of this clinic's jobs (recovered first if stalled, as in `export_jobs`); another
    clinic's id is not found."""
    principal.require("clinical:read")
    job = session.get(ResearchExportJob, job_id)
    if job is None or job.clinic_id != principal.clinic_id:
        raise NotFound("research_export_job", job_id)
    return _recovered(session, principal, [job], enqueue)[0]


def export_download(
    session: Session, *, principal: Principal, job_id: int, enqueue: Enqueue
) -> Path:
    """The finished job's zip, audited as a download; Gone once the retention sweep deleted
    it, Conflict while it is not done."""
    job = export_job(session, principal=principal, job_id=job_id, enqueue=enqueue)
    if job.status == "expired":
        when = f" on {job.expired_at:%Y-%m-%d}" if job.expired_at else ""
        raise Gone(
            f"export job {job_id}'s bundle was deleted{when}, "
            f"{get_settings().export_retention_days} days after the export finished "
            "(the retention period); request a new export"
        )
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


# --- leases, attempts and retention --------------------------------------------------------
# A worker claims a job (jobs.py: queued -> running, attempts + 1, a lease of
# `export_lease_seconds`), and each progress write renews the lease, all compare-and-set on
# (status, attempts): once the job is taken from it, a worker cannot write to the row. A job
# whose lease ran out (its worker was killed, or froze longer than the lease) is recovered
# here, by the periodic task and whenever the job list or a job's status is read. So is a
# queued job no worker claimed within a lease of being queued (its task was lost, or the
# queue refused it): it is enqueued again. For a queued job `lease_expires_at` is when its
# task counts as lost (set each time it is sent again; none: `created_at` + the lease); the
# API shows it only while running.

STALLED = "the worker stopped during the export, {n} attempt{s}"
EXHAUSTED = (
    "no attempt left: {n} attempt{s} made, export_max_attempts is {cap} "
    "(the job was queued again after the setting was lowered)"
)
BATCH = 200  # jobs one recovery or expiry run looks at


def lease_length() -> timedelta:
    return timedelta(seconds=get_settings().export_lease_seconds)


def retention() -> timedelta:
    return timedelta(days=get_settings().export_retention_days)


def bundle_expires_at(job: ResearchExportJob) -> datetime | None:
    """When a done job's bundle will be deleted (finished + `export_retention_days`)."""
    if job.status != "done" or job.finished_at is None:
        return None
    return job.finished_at + retention()


def _stalled(now: datetime) -> ColumnElement[bool]:
    """Running with a lease that ran out (or none: a job left running by a worker of the
    release before leases)."""
    j = ResearchExportJob
    return (j.status == "running") & (j.lease_expires_at.is_(None) | (j.lease_expires_at < now))


def _lost(now: datetime) -> ColumnElement[bool]:
    """Queued, and no worker claimed it within a lease: since it was last sent again
    (`lease_expires_at`), or, never sent again, since it was created."""
    j = ResearchExportJob
    overdue = (j.lease_expires_at.is_not(None) & (j.lease_expires_at < now)) | (
        j.lease_expires_at.is_(None) & (j.created_at < now - lease_length())
    )
    return (j.status == "queued") & overdue


def _exhausted(cap: int) -> ColumnElement[bool]:
    """Queued with no claim left under the cap (`export_max_attempts` lowered meanwhile, or
    the row queued again by hand): no worker may claim it, so it would wait forever."""
    j = ResearchExportJob
    return (j.status == "queued") & (j.attempts >= cap)


@dataclass(frozen=True, slots=True)
class Recovery:
    """What one recovery did: jobs queued again for another attempt, queued jobs whose task
    was lost sent again (both to enqueue, after this commit: `to_enqueue`), and jobs failed
    after their last attempt."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)

    @property
    def to_enqueue(self) -> list[int]:
        return [*self.requeued, *self.resent]


def recover_stalled(
    *,
    engine: Engine | None = None,
    now: datetime | None = None,
    clinic_id: int | None = None,
    job_ids: Sequence[int] | None = None,
) -> Recovery:
    """Stalled jobs (of one clinic, or all; of `job_ids`, or any) are queued again, or after
    `export_max_attempts` claims marked failed ("the worker stopped during the export, 3
    attempts"). Each with a conditional UPDATE on the attempt seen and the lease, in one
    transaction: a worker that renewed its lease meanwhile keeps its job. The dead attempt's
    files are deleted. A queued job whose task was lost (`_lost`) is sent again, its next
    deadline a lease away; a queued job with no attempt left under the cap (`_exhausted`) is
    failed with the reason. The caller enqueues `to_enqueue` (requeued and resent): a task
    sent twice is harmless, the claim lets one run the job and the other returns False."""
    now = now or utcnow()
    j = ResearchExportJob
    cap = get_settings().export_max_attempts
    out = Recovery()
    done: list[tuple[int, int]] = []
    due = _stalled(now) | _lost(now) | _exhausted(cap)
    stmt = select(j.id, j.attempts, j.status).where(due).order_by(j.id).limit(BATCH)
    if job_ids is not None:
        stmt = stmt.where(j.id.in_(job_ids))
    # Looked for in a read first: a page polling a running job every 5 s then takes no
    # write lock while the job is alive.
    with unit_of_work(clinic_id=clinic_id, engine=engine, read_only=True) as s:
        seen = s.execute(stmt).all()
    if not seen:
        return out
    with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
        for job_id, attempts, status in seen:
            last = attempts >= cap
            plural = "" if attempts == 1 else "s"
            # queued again (or, queued and lost, sent again): a worker must claim it in a lease
            values: dict[str, object] = {
                "status": "queued",
                "lease_expires_at": now + lease_length(),
            }
            if last:
                error = (STALLED if status == "running" else EXHAUSTED).format(
                    n=attempts, s=plural, cap=cap
                )
                values = {"status": "failed", "lease_expires_at": None, "finished_at": now}
                values["error"] = error
            which = (
                _stalled(now) if status == "running" else _exhausted(cap) if last else _lost(now)
            )
            changed = s.execute(
                update(j)
                .where(j.id == job_id, j.attempts == attempts, which)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if rowcount(changed) != 1:
                continue  # claimed, renewed or recovered meanwhile: not ours to change
            if last:
                out.failed.append(job_id)
            else:
                (out.requeued if status == "running" else out.resent).append(job_id)
            if status == "running" or last:
                done.append((job_id, attempts))
    for job_id, attempts in done:
        discard_attempt(job_id, attempts)
    if done:
        log.warning("stalled export jobs: queued again %s, failed %s", out.requeued, out.failed)
    if out.resent:
        log.warning("queued export jobs no worker claimed, sent again: %s", out.resent)
    return out


def _recovered(
    session: Session, principal: Principal, jobs: list[ResearchExportJob], enqueue: Enqueue
) -> list[ResearchExportJob]:
    """`jobs` as they are once the stalled (or queued and lost) ones among them are
    recovered. The recovery commits on its own (a page's read is read-only); the changed rows
    are read again in a new session, since the request's snapshot (SQLite) predates that
    commit."""
    live = [job.id for job in jobs if job.status in ("running", "queued")]
    if not live:
        return jobs
    engine = session.info.get("engine")
    got = recover_stalled(engine=engine, clinic_id=principal.clinic_id, job_ids=live)
    for job_id in got.to_enqueue:
        enqueue(job_id)
    changed = got.requeued + got.failed
    if not changed:
        return jobs
    with open_session(clinic_id=principal.clinic_id, engine=engine, read_only=True) as fresh:
        stmt = select(ResearchExportJob).where(ResearchExportJob.id.in_(changed))
        current = {j.id: j for j in fresh.scalars(stmt)}
        fresh.commit()
    return [current.get(job.id, job) for job in jobs]


def expire_bundles(*, engine: Engine | None = None, now: datetime | None = None) -> int:
    """Delete the bundles of done jobs finished more than `export_retention_days` ago and
    mark each job `expired` (the row stays; audited `research-export-expire`). One job per
    transaction, the file deleted before it commits: a file that cannot be deleted leaves
    its job done, tried again next run; a commit that fails leaves a done job without its
    file (download: 409), expired by the next run. The count expired."""
    now = now or utcnow()
    j = ResearchExportJob
    old = (j.status == "done") & (j.finished_at < now - retention())
    with unit_of_work(clinic_id=None, engine=engine, read_only=True) as s:
        rows = s.execute(select(j.id).where(old).order_by(j.id).limit(BATCH)).scalars().all()
    expired = 0
    for job_id in rows:
        try:
            with unit_of_work(clinic_id=None, engine=engine) as s:
                changed = s.execute(
                    update(j)
                    .where(j.id == job_id, old)
                    .values(status="expired", expired_at=now)
                    .execution_options(synchronize_session=False)
                )
                if rowcount(changed) != 1:
                    continue  # expired by another worker's run
                job = s.get(j, job_id, populate_existing=True)
                assert job is not None  # just changed
                record(
                    s,
                    actor=Actor(None, job.clinic_id, "worker"),
                    action="research-export-expire",
                    entity="research_export_job",
                    entity_id=job_id,
                    detail={"format": job.format, "sha256": job.result_sha256},
                )
                if job.result_file is not None:
                    (export_dir() / job.result_file).unlink(missing_ok=True)
            expired += 1
        except OSError:
            log.exception("could not delete the bundle of research export job %s", job_id)
    return expired
