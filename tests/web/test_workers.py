"""`triggerpoint serve --workers 2`: the serve command migrates an empty database once, two
app processes answer on one port, and two clients writing at once lose no update, on SQLite
(its file locks serialise writers across processes) and on PostgreSQL.

The same no-lost-update check as tests/records/test_durability.py, against a real
`serve --workers 2` rather than two separate uvicorn processes.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, text

from tests.personas import add_clinic, add_person
from triggerpoint.audit.service import verify
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import is_at_head
from triggerpoint.records.models import Patient

TRIGGERPOINT = Path(sys.executable).with_name("triggerpoint")
BODY = {
    "given_name": "Shared",
    "family_name": "Record",
    "date_of_birth": "1960-06-06",
    "sex": "female",
    "weight_kg": 60,
}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path, monkeypatch) -> Iterator[str]:
    """An empty database; the audit key (in data_dir for PostgreSQL) is this test's, here and
    in the server."""
    from triggerpoint.config import get_settings

    monkeypatch.setenv("TRIGGERPOINT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield _empty(request, tmp_path)
    get_settings.cache_clear()


def _empty(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/workers.sqlite3"
    return request.getfixturevalue("pg_server").create_database("tp_serve_workers")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def _serve(url: str, port: int, tmp_path: Path, *, workers: int = 2) -> subprocess.Popen:
    env = {
        **os.environ,
        "TRIGGERPOINT_DATABASE_URL": url,
        "TRIGGERPOINT_DATA_DIR": str(tmp_path),
        "TRIGGERPOINT_QUEUE_URL": "memory:",
    }
    env.pop("TRIGGERPOINT_SCHEMA_MIGRATED", None)
    proc = subprocess.Popen(
        [str(TRIGGERPOINT), "serve", "--workers", str(workers), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the workers are stopped with it
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"serve exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    _stop(proc)
    raise RuntimeError("serve --workers 2 did not start")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _token(url: str) -> str:
    engine = make_engine(url)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = add_clinic(s, "Workers clinic")
        person = add_person(s, clinic_id=clinic, username="workers", role="clinician")
        s.commit()
    engine.dispose()
    return person.token


def test_serve_with_two_workers_migrates_once_and_loses_no_update(empty_url, tmp_path):
    port = _port()
    server = _serve(empty_url, port, tmp_path)  # on an empty database: serve migrates it
    try:
        workers = _children(server.pid)
        assert len(workers) >= 2, workers  # uvicorn's worker processes (spawned children)
        engine = make_engine(empty_url)
        assert is_at_head(engine)
        with engine.connect() as conn:
            assert len(conn.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
        engine.dispose()
        token = _token(empty_url)
        hdr = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}"
        created = httpx.post(f"{base}/api/patients", json=BODY, headers=hdr)
        assert created.status_code == 201, created.text
        pid = created.json()["id"]

        def bump(_: int) -> tuple[int, int]:
            ok = conflicts = 0
            # A client of its own per thread: new connections spread over both workers.
            for _ in range(10):
                with httpx.Client(base_url=base, headers=hdr, timeout=30) as c:
                    p = c.get(f"/api/patients/{pid}").json()
                    r = c.put(
                        f"/api/patients/{pid}",
                        json={**BODY, "weight_kg": p["weight_kg"] + 1, "version": p["version"]},
                    )
                if r.status_code == 200:
                    ok += 1
                elif r.status_code == 409:
                    conflicts += 1
                else:
                    raise AssertionError(r.text)
            return ok, conflicts

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(bump, range(4)))
        ok = sum(r[0] for r in results)
        final = httpx.get(f"{base}/api/patients/{pid}", headers=hdr).json()
        assert ok > 0
        assert final["version"] == 1 + ok  # every acknowledged update is in the record
        assert final["weight_kg"] == 60 + ok

        def create(i: int) -> int:
            return httpx.post(
                f"{base}/api/patients", json={**BODY, "external_id": f"X{i}"}, headers=hdr
            ).status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(create, range(20))) == [201] * 20
    finally:
        _stop(server)
    engine = make_engine(empty_url)
    with open_session(clinic_id=None, engine=engine) as s:
        assert len(s.scalars(select(Patient.id)).all()) == 21
        assert verify(s).ok
    engine.dispose()


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
