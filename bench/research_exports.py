"""Benchmark: the research exports (Parquet, REDCap, CDISC ODM) on the synthetic registry.

1. Generate the registry (`demo.registry.generate`, 5 visits per patient, 85 % with research
   consent) on SQLite and, if it starts, PostgreSQL; ANALYZE as a database in service would.
2. Time each export of the registry clinic to a scratch directory, `--n` times: p50 / p95.
   Target (issue 17): Parquet of everything < 60 s on the 1,000,000-session registry.
3. Anchor, same run and database: the existing de-identified CSV export
   (`reports.export.export_csv`, one row per measurement) of the same clinic.

Prints a table and a final JSON line. `--quick` uses 20,000 sessions; `--sessions N` any size;
`--formats parquet` to time only some formats (REDCap and ODM are not the scale target).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dashboard import analyze, pct
from sqlalchemy import Engine

from triggerpoint.accounts.service import Principal
from triggerpoint.audit.service import Actor
from triggerpoint.db import make_engine, open_session
from triggerpoint.demo.registry import generate
from triggerpoint.migrate import upgrade
from triggerpoint.reports.export import export_csv
from triggerpoint.research.exports import service
from triggerpoint.research.exports.service import OPERATOR

OPERATOR_PRINCIPAL = Principal(0, OPERATOR, "bench", "admin")


def _time(engine: Engine, n: int, fn: Callable[[Any, Path], Any]) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(n):
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            with open_session(clinic_id=None, engine=engine) as s:
                out = fn(s, Path(tmp))
                s.commit()
            times.append(time.perf_counter() - t)
    return times, out


def run_engine(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    reg = generate(engine, sessions=args.sessions)
    print(f"{label}: generated {reg.sessions:,} sessions in {time.perf_counter() - t:.0f} s")
    analyze(engine)
    clinic = reg.clinic_id
    p = OPERATOR_PRINCIPAL
    runs: dict[str, Callable[[Any, Path], Any]] = {
        "parquet": lambda s, d: service.export_parquet(
            s, principal=p, clinic_id=clinic, directory=d
        ),
        "redcap": lambda s, d: service.export_redcap(s, principal=p, clinic_id=clinic, directory=d),
        "odm": lambda s, d: service.export_odm(s, principal=p, clinic_id=clinic, path=d / "s.xml"),
    }
    result: dict[str, Any] = {"rows": {}}
    for fmt in args.formats:
        times, summary = _time(engine, args.n, runs[fmt])
        result[fmt] = {"p50_s": statistics.median(times), "p95_s": pct(times, 0.95)}
        result["rows"][fmt] = sum(summary.rows.values())
        result["patients"] = summary.patients_included
    anchor, rows = _time(
        engine,
        args.n,
        lambda s, _d: export_csv(
            s, out=io.StringIO(), actor=Actor.system("bench"), clinic_id=clinic, deidentify=True
        ),
    )
    result["csv_anchor"] = {"p50_s": statistics.median(anchor), "p95_s": pct(anchor, 0.95)}
    result["rows"]["csv_anchor"] = rows
    engine.dispose()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--n", type=int, default=None)
    parser.add_argument("--formats", default="parquet,redcap,odm")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    args.sessions = args.sessions or (20_000 if args.quick else 1_000_000)
    args.n = args.n or (3 if args.quick else 5)
    args.formats = [f for f in args.formats.split(",") if f]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run_engine("sqlite", f"sqlite:///{tmp}/bench.sqlite3", args)
    if not args.sqlite_only:
        try:
            from tests.pg import start_postgres

            server = start_postgres()
        except Exception as exc:  # the table still reports SQLite
            print(f"PostgreSQL not measured: {exc}")
        else:
            try:
                url = server.create_database("bench_research_exports")
                results["postgresql"] = run_engine("postgresql", url, args)
            finally:
                server.stop()
    print(f"\n{'engine':<11} {'export':<34} {'rows':>12} {'p50':>9} {'p95':>9}")
    for name, r in results.items():
        for fmt in [*args.formats, "csv_anchor"]:
            label = "de-identified CSV (anchor)" if fmt == "csv_anchor" else fmt
            x = r[fmt]
            print(
                f"{name:<11} {label:<34} {r['rows'][fmt]:>12,} "
                f"{x['p50_s']:>8.2f}s {x['p95_s']:>8.2f}s"
            )
    print(
        json.dumps(
            {
                "sessions": args.sessions,
                "patients_exported": {k: r.get("patients") for k, r in results.items()},
                "rows": {k: r["rows"] for k, r in results.items()},
                "p95_s": {
                    k: {f: round(r[f]["p95_s"], 3) for f in [*args.formats, "csv_anchor"]}
                    for k, r in results.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
