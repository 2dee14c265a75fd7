"""Load benchmark: simulated clinicians against real `triggerpoint serve` processes (issue 19).

Each setting starts `triggerpoint serve --workers N` on 127.0.0.1 (SQLite in a temp dir, or a
throwaway PostgreSQL server, tests/pg.py), seeds clinics, clinicians and patients through the
services, and drives C concurrent clinicians for a fixed time with a clinic's mix of requests:
patient list and search, a patient's timeline (visits), a pain drawing, suggest, a needle entry
and an outcome (NPRS). It reports requests/s and p50/p95/p99 per kind and overall, with errors
and 503s (load shedding) counted separately.

Anchors measured in the same run: the mix with 1 client (the service time), and /healthz (no
database, no audit: the framework's ceiling on this machine). The load generator (one asyncio
process, httpx) shares the machine's cores with the server: the figures are a lower bound of
what a server with its own cores does.

Targets (JSON line, "targets"): SQLite 16 clients p99 / 1-client p50 <= 10; PostgreSQL
2 workers 10 clinics 16 clients throughput / 1 worker 1 clinic 16 clients throughput >= 1.8, and
its p95 < 150 ms; 64 clients: 0 failures other than 503.

Settings (full run, 20 s each, about 8 minutes in all): a bare ASGI app under uvicorn and the
app's /healthz (anchors, 16 clients); SQLite, one process, 1 and 10 clinics, 1/4/16/64
clients; PostgreSQL, one process and one clinic, and two processes and ten clinics, 1/4/16/64
clients. A 503 must carry Retry-After (else it is an error); the client then waits that long,
at most 1 s, as a well-behaved client does (the setup before the clock, too). The seeded clinicians sign in by API token only:
their password hashes are made with cheap argon2 parameters in this process (the hash is
never checked), and the per-user suggest limit is lifted in the benchmark's servers (a
simulated clinician asks many times faster than a person). Servers and the PostgreSQL
server are stopped, and the temporary directory removed, on error, Ctrl+C or SIGTERM too.

`--quick`: 5 s per setting and fewer settings; `--seconds S` overrides the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from argon2 import PasswordHasher
from rich.console import Console
from rich.table import Table

from triggerpoint.accounts import service as accounts_service
from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.config import get_settings
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.records.schemas import PatientIn
from triggerpoint.records.service import create_patient
from triggerpoint.safety.screening import rulebook

NO = {r.id: {"present": False} for r in rulebook().rules}  # every screening question: no
TRIGGERPOINT = Path(sys.executable).with_name("triggerpoint")
PATIENTS_PER_CLINIC = 200
FAMILIES = ["Andersen", "Barros", "Castillo", "Dubois", "Eriksen", "Hoffmann", "Ito", "Jansen"]
# kind -> weight: a clinician mostly reads; each visit brings a drawing, needles and an outcome.
MIX = {
    "list": 3,
    "search": 3,
    "timeline": 3,
    "drawing": 1,
    "suggest": 2,
    "needle": 1,
    "outcome": 1,
}
CONSENT = {
    "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
    "signed_by": "Load Test",
    "signed_at": "2026-11-01T10:00:00+00:00",
}
ENTRY = {
    "muscle": "upper trapezius",
    "side": "right",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "static",
    "depth_mm": 10,
    "twitch_count": 0,
    "familiar_pain": False,
    "duration_s": 10,
}
PATIENT_BODY = {
    "sex": "female",
    "height_cm": 170,
    "weight_kg": 70,
}  # BMI 24: ENTRY's depth is allowed
SERVER_ENV = {
    "TRIGGERPOINT_QUEUE_URL": "memory:",
    "TRIGGERPOINT_RATE_LIMIT_SUGGEST": "100000/minute",
}
RETRY_AFTER_CAP_S = 1.0
SETUP_RETRIES = 30  # a setup request shed with 503 is sent again, at most this often
SUGGEST = {"pain": ["right temple"], "pain_free": [], "complete": False, "intensity": {}}
DRAWING = {"complete": False, "marks": [{"region": "right temple"}, {"region": "right occiput"}]}
OUTCOME = {"instrument": "nprs", "data": {"current": 5}, "measured_at": "2026-11-02T10:00:00+00:00"}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else float("nan")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    engine: str
    workers: int
    clinics: int
    clients: int
    seconds: float
    times: dict[str, list[float]] = field(default_factory=dict)  # kind -> seconds, 2xx only
    errors: int = 0  # non-2xx other than 503 with Retry-After, and transport errors
    shed: int = 0  # 503 with Retry-After (load shedding)
    first_error: str = ""

    @property
    def ok(self) -> list[float]:
        return [t for ts in self.times.values() for t in ts]

    @property
    def rps(self) -> float:
        return len(self.ok) / self.seconds

    def row(self, kind: str | None = None) -> dict[str, object]:
        ts = self.ok if kind is None else self.times.get(kind, [])
        return {
            "engine": self.engine,
            "workers": self.workers,
            "clinics": self.clinics,
            "clients": self.clients,
            "kind": kind or "all",
            "n": len(ts),
            "rps": round(len(ts) / self.seconds, 1),
            "p50_ms": round(pct(ts, 0.50) * 1000, 1),
            "p95_ms": round(pct(ts, 0.95) * 1000, 1),
            "p99_ms": round(pct(ts, 0.99) * 1000, 1),
            "max_ms": round(max(ts, default=float("nan")) * 1000, 1),
            "errors": self.errors if kind is None else None,
            "503": self.shed if kind is None else None,
        }


@dataclass
class Database:
    """One seeded database, shared by the settings that use its engine and clinic count."""

    engine: str
    url: str
    data_dir: Path
    users: list[tuple[str, list[int]]]  # (API token, that clinician's clinic's patient ids)


def _cheap_hashes() -> None:
    """The seeded clinicians use API tokens only, so their password hashes are never checked:
    cheap argon2 parameters make seeding 64 of them take a second, not a minute of CPU."""
    accounts_service._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _use_data_dir(data_dir: Path) -> None:
    """The audit key of a PostgreSQL database lives in the data directory: the seeding (this
    process) and the server must use the same one, and never the repository's data/."""
    os.environ["TRIGGERPOINT_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()


def seed(engine_name: str, url: str, data_dir: Path, clinics: int, clinicians: int) -> Database:
    """Clinics, clinicians (spread over the clinics) and patients, through the services."""
    _use_data_dir(data_dir)
    _cheap_hashes()
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic_ids = [
            create_clinic(s, name=f"Load clinic {c}", actor=Actor.system()).id
            for c in range(clinics)
        ]
        s.commit()
    patients: dict[int, list[int]] = {}
    for k, clinic_id in enumerate(clinic_ids):
        principal = Principal(user_id=0, clinic_id=clinic_id, username="seed", role="clinician")
        with open_session(clinic_id=clinic_id, engine=engine) as s:
            patients[clinic_id] = [
                create_patient(
                    s,
                    principal=principal,
                    data=PatientIn(
                        given_name=f"G{i}",
                        family_name=f"{FAMILIES[i % len(FAMILIES)]}{k}x{i // len(FAMILIES)}",
                        date_of_birth=f"{1950 + i % 50}-0{1 + i % 9}-1{i % 9}",
                        **PATIENT_BODY,
                    ),
                ).id
                for i in range(PATIENTS_PER_CLINIC)
            ]
            s.commit()
    users: list[tuple[str, list[int]]] = []
    with open_session(clinic_id=None, engine=engine) as s:
        for i in range(clinicians):
            clinic_id = clinic_ids[i % clinics]
            user, _ = create_user(
                s,
                clinic_id=clinic_id,
                username=f"load{i}",
                full_name=f"Load {i}",
                role="clinician",
                actor=Actor.system(),
                password="load benchmark only 1",
            )
            s.flush()
            token = create_api_token(s, user_id=user.id, label="load", actor=Actor.system())
            users.append((token, patients[clinic_id]))
        s.commit()
    engine.dispose()
    return Database(engine_name, url, data_dir, users)


def _wait_ready(proc: subprocess.Popen, base: str, log: Path, what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited ({proc.returncode}): {_tail(log)}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise RuntimeError(f"{what} did not answer /healthz within 120 s: {_tail(log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-1500:] if log.exists() else ""


def _start(
    cmd: list[str], env: dict[str, str], log: Path, what: str
) -> tuple[subprocess.Popen, str]:
    """A server on a free 127.0.0.1 port, in its own process group (so it and its workers are
    stopped together), its output in a file (a pipe nobody reads would fill and block it)."""
    port = _port()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [*cmd, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base, log, what)
    except BaseException:
        stop(proc)
        raise
    return proc, base


def serve(db: Database, workers: int) -> tuple[subprocess.Popen, str]:
    """`triggerpoint serve --workers N` on the seeded database."""
    _use_data_dir(db.data_dir)
    env = {
        **os.environ,
        **SERVER_ENV,
        "TRIGGERPOINT_DATABASE_URL": db.url,
        "TRIGGERPOINT_DATA_DIR": str(db.data_dir),
    }
    env.pop("TRIGGERPOINT_SCHEMA_MIGRATED", None)
    log = db.data_dir / f"serve-w{workers}.log"
    return _start(
        [str(TRIGGERPOINT), "serve", "--workers", str(workers)], env, log, "triggerpoint serve"
    )


async def bare_app(scope: dict, receive: object, send: object) -> None:
    """The framework's ceiling: uvicorn answering a fixed JSON body, no app, no database."""
    if scope["type"] != "http":
        return
    await send(  # type: ignore[operator]
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})  # type: ignore[operator]


def serve_bare(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """`bare_app` under uvicorn, one process, as `serve` runs the app (log level warning)."""
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)]
    cmd += ["--log-level", "warning", "load:bare_app"]
    return _start(cmd, dict(os.environ), data_dir / "bare.log", "bare ASGI app")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (uvicorn's master and workers), SIGKILL if it
    has not gone within 30 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


async def prepare_client(c: httpx.AsyncClient, pid: int) -> dict[str, int]:
    """A patient ready to be needled (visit, screening with every rulebook question answered,
    consent, confirmation, open session), made over HTTP before the clock starts."""

    async def post(path: str, body: object | None) -> dict:
        r = await c.post(path, json=body)
        # Shed (nothing was done): wait as told and send it again, as the clinicians do.
        for _ in range(SETUP_RETRIES):
            if r.status_code != 503 or "retry-after" not in r.headers:
                break
            await asyncio.sleep(min(RETRY_AFTER_CAP_S, float(r.headers["retry-after"])))
            r = await c.post(path, json=body)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"setup {path}: {r.status_code} {r.text[:300]}")
        return r.json()

    visit = await post(f"/api/patients/{pid}/visits", {"visit_at": "2026-11-02T10:00:00+00:00"})
    await post(f"/api/patients/{pid}/screenings", {"answers": NO})
    await post(f"/api/patients/{pid}/consents", CONSENT)
    await post(f"/api/visits/{visit['id']}/screening-confirmation", None)
    sid = (await post("/api/needling-sessions", {"visit_id": visit["id"]}))["id"]
    return {"pid": pid, "sid": sid}


def request_for(
    kind: str, patients: list[int], needling: dict[str, int]
) -> tuple[str, str, object]:
    pid = random.choice(patients)
    if kind == "list":
        return "GET", "/api/patients", None
    if kind == "search":
        return "GET", f"/api/patients?q={random.choice(FAMILIES)[:4]}", None
    if kind == "timeline":
        return "GET", f"/api/patients/{pid}/visits", None
    if kind == "drawing":
        return "POST", f"/api/patients/{pid}/pain-drawings", DRAWING
    if kind == "suggest":
        return "POST", "/api/suggest", SUGGEST
    if kind == "needle":
        return "POST", f"/api/needling-sessions/{needling['sid']}/entries", ENTRY
    return "POST", f"/api/patients/{pid}/measurements", OUTCOME


async def _send(
    c: httpx.AsyncClient, kind: str, method: str, path: str, body: object, res: Result
) -> None:
    """One request, its time (2xx), or its 503 (shedding: waits Retry-After) or error."""
    t0 = time.perf_counter()
    try:
        r = await c.request(method, path, json=body)
    except httpx.HTTPError as exc:
        res.errors += 1
        res.first_error = res.first_error or f"{kind}: {exc!r}"
        return
    dt = time.perf_counter() - t0
    retry_after = r.headers.get("retry-after")
    if r.status_code == 503 and retry_after is not None:
        res.shed += 1
        await asyncio.sleep(min(RETRY_AFTER_CAP_S, float(retry_after)))
    elif r.status_code >= 300:
        res.errors += 1
        res.first_error = res.first_error or f"{kind}: {r.status_code} {r.text[:200]}"
    else:
        res.times.setdefault(kind, []).append(dt)


async def drive(base: str, users: list[tuple[str, list[int]]], res: Result) -> None:
    """`res.clients` clinicians, each with its own connection, for `res.seconds`."""
    kinds, weights = list(MIX), list(MIX.values())
    sessions = [
        httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        for token, _ in users[: res.clients]
    ]
    try:
        # Client i is the (i // clinics)-th clinician of its clinic: a patient of its own, so
        # no other clinician's screening of that patient voids its confirmation.
        ready = await asyncio.gather(
            *(prepare_client(c, users[i][1][i // res.clinics]) for i, c in enumerate(sessions))
        )
        end = time.monotonic() + res.seconds

        async def clinician(i: int) -> None:
            while time.monotonic() < end:
                kind = random.choices(kinds, weights)[0]
                method, path, body = request_for(kind, users[i][1], ready[i])
                await _send(sessions[i], kind, method, path, body, res)

        t0 = time.monotonic()
        await asyncio.gather(*(clinician(i) for i in range(len(sessions))))
        res.seconds = time.monotonic() - t0
    finally:
        for c in sessions:
            await c.aclose()


async def drive_healthz(base: str, res: Result, kind: str) -> None:
    """An anchor: `res.clients` connections asking GET /healthz for `res.seconds`."""
    sessions = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(res.clients)]
    try:
        end = time.monotonic() + res.seconds

        async def one(c: httpx.AsyncClient) -> None:
            while time.monotonic() < end:
                await _send(c, kind, "GET", "/healthz", None, res)

        t0 = time.monotonic()
        await asyncio.gather(*(one(c) for c in sessions))
        res.seconds = time.monotonic() - t0
    finally:
        for c in sessions:
            await c.aclose()


@dataclass(frozen=True)
class Setting:
    """A server (engine, workers) on a database (clinics) and the client counts it gets."""

    engine: str
    workers: int
    clinics: int
    counts: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.engine} {self.workers} worker(s) {self.clinics} clinic(s)"


def settings(quick: bool) -> list[Setting]:
    counts = (1, 16, 64) if quick else (1, 4, 16, 64)
    out = [
        Setting("SQLite", 1, 1, counts),
        Setting("SQLite", 1, 10, (16,) if quick else counts),
        Setting("PostgreSQL", 1, 1, (1, 16) if quick else counts),
        Setting("PostgreSQL", 2, 10, counts),
    ]
    if not quick:  # which of the two (workers, clinics) the PostgreSQL gain comes from
        out += [Setting("PostgreSQL", 1, 10, (16,)), Setting("PostgreSQL", 2, 1, (16,))]
    return out


def _print_result(res: Result, kind: str = "mix") -> None:
    print(
        f"  {res.engine} w{res.workers} clinics {res.clinics} clients {res.clients} {kind}: "
        f"{res.rps:.0f} req/s, errors {res.errors}, 503 {res.shed} {res.first_error}",
        flush=True,
    )


def run_setting(setting: Setting, db: Database, seconds: float, run: Run) -> None:
    """One server for the setting's client counts (each count a fresh needling session per
    clinician, on the same database); a count that fails says why and the next one runs."""
    proc, base = serve(db, setting.workers)
    try:
        for n in setting.counts:
            res = Result(setting.engine, setting.workers, setting.clinics, n, seconds)
            try:
                asyncio.run(drive(base, db.users, res))
            except Exception as exc:
                run.fail(f"{setting.name}, {n} clients", exc)
                continue
            _print_result(res)
            if res.errors:
                _print_server_errors(db.data_dir / f"serve-w{setting.workers}.log")
            run.results.append(res)
    finally:
        stop(proc)


def _print_server_errors(log: Path, limit: int = 3) -> None:
    """The server's own account of a failed request (its tracebacks), before the run's temp
    dir is removed: an error counted in the table is useless without its cause."""
    text = log.read_text(errors="replace") if log.exists() else ""
    shown = [b for b in text.split("Traceback (most recent call last):")[1:]][:limit]
    for block in shown:
        print("  server traceback:\n    " + "\n    ".join(block.strip().splitlines()[-12:]))
    if not shown:
        print(f"  (no traceback in {log.name}: {_tail(log)[-400:]!r})")


def run_anchors(tmp: Path, db: Database | None, seconds: float) -> list[Result]:
    """The bare ASGI app and the app's /healthz (SQLite database, no query), 16 clients each."""
    out: list[Result] = []
    proc, base = serve_bare(tmp)
    try:
        res = Result("bare ASGI", 1, 0, 16, seconds)
        asyncio.run(drive_healthz(base, res, "bare ASGI"))
        _print_result(res, "bare ASGI")
        out.append(res)
    finally:
        stop(proc)
    if db is not None:
        proc, base = serve(db, 1)
        try:
            res = Result("app /healthz", 1, 0, 16, seconds)
            asyncio.run(drive_healthz(base, res, "healthz"))
            _print_result(res, "/healthz")
            out.append(res)
        finally:
            stop(proc)
    return out


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class Run:
    """The databases (seeded once each, lazily), the results and the failures of one run."""

    def __init__(self, tmp: Path, console: Console, pg_allowed: bool) -> None:
        self.tmp, self.console, self.pg_allowed = tmp, console, pg_allowed
        self.pg: object | None = None
        self.dbs: dict[tuple[str, int], Database] = {}
        self.results: list[Result] = []
        self.failures: dict[str, str] = {}

    def fail(self, name: str, exc: BaseException) -> None:
        """An anchor or setting that fails says why (its error, never a bare timeout)."""
        self.failures[name] = f"{type(exc).__name__}: {exc}"
        self.console.print(f"[red]{name} failed:[/] {self.failures[name]}")

    def database(self, engine: str, clinics: int, clinicians: int) -> Database:
        key = (engine, clinics)
        if key not in self.dbs:
            data_dir = self.tmp / f"{engine.lower()}-{clinics}"
            data_dir.mkdir()
            if engine == "SQLite":
                url = f"sqlite:///{data_dir}/load.sqlite3"
            else:
                url = self.postgres().create_database(f"tp_load_{clinics}")  # type: ignore[attr-defined]
            self.dbs[key] = seed(engine, url, data_dir, clinics, clinicians)
        return self.dbs[key]

    def postgres(self) -> object:
        if self.pg is None:
            if not self.pg_allowed:
                raise RuntimeError("PostgreSQL left out (--no-postgres)")
            from tests.pg import start_postgres

            self.pg = start_postgres()
        return self.pg

    def close(self) -> None:
        if self.pg is not None:
            self.pg.stop()  # type: ignore[attr-defined]
        shutil.rmtree(self.tmp, ignore_errors=True)


def measure(run: Run, quick: bool, seconds: float) -> None:
    plan = settings(quick)
    clinicians = max(max(s.counts) for s in plan)
    try:
        sqlite1 = run.database("SQLite", 1, clinicians)
    except Exception as exc:
        run.fail("SQLite database", exc)
        sqlite1 = None
    try:
        run.results += run_anchors(run.tmp, sqlite1, seconds)
    except Exception as exc:
        run.fail("anchors", exc)
    for setting in plan:
        try:
            db = run.database(setting.engine, setting.clinics, clinicians)
            run_setting(setting, db, seconds, run)
        except Exception as exc:
            run.fail(setting.name, exc)


COLUMNS = (
    "engine",
    "workers",
    "clinics",
    "clients",
    "kind",
    "n",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "errors",
    "503",
)


def table(results: list[Result]) -> tuple[Table, list[dict[str, object]]]:
    """Per setting a bold line for all requests, then one per kind of request."""
    t = Table(title="Load: simulated clinicians against triggerpoint serve (127.0.0.1)")
    for col in COLUMNS:
        t.add_column(col, justify="left" if col in ("engine", "kind") else "right")
    rows = []
    for r in results:
        kinds = [None, *sorted(r.times)] if len(r.times) > 1 else [None]
        for k in kinds:
            row = r.row(k)
            rows.append(row)
            t.add_row(
                *("" if v is None else str(v) for v in row.values()),
                style="bold" if k is None else None,
            )
    return t, rows


def _find(
    results: list[Result], engine: str, workers: int, clinics: int, clients: int
) -> Result | None:
    key = (engine, workers, clinics, clients)
    return next((r for r in results if (r.engine, r.workers, r.clinics, r.clients) == key), None)


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 1)


def _verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else "pass" if ok else "fail"


def targets(results: list[Result]) -> dict[str, object]:
    """The issue's targets, each with its figures and a verdict (pass, fail, not measured)."""
    s1, s16 = _find(results, "SQLite", 1, 1, 1), _find(results, "SQLite", 1, 1, 16)
    p1, p2 = _find(results, "PostgreSQL", 1, 1, 16), _find(results, "PostgreSQL", 2, 10, 16)
    at64 = [r for r in results if r.clients == 64]
    spread = s16.ok and s1 and s1.ok and pct(s16.ok, 0.99) / pct(s1.ok, 0.5) if s16 else None
    s16_max = max(s16.ok, default=None) if s16 else None
    gain = p1 and p2 and p1.rps and p2.rps / p1.rps
    p2_95 = pct(p2.ok, 0.95) if p2 and p2.ok else None
    return {
        "sqlite_16": {
            "p99_over_1_client_p50": spread and round(spread, 2),
            "max_ms": _ms(s16_max),
            "target": "p99 <= 10x the 1-client p50, no request over 1000 ms",
            "verdict": _verdict(
                None if not spread or s16_max is None else spread <= 10 and s16_max <= 1.0
            ),
        },
        "pg_2w_10c_16": {
            "throughput_over_1w_1c_16": gain and round(gain, 2),
            "p95_ms": _ms(p2_95),
            "target": "throughput >= 1.8x one worker one clinic, p95 < 150 ms",
            "verdict": _verdict(
                None if not gain or p2_95 is None else gain >= 1.8 and p2_95 < 0.150
            ),
        },
        "no_server_errors": {
            "errors_non_503": sum(r.errors for r in results),
            "target": "no request fails anywhere (a 500 is a defect, whatever the load)",
            "verdict": _verdict(None if not results else all(r.errors == 0 for r in results)),
        },
        "clients_64": {
            "settings": len(at64),
            "failures_non_503": sum(r.errors for r in at64),
            "shed_503_retry_after": sum(r.shed for r in at64),
            "target": "nothing fails (503 with Retry-After is shedding, not failing)",
            "verdict": _verdict(None if not at64 else all(r.errors == 0 for r in at64)),
        },
    }


def anchors(results: list[Result]) -> dict[str, object]:
    bare = next((r for r in results if r.engine == "bare ASGI"), None)
    hz = next((r for r in results if r.engine == "app /healthz"), None)
    s1, s16 = _find(results, "SQLite", 1, 1, 1), _find(results, "SQLite", 1, 1, 16)
    p1 = _find(results, "PostgreSQL", 1, 1, 1)
    return {
        "service_time_p50_ms_sqlite_1_client": _ms(pct(s1.ok, 0.5)) if s1 and s1.ok else None,
        "service_time_p50_ms_pg_1_client": _ms(pct(p1.ok, 0.5)) if p1 and p1.ok else None,
        "bare_asgi_rps_16": bare and round(bare.rps, 1),
        "app_healthz_rps_16": hz and round(hz.rps, 1),
        "sqlite_16_mix_rps_over_bare_asgi": s16
        and bare
        and bare.rps
        and round(s16.rps / bare.rps, 3),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5 s per setting, fewer settings")
    ap.add_argument("--seconds", type=float, help="seconds per setting (default 20, quick 5)")
    ap.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = ap.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    console = Console(width=160)
    cores = os.cpu_count()
    console.print(
        f"bench/load.py: {seconds:.0f} s per setting, {cores} cores; the load generator (one "
        "asyncio process, httpx) runs on the same machine and shares those cores (127.0.0.1)."
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)  # cleaned up like Ctrl+C
    started = time.monotonic()
    run = Run(Path(tempfile.mkdtemp(prefix="tp-load-")), console, not args.no_postgres)
    try:
        measure(run, args.quick, seconds)
    except KeyboardInterrupt:
        console.print("[red]interrupted:[/] servers stopped, temporary files removed")
        return 130
    finally:
        run.close()
    t, rows = table(run.results)
    console.print(t)
    console.print(
        "Anchors: the same mix with 1 client (service time); a bare ASGI app under uvicorn and "
        "the app's /healthz, 16 clients (the framework's ceiling). The load generator shares "
        "the cores, so every figure is a lower bound."
    )
    print(
        json.dumps(
            {
                "bench": "load",
                "seconds": seconds,
                "wall_s": round(time.monotonic() - started),
                "cores": cores,
                "load_generator": "same machine, shares the cores",
                "anchors": anchors(run.results),
                "targets": targets(run.results),
                "failed": run.failures,
                "rows": rows,
            }
        )
    )
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
