"""Fair and parallel on SQLite (issue 19): writers queue in arrival order, reads take no
write lock, a read's audit is written in one short write after it and before its response,
and a failing deferred write fails the request. No timing: threads are ordered by events and
by the queue's own count of waiters."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select, text, update

from tests.personas import PATIENT, new_patient
from tests.waiting import wait_for
from triggerpoint.accounts import service as accounts
from triggerpoint.accounts.models import LoginSession, User
from triggerpoint.audit import service as audit
from triggerpoint.audit.models import AuditEvent
from triggerpoint.db import (
    ReadOnlyViolation,
    WriteQueue,
    WriteTimeout,
    make_engine,
    open_session,
    unit_of_work,
    utcnow,
    write_queue,
)
from triggerpoint.records.models import Patient

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_queue_serves_writers_in_arrival_order():
    queue, served = WriteQueue(), []
    queue.acquire("first")

    def writer(name: str) -> None:
        queue.acquire(name)
        served.append(name)
        queue.release(name)

    threads = []
    for i, name in enumerate(["w1", "w2", "w3", "w4"], start=1):
        t = threading.Thread(target=writer, args=(name,))
        t.start()
        threads.append(t)
        wait_for(lambda i=i: queue.waiting() == i, f"{name} queued")
    assert queue.release("first")
    for t in threads:
        t.join()
    assert served == ["w1", "w2", "w3", "w4"]
    assert not queue.release("w4")  # nobody holds it any more


def test_no_lost_update_with_two_concurrent_writers(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/counter.sqlite3")
    with engine.begin() as c:
        c.execute(text("CREATE TABLE counter (n INTEGER)"))
        c.execute(text("INSERT INTO counter VALUES (0)"))
    queue = write_queue(str(tmp_path / "counter.sqlite3"))
    read_by_first = threading.Event()

    def increment(hold: bool) -> None:
        with unit_of_work(clinic_id=None, engine=engine) as s:
            n = s.execute(text("SELECT n FROM counter")).scalar_one()
            if hold:  # the second writer asks for its turn between this read and write
                read_by_first.set()
                wait_for(lambda: queue.waiting() == 1, "second writer queued")
            s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    first = threading.Thread(target=increment, args=(True,))
    first.start()
    read_by_first.wait()
    second = threading.Thread(target=increment, args=(False,))
    second.start()
    first.join()
    second.join()
    with engine.connect() as c:
        assert c.execute(text("SELECT n FROM counter")).scalar_one() == 2
    engine.dispose()


def test_a_write_in_a_read_only_session_is_refused(world):
    with open_session(clinic_id=world.clinic_a, read_only=True) as s:
        s.add(Patient(given_name="No", family_name="Write", search_name="write no"))
        with pytest.raises(ReadOnlyViolation):
            s.flush()
        s.rollback()
        with pytest.raises(ReadOnlyViolation):
            s.execute(update(User).where(User.id == -1).values(active=False))
        s.rollback()
    with unit_of_work(clinic_id=None) as s:  # a pooled connection writes again afterwards
        s.execute(update(User).where(User.id == -1).values(active=False))


def _reads(patient_id: int) -> int:
    with open_session(clinic_id=None, read_only=True) as s:  # never waits for a writer
        return s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "read",
                AuditEvent.entity == "patient",
                AuditEvent.entity_id == str(patient_id),
            )
        )


def test_a_read_is_audited_before_its_response_starts(app_client, world):
    alice = world.clinician_a
    patient = new_patient(app_client, alice)
    seen: list[int] = []

    async def app(scope, receive, send):
        async def spy(message):
            if message["type"] == "http.response.start":
                seen.append(_reads(patient))
            await send(message)

        await app_client.app(scope, receive, spy)

    with TestClient(app) as client:
        assert client.get(f"/api/patients/{patient}", headers=alice.headers).status_code == 200
    assert seen == [1]


def test_a_failing_deferred_audit_write_fails_the_read(app_client, world, monkeypatch):
    alice = world.clinician_a
    patient = new_patient(app_client, alice)

    def broken(*_args, **_kwargs):
        raise RuntimeError("audit store unavailable")

    monkeypatch.setattr(audit, "_chain", broken)
    client = TestClient(app_client.app, raise_server_exceptions=False)
    resp = client.get(f"/api/patients/{patient}", headers=alice.headers)
    assert resp.status_code == 500
    monkeypatch.undo()
    assert _reads(patient) == 0


@SQLITE_ONLY
def test_a_read_runs_while_another_writer_holds_the_lock(app_client, world, engine):
    alice = world.clinician_a
    patient = new_patient(app_client, alice)
    queue = write_queue(engine.url.database)
    statements: list[str] = []

    def log(_conn, _cursor, statement, *_args):
        statements.append(statement)

    holder = unit_of_work(clinic_id=None)
    s = holder.__enter__()
    s.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: this session holds the write lock
    event.listen(engine, "before_cursor_execute", log)
    result: list[int] = []
    reader = threading.Thread(
        target=lambda: result.append(
            app_client.get(f"/api/patients/{patient}", headers=alice.headers).status_code
        )
    )
    try:
        reader.start()
        wait_for(lambda: queue.waiting() == 1, "the read's audit write queued")
        assert any("FROM patient" in st for st in statements)  # it read while locked out
        assert _reads(patient) == 0
    finally:
        holder.__exit__(None, None, None)
        reader.join()
        event.remove(engine, "before_cursor_execute", log)
    assert result == [200]
    assert _reads(patient) == 1


def test_cookie_expiry_is_written_at_most_once_a_minute(world):
    with unit_of_work(clinic_id=None) as s:
        user = s.get(User, world.clinician_a.user_id)
        token = accounts.start_session(s, user=user)
    t0, writes = utcnow(), []
    for seconds in (0, 30, 59, 61, 90, 122):
        with open_session(clinic_id=None, read_only=True) as s:
            principal = accounts.principal_from_session(
                s, token=token, now=t0 + timedelta(seconds=seconds)
            )
            assert principal is not None
            s.commit()
        with open_session(clinic_id=None) as s:
            expires = s.scalar(
                select(LoginSession.expires_at).where(
                    LoginSession.token_hash == accounts._digest(token)
                )
            )
        writes.append(expires)
    assert len(set(writes)) == 3  # at 0 s (login), 61 s and 122 s
    assert writes[3] > writes[2] and writes[5] > writes[4] and writes[0] == writes[2]


@SQLITE_ONLY
def test_a_writer_that_waited_its_whole_turn_gets_503_and_retry_after(
    app_client, world, monkeypatch
):
    def busy(self, owner, timeout=0):
        raise WriteTimeout("waited over 10 s for the database write lock")

    monkeypatch.setattr(WriteQueue, "acquire", busy)
    resp = app_client.post("/api/patients", json=PATIENT, headers=world.clinician_a.headers)
    assert (resp.status_code, resp.headers.get("retry-after")) == (503, "1")
