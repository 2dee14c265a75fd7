"""Export jobs on a database of their own (committed writes, separate connections), on both
engines: the progress rows are committed while the export still reads, other writers go on
meanwhile and do not leak into the bundle (one snapshot), a real `triggerpoint worker`
process takes the task from a SQLite queue file and finishes the job, a slow worker whose
lease ran out loses its job to another and writes nothing more, and a worker process killed
with SIGKILL mid-export leaves a job that the recovery queues again and a second worker
process finishes."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import Engine, select, update

from tests.personas import Person, add_clinic, add_person, new_patient, tag
from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.records.schemas import ConsentIn, VisitIn
from triggerpoint.records.service import create_visit, record_consent
from triggerpoint.research.exports import jobs, service
from triggerpoint.research.exports.bundle import work_dir
from triggerpoint.research.exports.models import ResearchExportJob
from triggerpoint.research.exports.schemas import TABLES

TRIGGERPOINT = Path(sys.executable).with_name("triggerpoint")


def _patient(engine: Engine, person: Person, *, research: bool = True) -> int:
    with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
        pid = new_patient(s, person, given_name=f"Qzv{tag()}")
        if research:
            consent = ConsentIn(
                kind="research", signed_by="The Patient", signed_at=datetime(2026, 9, 1, tzinfo=UTC)
            )
            record_consent(s, principal=person.principal, patient_id=pid, data=consent)
        visit = VisitIn(visit_at=datetime(2026, 10, 1, 10, tzinfo=UTC))
        create_visit(s, principal=person.principal, patient_id=pid, data=visit)
    return pid


@pytest.fixture
def own_db(fresh_db, tmp_path, monkeypatch) -> tuple[Engine, Person]:
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_DIR", str(tmp_path / "bundles"))
    get_settings.cache_clear()
    with unit_of_work(clinic_id=None, engine=fresh_db) as s:
        clinic = add_clinic(s, f"Snapshot {tag()}")
        person = add_person(s, clinic_id=clinic, username=f"snap.{tag()}", role="clinician")
    for research in (True, True, True, False):
        _patient(fresh_db, person, research=research)
    yield fresh_db, person
    get_settings.cache_clear()


def _job(engine: Engine, person: Person, fmt: str) -> int:
    with unit_of_work(clinic_id=person.clinic_id, engine=engine) as s:
        return service.request_export(s, principal=person.principal, fmt=fmt).id


def _row(engine: Engine, job_id: int) -> ResearchExportJob:
    with open_session(clinic_id=None, engine=engine) as s:
        row = s.get(ResearchExportJob, job_id)
        assert row is not None
        return row


def _enqueued(engine: Engine, job_id: int, tmp_path: Path) -> dict[str, str]:
    """The job enqueued, by a process of its own, in a SQLite queue file: the environment
    of the worker processes that share that queue, database and export folder."""
    env = {
        **os.environ,
        "TRIGGERPOINT_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "TRIGGERPOINT_QUEUE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}",
        "TRIGGERPOINT_EXPORT_DIR": str(tmp_path / "bundles"),
    }
    enqueue = f"from triggerpoint.research.exports import jobs; jobs.enqueue({job_id})"
    subprocess.run([sys.executable, "-c", enqueue], env=env, check=True, timeout=60)
    return env


def test_progress_commits_while_the_export_reads_one_snapshot(own_db, monkeypatch, tmp_path):
    engine, person = own_db
    job_id = _job(engine, person, "parquet")
    seen: list[tuple[str, int]] = []
    real = jobs._set

    def spy(jid: int, *, engine=None, **values) -> None:
        real(jid, engine=engine, **values)  # on SQLite this waited for the read's lock before
        row = _row(engine, jid)  # another connection sees it at once
        seen.append((row.status, row.parts_done))
        if row.parts_done == 1:  # patients written: a colleague adds one, with a visit
            _patient(engine, person)

    monkeypatch.setattr(jobs, "_set", spy)
    assert jobs.execute(job_id, engine=engine) is True
    assert seen == [("running", n) for n in range(1, len(TABLES) + 1)]
    row = _row(engine, job_id)
    assert row.status == "done" and row.error is None

    out = tmp_path / "out"
    with zipfile.ZipFile(Path(os.environ["TRIGGERPOINT_EXPORT_DIR"]) / row.result_file) as z:
        z.extractall(out)
    con = duckdb.connect()
    patients, visits = (
        con.execute(f"SELECT count(*) FROM read_parquet('{out}/{t}.parquet')").fetchone()[0]
        for t in ("patients", "visits")
    )
    # The fourth consented patient and their visit came after the snapshot: in neither.
    assert (patients, visits) == (3, 3)


def test_a_worker_process_runs_the_queued_job(own_db, tmp_path):
    engine, person = own_db
    job_id = _job(engine, person, "odm")
    env = _enqueued(engine, job_id, tmp_path)
    assert _row(engine, job_id).status == "queued"  # waiting in the queue file
    worker = subprocess.Popen(
        [str(TRIGGERPOINT), "worker", "--no-periodic"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while _row(engine, job_id).status in ("queued", "running"):
            assert time.monotonic() < deadline, "the worker did not finish the job in 60 s"
            assert worker.poll() is None, worker.stdout.read().decode()[-2000:]
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGINT)
        log = worker.communicate(timeout=30)[0].decode()
    row = _row(engine, job_id)
    assert row.status == "done", (row.error, log[-2000:])
    assert (row.parts_done, row.parts_total) == (2, 2)  # one chunk of patients, the zip
    bundle = (tmp_path / "bundles" / row.result_file).read_bytes()
    assert len(bundle) == row.result_size
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        xml = z.read("export.odm.xml").decode()
    assert xml.count("<SubjectData ") == 3 and "Qzv" not in xml


def test_a_slow_worker_whose_job_was_taken_writes_nothing_more(own_db, monkeypatch):
    """Worker 1 is slow but alive: its lease runs out between two tables, the recovery
    queues the job again and worker 2 runs it to the end (here, inside worker 1's pause, on
    connections of its own). Worker 1's next progress write is refused, so it stops: one
    bundle, worker 2's; one `research-export` audit event; the job done in attempt 2."""
    engine, person = own_db
    job_id = _job(engine, person, "parquet")
    real = jobs._set
    runs: list[bool] = []

    def slow_worker(jid: int, *, engine=None, attempt: int, **values) -> None:
        if attempt == 1 and not runs:
            with unit_of_work(clinic_id=None, engine=engine) as s:  # the lease runs out
                s.execute(
                    update(ResearchExportJob)
                    .where(ResearchExportJob.id == jid)
                    .values(lease_expires_at=utcnow() - timedelta(seconds=1))
                )
            assert service.recover_stalled(engine=engine).requeued == [jid]
            runs.append(jobs.execute(jid, engine=engine))  # worker 2, start to finish
        real(jid, engine=engine, attempt=attempt, **values)

    monkeypatch.setattr(jobs, "_set", slow_worker)
    assert jobs.execute(job_id, engine=engine) is False  # worker 1: refused, it stops
    assert runs == [True]
    row = _row(engine, job_id)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)
    bundles = Path(os.environ["TRIGGERPOINT_EXPORT_DIR"])
    assert sorted(p.name for p in bundles.iterdir()) == [row.result_file]
    assert (bundles / row.result_file).stat().st_size == row.result_size
    with open_session(clinic_id=None, engine=engine) as s:
        exports = s.scalars(
            select(AuditEvent.id).where(
                AuditEvent.action == "research-export", AuditEvent.user_id == person.user_id
            )
        ).all()
    assert len(exports) == 1


# The real worker command, with one pause added: after the first table's progress write it
# sleeps, so the test can kill it mid-export (nothing else of the worker is changed).
PAUSING_WORKER = """
import sys, time
from triggerpoint.research.exports import jobs
real = jobs._set
def pausing(job_id, **values):
    real(job_id, **values)
    if values.get("parts_done") == 1:
        time.sleep(300)
jobs._set = pausing
from triggerpoint.cli.main import app
app(["worker", "--no-periodic"])
"""


def _wait(engine: Engine, job_id: int, done, worker: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 90
    while not done(_row(engine, job_id)):
        assert time.monotonic() < deadline, f"{what}: not within 90 s"
        assert worker.poll() is None, worker.stdout.read().decode()[-2000:]
        time.sleep(0.2)


def test_a_worker_killed_mid_export_leaves_a_job_a_second_worker_finishes(own_db, tmp_path):
    engine, person = own_db
    job_id = _job(engine, person, "parquet")
    env = _enqueued(engine, job_id, tmp_path)
    first = subprocess.Popen(
        [sys.executable, "-c", PAUSING_WORKER],
        env={**env, "TRIGGERPOINT_EXPORT_LEASE_SECONDS": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(engine, job_id, lambda r: r.parts_done >= 1, first, "worker 1 began the export")
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    row = _row(engine, job_id)
    assert (row.status, row.attempts, row.parts_done) == ("running", 1, 1)  # left behind
    assert work_dir(job_id, 1).is_dir()  # and its partial files
    while _row(engine, job_id).lease_expires_at >= utcnow():  # 2 s after its last write
        time.sleep(0.2)

    # The periodic task's body, in a process of its own: queued again, enqueued in the file.
    recover = "from triggerpoint.research.exports import jobs; print(jobs.recover().requeued)"
    out = subprocess.run(
        [sys.executable, "-c", recover], env=env, check=True, timeout=60, capture_output=True
    )
    assert out.stdout.decode().strip() == f"[{job_id}]"
    assert not work_dir(job_id, 1).exists()
    second = subprocess.Popen(
        [str(TRIGGERPOINT), "worker", "--no-periodic"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait(
            engine,
            job_id,
            lambda r: r.status != "queued" and r.status != "running",
            second,
            "worker 2 finished the job",
        )
    finally:
        second.send_signal(signal.SIGINT)
        log = second.communicate(timeout=30)[0].decode()
    row = _row(engine, job_id)
    assert (row.status, row.attempts, row.error) == ("done", 2, None), log[-2000:]
    bundles = tmp_path / "bundles"
    assert sorted(p.name for p in bundles.iterdir()) == [row.result_file]
    out_dir = tmp_path / "out"
    with zipfile.ZipFile(bundles / row.result_file) as z:
        z.extractall(out_dir)
    patients = (
        duckdb.connect()
        .execute(f"SELECT count(*) FROM read_parquet('{out_dir}/patients.parquet')")
        .fetchone()
    )
    assert patients == (3,)
