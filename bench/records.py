"""Benchmark: the records API against raw SQLAlchemy, on SQLite and PostgreSQL.

1. Create a visit with a pain drawing through the HTTP API (one request, one transaction,
   audited) against raw SQLAlchemy Core inserts of the same rows: visit, drawing, marks and the
   request's two audit events, hash-chained onto the audit head exactly as the app chains them
   (the audit rows are part of what the request writes; leaving them out would charge the audit
   log's existence to the framework). Target: overhead <= 3x.
2. With 10,000 patients, the patient list and a name search: server time (Server-Timing
   header) p50/p95 against the same page fetched with a raw query. Target: p95 <= 50 ms.

Prints a table and a final JSON line. `--quick` uses fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from triggerpoint.accounts.service import create_api_token, create_clinic, create_user
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import EVENT_COLUMNS, Actor, event_hash
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.records.models import PainDrawing, PainMark, Patient, Visit
from triggerpoint.records.service import search_key

MARKS = [
    "right_temple",
    "right_angle_of_jaw",
    "right_upper_posterior_neck",
    "right_behind_the_ear",
    "right_occiput",
    "right_top_of_shoulder",
    "right_angle_of_neck",
    "right_eye",
]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def prepare(url: str, patients: int) -> tuple[object, str, int, int]:
    engine = make_engine(url)
    upgrade(engine)
    with open_session(clinic_id=None, engine=engine) as s:
        c = create_clinic(s, name="Bench clinic", actor=Actor.system())
        u, _ = create_user(
            s,
            clinic_id=c.id,
            username="bench",
            full_name="Bench",
            role="clinician",
            actor=Actor.system(),
            password="timing runs only 1",
        )
        u.must_change_password = False
        token = create_api_token(s, user_id=u.id, label="bench", actor=Actor.system())
        s.commit()
        clinic_id, user_id = c.id, u.id
    families = [
        "Andersen",
        "Barros",
        "Castillo",
        "Dubois",
        "Eriksen",
        "García",
        "Hoffmann",
        "Ito",
        "Jansen",
        "Kowalski",
    ]
    rows = [
        {
            "clinic_id": clinic_id,
            "given_name": f"G{i}",
            "family_name": f"{families[i % 10]}{i // 10}",
            "search_name": search_key(f"{families[i % 10]}{i // 10}", f"G{i}"),
            "date_of_birth": datetime(1950 + i % 50, 1 + i % 12, 1 + i % 28).date(),
            "sex": "female",
            "version": 1,
            "created_at": datetime.now(UTC),
            "updated_at": datetime.now(UTC),
        }
        for i in range(patients)
    ]
    with engine.begin() as conn:
        for k in range(0, len(rows), 2000):
            conn.execute(insert(Patient), rows[k : k + 2000])
    return engine, token, clinic_id, user_id


def _raw_audit(conn, clinic_id: int, user_id: int, pid: int, vid: int, did: int) -> None:
    """The request's two audit events, chained onto the head under its row lock."""
    head = conn.execute(
        select(AuditHead.last_hash, AuditHead.count).where(AuditHead.id == 1).with_for_update()
    ).one()
    prev, rows = head.last_hash, []
    for entity, eid, detail in (
        ("visit", vid, {"patient_id": pid}),
        ("pain_drawing", did, {"patient_id": pid, "regions": len(MARKS)}),
    ):
        ev = AuditEvent(
            at=datetime.now(UTC),
            clinic_id=clinic_id,
            user_id=user_id,
            actor="bench",
            action="create",
            entity=entity,
            entity_id=str(eid),
            detail=detail,
            prev_hash=prev,
        )
        ev.hash = prev = event_hash(ev)
        rows.append({c: getattr(ev, c) for c in EVENT_COLUMNS})
    conn.execute(insert(AuditEvent), rows)
    conn.execute(
        update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev, count=head.count + 2)
    )


def bench_create(
    engine, client: TestClient, token: str, clinic_id: int, user_id: int, n: int
) -> dict[str, float]:
    hdr = {"Authorization": f"Bearer {token}"}
    with engine.connect() as conn:
        pid = conn.execute(select(Patient.id).limit(1)).scalar_one()
    body = {
        "visit_at": "2026-11-20T10:00:00+00:00",
        "pain_drawing": {"complete": True, "marks": [{"region": r, "intensity": 5} for r in MARKS]},
    }
    api, raw = [], []
    for _ in range(5):  # warm-up
        client.post(f"/api/patients/{pid}/visits", json=body, headers=hdr)
    for _ in range(n):
        r = client.post(f"/api/patients/{pid}/visits", json=body, headers=hdr)
        assert r.status_code == 201, r.text
        api.append(
            float(r.headers["server-timing"].split("dur=")[1])
        )  # server time, not the test client's
    now = datetime.now(UTC)
    for i in range(n):
        t = time.perf_counter()
        with engine.begin() as conn:
            vid = conn.execute(
                insert(Visit).returning(Visit.id),
                {
                    "clinic_id": clinic_id,
                    "patient_id": pid,
                    "visit_at": now + timedelta(seconds=i),
                    "clinician_id": user_id,
                    "version": 1,
                    "created_at": now,
                },
            ).scalar_one()
            did = conn.execute(
                insert(PainDrawing).returning(PainDrawing.id),
                {
                    "clinic_id": clinic_id,
                    "patient_id": pid,
                    "visit_id": vid,
                    "complete": True,
                    "drawn_by": user_id,
                    "drawn_at": now,
                },
            ).scalar_one()
            conn.execute(
                insert(PainMark),
                [
                    {"clinic_id": clinic_id, "drawing_id": did, "region_id": r, "intensity": 5}
                    for r in MARKS
                ],
            )
            _raw_audit(conn, clinic_id, user_id, pid, vid, did)
        raw.append((time.perf_counter() - t) * 1000)
    return {
        "api_p50": statistics.median(api),
        "raw_p50": statistics.median(raw),
        "ratio": statistics.median(api) / statistics.median(raw),
    }


def bench_list(engine, client: TestClient, token: str, n: int) -> dict[str, float]:
    hdr = {"Authorization": f"Bearer {token}"}
    out: dict[str, float] = {}
    for label, params in (("list", {"limit": 50}), ("search", {"q": "kowalski4", "limit": 50})):
        server, raw = [], []
        for _ in range(n):
            r = client.get("/api/patients", params=params, headers=hdr)
            assert r.status_code == 200
            server.append(float(r.headers["server-timing"].split("dur=")[1]))
        for _ in range(n):
            t = time.perf_counter()
            with engine.connect() as conn:
                stmt = select(Patient).order_by(Patient.search_name, Patient.id).limit(50)
                if "q" in params:
                    stmt = stmt.where(Patient.search_name.like("kowalski4%"))
                conn.execute(stmt).all()
            raw.append((time.perf_counter() - t) * 1000)
        out[f"{label}_p50"] = statistics.median(server)
        out[f"{label}_p95"] = pct(server, 0.95)
        out[f"{label}_raw_p95"] = pct(raw, 0.95)
        out[f"{label}_ratio"] = pct(server, 0.95) / pct(raw, 0.95)
    return out


def run_engine(name: str, url: str, args) -> dict[str, dict[str, float]]:
    import os

    from triggerpoint.config import get_settings
    from triggerpoint.db import get_engine
    from triggerpoint.web.app import create_app

    engine, token, clinic_id, user_id = prepare(url, args.patients)
    os.environ["TRIGGERPOINT_DATABASE_URL"] = url
    get_settings.cache_clear()
    get_engine.cache_clear()
    with TestClient(create_app(migrate=False)) as client:
        create = bench_create(engine, client, token, clinic_id, user_id, args.n)
        listing = bench_list(engine, client, token, args.n)
    engine.dispose()
    return {"create": create, "list": listing}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--patients", type=int, default=10_000)
    args = parser.parse_args()
    args.n = 60 if args.quick else 300
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_engine("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
        try:
            from tests.pg import start_postgres

            server = start_postgres()
            try:
                results["postgresql"] = run_engine(
                    "postgresql", server.create_database("bench"), args
                )
            finally:
                server.stop()
        except Exception as exc:
            print(f"PostgreSQL not measured: {exc}")
    print(f"\n{'engine':<11} {'measure':<28} {'value':>10}")
    for engine_name, r in results.items():
        c, li = r["create"], r["list"]
        print(f"{engine_name:<11} {'create visit+drawing API p50':<28} {c['api_p50']:>8.2f}ms")
        print(f"{engine_name:<11} {'  raw SQLAlchemy inserts p50':<28} {c['raw_p50']:>8.2f}ms")
        print(f"{engine_name:<11} {'  ratio (target <= 3x)':<28} {c['ratio']:>9.2f}x")
        for label in ("list", "search"):
            print(
                f"{engine_name:<11} {label + f' ({args.patients} patients) p95':<28} {li[label + '_p95']:>8.2f}ms"
            )
            print(
                f"{engine_name:<11} {'  raw query p95 / ratio':<28} {li[label + '_raw_p95']:>6.2f}ms {li[label + '_ratio']:.1f}x"
            )
    print(json.dumps({"patients": args.patients, **results}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
