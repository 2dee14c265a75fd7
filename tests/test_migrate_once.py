"""Migrations run once however many processes start at once (migrate.py), and the workers of
`serve --workers N` check the schema instead of migrating (web/app.py lifespan).

The contention is made certain, not hoped for: the test holds the migration lock itself,
starts two `upgrade` processes, waits until the operating system (SQLite's flock, in
/proc/locks) or PostgreSQL (pg_locks) shows both waiting for it, then lets go.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from triggerpoint import migrate
from triggerpoint.db import make_engine
from triggerpoint.migrate import ADVISORY_LOCK_KEY, MIGRATED_ENV, is_at_head, lock_path

UPGRADE = "from triggerpoint.migrate import upgrade; upgrade()"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path) -> str:
    """A database with no tables yet, on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.sqlite3"
    return request.getfixturevalue("pg_server").create_database(f"tp_migrate_once_{os.getpid()}")


def _wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120  # a bound, not an assert on speed
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def _holding_lock(url: str) -> Iterator[Callable[[], int]]:
    """Hold the migration lock; yields a count of the processes now waiting for it."""
    engine = make_engine(url)
    path = lock_path(engine)
    if path is not None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        inode = os.fstat(fd).st_ino

        def waiting() -> int:  # blocked flocks are the "->" lines of /proc/locks
            with open("/proc/locks") as f:
                # e.g. "14: -> FLOCK  ADVISORY  WRITE 12168 fe:00:2146606 0 EOF"
                return sum(1 for line in f if "->" in line and f":{inode} " in line)

        try:
            yield waiting
        finally:
            os.close(fd)
        engine.dispose()
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY})
        conn.commit()

        def waiting() -> int:
            with engine.connect() as probe:
                return probe.execute(
                    text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )
                ).scalar_one()

        try:
            yield waiting
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            conn.commit()
    engine.dispose()


def test_two_upgrades_at_once_both_succeed_and_migrate_once(empty_url):
    env = {**os.environ, "TRIGGERPOINT_DATABASE_URL": empty_url}
    with _holding_lock(empty_url) as waiting:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", UPGRADE],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        try:
            _wait_for(lambda: waiting() == 2, "both upgrades to wait for the lock")
        except AssertionError:
            for p in procs:
                p.kill()
            raise
    outcomes = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err[-2000:] for _, err in outcomes]
    engine = make_engine(empty_url)
    try:
        assert is_at_head(engine)
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        assert len(versions) == 1
    finally:
        engine.dispose()


def test_upgrade_leaves_no_lock_held(empty_url):
    """The lock ends with the upgrade: a second upgrade, and a later one, do not wait forever."""
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine)
        migrate.upgrade(engine)  # would block here if the first had kept its lock
        assert is_at_head(engine)
    finally:
        engine.dispose()


@pytest.fixture
def app_on(monkeypatch, tmp_path):
    """Point the app's settings at a database file of this test."""
    from triggerpoint.config import get_settings
    from triggerpoint.db import get_engine

    def point(url: str) -> None:
        monkeypatch.setenv("TRIGGERPOINT_DATABASE_URL", url)
        monkeypatch.setenv("TRIGGERPOINT_AUDIT_KEY_FILE", str(tmp_path / "audit.key"))
        get_settings.cache_clear()
        get_engine.cache_clear()

    yield point
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_a_worker_started_by_serve_checks_the_schema_and_does_not_migrate(
    app_on, monkeypatch, tmp_path
):
    from triggerpoint.web.app import create_app

    url = f"sqlite:///{tmp_path}/served.sqlite3"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app_on(url)
    monkeypatch.setenv(MIGRATED_ENV, "1")
    calls: list[object] = []
    monkeypatch.setattr(migrate, "upgrade", lambda *a, **k: calls.append(a))
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
    assert calls == []


def test_a_worker_refuses_a_schema_nobody_migrated(app_on, monkeypatch, tmp_path):
    from triggerpoint.web.app import create_app

    app_on(f"sqlite:///{tmp_path}/never-migrated.sqlite3")
    monkeypatch.setenv(MIGRATED_ENV, "1")
    with pytest.raises(RuntimeError, match="not at head"), TestClient(create_app()):
        pass


def test_without_the_flag_the_app_migrates_at_start(app_on, monkeypatch, tmp_path):
    """One `uvicorn` process started by hand (no serve command) still migrates itself."""
    from triggerpoint.web.app import create_app

    url = f"sqlite:///{tmp_path}/by-hand.sqlite3"
    app_on(url)
    monkeypatch.delenv(MIGRATED_ENV, raising=False)
    with TestClient(create_app()) as client:
        assert client.get("/healthz").status_code == 200
    engine = make_engine(url)
    try:
        assert is_at_head(engine)
    finally:
        engine.dispose()
