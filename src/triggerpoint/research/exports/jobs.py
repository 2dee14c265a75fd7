"""Research exports as background jobs on the huey queue (portal.jobs opens it).

The web request only writes a `queued` row and enqueues `run_export(job_id)` after commit.
The worker claims the row with one conditional UPDATE (queued -> running: one worker wins),
runs the export service as the user who asked (their permission is checked again: a user
disabled or demoted since cannot export), records progress in short transactions of their
own, zips the result into `export_dir`, and records done with the bundle's size and SHA-256.
Any exception is recorded as `failed` with a reason, so no job stays `running` without one.

The export reads in one read-only snapshot (`_snapshot`): every table of the bundle shows the
registry at one moment, and on SQLite the read holds no write lock, so the clinic's work and
the job's own progress writes go on while a large export runs.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from triggerpoint.accounts.models import User
from triggerpoint.accounts.service import Principal
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
from triggerpoint.research.exports.bundle import export_dir, write_zip
from triggerpoint.research.exports.models import ResearchExportJob
from triggerpoint.research.exports.schemas import Progress

log = logging.getLogger(__name__)
MAX_ERROR = 500  # characters of a failure's reason kept on the row


@huey.task()
def run_export(job_id: int) -> bool:
    """Run one queued export job (enqueued by the API once the job row is committed)."""
    return execute(job_id)


def enqueue(job_id: int) -> None:
    """Ask a worker to run the job; a queue that refuses leaves the row `queued`."""
    try:
        run_export(job_id)
    except Exception:  # the queue is down: the row is the truth, enqueue it again later
        log.warning("could not enqueue research export job %s", job_id, exc_info=True)


def execute(job_id: int, *, engine: Engine | None = None, now: datetime | None = None) -> bool:
    """Claim and run the job. False: not queued (another worker has it, or it ran), or it
    failed (the reason is on the row)."""
    job = _claim(job_id, engine=engine, now=now or utcnow())
    if job is None:
        return False
    work = export_dir() / f"job-{job_id}.partial"
    try:
        principal = _principal(job, engine=engine)

        def progress(done: int, parts: int, rows: int) -> None:
            # + 1: the bundling step, so a finished export reads "almost", not "done"
            _set(job_id, engine=engine, parts_done=done, parts_total=parts + 1, rows_done=rows)

        shutil.rmtree(work, ignore_errors=True)
        name = f"research-export-{job_id}-{job.format}.zip"
        size, sha = _export(job, principal, work, export_dir() / name, progress, engine=engine)
        _finish(job_id, engine=engine, name=name, size=size, sha=sha)
        return True
    except Exception as exc:
        log.exception("research export job %s failed", job_id)
        _set(job_id, engine=engine, status="failed", finished_at=utcnow(), error=_reason(exc))
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


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


def _claim(job_id: int, *, engine: Engine | None, now: datetime) -> ResearchExportJob | None:
    with unit_of_work(clinic_id=None, engine=engine) as s:
        claimed = s.execute(
            update(ResearchExportJob)
            .where(ResearchExportJob.id == job_id, ResearchExportJob.status == "queued")
            .values(status="running", started_at=now, parts_done=0, rows_done=0, error=None)
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            return None
        job = s.get(ResearchExportJob, job_id, populate_existing=True)
        assert job is not None  # just claimed
        s.expunge(job)
        return job


def _set(job_id: int, *, engine: Engine | None, **values: object) -> None:
    """One short transaction of its own, so the page sees it at once."""
    with unit_of_work(clinic_id=None, engine=engine) as s:
        s.execute(
            update(ResearchExportJob)
            .where(ResearchExportJob.id == job_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _finish(job_id: int, *, engine: Engine | None, name: str, size: int, sha: str) -> None:
    with unit_of_work(clinic_id=None, engine=engine) as s:
        job = s.get(ResearchExportJob, job_id, populate_existing=True)
        assert job is not None  # claimed by this worker
        job.status, job.finished_at = "done", utcnow()
        job.parts_done = job.parts_total = max(job.parts_total, 1)
        job.result_file, job.result_size, job.result_sha256 = name, size, sha


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
    principal: Principal,
    work: Path,
    bundle: Path,
    progress: Progress,
    *,
    engine: Engine | None,
) -> tuple[int, str]:
    """The export service into `work`, zipped into `bundle`: (size, SHA-256). Read in the
    snapshot; audited in a transaction of its own, committed once the bundle is written (an
    export that fails before leaves no file behind, and no audit event)."""
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
        return write_zip(work, bundle)
