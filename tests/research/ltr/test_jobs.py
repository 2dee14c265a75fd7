"""The persisted twitch analysis: the read (`service.latest_analysis`) never fits, queues one
refit per clinic and measure when the data changed, and the job (`ltr.jobs.execute`) stores
what the direct fit gives, once, records a failure, and skips data it already fitted. Both
engines; a real `triggerpoint worker` process runs the queued task."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.personas import Person
from tests.research.ltr.conftest import refit, treat, withdraw_one
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.research.ltr import jobs, service
from triggerpoint.research.ltr.models import LtrFit

TRIGGERPOINT = Path(sys.executable).with_name("triggerpoint")


def _read(person: Person, instrument: str = "nprs", *, now: datetime | None = None):
    """A page's read in a read-only session, as GET requests run; (report, enqueued)."""
    enqueued: list[tuple[int, str]] = []
    s = open_session(clinic_id=person.clinic_id, read_only=True)
    try:
        report = service.latest_analysis(
            s,
            principal=person.principal,
            instrument=instrument,
            enqueue=lambda c, i: enqueued.append((c, i)),
            now=now,
        )
        s.commit()  # the deferred claim runs, then the enqueue once it is committed
    finally:
        s.close()
    return report, enqueued


def _row(person: Person, instrument: str = "nprs") -> LtrFit | None:
    with open_session(clinic_id=person.clinic_id) as s:
        return s.scalars(select(LtrFit).where(LtrFit.instrument == instrument)).one_or_none()


def test_the_first_read_queues_one_fit_and_fits_nothing(alice, treated_a, monkeypatch):
    monkeypatch.setattr(service, "fit_outcome", lambda *a: pytest.fail("fitted in a read"))
    report, enqueued = _read(alice)
    assert enqueued == [(alice.clinic_id, "nprs")]
    fr = report.freshness
    assert fr.computed_at is None and fr.stale and fr.refit == "queued"
    row = _row(alice)
    assert row is not None and row.refit == "queued" and row.result is None
    again, enqueued = _read(alice)  # one refit per clinic and measure at a time
    assert enqueued == [] and again.freshness.refit == "queued"
    _, ppt = _read(alice, "ppt")  # the other measure is its own
    assert ppt == [(alice.clinic_id, "ppt")]


def test_a_lost_refit_is_queued_again_once_its_lease_is_over(alice, treated_a):
    _, first = _read(alice)
    assert first
    _, soon = _read(alice, now=utcnow() + service.LEASE - timedelta(minutes=1))
    _, later = _read(alice, now=utcnow() + service.LEASE + timedelta(minutes=1))
    assert soon == [] and later == [(alice.clinic_id, "nprs")]


def test_the_job_stores_what_the_direct_fit_gives(alice, treated_a):
    _read(alice)
    assert jobs.execute(alice.clinic_id, "nprs") is True
    report, enqueued = _read(alice)
    with open_session(clinic_id=alice.clinic_id) as s:
        direct = service.twitch_analysis(s, principal=alice.principal, instrument="nprs")
        s.rollback()
    assert enqueued == []
    fr = report.freshness
    assert not fr.stale and fr.refit is None and fr.data_version == fr.current_data_version
    assert fr.data_version == direct.freshness.data_version and fr.data_as_of is not None
    assert [f.model_dump() for f in report.fits] == [f.model_dump() for f in direct.fits]
    assert report.sample == direct.sample
    assert report.fits[0].fitted and report.sample.consented_patients == treated_a.consented
    row = _row(alice)
    assert row is not None and row.refit == "idle" and row.started_at is None
    assert row.analysis_version == service.ANALYSIS_VERSION and row.fit_seconds > 0


def test_a_job_runs_only_when_queued_and_once(alice, treated_a):
    assert jobs.execute(alice.clinic_id, "nprs") is False  # no row: nothing was asked
    _read(alice)
    assert jobs.execute(alice.clinic_id, "nprs") is True
    assert jobs.execute(alice.clinic_id, "nprs") is False  # done: not queued any more


def test_new_data_make_the_fit_stale_and_the_refit_reads_them(alice, treated_a):
    refit(alice)
    before, _ = _read(alice)
    withdraw_one(alice)
    stale, enqueued = _read(alice)
    assert stale.freshness.stale and stale.freshness.refit == "queued"
    assert enqueued == [(alice.clinic_id, "nprs")]
    assert stale.freshness.current_data_version == before.freshness.data_version + 1
    assert stale.fits == before.fits  # the previous fit, shown until the refit is done
    assert jobs.execute(alice.clinic_id, "nprs") is True
    after, _ = _read(alice)
    assert not after.freshness.stale
    assert after.sample.consented_patients == before.sample.consented_patients - 1
    assert after.fits[0].n_patients == before.fits[0].n_patients - 1


def test_a_failed_refit_is_recorded_shown_and_retried_after_its_lease(
    alice, treated_a, monkeypatch
):
    _read(alice)

    def broken(*_a, **_k):
        raise RuntimeError("statsmodels exploded")

    monkeypatch.setattr(service, "analysis_data", broken)
    assert jobs.execute(alice.clinic_id, "nprs") is False
    row = _row(alice)
    assert row is not None and row.refit == "failed" and row.result is None
    assert row.error == "RuntimeError (the worker's log has the details)"
    report, enqueued = _read(alice)
    assert report.freshness.refit == "failed" and report.freshness.refit_error == row.error
    assert enqueued == []  # not retried at every read
    _, later = _read(alice, now=utcnow() + service.LEASE + timedelta(minutes=1))
    assert later == [(alice.clinic_id, "nprs")]


def test_data_already_fitted_are_not_fitted_again(alice, treated_a, monkeypatch):
    refit(alice)
    computed = _row(alice).computed_at
    with unit_of_work(clinic_id=alice.clinic_id) as s:  # a second request raced the first
        assert service.queue_refit(s, clinic_id=alice.clinic_id, instrument="nprs", now=utcnow())
    monkeypatch.setattr(service, "analysis_data", lambda *a, **k: pytest.fail("refitted"))
    assert jobs.execute(alice.clinic_id, "nprs") is True
    row = _row(alice)
    assert row.computed_at == computed and row.refit == "idle"


def test_an_older_analysis_version_is_stale(alice, treated_a, monkeypatch):
    refit(alice)
    monkeypatch.setattr(service, "ANALYSIS_VERSION", service.ANALYSIS_VERSION + 1)
    report, enqueued = _read(alice)
    assert report.freshness.stale and report.freshness.computed_at is None
    assert enqueued == [(alice.clinic_id, "nprs")]


def test_the_persisted_read_is_audited_once(alice, treated_a):
    refit(alice, "ppt")
    report, _ = _read(alice, "ppt")
    with open_session(clinic_id=alice.clinic_id) as s:
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.entity == "research_ltr", AuditEvent.clinic_id == alice.clinic_id
            )
        ).all()
    assert len(events) == 1
    assert events[0].detail["data_version"] == report.freshness.data_version
    assert events[0].detail["instrument"] == "ppt"


def test_clinics_are_fitted_apart(alice, erin, treated_a):
    treat(erin, patients=12, seed=5)
    refit(alice)
    mine, _ = _read(alice)
    theirs, enqueued = _read(erin)
    assert mine.freshness.computed_at is not None and theirs.freshness.computed_at is None
    assert enqueued == [(erin.clinic_id, "nprs")]


# --- a real worker ------------------------------------------------------------------------


@pytest.fixture
def own_clinic(fresh_db):
    """A committed clinic of demo patients in a database of its own (separate processes)."""
    from tests.personas import add_clinic, add_person, tag
    from triggerpoint.demo.generator import populate

    with unit_of_work(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, f"Worker {tag()}")
        person = add_person(s, clinic_id=clinic, username=f"ltr.{tag()}", role="clinician")
    with unit_of_work(clinic_id=None, engine=fresh_db) as s:
        populate(s, staff=person.principal, patients=14, seed=4)
    return fresh_db, person


def test_a_worker_process_runs_the_queued_refit(own_clinic, tmp_path):
    engine, person = own_clinic
    env = {
        **os.environ,
        "TRIGGERPOINT_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TRIGGERPOINT_QUEUE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
    }
    with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
        assert service.queue_refit(s, clinic_id=person.clinic_id, instrument="nprs", now=utcnow())
    enqueue = (
        f"from triggerpoint.research.ltr import jobs; jobs.enqueue({person.clinic_id}, 'nprs')"
    )
    subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, timeout=60)

    def row() -> LtrFit:
        with open_session(clinic_id=person.clinic_id, engine=engine) as s:
            found = s.scalars(select(LtrFit)).one()
            s.expunge(found)
            return found

    assert row().refit == "queued"  # waiting in the queue file
    worker = subprocess.Popen(
        [str(TRIGGERPOINT), "worker", "--no-periodic"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while row().refit in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not refit in 120 s"
            assert worker.poll() is None, worker.stdout.read().decode()[-2000:]
            time.sleep(0.3)
    finally:
        worker.send_signal(signal.SIGINT)
        log = worker.communicate(timeout=30)[0].decode()
    done = row()
    assert done.refit == "idle" and done.result is not None, (done.error, log[-2000:])
    assert done.computed_at is not None and done.computed_at <= datetime.now(UTC)
    with open_session(clinic_id=person.clinic_id, engine=engine) as s:
        assert done.data_version == service.data_version.current(s, person.clinic_id)[0] > 0
