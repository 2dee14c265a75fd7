"""Real server processes: kill -9 during writes loses no acknowledged write; two app processes
against one PostgreSQL lose no update.

These start `uvicorn` in subprocesses (the app is stateless: login sessions live in the
database), so they test what production runs, not the in-process test client.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from tests.personas import add_clinic, add_person
from triggerpoint.audit.service import verify
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.records.models import Patient


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare(url: str) -> str:
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = add_clinic(s, "Durable clinic")
        person = add_person(s, clinic_id=clinic, username="durable", role="clinician")
        s.commit()
    engine.dispose()
    return person.token


def _serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "TRIGGERPOINT_DATABASE_URL": url}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "triggerpoint.web.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


_BODY = {
    "given_name": "Crash",
    "family_name": "Test",
    "date_of_birth": "1970-01-01",
    "sex": "other",
}


def _audit_cli(url: str, *args: str) -> subprocess.CompletedProcess:
    """`triggerpoint audit ...` in a process of its own, against the database at `url`."""
    return subprocess.run(
        [sys.executable, "-m", "triggerpoint.cli.main", "audit", *args],
        env={**os.environ, "TRIGGERPOINT_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_two_app_processes_on_one_postgresql_lose_no_update(pg_server):
    url = pg_server.create_database("tp_two_processes")
    token = _prepare(url)
    ports = [_port(), _port()]
    servers = [_serve(url, p) for p in ports]
    try:
        hdr = {"Authorization": f"Bearer {token}"}
        body = {
            "given_name": "Shared",
            "family_name": "Record",
            "date_of_birth": "1960-06-06",
            "sex": "female",
            "weight_kg": 60,
        }
        pid = httpx.post(
            f"http://127.0.0.1:{ports[0]}/api/patients", json=body, headers=hdr
        ).json()["id"]

        def bump(worker: int) -> tuple[int, int]:
            ok = conflicts = 0
            base = f"http://127.0.0.1:{ports[worker % 2]}"
            with httpx.Client(base_url=base, headers=hdr, timeout=10) as c:
                for _ in range(15):
                    p = c.get(f"/api/patients/{pid}").json()
                    r = c.put(
                        f"/api/patients/{pid}",
                        json={**body, "weight_kg": p["weight_kg"] + 1, "version": p["version"]},
                    )
                    if r.status_code == 200:
                        ok += 1
                    elif r.status_code == 409:
                        conflicts += 1
                    else:
                        raise AssertionError(r.text)
            return ok, conflicts

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(bump, range(8)))
        ok = sum(r[0] for r in results)
        final = httpx.get(f"http://127.0.0.1:{ports[1]}/api/patients/{pid}", headers=hdr).json()
        print(
            f"\ntwo processes: {ok} updates acknowledged, {sum(r[1] for r in results)} conflicts (409)"
        )
        assert final["version"] == 1 + ok  # every acknowledged update is in the record, none lost
        assert final["weight_kg"] == 60 + ok
        creates = [
            httpx.post(
                f"http://127.0.0.1:{ports[i % 2]}/api/patients",
                json={**body, "external_id": f"X{i}"},
                headers=hdr,
            )
            for i in range(20)
        ]
        assert all(r.status_code == 201 for r in creates)
    finally:
        for s in servers:
            s.terminate()
            s.wait(timeout=10)
    engine = make_engine(url)
    with open_session(clinic_id=None, engine=engine) as s:
        assert len(s.scalars(select(Patient.id)).all()) == 21
        assert verify(s).ok
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_url(request, tmp_path, monkeypatch):
    """A migrated database with one clinician; the audit key (in data_dir) is this test's, here,
    in `serve` and in the audit command."""
    from triggerpoint.config import get_settings

    monkeypatch.setenv("TRIGGERPOINT_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/kill.sqlite3"
    else:
        url = request.getfixturevalue("pg_server").create_database("tp_kill_workers")
    yield url
    get_settings.cache_clear()


@pytest.mark.parametrize("workers", [1, 2])
def test_kill_9_of_serve_loses_no_acknowledged_write(kill_url, tmp_path, workers):
    """kill -9 of `serve` (one process, or the master and its workers at once), mid-write:
    every write acknowledged before the kill is stored, and after a restart every audit chain
    verifies, the checkpoint taken before the kill included."""
    _kill_9_and_restart(kill_url, tmp_path, workers=workers)


def _kill_9_and_restart(url: str, tmp_path, *, workers: int) -> None:
    from tests.web.test_workers import _children, _stop
    from tests.web.test_workers import _serve as _serve_workers

    token = _prepare(url)
    assert _audit_cli(url, "checkpoint").returncode == 0  # anchors the chain before the kill
    port = _port()
    server = _serve_workers(url, port, tmp_path, workers=workers)
    children = _children(server.pid)
    if workers > 1:
        assert len(children) >= workers, children
    acked: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            ext = f"K{n}-{i}"
            try:
                # a connection per request: the writes spread over the workers
                r = httpx.post(
                    f"http://127.0.0.1:{port}/api/patients",
                    json={**_BODY, "external_id": ext},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
            except httpx.HTTPError:
                return  # the server died mid-request: this write was never acknowledged
            if r.status_code == 201:
                with lock:
                    acked.append(ext)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until enough writes mean something, not a fixed sleep
        with lock:
            if len(acked) >= 40:
                break
        time.sleep(0.05)
    os.killpg(server.pid, signal.SIGKILL)  # serve and any workers (its own process group)
    server.wait(timeout=10)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    for pid in children:
        assert not os.path.exists(f"/proc/{pid}") or _zombie(pid), f"worker {pid} survived"

    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
    engine = make_engine(url)
    with open_session(clinic_id=None, engine=engine) as s:
        stored = set(s.scalars(select(Patient.external_id)).all())
        assert verify(s).ok
    engine.dispose()
    missing = set(acked) - stored
    print(
        f"\nkill -9, {workers} worker(s): {len(acked)} writes acknowledged, {len(missing)} missing"
    )
    assert len(acked) >= 40, "too few writes to mean anything"
    assert not missing

    server = _serve_workers(url, port, tmp_path, workers=workers)  # chains on after the crash
    try:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/patients",
            json={**_BODY, "external_id": "after-restart"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text
    finally:
        _stop(server)
    audit = _audit_cli(url, "verify", "--json")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"] and report["problems"] == [] and report["warnings"] == [], report
    assert report["checkpoints"] >= 1  # the checkpoint taken before the kill still matches
    chains = report["chains"]
    assert chains and all(c["ok"] and c["problems"] == [] for c in chains), chains
    clinic_events = sum(c["events"] for c in chains if c["clinic_id"] is not None)
    assert clinic_events > len(acked)  # every acknowledged patient's event is in its chain


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
