"""Export jobs whose worker stopped, and old bundles (issue 17): a running job holds a lease
that progress renews; once it runs out the job is queued again (by the periodic recovery and
on a read of the jobs), at most `export_max_attempts` claims, then failed; a live job is
never taken; done bundles older
than `export_retention_days` are deleted and the job shows `expired` (410 on download).
Both engines (the personas run on each). A slow worker whose job is taken from it, and a
worker process killed mid-export: test_jobs_worker.py (separate connections)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import logged_in
from tests.research.exports.conftest import seed
from triggerpoint.audit.models import AuditEvent
from triggerpoint.config import get_settings
from triggerpoint.db import open_session, unit_of_work, utcnow
from triggerpoint.research.exports import jobs, service
from triggerpoint.research.exports.bundle import staged_zip, work_dir
from triggerpoint.research.exports.models import ResearchExportJob

URL = "/api/research/exports"
LONG_AGO = timedelta(hours=2)  # longer than the default lease (600 s)


def _request(client, person, fmt: str = "parquet") -> int:
    r = client.post(URL, json={"format": fmt}, headers=person.headers)
    assert r.status_code == 202, r.text
    return r.json()["id"]


def _row(job_id: int) -> ResearchExportJob:
    with open_session(clinic_id=None) as s:
        row = s.get(ResearchExportJob, job_id)
        assert row is not None
        return row


def _died(job_id: int, *, leftovers: bool = True) -> int:
    """A worker claimed the job two hours ago (its lease long run out), wrote part of the
    export, and was killed: the attempt's number."""
    claimed = jobs._claim(job_id, engine=None, now=utcnow() - LONG_AGO)
    assert claimed is not None
    _, attempt = claimed
    if leftovers:
        work_dir(job_id, attempt).mkdir(parents=True)
        (work_dir(job_id, attempt) / "patients.parquet").write_bytes(b"half")
        staged_zip(job_id, attempt).with_suffix(".zip.partial").write_bytes(b"half a zip")
    return attempt


def test_the_export_task_has_no_huey_retries():
    # execute records a failure on the row itself; huey's retries= would run a job again
    # outside the claim's attempt count.
    assert jobs.run_export.task_class.default_retries == 0


def test_a_job_whose_lease_ran_out_is_queued_again_and_completes(
    app_client, alice, bundles, immediate
):
    seed(app_client, alice)
    jobs.huey.immediate = False  # the request only queues: no worker yet
    job_id = _request(app_client, alice)
    jobs.huey.immediate = True
    assert _died(job_id) == 1
    assert _row(job_id).status == "running"

    got = jobs.recover()  # the periodic task; the queue (immediate) runs attempt 2 at once
    assert got == service.Recovery(requeued=[job_id], failed=[])
    row = _row(job_id)
    assert (row.status, row.attempts, row.error) == ("done", 2, None)
    assert row.lease_expires_at is None
    assert sorted(p.name for p in bundles.iterdir()) == [row.result_file]  # no leftovers
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["attempts"], job["max_attempts"]) == ("done", 2, 3)
    r = app_client.get(job["download"], headers=alice.headers)
    assert r.status_code == 200 and len(r.content) == row.result_size
    assert jobs.recover() == service.Recovery()  # nothing left to recover


def test_reading_the_jobs_recovers_a_stalled_one(app_client, alice, bundles):
    job_id = _request(app_client, alice, "odm")
    _died(job_id)
    client, _ = logged_in(app_client, alice)
    page = client.get("/research/exports").text  # the page's read queues it again
    assert "waiting for a worker (attempt 2 of 3: the last worker stopped)" in page
    assert not work_dir(job_id, 1).exists()  # the dead attempt's files are gone
    assert not staged_zip(job_id, 1).with_suffix(".zip.partial").exists()
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["attempts"], job["lease_expires_at"]) == ("queued", 1, None)

    assert jobs.execute(job_id) is True  # the task the read enqueued, run by a worker
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["attempts"]) == ("done", 2)


def test_the_api_read_recovers_too_and_the_list_shows_it(app_client, alice, bundles):
    job_id = _request(app_client, alice, "redcap")
    _died(job_id, leftovers=False)
    [listed] = app_client.get(URL, headers=alice.headers).json()
    assert (listed["id"], listed["status"], listed["attempts"]) == (job_id, "queued", 1)
    assert _row(job_id).status == "queued"  # committed, not only shown


def test_a_live_job_is_not_taken(app_client, alice, bundles):
    job_id = _request(app_client, alice, "odm")
    claimed = jobs._claim(job_id, engine=None, now=utcnow())  # a worker at work right now
    assert claimed is not None
    before = _row(job_id)
    assert before.lease_expires_at > utcnow() + timedelta(seconds=590)  # the 600 s default
    assert jobs.recover() == service.Recovery()
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["attempts"]) == ("running", 1)
    assert job["lease_expires_at"] is not None
    assert jobs.execute(job_id) is False  # a second worker cannot claim it either
    assert _row(job_id).lease_expires_at == before.lease_expires_at


def test_attempts_are_capped(app_client, alice, bundles):
    job_id = _request(app_client, alice, "odm")
    for attempt in (1, 2):
        assert _died(job_id) == attempt
        assert jobs.recover().requeued == [job_id]
    assert _died(job_id) == 3
    assert jobs.recover() == service.Recovery(requeued=[], failed=[job_id])
    row = _row(job_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.error == "the worker stopped during the export, 3 attempts"
    assert row.finished_at is not None and row.lease_expires_at is None
    assert not list(bundles.iterdir())  # the last attempt's files deleted too
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["error"]) == ("failed", row.error)
    # Queued again by hand (or by an old task) past the cap: no worker may claim it.
    with unit_of_work(clinic_id=None) as s:
        s.execute(
            update(ResearchExportJob)
            .where(ResearchExportJob.id == job_id)
            .values(status="queued", error=None)
        )
    assert jobs.execute(job_id) is False
    assert _row(job_id).attempts == 3


def test_the_cap_is_a_setting(app_client, alice, bundles, monkeypatch):
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    job_id = _request(app_client, alice, "odm")
    _died(job_id)
    assert jobs.recover().failed == [job_id]
    assert _row(job_id).error == "the worker stopped during the export, 1 attempt"


def test_a_failed_job_leaves_no_partial_file(app_client, alice, bundles, immediate, monkeypatch):
    """The zip was written under the attempt's name, then the job failed: it is deleted."""
    seed(app_client, alice)
    real = jobs.write_zip

    def zipped_then_failed(source, target):
        real(source, target)
        assert target.is_file()
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(jobs, "write_zip", zipped_then_failed)
    job_id = _request(app_client, alice)
    row = _row(job_id)
    assert row.status == "failed" and row.error == "cannot write the export: Input/output error"
    assert row.lease_expires_at is None
    assert not list(bundles.iterdir())


def test_old_bundles_are_deleted_and_the_job_shows_expired(app_client, alice, bundles, immediate):
    seed(app_client, alice)
    job_id = _request(app_client, alice)
    done = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    row = _row(job_id)
    assert done["bundle_expires_at"] is not None and done["expired_at"] is None
    assert service.bundle_expires_at(row) == row.finished_at + timedelta(days=7)
    bundle = bundles / row.result_file
    assert bundle.is_file()

    assert service.expire_bundles(now=row.finished_at + timedelta(days=6, hours=23)) == 0
    assert bundle.is_file() and _row(job_id).status == "done"
    later = row.finished_at + timedelta(days=7, seconds=1)
    assert service.expire_bundles(now=later) == 1
    assert not bundle.exists()
    assert service.expire_bundles(now=later) == 0  # once

    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["download"], job["bundle_expires_at"]) == ("expired", None, None)
    assert job["expired_at"] is not None and job["result_sha256"] == row.result_sha256
    r = app_client.get(f"{URL}/{job_id}/download", headers=alice.headers)
    assert r.status_code == 410
    assert (
        "deleted" in r.json()["detail"]
        and "7 days after the export finished" in (r.json()["detail"])
    )
    client, _ = logged_in(app_client, alice)
    page = client.get("/research/exports").text
    assert "status-expired" in page and "expired: the bundle was deleted" in page
    assert not re.findall(rf'href="/research/exports/{job_id}/download"', page)
    assert client.get(f"/research/exports/{job_id}/download").status_code == 410
    with open_session(clinic_id=None) as s:
        [event] = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "research-export-expire",
                AuditEvent.entity_id == str(job_id),
            )
        ).all()
    assert event.clinic_id == alice.clinic_id and event.actor == "worker"


def test_retention_is_a_setting(app_client, alice, bundles, immediate, monkeypatch):
    job_id = _request(app_client, alice, "odm")
    row = _row(job_id)
    assert row.status == "done"
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_RETENTION_DAYS", "30")
    get_settings.cache_clear()
    assert service.expire_bundles(now=row.finished_at + timedelta(days=29)) == 0
    assert service.expire_bundles(now=row.finished_at + timedelta(days=31)) == 1
    assert _row(job_id).status == "expired"


# --- a queued job whose task was lost, and a queued job past the cap -----------------------


def _queued_long_ago(job_id: int) -> None:
    """The job was requested two hours ago (longer than a lease) and no worker claimed it."""
    with unit_of_work(clinic_id=None) as s:
        s.execute(
            update(ResearchExportJob)
            .where(ResearchExportJob.id == job_id)
            .values(created_at=utcnow() - LONG_AGO)
        )


def _exports_audited(clinic_id: int) -> int:
    with open_session(clinic_id=None) as s:
        events = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "research-export", AuditEvent.clinic_id == clinic_id
            )
        ).all()
    return len(events)


def test_a_queued_job_whose_task_was_lost_is_sent_again(app_client, alice, bundles):
    jobs.huey.flush()
    job_id = _request(app_client, alice)  # no worker: the task waits in the queue
    assert jobs.huey.pending_count() == 1
    assert jobs.recover() == service.Recovery()  # queued a moment ago: not lost yet
    jobs.huey.flush()  # the queue lost it
    _queued_long_ago(job_id)

    got = jobs.recover()
    assert got == service.Recovery(resent=[job_id]) and got.to_enqueue == [job_id]
    assert jobs.huey.pending_count() == 1  # sent again
    row = _row(job_id)
    assert (row.status, row.attempts) == ("queued", 0)
    assert row.lease_expires_at > utcnow() + timedelta(seconds=590)  # its next deadline
    assert jobs.recover() == service.Recovery()  # not sent again within that lease
    later = utcnow() + timedelta(seconds=601)
    assert jobs.recover(now=later) == service.Recovery(resent=[job_id])  # but after it
    assert jobs.huey.pending_count() == 2
    jobs.huey.flush()


def test_two_tasks_for_one_job_make_one_bundle_and_one_audit_event(app_client, alice, bundles):
    seed(app_client, alice)
    jobs.huey.flush()
    job_id = _request(app_client, alice)
    _queued_long_ago(job_id)  # its task is slow to come, not lost: it will arrive too
    assert jobs.recover().resent == [job_id]
    assert jobs.huey.pending_count() == 2  # the first task and the one sent again
    audited = _exports_audited(alice.clinic_id)

    results = []
    while (task := jobs.huey.dequeue()) is not None:
        results.append(jobs.huey.execute(task))
    assert results == [True, False]  # the claim lets one run it; the other finds it taken
    row = _row(job_id)
    assert (row.status, row.attempts) == ("done", 1)
    assert sorted(p.name for p in bundles.iterdir()) == [row.result_file]
    assert _exports_audited(alice.clinic_id) == audited + 1


def test_the_page_read_sends_a_lost_task_again(app_client, alice, bundles, immediate):
    seed(app_client, alice)
    jobs.huey.immediate = False
    job_id = _request(app_client, alice, "odm")
    jobs.huey.immediate = True  # the read's enqueue runs the job at once
    _queued_long_ago(job_id)
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert job["status"] == "queued"  # shown as read; the task sent again ran after it
    assert _row(job_id).status == "done"
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["attempts"]) == ("done", 1)


def test_a_queued_job_past_a_lowered_cap_is_failed(app_client, alice, bundles, monkeypatch):
    job_id = _request(app_client, alice, "odm")
    assert _died(job_id) == 1
    assert jobs.recover().requeued == [job_id]  # queued again for attempt 2 of 3 ...
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_MAX_ATTEMPTS", "1")  # ... and the cap lowered
    get_settings.cache_clear()
    assert jobs.execute(job_id) is False  # no worker may claim it now
    assert _row(job_id).status == "queued"

    # at once, not a lease later: it can never run
    assert jobs.recover() == service.Recovery(failed=[job_id])
    row = _row(job_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.error == (
        "no attempt left: 1 attempt made, export_max_attempts is 1 "
        "(the job was queued again after the setting was lowered)"
    )
    assert row.finished_at is not None and row.lease_expires_at is None
    job = app_client.get(f"{URL}/{job_id}", headers=alice.headers).json()
    assert (job["status"], job["error"]) == ("failed", row.error)
    assert jobs.recover() == service.Recovery()


def test_the_page_read_fails_a_queued_job_past_the_cap(app_client, alice, bundles, monkeypatch):
    job_id = _request(app_client, alice, "redcap")
    _died(job_id, leftovers=False)
    jobs.recover()
    monkeypatch.setenv("TRIGGERPOINT_EXPORT_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    [listed] = [j for j in app_client.get(URL, headers=alice.headers).json() if j["id"] == job_id]
    assert (listed["status"], listed["attempts"]) == ("failed", 1)
    assert listed["error"].startswith("no attempt left: 1 attempt made")
