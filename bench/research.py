"""Benchmark: the research pages on the synthetic registry, SQLite and PostgreSQL.

Pain maps (issue 17, `research.painmap`):

1. Generate the registry (`demo.registry.generate`, the 1M-session scale target) and add what
   it leaves out for the pain maps: a research consent for 85% of patients, a complete pain
   drawing at every visit (the regions of a trigger point's referral, shrinking over the
   course) and, for 30% of patients, a repeat drawing two days before their first visit
   (the test-retest pairs). Rows are written with Core bulk inserts.
2. Time the pain-map analyses as the page runs them (`service.analyse`, every part, in a
   session, audit event committed) and with the page's figures drawn: p50/p95. Target: the
   page p95 < 2 s.
3. Anchor, in the same run on the same database: the same numbers computed naively in Python
   from the raw rows (`painmap.reference.naive`); the bench checks both agree and reports
   the ratio.

The pain-map numbers come from derived rows kept at write time (`painmap.derived`); the
bulk load writes raw rows with Core, so the bench rebuilds the derived rows for the clinic
once, as `migrate.upgrade` does after the migration, and reports how long that took.

Each research page and export also gets its p95 (issue 17, "At scale"), each with its anchor
measured in the same run on the same database:

* reliability report (`reliability.service.report`, a two-examiner study of registry
  patients with research consent, the page's context included): anchor, the same agreement
  statistics (`reliability.stats.agreement`) on the same ratings already in memory;
* Parquet export job (`exports.jobs.execute`, as the worker runs it: claim, snapshot read,
  files, zip, done): anchor, the de-identified CSV export of the same clinic
  (`reports.export.export_csv`). Target: < 60 s on the 1M-session registry.
The twitch analysis ("does the twitch matter?", `research.ltr`, `measure_ltr`): the refit
job is run once as the worker would (`ltr.jobs.execute`), then the page's work is timed as
it reads the persisted fit (`service.latest_analysis` in a read-only session, the forest
plot drawn, the audit write): p50/p95, target < 2 s. Anchor, in the same run: the direct fit
(`service.twitch_analysis`, what the page did on a first view before the fits were
persisted), which the page's p95 is divided into.

Prints a table and a final JSON line. `--quick` uses 20,000 sessions and fewer repetitions;
`--sessions N` any size (default the 1M target); `--sqlite-only` skips PostgreSQL and
`--pg-only` SQLite.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from sqlalchemy import Engine, func, insert, select

from triggerpoint.accounts.service import Principal, create_user
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.audit.service import Actor
from triggerpoint.db import Base, make_engine, open_session
from triggerpoint.demo.registry import generate
from triggerpoint.migrate import upgrade
from triggerpoint.records.models import Consent, Patient, Visit
from triggerpoint.research.painmap import derived, service
from triggerpoint.research.painmap.reference import naive
from triggerpoint.research.painmap.router import _figures
from triggerpoint.research.painmap.schemas import CohortFilter

RESEARCH_SHARE, RETEST_SHARE = 0.85, 0.30


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _next_id(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        t = Base.metadata.tables[table]
        return int(conn.scalar(select(func.coalesce(func.max(t.c.id), 0))) or 0) + 1


def add_pain_data(engine: Engine, clinic_id: int, seed: int = 17) -> dict[str, int]:
    """Research consents and pain drawings for the registry's patients (Core, in batches)."""
    rng = np.random.default_rng(seed)
    referral = [sorted(set(tp.essential) | set(tp.spillover)) for tp in load_atlas().trigger_points]
    referral = [r for r in referral if r]
    with open_session(clinic_id=clinic_id, engine=engine) as s:
        patients = [
            (pid, at)
            for pid, at in s.execute(
                select(Patient.id, Patient.created_at).where(Patient.clinic_id == clinic_id)
            )
        ]
        visits: dict[int, list[tuple[int, Any]]] = {}
        for vid, pid, at in s.execute(
            select(Visit.id, Visit.patient_id, Visit.visit_at)
            .where(Visit.clinic_id == clinic_id)
            .order_by(Visit.patient_id, Visit.visit_at)
        ):
            visits.setdefault(pid, []).append((vid, at))
        already = s.scalar(select(func.count(Consent.id)).where(Consent.kind == "research")) or 0
    ids = {t: _next_id(engine, t) for t in ("consent", "pain_drawing", "pain_mark")}
    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in ids}
    counts = dict.fromkeys(ids, 0)
    tenant = {"clinic_id": clinic_id}

    def add(table: str, **values: Any) -> int:
        i = ids[table]
        ids[table] += 1
        rows[table].append({"id": i, **tenant, **values})
        return i

    def flush() -> None:
        with engine.begin() as conn:
            for t, batch in rows.items():
                if batch:
                    conn.execute(insert(Base.metadata.tables[t]), batch)
                    counts[t] += len(batch)
                    batch.clear()

    def drawing(pid: int, vid: int | None, at: Any, regions: list[str]) -> None:
        did = add(
            "pain_drawing",
            patient_id=pid,
            visit_id=vid,
            complete=True,
            drawn_at=at,
            drawn_by=None,
            source="clinician" if vid else "patient",
        )
        for r in regions:
            add("pain_mark", drawing_id=did, region_id=r, intensity=None)

    for n, (pid, created) in enumerate(patients):
        if not already and rng.random() < RESEARCH_SHARE:
            add(
                "consent",
                version=1,
                patient_id=pid,
                kind="research",
                risks_disclosed=[],
                signed_by="Registry patient",
                signer_relation="self",
                signed_at=created,
                status="active",
            )
        own = referral[int(rng.integers(len(referral)))]
        course = visits.get(pid, [])
        for v, (vid, at) in enumerate(course):
            keep = max(1, round(len(own) * (1 - 0.15 * v)))
            drawing(pid, vid, at, own[:keep])
        if course and rng.random() < RETEST_SHARE:
            noisy = [r for r in own if rng.random() > 0.15] or own[:1]
            drawing(pid, None, course[0][1] - timedelta(days=2), noisy)
        if n % 2000 == 1999:
            flush()
    flush()
    return counts


def derive(engine: Engine, clinic_id: int) -> float:
    """The derived pain-map rows of the bulk-loaded clinic, from scratch (seconds taken)."""
    started = time.perf_counter()
    with engine.begin() as conn:
        derived.rebuild(conn, [clinic_id])
    return time.perf_counter() - started


def build(engine: Engine, sessions: int) -> tuple[float, dict[str, Any], Principal]:
    upgrade(engine)
    started = time.perf_counter()
    result = generate(engine, sessions=sessions)
    counts: dict[str, Any] = {**result.rows, **add_pain_data(engine, result.clinic_id)}
    seconds = time.perf_counter() - started
    counts["derive_s"] = derive(engine, result.clinic_id)
    return seconds, counts, clinician(engine, result.clinic_id, "bench.research", "Bench")


def clinician(engine: Engine, clinic_id: int, username: str, full_name: str) -> Principal:
    """A clinician of the registry clinic, committed."""
    with open_session(clinic_id=None, engine=engine) as s:
        user, _ = create_user(
            s,
            clinic_id=clinic_id,
            username=username,
            full_name=full_name,
            role="clinician",
            actor=Actor.system("bench"),
            password="timing runs only 1",
        )
        s.commit()
        return Principal(user.id, clinic_id, user.username, "clinician")


def analyze(engine: Engine) -> None:
    """Planner statistics after the bulk load, as autovacuum would gather them."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


def time_painmap(
    engine: Engine, principal: Principal, cohort: CohortFilter, n: int, *, figures: bool
) -> tuple[list[float], dict[str, Any]]:
    times, data = [], {}
    for _ in range(n):
        t = time.perf_counter()
        with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
            data = service.analyse(s, principal=principal, cohort=cohort)
            if figures:
                _figures(data)
            s.commit()
        times.append(time.perf_counter() - t)
    return times, data


def time_naive(
    engine: Engine, principal: Principal, cohort: CohortFilter, n: int
) -> tuple[list[float], dict[str, Any]]:
    times, ref = [], {}
    for _ in range(n):
        t = time.perf_counter()
        with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
            ref = naive(s, clinic_id=principal.clinic_id, cohort=cohort, muscle=None)
        times.append(time.perf_counter() - t)
    return times, ref


def agree(data: dict[str, Any], ref: dict[str, Any]) -> bool:
    heat = data["heat_map"]
    same_heat = {r.region_id: r.patients for r in heat.regions} == ref["heat"]
    ours = sorted(data["values"]["extent"])
    same_extent = len(ours) == len(ref["extent"]) and all(
        abs(a - c) <= 0.051 and abs(b - d) <= 0.051
        for (a, b), (c, d) in zip(ours, ref["extent"], strict=True)
    )
    return same_heat and same_extent and data["agreement"].pairs == len(ref["retest"])


# --- the other research pages and the Parquet export job (p95, each with its anchor) ------

SITES = [("upper_trapezius", "right"), ("upper_trapezius", "left"), ("infraspinatus", "right")]
CRITERIA = ("taut_band", "tender_spot", "twitch")


def add_study(engine: Engine, principal: Principal, participants: int, seed: int = 3) -> int:
    """A closed two-examiner study of consented registry patients, written through the
    reliability service (examiner B agrees with A on about 80% of the cells)."""
    from triggerpoint.research.reliability import schemas as rs
    from triggerpoint.research.reliability import service as rel

    rng = np.random.default_rng(seed)
    examiner = clinician(engine, principal.clinic_id, "bench.examiner", "Second examiner")
    with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
        patients = list(
            s.scalars(
                select(Consent.patient_id)
                .where(Consent.kind == "research", Consent.status == "active")
                .order_by(Consent.patient_id)
                .limit(participants)
            )
        )
        study = rel.create_study(
            s,
            principal=principal,
            data=rs.StudyIn.model_validate(
                {
                    "title": "Bench palpation agreement",
                    "sites": [{"muscle": m, "side": side} for m, side in SITES],
                    "criteria": list(CRITERIA),
                    "examiners": [principal.user_id, examiner.user_id],
                }
            ),
        )
        rel.open_study(s, principal=principal, study_id=study.id)
        for i, pid in enumerate(patients):
            part = rel.add_participant(
                s,
                principal=principal,
                study_id=study.id,
                data=rs.ParticipantIn(code=f"P{i:04d}", patient_id=pid),
            )
            truth = rng.random((len(SITES), len(CRITERIA))) < 0.4
            for who, flip in ((principal, 0.0), (examiner, 0.2)):
                seen = truth ^ (rng.random(truth.shape) < flip)
                findings = [
                    rs.StudyFindingIn(muscle=m, side=side, criterion=c, present=bool(seen[a, b]))  # type: ignore[arg-type]
                    for a, (m, side) in enumerate(SITES)
                    for b, c in enumerate(CRITERIA)
                ]
                data = rs.FindingsIn(findings=findings)
                rel.save_findings(
                    s, principal=who, study_id=study.id, participant_id=part.id, data=data
                )
                rel.submit(s, principal=who, study_id=study.id, participant_id=part.id)
        rel.close_study(s, principal=principal, study_id=study.id)
        s.commit()
        return study.id


def bench_reliability(engine: Engine, principal: Principal, args: argparse.Namespace) -> dict:
    """p95 of the report page's work (report + its page context) against the statistics
    alone on the same ratings (`stats.agreement`, the floor: no SQL, no audit)."""
    from triggerpoint.research.reliability import pdf, stats
    from triggerpoint.research.reliability import service as rel

    try:
        study_id = add_study(engine, principal, args.participants)
        times: list[float] = []
        out = None
        for _ in range(args.export_n + 1):
            t = time.perf_counter()
            with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
                out = rel.report(s, principal=principal, study_id=study_id)
                pdf.report_context(out, printing=False)
                s.commit()
            times.append(time.perf_counter() - t)
        times = times[1:]  # the first read warms the caches (atlas, published figures)
        with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
            study = rel._study(s, study_id)
            examiners = [u.id for _, u in rel._examiners(s, study_id)]
            complete = rel._complete(s, study, len(examiners))
            table = rel._ratings(s, study, complete.ids, examiners)
        anchor = []
        for _ in range(args.export_n):
            t = time.perf_counter()
            for cells in table.values():
                stats.agreement(cells, categories=(0, 1), boot=2000, seed=0)
            anchor.append(time.perf_counter() - t)
    except Exception as exc:  # the rest of the table still reports
        return {"error": f"{type(exc).__name__}: {exc}"}
    assert out is not None
    return {
        "p95_s": pct(times, 0.95),
        "anchor_p95_s": pct(anchor, 0.95),
        "rows": len(out.rows),
        "participants": out.complete_participants,
    }


def bench_parquet_job(engine: Engine, principal: Principal, args: argparse.Namespace) -> dict:
    """p95 of the Parquet export job as the worker runs it, against the de-identified CSV
    export of the same clinic (anchor), `args.export_n` runs each."""
    from triggerpoint.reports.export import export_csv
    from triggerpoint.research.exports import jobs
    from triggerpoint.research.exports import service as exports

    try:
        times, rows = [], 0
        for _ in range(args.export_n):
            with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
                job_id = exports.request_export(s, principal=principal, fmt="parquet").id
                s.commit()
            t = time.perf_counter()
            if not jobs.execute(job_id, engine=engine):
                raise RuntimeError(f"export job {job_id} failed")
            times.append(time.perf_counter() - t)
            with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
                job = exports.export_job(
                    s, principal=principal, job_id=job_id, enqueue=jobs.enqueue
                )
                rows = job.rows_done
                Path(
                    exports.export_download(
                        s, principal=principal, job_id=job_id, enqueue=jobs.enqueue
                    )
                ).unlink()
        anchor, csv_rows = [], 0
        for _ in range(args.export_n):
            t = time.perf_counter()
            with open_session(clinic_id=principal.clinic_id, engine=engine) as s:
                csv_rows = export_csv(
                    s,
                    out=io.StringIO(),
                    actor=Actor.system("bench"),
                    clinic_id=principal.clinic_id,
                    deidentify=True,
                )
                s.commit()
            anchor.append(time.perf_counter() - t)
    except Exception as exc:  # the rest of the table still reports
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "p95_s": pct(times, 0.95),
        "anchor_p95_s": pct(anchor, 0.95),
        "rows": rows,
        "anchor_rows": csv_rows,
    }


def other_lines(others: dict[str, dict]) -> list[tuple[str, str]]:
    rel, job = others["reliability"], others["parquet_job"]
    lines: list[tuple[str, str]] = []
    if "error" in rel:
        lines.append(("reliability report: FAILED", rel["error"][:60]))
    else:
        lines += [
            (
                f"reliability report p95 ({rel['participants']} participants x {rel['rows']} cells)",
                f"{rel['p95_s'] * 1000:.0f} ms",
            ),
            ("  anchor: the statistics alone p95", f"{rel['anchor_p95_s'] * 1000:.0f} ms"),
            ("  ratio (report p95 / anchor p95)", f"{rel['p95_s'] / rel['anchor_p95_s']:.2f}x"),
        ]
    if "error" in job:
        lines.append(("Parquet export job: FAILED", job["error"][:60]))
    else:
        lines += [
            (f"Parquet export job p95 ({job['rows']:,} rows; < 60 s)", f"{job['p95_s']:.1f} s"),
            (
                f"  anchor: de-identified CSV p95 ({job['anchor_rows']:,} rows)",
                f"{job['anchor_p95_s']:.1f} s",
            ),
            ("  ratio (job p95 / anchor p95)", f"{job['p95_s'] / job['anchor_p95_s']:.2f}x"),
        ]
    return lines


def other_json(others: dict[str, dict]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, r in others.items():
        if "error" in r:
            out[name] = {"error": r["error"]}
        else:
            out[name] = {
                "p95_s": round(r["p95_s"], 3),
                "anchor_p95_s": round(r["anchor_p95_s"], 3),
                "ratio": round(r["p95_s"] / r["anchor_p95_s"], 2),
            }
    return out


def measure_ltr(engine: Engine, principal: Principal, n: int, direct_n: int) -> dict[str, Any]:
    """The LTR page reading the persisted fit (p50/p95 of n reads), the refit job's time, and
    the anchor: the direct fit the page used to run (the best of direct_n)."""
    from triggerpoint.db import unit_of_work, utcnow
    from triggerpoint.research.ltr import jobs, plots
    from triggerpoint.research.ltr import service as ltr

    clinic_id = principal.clinic_id

    def read() -> Any:
        with open_session(clinic_id=clinic_id, engine=engine, read_only=True) as s:
            report = ltr.latest_analysis(
                s, principal=principal, instrument="nprs", enqueue=lambda *_: None
            )
            plots.forest_svg(report)
            s.commit()  # the audit event (deferred write)
        return report

    with unit_of_work(clinic_id=clinic_id, engine=engine) as s:
        ltr.queue_refit(s, clinic_id=clinic_id, instrument="nprs", now=utcnow())
    t = time.perf_counter()
    if not jobs.execute(clinic_id, "nprs", engine=engine):
        raise SystemExit("the LTR refit job did not run")
    job_s = time.perf_counter() - t
    read()  # warm-up
    times, report = [], None
    for _ in range(n):
        t = time.perf_counter()
        report = read()
        times.append(time.perf_counter() - t)
    assert report is not None and not report.freshness.stale, "the persisted fit is stale"
    direct: list[float] = []
    try:
        for _ in range(direct_n):
            t = time.perf_counter()
            with open_session(clinic_id=clinic_id, engine=engine) as s:
                fitted = ltr.twitch_analysis(s, principal=principal, instrument="nprs")
                s.commit()
            direct.append(time.perf_counter() - t)
    except Exception as exc:  # the anchor failed: say so, keep the page's figures
        print(f"anchor (direct LTR fit) failed: {type(exc).__name__}: {exc}")
        direct = []
    else:
        if [f.model_dump() for f in fitted.fits] != [f.model_dump() for f in report.fits]:
            raise SystemExit("the persisted LTR fit and the direct fit disagree")
    return {
        "ltr_job_s": job_s,
        "ltr_page_p50_s": statistics.median(times),
        "ltr_page_p95_s": pct(times, 0.95),
        "ltr_direct_s": min(direct) if direct else None,
        "ltr_ratio": min(direct) / pct(times, 0.95) if direct else None,
        "ltr_sample": report.sample.sample_patients,
    }


def ltr_lines(r: dict[str, Any], n: int) -> list[tuple[str, str]]:
    return [
        ("LTR refit job (background, once)", f"{r['ltr_job_s']:.1f} s"),
        ("  patients fitted (sample of the consented)", f"{r['ltr_sample']:,}"),
        (f"LTR page work p50 (persisted fit, n={n})", f"{r['ltr_page_p50_s'] * 1000:.0f} ms"),
        ("LTR page work p95 (target < 2 s)", f"{r['ltr_page_p95_s'] * 1000:.0f} ms"),
        ("anchor: direct fit in the request (before)", _fmt(r["ltr_direct_s"], "{:.1f} s")),
        ("ratio (direct fit / LTR page p95)", _fmt(r["ltr_ratio"], "{:.0f}x")),
    ]


def _fmt(value: float | None, fmt: str) -> str:
    return "failed" if value is None else fmt.format(value)


def run_engine(label: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = make_engine(url)
    seconds, counts, principal = build(engine, args.sessions)
    analyze(engine)
    cohort = CohortFilter()
    time_painmap(engine, principal, cohort, 1, figures=True)  # warm-up
    sql, data = time_painmap(engine, principal, cohort, args.n, figures=False)
    page, _ = time_painmap(engine, principal, cohort, args.n, figures=True)
    filtered, _ = time_painmap(
        engine, principal, CohortFilter(complaint="neck", view="first"), args.n, figures=True
    )
    slow, ref = time_naive(engine, principal, cohort, args.naive_n)
    others = {
        "reliability": bench_reliability(engine, principal, args),
        "parquet_job": bench_parquet_job(engine, principal, args),
    }
    ltr = measure_ltr(engine, principal, args.n, args.naive_n)
    engine.dispose()
    if not agree(data, ref):
        raise SystemExit(f"{label}: the aggregate SQL and the naive reference disagree")
    return {
        "others": others,
        "derive_s": counts["derive_s"],
        "generate_s": seconds,
        "drawings": counts["pain_drawing"],
        "marks": counts["pain_mark"],
        "patients": data["heat_map"].patients,
        "sql_p95_s": pct(sql, 0.95),
        "page_p50_s": statistics.median(page),
        "page_p95_s": pct(page, 0.95),
        "filtered_p95_s": pct(filtered, 0.95),
        "naive_p95_s": pct(slow, 0.95),
        "speedup": pct(slow, 0.95) / pct(sql, 0.95),
        **ltr,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sessions", type=int, default=None)
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--pg-only", action="store_true")
    parser.add_argument("--n", type=int, default=None, help="repetitions of each page timing")
    args = parser.parse_args()
    os.environ.setdefault("TRIGGERPOINT_EXPORT_DIR", tempfile.mkdtemp(prefix="bench-exports-"))
    args.sessions = args.sessions or (20_000 if args.quick else 1_000_000)
    n = args.n
    args.n, args.naive_n = (8, 2) if args.quick else (30, 3)
    args.n = n or args.n
    args.export_n, args.participants = (2, 40) if args.quick else (3, 120)
    results: dict[str, dict[str, Any]] = {}
    if not args.pg_only:
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
                results["postgresql"] = run_engine(
                    "postgresql", server.create_database("bench_research"), args
                )
            finally:
                server.stop()
    print(f"\n{'engine':<11} {'measure':<48} {'value':>12}")
    for name, r in results.items():
        lines = [
            (f"generate {args.sessions:,} sessions + pain data", f"{r['generate_s']:.1f} s"),
            ("  drawings / marks", f"{r['drawings']:,} / {r['marks']:,}"),
            ("  patients in the cohort (research consent)", f"{r['patients']:,}"),
            (f"painmap SQL p95 (n={args.n})", f"{r['sql_p95_s'] * 1000:.0f} ms"),
            ("painmap page work p50 (SQL + figures)", f"{r['page_p50_s'] * 1000:.0f} ms"),
            ("painmap page work p95 (target < 2 s)", f"{r['page_p95_s'] * 1000:.0f} ms"),
            ("filtered page p95 (complaint, baseline)", f"{r['filtered_p95_s'] * 1000:.0f} ms"),
            (f"naive Python from raw rows p95 (n={args.naive_n})", f"{r['naive_p95_s']:.2f} s"),
            ("ratio (naive p95 / SQL p95)", f"{r['speedup']:.1f}x"),
            *ltr_lines(r, args.n),
        ]
        lines.insert(1, ("  derived pain-map rows rebuilt from scratch", f"{r['derive_s']:.1f} s"))
        lines.extend(other_lines(r["others"]))
        for measure, value in lines:
            print(f"{name:<11} {measure:<48} {value:>12}")
    print(
        json.dumps(
            {
                "bench": "research.painmap",
                "sessions": args.sessions,
                "drawings": {k: r["drawings"] for k, r in results.items()},
                "sql_p95_s": {k: round(r["sql_p95_s"], 4) for k, r in results.items()},
                "page_p95_s": {k: round(r["page_p95_s"], 4) for k, r in results.items()},
                "filtered_p95_s": {k: round(r["filtered_p95_s"], 4) for k, r in results.items()},
                "naive_p95_s": {k: round(r["naive_p95_s"], 3) for k, r in results.items()},
                "ratio_vs_naive": {k: round(r["speedup"], 1) for k, r in results.items()},
                "derive_s": {k: round(r["derive_s"], 2) for k, r in results.items()},
                "pages_p95_s": {k: other_json(r["others"]) for k, r in results.items()},
                "ltr_page_p95_s": {k: round(r["ltr_page_p95_s"], 4) for k, r in results.items()},
                "ltr_job_s": {k: round(r["ltr_job_s"], 2) for k, r in results.items()},
                "ltr_direct_s": {
                    k: r["ltr_direct_s"] and round(r["ltr_direct_s"], 2) for k, r in results.items()
                },
                "ltr_ratio_vs_direct": {
                    k: r["ltr_ratio"] and round(r["ltr_ratio"], 1) for k, r in results.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
