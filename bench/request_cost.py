"""Benchmark: CPU per request of bench/load.py's mix, in-process, SQLite, one client (issue 19).

bench/load.py showed the tail at 16 clients is CPU queueing: each request of the mix costs
several milliseconds of CPU in one process. This measures that cost directly, kind by kind:
the app (`create_app`) is driven through httpx's ASGITransport, one request at a time, on a
database seeded as bench/load.py seeds it (one clinic, 200 patients, an API token). For
each request, the process's CPU time (`time.process_time`, every thread: the event loop and
the threadpool) and its wall time are taken. The kinds are asked in turn (list, search,
timeline, drawing, suggest, needle, outcome, then again), so the growing database weighs on
each alike.

Anchor, in the same run and the same way: `GET /healthz` (no database, no audit): the cost
of the framework, the transport and the client. "over healthz" is a kind's CPU minus the
anchor's: what the request's own work costs.

`--profile`: run the mix under cProfile instead, with the threadpool run inline (so the one
profiler sees the handlers' work too), and print the functions with the most own time and
the most cumulative time. The figures of that run are not comparable to the table's.

Prints a table and a final JSON line. The machine may be shared: the figures are upper
bounds; compare before/after runs taken one after the other.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import load  # bench/load.py: the same mix, the same seeding
from rich.console import Console
from rich.table import Table

KINDS = list(load.MIX)


def _setup(tmp: Path) -> tuple[object, str, list[int]]:
    """A seeded SQLite database and the app on it; (app, token, patient ids)."""
    url = f"sqlite:///{tmp / 'cost.sqlite3'}"
    db = load.seed("SQLite", url, tmp, clinics=1, clinicians=1)
    os.environ.update(load.SERVER_ENV)
    os.environ["TRIGGERPOINT_DATABASE_URL"] = url
    from triggerpoint.config import get_settings
    from triggerpoint.db import get_engine

    get_settings.cache_clear()
    get_engine.cache_clear()
    from triggerpoint.web.app import create_app

    token, patients = db.users[0]
    return create_app(migrate=False), token, patients


def _client(app: object, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]  # the FastAPI app
        base_url="http://cost.test",
        headers={"Authorization": f"Bearer {token}"},
    )


async def _one(c: httpx.AsyncClient, method: str, path: str, body: object) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    r = await c.request(method, path, json=body)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if r.status_code >= 300:
        raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
    return cpu, wall


async def measure(app: object, token: str, patients: list[int], rounds: int, warmup: int) -> dict:
    """{kind: [(cpu s, wall s), ...]} over `rounds` turns of every kind, and the anchor."""
    out: dict[str, list[tuple[float, float]]] = {k: [] for k in [*KINDS, "healthz"]}
    async with _client(app, token) as c:
        needling = await load.prepare_client(c, patients[0])
        for turn in range(warmup + rounds):
            for kind in KINDS:
                method, path, body = load.request_for(kind, patients, needling)
                took = await _one(c, method, path, body)
                if turn >= warmup:
                    out[kind].append(took)
            took = await _one(c, "GET", "/healthz", None)
            if turn >= warmup:
                out["healthz"].append(took)
    return out


async def _inline(func, *args, **kwargs):  # type: ignore[no-untyped-def]  # anyio's shape
    """anyio.to_thread.run_sync, run in the calling thread (for the profiler)."""
    kwargs.pop("abandon_on_cancel", None)
    kwargs.pop("cancellable", None)
    kwargs.pop("limiter", None)
    return func(*args)


def profile(
    app: object,
    token: str,
    patients: list[int],
    rounds: int,
    top: int,
    callers: list[str],
    callees: list[str],
    kinds: list[str],
) -> None:
    import anyio.to_thread

    async def run() -> None:
        async with _client(app, token) as c:
            needling = await load.prepare_client(c, patients[0])
            for turn in range(rounds + 3):
                if turn == 3:
                    prof.enable()
                for kind in kinds:
                    method, path, body = load.request_for(kind, patients, needling)
                    await _one(c, method, path, body)
            prof.disable()

    prof = cProfile.Profile(time.process_time)  # CPU, not the waits (fsync)
    original = anyio.to_thread.run_sync
    anyio.to_thread.run_sync = _inline  # type: ignore[assignment]  # for the profile only
    try:
        asyncio.run(run())
    finally:
        anyio.to_thread.run_sync = original
    stats = pstats.Stats(prof)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    for name in callers:
        stats.print_callers(name)
    for name in callees:
        stats.print_callees(name)


def _ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def report(results: dict[str, list[tuple[float, float]]], console: Console) -> dict:
    anchor = _ms([cpu for cpu, _ in results["healthz"]])
    table = Table(title="CPU per request, in-process, SQLite, 1 client (median)")
    for col in ("kind", "n", "CPU ms", "CPU ms over healthz", "wall ms", "CPU mean ms"):
        table.add_column(col, justify="left" if col == "kind" else "right")
    rows = {}
    for kind, took in results.items():
        cpu = [c for c, _ in took]
        row = {
            "n": len(took),
            "cpu_ms": _ms(cpu),
            "cpu_over_healthz_ms": round(_ms(cpu) - anchor, 2),
            "wall_ms": _ms([w for _, w in took]),
            "cpu_mean_ms": round(statistics.fmean(cpu) * 1000, 2),
        }
        rows[kind] = row
        table.add_row(kind, *(str(v) for v in row.values()))
    weights = load.MIX
    mix = sum(rows[k]["cpu_mean_ms"] * w for k, w in weights.items()) / sum(weights.values())
    table.add_row("mix (weighted mean)", "", "", "", "", f"{mix:.2f}")
    console.print(table)
    return {
        "bench": "request_cost",
        "engine": "SQLite",
        "kinds": rows,
        "mix_cpu_mean_ms": round(mix, 2),
        "anchor_healthz_cpu_ms": anchor,
        "mix_over_healthz": round(mix / anchor, 1) if anchor else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=60, help="turns of every kind (default 60)")
    ap.add_argument("--warmup", type=int, default=5, help="turns not counted (default 5)")
    ap.add_argument("--quick", action="store_true", help="20 rounds")
    ap.add_argument("--profile", action="store_true", help="cProfile the mix instead")
    ap.add_argument("--top", type=int, default=45, help="functions listed by --profile")
    ap.add_argument("--callers", action="append", default=[], help="--profile: who calls these")
    ap.add_argument("--callees", action="append", default=[], help="--profile: what these call")
    ap.add_argument("--kind", action="append", choices=KINDS, help="--profile: only these kinds")
    args = ap.parse_args()
    rounds = 20 if args.quick else args.rounds
    console = Console()
    with tempfile.TemporaryDirectory(prefix="tp-cost-") as tmp:
        app, token, patients = _setup(Path(tmp))
        if args.profile:
            profile(
                app,
                token,
                patients,
                rounds,
                args.top,
                args.callers,
                args.callees,
                args.kind or KINDS,
            )
            return 0
        try:
            results = asyncio.run(measure(app, token, patients, rounds, args.warmup))
        except Exception as exc:  # an anchor or a kind that fails says why
            print(json.dumps({"bench": "request_cost", "error": repr(exc)}))
            return 1
        summary = report(results, console)
        from triggerpoint.db import get_engine

        get_engine().dispose()
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
