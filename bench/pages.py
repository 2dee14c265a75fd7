"""Benchmark: the heavy pages and PDFs of one patient with 20 visits, SQLite and PostgreSQL.

A patient with 20 weekly visits is seeded through the JSON API (every row through the
services, as a clinician would make it): each visit with a pain drawing, a re-confirmed
screening, a signed needling session of two or three needles, NPRS before and after
needling, a pressure pain threshold and an ODI. Then, in-process (TestClient), N runs each:

- the patient page (the timeline), the outcomes page and the clinic dashboard: server time
  from the `Server-Timing` header. Target: p95 < 150 ms for the timeline and outcomes pages;
- the progress PDF (20 visits, target < 1.5 s) and a visit-note PDF: the same header.

Anchor, measured in the same run on the same database: the raw query time, the SQL each
page needs and nothing else. For the patient pages and PDFs: plain `select()`s of the
patient's rows (patient, visits, drawings and marks, measurements, sessions, entries and
adverse events, consents, episodes, screenings) on one connection; for the dashboard, its
service (`clinic_dashboard`, the tally reads) without the plots. The ratio page p95 /
anchor p95 says what rendering costs over reading. An anchor that fails prints its error.

Prints a table and a final JSON line. `--quick` runs fewer repetitions (for `make bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from triggerpoint.accounts.service import Principal, create_api_token, create_clinic, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import (
    Consent,
    Episode,
    PainDrawing,
    PainMark,
    Patient,
    Visit,
)
from triggerpoint.safety.screening import rulebook
from triggerpoint.treatment.models import AdverseEvent, NeedleEntry, NeedlingSession, Screening

VISITS = 20
NO = {r.id: {"present": False} for r in rulebook().rules}
MUSCLES = [("upper_trapezius", "tp1"), ("levator_scapulae", None), ("splenius_capitis", None)]
MARKS = [
    "right_temple",
    "right_angle_of_jaw",
    "right_upper_posterior_neck",
    "right_behind_the_ear",
    "right_occiput",
    "right_top_of_shoulder",
    "right_angle_of_neck",
]
ENTRY = {
    "side": "right",
    "needle_diameter_mm": 0.25,
    "needle_length_mm": 40,
    "technique": "pistoning",
    "depth_mm": 12,
    "familiar_pain": True,
    "duration_s": 30,
}


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def prepare(url: str) -> tuple[Engine, str, Principal]:
    """Migrate; a clinic and a clinician with an API token (the bench's login)."""
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        clinic = create_clinic(s, name="Bench clinic", actor=Actor.system("bench"))
        user, _ = create_user(
            s,
            clinic_id=clinic.id,
            username="bench.pages",
            full_name="Bench Clinician",
            role="clinician",
            actor=Actor.system("bench"),
            password="timing runs only 1",
        )
        user.must_change_password = False  # a bench login, never shown to anyone
        token = create_api_token(s, user_id=user.id, label="bench", actor=Actor.system("bench"))
        s.commit()
        principal = Principal(user.id, clinic.id, user.username, "clinician")
    return engine, token, principal


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: Any, expect: int = 201) -> Any:
        r = self.client.post(path, json=body, headers=self.headers)
        if r.status_code != expect:
            raise SystemExit(f"seeding failed: POST {path} -> {r.status_code} {r.text[:300]}")
        return r.json()


def seed(api: Api, visits: int) -> tuple[int, list[int]]:
    """One patient, `visits` weekly visits ending yesterday, through the API."""
    pid = api.post(
        "/api/patients",
        {
            "given_name": "Bench",
            "family_name": "Patient",
            "date_of_birth": "1975-03-14",
            "sex": "female",
            "height_cm": 168,
            "weight_kg": 64,
        },
    )["id"]
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7 * visits)
    api.post(
        f"/api/patients/{pid}/episodes",
        {"complaint": "Right-sided neck pain", "diagnoses": [{"code": "M79.12"}]},
    )
    api.post(f"/api/patients/{pid}/screenings", {"answers": NO})
    api.post(
        f"/api/patients/{pid}/consents",
        {
            "risks_disclosed": ["bruising", "post_needling_soreness", "pneumothorax"],
            "signed_by": "Bench Patient",
            "signed_at": (first - timedelta(hours=1)).isoformat(),
        },
    )
    ids = []
    for v in range(visits):
        at = first + timedelta(days=7 * v)
        marks = [{"region": r, "intensity": 7 - v % 5} for r in MARKS[: 3 + v % 5]]
        vid = api.post(
            f"/api/patients/{pid}/visits",
            {
                "visit_at": at.isoformat(),
                "notes": f"Visit {v + 1}",
                "pain_drawing": {"complete": True, "marks": marks},
            },
        )["id"]
        api.post(f"/api/visits/{vid}/screening-confirmation", None, 200)
        sid = api.post("/api/needling-sessions", {"visit_id": vid})["id"]
        needled = MUSCLES[: 2 + v % 2]
        for muscle, tp in needled:
            entry = {**ENTRY, "muscle": muscle, "twitch_count": v % 3}
            if tp:
                entry["trigger_point_id"] = tp
            api.post(f"/api/needling-sessions/{sid}/entries", entry)
        s = api.post(f"/api/needling-sessions/{sid}/count", {"needles_out": len(needled)}, 200)
        api.post(f"/api/needling-sessions/{sid}/sign", {"version": s["version"]}, 200)
        pre = max(0, 8 - v // 3)
        for instrument, data, minutes, timing, context in (
            ("nprs", {"current": pre}, 5, "pre", ""),
            ("nprs", {"current": max(0, pre - 2)}, 45, "post", ""),
            ("ppt", {"trials": [2.0 + v * 0.05, 2.2 + v * 0.05]}, 6, "pre", "Upper trapezius"),
            ("odi", {"items": [max(0, 4 - v // 5)] * 5 + [1] * 5}, 2, "", ""),
        ):
            api.post(
                f"/api/patients/{pid}/measurements",
                {
                    "instrument": instrument,
                    "data": data,
                    "visit_id": vid,
                    "timing": timing,
                    "context": context,
                    "measured_at": (at + timedelta(minutes=minutes)).isoformat(),
                },
            )
        ids.append(vid)
    return pid, ids


def raw_patient_reads(engine: Engine, pid: int) -> None:
    """The rows the patient pages and PDFs show, read with plain selects on one connection."""
    with engine.connect() as conn:
        conn.execute(select(Patient).where(Patient.id == pid)).all()
        conn.execute(select(Visit).where(Visit.patient_id == pid).order_by(Visit.visit_at)).all()
        conn.execute(select(Episode).where(Episode.patient_id == pid)).all()
        conn.execute(select(Consent).where(Consent.patient_id == pid)).all()
        conn.execute(select(Screening).where(Screening.patient_id == pid)).all()
        conn.execute(
            select(PainMark)
            .join(PainDrawing, PainMark.drawing_id == PainDrawing.id)
            .where(PainDrawing.patient_id == pid)
        ).all()
        conn.execute(select(PainDrawing).where(PainDrawing.patient_id == pid)).all()
        conn.execute(
            select(Measurement)
            .where(Measurement.patient_id == pid)
            .order_by(Measurement.measured_at, Measurement.id)
        ).all()
        conn.execute(select(NeedlingSession).where(NeedlingSession.patient_id == pid)).all()
        conn.execute(
            select(NeedleEntry)
            .join(NeedlingSession, NeedleEntry.needling_id == NeedlingSession.id)
            .where(NeedlingSession.patient_id == pid)
        ).all()
        conn.execute(select(AdverseEvent).where(AdverseEvent.patient_id == pid)).all()


def dashboard_reads(engine: Engine, principal: Principal) -> None:
    from triggerpoint.dashboard.service import clinic_dashboard

    with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
        clinic_dashboard(s, principal=principal)
        s.commit()


def time_get(
    client: TestClient, headers: dict[str, str], path: str, n: int
) -> tuple[list[float], list[float]]:
    """Server time (ms) of `n` GETs, from the Server-Timing header, and the process CPU
    time of each (client and server share the process: wall time minus waiting for a core
    on a shared machine)."""
    out, cpu = [], []
    for _ in range(n):
        c = time.process_time()
        r = client.get(path, headers=headers)
        cpu.append((time.process_time() - c) * 1000)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} -> {r.status_code} {r.text[:200]}")
        out.append(float(r.headers["server-timing"].split("dur=")[1]))
    return out, cpu


def time_call(fn: Callable[[], None], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def run_engine(url: str, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from triggerpoint.config import get_settings
    from triggerpoint.db import get_engine
    from triggerpoint.web.app import create_app

    engine, token, principal = prepare(url)
    os.environ["TRIGGERPOINT_DATABASE_URL"] = url
    os.environ["TRIGGERPOINT_RATE_LIMIT_PDF"] = "100000/minute"  # the bench is one busy user
    get_settings.cache_clear()
    get_engine.cache_clear()
    results: dict[str, dict[str, Any]] = {}
    with TestClient(create_app(migrate=False)) as client:
        api = Api(client, token)
        started = time.perf_counter()
        pid, visits = seed(api, args.visits)
        seed_s = time.perf_counter() - started
        patient_anchor: Callable[[], None] = lambda: raw_patient_reads(engine, pid)  # noqa: E731
        pages: list[tuple[str, str, int, Callable[[], None]]] = [
            ("patient page", f"/patients/{pid}", args.n, patient_anchor),
            ("outcomes page", f"/patients/{pid}/outcomes", args.n, patient_anchor),
            ("dashboard", "/dashboard", args.n, lambda: dashboard_reads(engine, principal)),
            ("progress PDF", f"/patients/{pid}/reports/progress.pdf", args.pdf_n, patient_anchor),
            (
                "visit-note PDF",
                f"/patients/{pid}/reports/visit-note.pdf?visit={visits[-1]}",
                args.pdf_n,
                patient_anchor,
            ),
        ]
        for label, path, n, anchor in pages:
            try:
                time_get(client, api.headers, path, 1)  # warm-up: templates, fonts, caches
                server, cpu = time_get(client, api.headers, path, n)
            except Exception as exc:
                results[label] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            row: dict[str, Any] = {
                "n": n,
                "p50_ms": statistics.median(server),
                "p95_ms": pct(server, 0.95),
                "cpu_p95_ms": pct(cpu, 0.95),
            }
            try:
                anchor()
                raw = time_call(anchor, max(n, 10))
            except Exception as exc:  # the page is still reported
                row["anchor_error"] = f"{type(exc).__name__}: {exc}"
            else:
                row["raw_p95_ms"] = pct(raw, 0.95)
                row["ratio"] = row["p95_ms"] / row["raw_p95_ms"]
            results[label] = row
            print(f"  {label} done", flush=True)
        results["seed"] = {"seconds": seed_s, "visits": args.visits}
    engine.dispose()
    return results


TARGETS = {
    "patient page": "p95 < 150 ms",
    "outcomes page": "p95 < 150 ms",
    "progress PDF": "< 1500 ms",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--visits", type=int, default=VISITS)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    args.n, args.pdf_n = (10, 3) if args.quick else (40, 10)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        print("sqlite", flush=True)
        results["sqlite"] = run_engine(f"sqlite:///{tmp}/bench.sqlite3", args)
        if not args.sqlite_only:
            try:
                from tests.pg import start_postgres

                server = start_postgres()
            except Exception as exc:  # the table still reports SQLite
                print(f"PostgreSQL not measured: {exc}")
            else:
                try:
                    print("postgresql", flush=True)
                    results["postgresql"] = run_engine(server.create_database("bench_pages"), args)
                finally:
                    server.stop()
    print(
        f"\n{'engine':<11} {'page':<15} {'p50 ms':>8} {'p95 ms':>8} {'raw p95':>8} {'ratio':>7} {'cpu p95':>8}  target"
    )
    for engine_name, rows in results.items():
        for label, r in rows.items():
            if label == "seed":
                continue
            if "error" in r:
                print(f"{engine_name:<11} {label:<15} error: {r['error']}")
                continue
            raw = f"{r['raw_p95_ms']:.1f}" if "raw_p95_ms" in r else "error"
            ratio = f"{r['ratio']:.0f}x" if "ratio" in r else "-"
            print(
                f"{engine_name:<11} {label:<15} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} "
                f"{raw:>8} {ratio:>7} {r['cpu_p95_ms']:>8.1f}  {TARGETS.get(label, '')}"
            )
            if "anchor_error" in r:
                print(f"{'':<11} {'':<15} anchor failed: {r['anchor_error']}")
        print(f"{engine_name:<11} seeded {rows['seed']['visits']} visits through the API in "
              f"{rows['seed']['seconds']:.1f} s")  # fmt: skip
    print(
        f"n = {args.n} per page, {args.pdf_n} per PDF; raw = the page's reads alone (anchor); "
        "cpu = process CPU time per request (wall time minus waiting for a core)"
    )
    summary = {
        "visits": args.visits,
        **{
            key: {
                e: {
                    label: (round(r[key], 2) if key in r else None)
                    for label, r in rows.items()
                    if label != "seed"
                }
                for e, rows in results.items()
            }
            for key in ("p50_ms", "p95_ms", "raw_p95_ms", "ratio", "cpu_p95_ms")
        },
        "errors": {
            e: {
                label: r.get("error") or r.get("anchor_error")
                for label, r in rows.items()
                if r.get("error") or r.get("anchor_error")
            }
            for e, rows in results.items()
        },
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
