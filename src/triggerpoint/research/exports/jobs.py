"""Research exports as background jobs on the huey queue (portal.jobs opens it).

The web request only writes a `queued` row and enqueues `run_export(job_id)` after commit.
The worker claims the row with one conditional UPDATE (queued -> running, attempts + 1, a
lease: one worker wins), runs the export service as the user who asked (their permission is
checked again: a user disabled or demoted since cannot export), records progress in short
transactions of their own (each renews the lease), zips the result into `export_dir`, and
records done with the bundle's size and SHA-256. Any exception is recorded as `failed` with a
reason, and the attempt's partial files are deleted. Every write after the claim is
conditional on (running, this attempt): a worker whose lease ran out and whose job was
queued again (service.recover_stalled, run every minute here and on each read of the jobs)
finds its next write refused (LeaseLost) and stops, so two workers never both finish a job.
A worker killed mid-export leaves a running row whose lease runs out: it is queued again, up
to `export_max_attempts` claims, then failed. A queued job no worker claimed within a lease
(its task lost) is enqueued again: a duplicate task is harmless, the claim runs the job once.
Old bundles are deleted by
`expire_export_bundles` (service.expire_bundles).

The export reads in one read-only snapshot (`_snapshot`): every table of the bundle shows the
registry at one moment, and on SQLite the read holds no write lock, so the clinic's work and
the job's own progress writes go on while a large export runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path

from huey import crontab
from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import Principal
from triggerpoint.config import get_settings
from triggerpoint.db import (
    SNAPSHOT_READER,
    get_engine,
    open_session,
    rowcount,
    unit_of_work,
    utcnow,
)
from triggerpoint.errors import DomainError
from triggerpoint.portal.jobs import huey
from triggerpoint.research.exports import service
from triggerpoint.research.exports.bundle import (
    discard_attempt,
    export_dir,
    staged_zip,
    work_dir,
    write_zip,
)
from triggerpoint.research.exports.models import ResearchExportJob
from triggerpoint.research.exports.schemas import Progress

log = logging.getLogger(__name__)
MAX_ERROR = 500  # characters of a failure's reason kept on the row


@huey.task()  # no retries=: execute records every failure itself, and a job runs once per claim
def run_export(job_id: int) -> bool:
    """Run one queued export job (enqueued by the API once the job row is committed)."""
    return execute(job_id)


@huey.periodic_task(crontab(minute="*"))
def recover_stalled_exports() -> int:
    """Every minute: running jobs whose worker stopped (lease run out) are queued again, or
    failed after their last attempt; queued jobs whose task was lost are sent again."""
    return len(recover().to_enqueue)


@huey.periodic_task(crontab(minute="*/10"))
def expire_export_bundles() -> int:
    """Every ten minutes: bundles past `export_retention_days` are deleted (job `expired`)."""
    return service.expire_bundles()


def enqueue(job_id: int) -> None:
    """Ask a worker to run the job; a queue that refuses leaves the row `queued`."""
    try:
        run_export(job_id)
    except Exception:  # the queue is down: the row is the truth, enqueue it again later
        log.warning("could not enqueue research export job %s", job_id, exc_info=True)


def recover(*, engine: Engine | None = None, now: datetime | None = None) -> service.Recovery:
    """The periodic recovery of every clinic's stalled jobs (service.recover_stalled), with
    the jobs queued again, or sent again, enqueued once that has committed."""
    got = service.recover_stalled(engine=engine, now=now)
    for job_id in got.to_enqueue:
        enqueue(job_id)
    return got


class LeaseLost(Exception):
    """This worker's claim on the job is over: its lease ran out and the job was queued
    again (and perhaps taken by another worker). It stops and writes nothing more."""


def execute(job_id: int, *, engine: Engine | None = None, now: datetime | None = None) -> bool:
    """Claim and run the job. False: not queued (another worker has it, or it ran), it
    failed (the reason is on the row), or it was taken from this worker (LeaseLost)."""
    claim = _claim(job_id, engine=engine, now=now or utcnow())
    if claim is None:
        return False
    job, attempt = claim
    parts_total = 1
    try:
        principal = _principal(job, engine=engine)

        def progress(done: int, parts: int, rows: int) -> None:
            nonlocal parts_total
            # + 1: the bundling step, so a finished export reads "almost", not "done"
            parts_total = parts + 1
            _set(
                job_id,
                engine=engine,
                attempt=attempt,
                parts_done=done,
                parts_total=parts_total,
                rows_done=rows,
            )

        _export(job, attempt, principal, progress, lambda: parts_total, engine=engine)
        return True
    except LeaseLost:
        log.warning("research export job %s was taken from attempt %s", job_id, attempt)
        return False
    except Exception as exc:
        log.exception("research export job %s failed", job_id)
        try:
            _set(
                job_id,
                engine=engine,
                attempt=attempt,
                status="failed",
                finished_at=utcnow(),
                error=_reason(exc),
                lease_expires_at=None,
            )
        except LeaseLost:
            return False
        # the job failed in this attempt's hands: a bundle under its final name (a commit
        # that failed after the rename) can only be this attempt's
        (export_dir() / _bundle_name(job)).unlink(missing_ok=True)
        return False
    finally:
        discard_attempt(job_id, attempt)


def _bundle_name(job: ResearchExportJob) -> str:
    return f"research-export-{job.id}-{job.format}.zip"


def _reason(exc: Exception) -> str:
    """What the page shows for a failure: the refusal of a rule, or the kind of trouble. A
    database error's text can quote the statement's values, so it stays in the log."""
    if isinstance(exc, DomainError | PermissionError):
        reason = str(exc)
    elif isinstance(exc, OSError):
        reason = f"cannot write the export: {exc.strerror or exc}"
    elif isinstance(exc, SQLAlchemyError):
        reason = "the database refused the export's queries (the worker's log has the details)"
    else:
        reason = f"{type(exc).__name__} (the worker's log has the details)"
    return reason[:MAX_ERROR]


def _claim(
    job_id: int, *, engine: Engine | None, now: datetime
) -> tuple[ResearchExportJob, int] | None:
    """queued -> running with one conditional UPDATE (one worker wins), counting the attempt
    and taking the lease. (the job, this attempt's number), or None."""
    j = ResearchExportJob
    with unit_of_work(clinic_id=None, engine=engine) as s:
        claimed = s.execute(
            update(j)
            .where(
                j.id == job_id,
                j.status == "queued",
                j.attempts < get_settings().export_max_attempts,
            )
            .values(
                status="running",
                started_at=now,
                parts_done=0,
                parts_total=0,
                rows_done=0,
                error=None,
                attempts=j.attempts + 1,
                lease_expires_at=now + service.lease_length(),
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            return None
        job = s.get(j, job_id, populate_existing=True)
        assert job is not None  # just claimed
        s.expunge(job)
        return job, job.attempts


def _set(job_id: int, *, engine: Engine | None, attempt: int, **values: object) -> None:
    """One short transaction of its own, so the page sees it at once; renews the lease.
    Only while the job is still running in this attempt's hands, else LeaseLost."""
    j = ResearchExportJob
    values.setdefault("lease_expires_at", utcnow() + service.lease_length())
    with unit_of_work(clinic_id=None, engine=engine) as s:
        mine = s.execute(
            update(j)
            .where(j.id == job_id, j.status == "running", j.attempts == attempt)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if rowcount(mine) != 1:
            raise LeaseLost(job_id)


def _finish(
    audit: Session,
    job: ResearchExportJob,
    attempt: int,
    staged: Path,
    *,
    parts: int,
    size: int,
    sha: str,
) -> None:
    """Record the job done, in the transaction that commits its `research-export` audit
    event, and give the zip its final name while that transaction holds the row. A worker
    whose job was taken from it records nothing (LeaseLost)."""
    j = ResearchExportJob
    name = _bundle_name(job)
    done = audit.execute(
        update(j)
        .where(j.id == job.id, j.status == "running", j.attempts == attempt)
        .values(
            status="done",
            finished_at=utcnow(),
            parts_done=parts,
            parts_total=parts,
            result_file=name,
            result_size=size,
            result_sha256=sha,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(done) != 1:
        raise LeaseLost(job.id)
    staged.replace(export_dir() / name)


def _principal(job: ResearchExportJob, *, engine: Engine | None) -> Principal:
    """The user who asked, as they are now (the export checks their role again)."""
    with unit_of_work(clinic_id=job.clinic_id, engine=engine) as s:
        user = s.get(User, job.requested_by_id) if job.requested_by_id is not None else None
        if user is None or not user.active:
            raise PermissionError("the user who requested this export is no longer active")
        return Principal(user.id, user.clinic_id, user.username, user.role)


@cache
def _snapshot_engine(engine: Engine) -> Engine:
    """`engine` for a long read of one consistent snapshot: PostgreSQL REPEATABLE READ, READ
    ONLY; SQLite a deferred transaction (db.SNAPSHOT_READER), one WAL snapshot. Cached: one
    per engine, as the session factories are."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    return engine.execution_options(**{SNAPSHOT_READER: True})


@contextmanager
def _snapshot(clinic_id: int, *, engine: Engine | None) -> Iterator[Session]:
    session = open_session(clinic_id=clinic_id, engine=_snapshot_engine(engine or get_engine()))
    try:
        yield session
        session.commit()  # nothing written: ends the read (and, in tests, keeps the savepoint)
    finally:
        session.close()


def _export(
    job: ResearchExportJob,
    attempt: int,
    principal: Principal,
    progress: Progress,
    parts: Callable[[], int],
    *,
    engine: Engine | None,
) -> None:
    """The export service into this attempt's work folder, zipped, and the job recorded done
    (`_finish`). Read in the snapshot; audited in a transaction of its own, committed with
    `done` once the bundle is written (an export that fails before, or whose job was taken
    from this worker, leaves no file behind and no audit event)."""
    work, staged = work_dir(job.id, attempt), staged_zip(job.id, attempt)
    with (
        _snapshot(job.clinic_id, engine=engine) as s,
        unit_of_work(clinic_id=job.clinic_id, engine=engine) as audit,
    ):
        p, c, a = principal, job.clinic_id, audit
        if job.format == "odm":
            work.mkdir(parents=True, exist_ok=True)
            path = work / "export.odm.xml"
            service.export_odm(
                s, principal=p, clinic_id=c, path=path, progress=progress, audit_session=a
            )
        elif job.format == "redcap":
            service.export_redcap(
                s, principal=p, clinic_id=c, directory=work, progress=progress, audit_session=a
            )
        else:
            service.export_parquet(
                s, principal=p, clinic_id=c, directory=work, progress=progress, audit_session=a
            )
        size, sha = write_zip(work, staged)
        _finish(a, job, attempt, staged, parts=max(parts(), 1), size=size, sha=sha)
