"""Two `triggerpoint worker` processes on PostgreSQL send each due reminder exactly once.

The app's database is a throwaway PostgreSQL (tests/pg.py), the queue a SQLite file both
workers share (or huey's PostgreSQL storage), the mail a real SMTP server (tests/smtp.py). Sixteen copies of the periodic
task wait in the queue when the workers start, and eight threads in two processes take
them (with the periodic runs the workers add themselves), so the claims race for real; the SMTP server must then hold one reminder per due request, and the
workers' logs must show that both processes ran the task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.personas import add_clinic, add_person, tag
from tests.portal.jobs_helpers import TEXTS, create, patient, set_times
from tests.smtp import SmtpServer, smtp_server

from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.portal.models import QuestionnaireRequest
from triggerpoint.portal.outbox import PortalMessage

__all__ = ["smtp_server"]  # the fixture, imported for this module

DUE = 12  # due requests
COPIES = 16  # copies of the periodic task enqueued at once
TRIGGERPOINT = Path(sys.executable).with_name("triggerpoint")
ENQUEUE = (
    "from triggerpoint.portal import jobs\n"
    f"for _ in range({COPIES}):\n"
    "    jobs.send_due_reminders()\n"
)


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.mark.parametrize("queue", ["sqlite", "postgresql"])
def test_two_workers_on_postgresql_send_each_reminder_once(
    queue, pg_server, smtp_server: SmtpServer, tmp_path, monkeypatch
):
    """`queue`: where the tasks wait, a SQLite file both workers share (one machine) or
    huey's PostgreSQL storage in the app's database (workers on several machines)."""
    url = pg_server.create_database(f"tp_two_workers_{queue}")
    engine = make_engine(url)
    upgrade(engine)
    monkeypatch.setenv("TRIGGERPOINT_INSTRUMENT_TEXTS_DIR", str(TEXTS))
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = add_clinic(s, f"Two workers {tag()}")
        person = add_person(s, clinic_id=clinic, username=f"w.{tag()}", role="clinician")
        s.commit()
    emails = {f"p{i}@example.org" for i in range(DUE)}
    for email in sorted(emails):
        rid, _ = create(person, patient(person, engine=engine, email=email), engine=engine)
        set_times(rid, engine=engine)

    env = {
        **os.environ,
        **smtp_server.env(),
        "TRIGGERPOINT_DATABASE_URL": url,
        "TRIGGERPOINT_QUEUE_URL": f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
        if queue == "sqlite"
        else url,
    }
    # The copies wait in the queue before the workers start, so both processes find work
    # at once (an idle worker polls less often, and a warm one could drain the queue alone).
    subprocess.run([sys.executable, "-c", ENQUEUE], env=env, check=True, timeout=60)
    started = time.monotonic()
    logs = [tmp_path / f"worker{i}.log" for i in (1, 2)]
    workers = []
    for log in logs:
        with log.open("w") as out:
            workers.append(
                subprocess.Popen(
                    [str(TRIGGERPOINT), "worker", "--workers", "4"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        _wait(
            lambda: all("consumer started" in log.read_text().lower() for log in logs),
            60,
            "both workers to start",
        )

        def reminded() -> bool:
            with open_session(clinic_id=None, engine=engine) as s:
                rows = s.scalars(select(PortalMessage.status)).all()
            return len(rows) == DUE and all(r == "sent" for r in rows)

        _wait(reminded, 60, "every reminder to be sent")
        _wait(
            lambda: (
                sum(
                    log.read_text().count("Executing triggerpoint.portal.jobs.send_due_reminders")
                    for log in logs
                )
                >= COPIES
            ),
            60,
            "every copy of the task to run",
        )
        elapsed = time.monotonic() - started
        time.sleep(2)  # a duplicate, if there were one, would arrive now
    finally:
        for w in workers:
            w.send_signal(signal.SIGINT)
        for w in workers:
            try:
                w.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait()
    texts = [log.read_text() for log in logs]
    runs = [t.count("Executing triggerpoint.portal.jobs.send_due_reminders") for t in texts]
    assert all(r >= 1 for r in runs), f"both workers must have run the task: {runs}\n{texts}"
    received = smtp_server.messages
    assert sorted(m["To"] for m in received) == sorted(emails), [m["To"] for m in received]
    assert all(str(m["Subject"]).startswith("Reminder") for m in received)
    with open_session(clinic_id=None, engine=engine) as s:
        assert all(s.scalars(select(QuestionnaireRequest.reminded_at)).all())
    print(
        f"\n{queue} queue: {DUE} reminders, {COPIES}+ tasks over 2 workers {runs}: {elapsed:.1f} s"
    )
    engine.dispose()
