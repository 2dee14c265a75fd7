"""Benchmark: the clinic dashboard on a registry of 1,000,000 sessions, SQLite and PostgreSQL.

1. Generate the registry with the bulk demo generator (progress bar). Target: < 10 minutes.
2. Compute the clinic dashboard (`clinic_dashboard`, summary tables) N times per engine:
   p50/p95. Target: p95 <= 1 s.
3. Anchor, measured in the same run on the same database: the same dashboard computed from
   the raw tables (`clinic_dashboard(..., naive=True)`: GROUP BY over every measurement and
   needle entry). The ratio says what the summary tables buy. The bench also checks that both
   give the same numbers.

Both are timed after ANALYZE (PostgreSQL: VACUUM ANALYZE), as on a database in service.

Prints a table and a final JSON line. `--quick` uses 50,000 sessions and fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from triggerpoint.accounts.service import Principal, create_user
from triggerpoint.audit.service import Actor
from triggerpoint.dashboard.service import clinic_dashboard
from triggerpoint.db import make_engine, open_session
from triggerpoint.demo.registry import generate
from triggerpoint.migrate import upgrade


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def build(engine: Engine, sessions: int, label: str) -> tuple[float, int, Principal]:
    """Migrate, generate the registry with a progress bar; return seconds, rows and a user."""
    upgrade(engine)
    columns = [
        TextColumn(f"{label}: generating sessions"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    started = time.perf_counter()
    with Progress(*columns) as bar:
        task = bar.add_task("registry", total=sessions)
        result = generate(engine, sessions=sessions, progress=lambda n: bar.advance(task, n))
    seconds = time.perf_counter() - started
    with open_session(clinic_id=None, engine=engine) as s:
        user, _ = create_user(
            s,
            clinic_id=result.clinic_id,
            username="bench.dashboard",
            full_name="Bench",
            role="clinician",
            actor=Actor.system("bench"),
            password="timing runs only 1",
        )
        s.commit()
        principal = Principal(user.id, result.clinic_id, user.username, "clinician")
    return seconds, sum(result.rows.values()), principal


def analyze(engine: Engine) -> None:
    """Planner statistics after the bulk load, as autovacuum (PostgreSQL) would gather them.

    Without them PostgreSQL's planner guesses row counts for the freshly loaded tables and can
    pick nested loops for the raw-table joins (one naive run took minutes in a trial run).
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def time_dashboard(
    engine: Engine, principal: Principal, n: int, *, naive: bool
) -> tuple[list[float], dict[str, Any]]:
    """Wall time of one dashboard view: open a session, compute, commit the audit event."""
    times, data = [], {}
    for _ in range(n):
        t = time.perf_counter()
        with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
            data = clinic_dashboard(s, principal=principal, naive=naive)
            s.commit()
        times.append(time.perf_counter() - t)
    return times, data


def numbers(d: dict[str, Any]) -> dict[str, Any]:
    """The figures the page shows, rounded so float summation order does not matter."""
    return {
        "counts": (d["patients"], d["sessions"], d["signed"], d["unsigned_total"]),
        "responders": [
            (r["instrument"], r["n"], r["responders"], r["non_responders"], r["worsened"])
            for r in d["responders"]
        ],
        "muscles": [(m["muscle_id"], m["sessions"], m["needles"]) for m in d["muscles"]],
        "twitches": [
            (t["label"], t["n"], None if t["mean_change"] is None else round(t["mean_change"], 9))
            for t in d["twitches"]
        ],
    }


def run_engine(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    seconds, rows, principal = build(engine, args.sessions, label)
    analyze(engine)
    time_dashboard(engine, principal, 2, naive=False)  # warm-up: caches, first connections
    fast, fast_data = time_dashboard(engine, principal, args.n, naive=False)
    naive, naive_data = time_dashboard(engine, principal, args.naive_n, naive=True)
    engine.dispose()
    if numbers(fast_data) != numbers(naive_data):
        raise SystemExit(f"{label}: summary and raw-table dashboards disagree")
    return {
        "generate_s": seconds,
        "rows": rows,
        "p50_s": statistics.median(fast),
        "p95_s": pct(fast, 0.95),
        "naive_p50_s": statistics.median(naive),
        "naive_p95_s": pct(naive, 0.95),
        "speedup": pct(naive, 0.95) / pct(fast, 0.95),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=None)
    args = parser.parse_args()
    args.sessions = args.sessions or (50_000 if args.quick else 1_000_000)
    args.n, args.naive_n = (10, 3) if args.quick else (40, 5)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_engine("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
    try:
        from tests.pg import start_postgres

        server = start_postgres()
    except Exception as exc:  # the table still reports SQLite
        print(f"PostgreSQL not measured: {exc}")
    else:
        try:
            results["postgresql"] = run_engine(
                "postgresql", server.create_database("bench_dashboard"), args
            )
        finally:
            server.stop()
    print(f"\n{'engine':<11} {'measure':<44} {'value':>12}")
    for name, r in results.items():
        lines = [
            (f"generate {args.sessions:,} sessions (target < 600 s)", f"{r['generate_s']:.1f} s"),
            ("  rows written", f"{r['rows']:,}"),
            (f"dashboard p50 (n={args.n})", f"{r['p50_s'] * 1000:.0f} ms"),
            ("dashboard p95 (target <= 1 s)", f"{r['p95_s'] * 1000:.0f} ms"),
            (f"naive raw-table dashboard p50 (n={args.naive_n})", f"{r['naive_p50_s']:.2f} s"),
            ("naive raw-table dashboard p95", f"{r['naive_p95_s']:.2f} s"),
            ("speedup (naive p95 / dashboard p95)", f"{r['speedup']:.0f}x"),
        ]
        for measure, value in lines:
            print(f"{name:<11} {measure:<44} {value:>12}")
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "generate_s": {k: round(r["generate_s"], 1) for k, r in results.items()},
                "rows": {k: r["rows"] for k, r in results.items()},
                "p50_s": {k: round(r["p50_s"], 4) for k, r in results.items()},
                "p95_s": {k: round(r["p95_s"], 4) for k, r in results.items()},
                "naive_p95_s": {k: round(r["naive_p95_s"], 3) for k, r in results.items()},
                "speedup_vs_naive": {k: round(r["speedup"], 1) for k, r in results.items()},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
