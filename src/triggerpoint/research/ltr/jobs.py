"""The twitch analysis fitted in the background, on the huey queue (portal.jobs opens it).

A page or API read that finds the persisted fit stale claims the refit (`service.queue_refit`:
the row's `refit` idle -> queued, one per clinic and measure) and enqueues
`refit_ltr(clinic_id, instrument)` once that claim is committed. The worker then:

1. claims the run (queued -> running, one conditional UPDATE: one worker wins);
2. reads the data version, then the analysis' datasets, in one read-only transaction (on
   SQLite a deferred one: it holds no write lock, the clinic's work goes on; on PostgreSQL
   the version is read first, so a write committed meanwhile can only make the fit newer
   than its label, and the next read refits: never older);
3. fits the models with no database connection held (seconds, CPU);
4. stores the result with its data version and time in one short transaction, unless a
   newer one is already there, and sets the row back to idle.

A fit whose data version is already stored is skipped (a second request raced the first).
Any exception is recorded on the row (`failed`, with a reason), so no refit stays `running`
without one; a failed or lost refit may be queued again once its lease is over.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import ColumnElement, Engine, or_, select, update
from sqlalchemy.exc import SQLAlchemyError

from triggerpoint.db import rowcount, unit_of_work, utcnow
from triggerpoint.errors import DomainError
from triggerpoint.portal.jobs import huey
from triggerpoint.research.ltr import service
from triggerpoint.research.ltr import version as data_version

log = logging.getLogger(__name__)
FIT = service.FIT
MAX_ERROR = 500  # characters of a failure's reason kept on the row


@huey.task()
def refit_ltr(clinic_id: int, instrument: str) -> bool:
    """Refit one clinic's twitch analysis of one measure (enqueued once the claim commits)."""
    return execute(clinic_id, instrument)


def enqueue(clinic_id: int, instrument: str) -> None:
    """Ask a worker to refit; a queue that refuses leaves the row `queued` (its lease ends)."""
    try:
        refit_ltr(clinic_id, instrument)
    except Exception:  # the queue is down: the row is the truth, a later read queues again
        log.warning("could not enqueue the LTR refit of clinic %s", clinic_id, exc_info=True)


def _where(clinic_id: int, instrument: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return FIT.c.clinic_id == clinic_id, FIT.c.instrument == instrument


def execute(
    clinic_id: int, instrument: str, *, engine: Engine | None = None, now: datetime | None = None
) -> bool:
    """Claim and run the refit. False: not queued (another worker has it, or none was asked),
    or it failed (the reason is on the row)."""
    started = now or utcnow()
    if not _claim(clinic_id, instrument, started, engine=engine):
        return False
    try:
        clock = time.perf_counter()
        with unit_of_work(clinic_id=clinic_id, engine=engine, read_only=True) as s:
            version, as_of = data_version.current(s, clinic_id)
            done = s.execute(
                select(FIT.c.data_version, FIT.c.analysis_version).where(
                    *_where(clinic_id, instrument)
                )
            ).one()
            if tuple(done) == (version, service.ANALYSIS_VERSION):
                data = None  # already fitted on these data (a request raced this one)
            else:
                data = service.analysis_data(s, clinic_id=clinic_id, instrument=instrument)
        if data is None:
            _finish(clinic_id, instrument, started, engine=engine)
            return True
        sample, frames = data
        fits = service.fit_all(frames)
        result = {
            "sample": sample.model_dump(mode="json"),
            "fits": [f.model_dump(mode="json") for f in fits],
        }
        seconds = round(time.perf_counter() - clock, 3)
        _finish(
            clinic_id,
            instrument,
            started,
            engine=engine,
            values={
                "analysis_version": service.ANALYSIS_VERSION,
                "data_version": version,
                "data_as_of": as_of,
                "computed_at": utcnow(),
                "fit_seconds": seconds,
                "result": result,
            },
        )
        return True
    except Exception as exc:
        log.exception("the LTR refit of clinic %s (%s) failed", clinic_id, instrument)
        with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
            s.execute(
                update(FIT)
                .where(*_where(clinic_id, instrument), FIT.c.started_at == started)
                .values(refit="failed", error=_reason(exc))
            )
        return False


def _claim(clinic_id: int, instrument: str, now: datetime, *, engine: Engine | None) -> bool:
    with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
        claimed = s.execute(
            update(FIT)
            .where(*_where(clinic_id, instrument), FIT.c.refit == "queued")
            .values(refit="running", started_at=now, error=None)
        )
        return rowcount(claimed) == 1


def _finish(
    clinic_id: int,
    instrument: str,
    started: datetime,
    *,
    engine: Engine | None,
    values: dict[str, object] | None = None,
) -> None:
    """Store the fit (unless a newer one is there) and end this run's claim, in one commit."""
    with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
        if values is not None:
            s.execute(
                update(FIT)
                .where(
                    *_where(clinic_id, instrument),
                    or_(
                        FIT.c.data_version.is_(None),
                        FIT.c.analysis_version.is_distinct_from(service.ANALYSIS_VERSION),
                        FIT.c.data_version <= values["data_version"],
                    ),
                )
                .values(**values)
            )
        s.execute(
            update(FIT)
            .where(*_where(clinic_id, instrument), FIT.c.started_at == started)
            .values(refit="idle", started_at=None, error=None)
        )


def _reason(exc: Exception) -> str:
    """What the page shows for a failure. A database error's text can quote the statement's
    values, so it stays in the log."""
    if isinstance(exc, DomainError):
        reason = str(exc)
    elif isinstance(exc, SQLAlchemyError):
        reason = "the database refused the analysis' queries (the worker's log has the details)"
    else:
        reason = f"{type(exc).__name__} (the worker's log has the details)"
    return reason[:MAX_ERROR]
