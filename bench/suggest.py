"""Benchmark: `suggest()` latency on the full atlas (both sides), against three anchors.

Drawings of 5, 10, 20 and 40 painful regions come from simulated patients: a few trigger points
drawn at random from the atlas (random side), each giving its essential zone, some of its
spillover (30 %) and local (20 %) regions; extra regions are dropped at random to hit the size.
Drawings are complete (the whole chart offered), as on a clinic pain chart. The whole
`suggest()` call is timed (p50/p95/p99, wall and process CPU), once on the drawing alone and
once with palpation findings (one of the simulated patient's trigger points familiar, another
point that refers into the drawing none, and a muscle-level tender on a third muscle), where
`examine_next` is computed in the same call and must not be empty (checked up to 20 painful
regions; the examine-next step's own time is reported too).

Anchors, on the first drawings of each size, in the same run; the ratio is anchor time / our
posterior time on exactly the same (sub-)network, our time the median of repeated runs:
- Quickscore (Heckerman 1989), pruned to the causes touching the positives (the others factor
  out), over the whole drawing; 2^k signed terms, so it is not run where 2^k is out of reach.
- pgmpy VariableElimination and pyAgrum LazyPropagation (noisy-OR CPTs with leak), each in a
  subprocess with a time limit, on the drawing's sub-network (positives and the trigger points
  touching them, negatives absorbed into the priors: the pruning any engineer applies first).
  pgmpy tables 2^parents columns per finding, so where a finding has more than 20 parents, or
  the anchor runs out of time, it is run on the largest prefix of the positives that finishes,
  and the table says so. A failure (an error, an import that fails) is reported as a failure
  with its error, never as a timeout.

Prints tables, then one JSON line. `--quick` runs a smaller sample in a minute or two (most
of it the anchors: pgmpy's import and its time limit, Quickscore's 2^20 terms). `--calls N`
times N drawings per size instead (each once, as a server meets new drawings): with `--quick`'s
30, p99 is the slowest of 30, so judge the p99 target with `--quick --calls 2000`.
Run from the repository root: `.venv/bin/python bench/suggest.py --quick` (`make bench`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import multiprocessing as mp
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from anchors import ANCHORS, IMPORTS, quickscore, subnetwork

from triggerpoint.atlas.loader import load_atlas
from triggerpoint.inference import results
from triggerpoint.inference.exact import posterior
from triggerpoint.inference.network import Network, network_for
from triggerpoint.inference.params import default_params
from triggerpoint.inference.schemas import Drawing
from triggerpoint.inference.service import suggest

SIZES = (5, 10, 20, 40)
MAX_PARENTS = 20  # a pgmpy/pyAgrum table of 2^parents columns; beyond this it cannot be built
IMPORT_LIMIT = 120.0  # seconds for an anchor's subprocess to import its package
QUICKSCORE_MAX_K = 20  # 2^20 signed terms; 2^40 is out of reach for any machine
TARGET_MS = 5.0  # p99 of the whole call up to 20 painful regions, examine-next included
EXAMINE_TARGET_MS = 25.0  # p99 with examine-next (top 10) at 20 painful regions


def simulated(net: Network, rng: np.random.Generator, size: int) -> tuple[list[str], list[int]]:
    """A realistic multi-trigger-point drawing with exactly `size` painful regions, and the
    trigger points (cause indices) that produced it."""
    regions: dict[str, None] = {}
    truth: list[int] = []
    while len(regions) < size:
        j = int(rng.integers(len(net.trigger_points)))
        tp = net.trigger_points[j]
        truth.append(j)
        regions.update(dict.fromkeys(tp.essential))
        regions.update(dict.fromkeys(r for r in tp.spillover if rng.random() < 0.3))
        regions.update(dict.fromkeys(r for r in tp.local if rng.random() < 0.2))
    keep = rng.choice(len(regions), size=size, replace=False)
    names = list(regions)
    return [names[i] for i in sorted(keep)], truth


def patient(net: Network, rng: np.random.Generator, size: int) -> list[str]:
    """A realistic multi-trigger-point drawing with exactly `size` painful regions."""
    return simulated(net, rng, size)[0]


def palpation(
    net: Network, rng: np.random.Generator, regions: list[str], truth: list[int]
) -> list[dict[str, Any]]:
    """What a clinician might have found after palpating three sites: one of the patient's own
    trigger points familiar, another point referring into the drawing none, and a third
    muscle tender at muscle level (no point named)."""
    painful = np.array([net.region_index[r] for r in regions])
    touching = np.flatnonzero((net.link[:, painful] > 0).any(axis=1))
    tp = net.trigger_points[truth[0]]
    found = [
        {"muscle_id": tp.muscle_id, "side": tp.side, "trigger_point_id": tp.tp_id,
         "finding": "familiar"}
    ]  # fmt: skip
    used = {(tp.muscle_id, tp.side)}
    others = [int(j) for j in rng.permutation(touching) if int(j) not in truth]
    for j in others:
        other = net.trigger_points[j]
        if (other.muscle_id, other.side) in used:
            continue
        used.add((other.muscle_id, other.side))
        if len(found) == 1:
            found.append(
                {"muscle_id": other.muscle_id, "side": other.side,
                 "trigger_point_id": other.tp_id, "finding": "none"}
            )  # fmt: skip
        else:
            found.append({"muscle_id": other.muscle_id, "side": other.side, "finding": "tender"})
            break
    return found


@dataclass
class AnchorRun:
    """One anchor on one drawing: ok, timeout, failed (with the error) or unavailable."""

    status: str
    note: str = ""
    ratio: float | None = None
    anchor_s: float | None = None
    ours_s: float | None = None
    err: float | None = None
    whole: bool = True


@dataclass
class AnchorSummary:
    runs: list[AnchorRun] = field(default_factory=list)

    def ratio(self) -> float | None:
        """Median ratio over the drawings where the anchor finished."""
        ratios = [r.ratio for r in self.runs if r.ratio is not None]
        return statistics.median(ratios) if ratios else None

    def cell(self) -> str:
        r = self.ratio()
        if r is not None:
            return f"{r:.0f}x" if r >= 10 else f"{r:.2g}x"
        statuses = {run.status for run in self.runs}
        return "/".join(sorted(statuses)) or "-"

    def notes(self) -> list[str]:
        return [r.note for r in self.runs]


def _anchor_worker(name: str, conn) -> None:
    """Subprocess body: import the anchor's package once, say so, then run jobs until told to
    stop. Every error goes back as a message, so the parent can tell a failure from a timeout."""
    try:
        importlib.import_module(IMPORTS[name])
    except BaseException as exc:  # an anchor that cannot even be imported
        conn.send(("unavailable", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while (job := conn.recv()) is not None:
        try:
            net = Network(*job)
            pos = list(range(len(net.regions)))
            t = time.perf_counter()
            out = ANCHORS[name](net, pos, [])
            conn.send(("ok", (time.perf_counter() - t, out.tolist())))
        except BaseException as exc:  # reported to the parent, which prints it as a failure
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))


class AnchorProcess:
    """One anchor's subprocess, kept between runs (its package imports once: pgmpy takes
    seconds), killed and restarted after a timeout."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: Any = None
        self.conn: Any = None
        self.unavailable: str | None = None

    def _start(self) -> tuple[str, Any] | None:
        self.conn, child = mp.Pipe()
        self.proc = mp.Process(target=_anchor_worker, args=(self.name, child), daemon=True)
        self.proc.start()
        child.close()
        reply = self._receive(IMPORT_LIMIT, "import")
        if reply[0] == "ready":
            return None
        self.stop()
        if reply[0] == "unavailable":
            self.unavailable = str(reply[1])
        return reply

    def _receive(self, wait: float, stage: str) -> tuple[str, Any]:
        if not self.conn.poll(wait):
            return ("timeout" if stage == "run" else "failed"), (
                f"did not finish within {wait:.0f} s ({stage})"
            )
        try:
            return self.conn.recv()
        except EOFError:
            self.proc.join(5)
            return "failed", f"the subprocess exited with code {self.proc.exitcode} ({stage})"

    def run(self, net: Network, limit: float) -> tuple[str, Any]:
        """(status, payload): ("ok", (seconds, marginals)), ("timeout", what), ("failed",
        error) or ("unavailable", error)."""
        if self.unavailable is not None:
            return "unavailable", self.unavailable
        if self.proc is None and (failed := self._start()) is not None:
            return failed
        self.conn.send((net.causes, net.regions, net.prior, net.link, net.leak))
        reply = self._receive(limit, "run")
        if reply[0] != "ok":
            self.stop()  # a timed-out or broken worker is not reused
        return reply

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.is_alive():
            with contextlib.suppress(OSError):  # the worker may be gone already
                self.conn.send(None)
            self.proc.join(1)
        if self.proc.is_alive():
            self.proc.terminate()
        self.proc.join(5)
        self.conn.close()
        self.proc = self.conn = None


def _ours_s(net: Network, pos: np.ndarray, neg: np.ndarray, repeat: int = 20) -> tuple:
    """Median seconds of our posterior() over `repeat` runs, and its marginals."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = posterior(net, pos, neg).marginal
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def table_anchor(
    worker: AnchorProcess, net: Network, pos: np.ndarray, neg: np.ndarray, limit: float
) -> AnchorRun:
    """A table-based anchor (pgmpy, pyAgrum) on the largest prefix of the positives whose
    sub-network it finishes within `limit` seconds."""
    n = pos.size
    skipped: list[str] = []
    while n >= 1:
        sub = subnetwork(net, pos[:n], neg)
        parents = int((sub.link > 0).sum(axis=0).max())
        if parents > MAX_PARENTS:
            skipped.append(f"{n} positives: a finding has {parents} parents")
            n //= 2
            continue
        status, payload = worker.run(sub, limit)
        if status == "timeout":
            skipped.append(f"{n} positives: {payload}")
            n //= 2
            continue
        if status != "ok":
            if status == "unavailable":
                return AnchorRun(status, f"UNAVAILABLE (the package does not import): {payload}")
            return AnchorRun(status, f"{status.upper()}: {payload}")
        seconds, reference = payload
        ours, mine = _ours_s(sub, np.arange(n), np.array([], dtype=np.int64))
        err = float(np.max(np.abs(mine - np.array(reference))))
        whole = n == pos.size
        desc = f"{len(sub.causes)} causes x {n} positives, max |err| {err:.1e}"
        if err > 1e-6:
            return AnchorRun("failed", f"FAILED: disagrees with the engine ({desc})", err=err)
        if not whole:
            desc = f"prefix {desc} (" + "; ".join(skipped) + ")"
        return AnchorRun("ok", desc, seconds / ours, seconds, ours, err, whole)
    return AnchorRun("timeout", "TIMEOUT on every prefix: " + "; ".join(skipped), whole=False)


def quickscore_anchor(net: Network, pos: np.ndarray, neg: np.ndarray) -> AnchorRun:
    """Pruned Quickscore over the whole drawing, in process (numpy only)."""
    touched = int((net.link[:, pos] > 0).any(axis=1).sum())
    if pos.size > QUICKSCORE_MAX_K:
        return AnchorRun(
            "not run", f"not run: 2^{pos.size} subsets x {touched} causes is out of reach"
        )
    try:
        t = time.perf_counter()
        qs = quickscore(net, pos, neg)
        seconds = time.perf_counter() - t
    except Exception as exc:  # reported as a failure with its error
        return AnchorRun("failed", f"FAILED: {type(exc).__name__}: {exc}")
    ours, mine = _ours_s(net, pos, neg)
    err = float(np.max(np.abs(qs - mine)))
    # Quickscore's signed sum cancels: the error is its own, and the table says so.
    desc = f"{touched} causes x {pos.size} positives, {seconds * 1000:.0f} ms, max |err| {err:.1e}"
    if err > 1e-6:
        desc += " (INACCURATE: the signed sum cancels; time ratio still reported)"
    return AnchorRun("ok", desc, seconds / ours, seconds, ours, err)


def _percentiles(values: list[float]) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)}


class _StepTimer:
    """Wall time of the examine-next step inside suggest() (`results._examine`, wrapped for
    the run when this build has it), so its own p99 is reported besides the whole call's."""

    def __init__(self) -> None:
        self.inner = getattr(results, "_examine", None)
        self.last: float | None = None

    def __enter__(self) -> _StepTimer:
        if self.inner is not None:
            results._examine = self._timed  # type: ignore[attr-defined]
        return self

    def __exit__(self, *exc: object) -> None:
        if self.inner is not None:
            results._examine = self.inner  # type: ignore[attr-defined]

    def _timed(self, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return self.inner(*args, **kwargs)  # type: ignore[misc]
        finally:
            self.last = (self.last or 0.0) + (time.perf_counter() - t) * 1000


def time_suggest(drawings: list[dict[str, Any]], atlas, params) -> dict[str, Any]:
    """Wall and CPU percentiles of the whole suggest() call, and what the results said."""
    times, cpu, methods, bounds, examine, examine_ms = [], [], set(), [], [], []
    timer = _StepTimer()
    for d in drawings:
        with timer:
            timer.last = None
            c, t = time.process_time_ns(), time.perf_counter_ns()
            r = suggest(d, atlas=atlas, params=params)
            times.append((time.perf_counter_ns() - t) / 1e6)
            cpu.append((time.process_time_ns() - c) / 1e6)
        if timer.last is not None:
            examine_ms.append(timer.last)
        methods.add(r.method)
        if not r.exact:
            bounds.append(r.bound)
        examine.append(len(getattr(r, "examine_next", None) or []))
    return {
        **_percentiles(times),
        "p99_cpu": float(np.percentile(cpu, 99)),
        "p50_cpu": float(np.percentile(cpu, 50)),
        "methods": sorted(methods),
        "fallback_rate": len(bounds) / len(drawings),
        "bound_median": float(np.median(bounds)) if bounds else 0.0,
        "bound_max": max(bounds, default=0.0),
        "examine_next_min": min(examine),
        "examine_next_empty": sum(1 for e in examine if e == 0),
        "examine_step_p99": float(np.percentile(examine_ms, 99)) if examine_ms else None,
    }


def _fallback_sample(net: Network, rng: np.random.Generator, n: int, params) -> dict:
    """How often 40-region drawings exceed the exact budget, and how wide the bounds then are:
    the timed sample is too small to see a rate of about 1 %."""
    widths, ms = [], []
    for _ in range(n):
        pos = np.array([net.region_index[r] for r in patient(net, rng, 40)])
        neg = np.setdiff1d(np.arange(len(net.regions)), pos)
        t = time.perf_counter()
        post = posterior(
            net, pos, neg, exact_budget=params.exact_budget, max_active=params.approx_max_active
        )
        if not post.method.startswith("exact"):
            ms.append((time.perf_counter() - t) * 1000)
            widths.append(post.bound)
    return {
        "n": n,
        "rate": len(widths) / n,
        "median": float(np.median(widths)) if widths else 0.0,
        "max": max(widths, default=0.0),
        "ms_median": float(np.median(ms)) if ms else 0.0,
        "ms_max": max(ms, default=0.0),
    }


def _fmt(x: float | None, digits: int = 1) -> float | None:
    return None if x is None else round(x, digits)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--calls",
        type=int,
        default=None,
        metavar="N",
        help="drawings per size, each timed once (default 30 with --quick, else 200): with "
        "30, p99 is the slowest of 30; judge the p99 target with 2000 or more",
    )
    args = parser.parse_args()
    quick = args.quick
    if args.calls is not None and args.calls < 1:
        parser.error("--calls: must be at least 1")
    n_draw = args.calls if args.calls is not None else (30 if quick else 200)
    n_anchor = 2 if quick else 5
    limit = 8.0 if quick else 60.0
    load_before = os.getloadavg()
    atlas = load_atlas()
    params = default_params()
    net = network_for(atlas, params)
    rng = np.random.default_rng(20240611)
    findings_rng = np.random.default_rng(20240612)  # own stream: the drawings stay the same
    palpation_ok = "palpation" in Drawing.model_fields
    # Warm the caches a server holds after its first requests (the network of each drawing
    # mode, the per-trigger-point cards, the palpation tables), so the percentiles measure
    # the steady state, not one-off builds.
    warm, truth = simulated(net, np.random.default_rng(1), 10)
    suggest({"pain": warm}, atlas=atlas, params=params)
    suggest({"pain": warm, "complete": True}, atlas=atlas, params=params)
    if palpation_ok:
        found = palpation(net, np.random.default_rng(2), warm, truth)
        suggest({"pain": warm, "complete": True, "palpation": found}, atlas=atlas, params=params)
    workers = {name: AnchorProcess(name) for name in ANCHORS}
    rows: dict[str, dict[str, Any]] = {}
    anchors: dict[str, dict[str, AnchorSummary]] = {}
    for size in SIZES:
        sims = [simulated(net, rng, size) for _ in range(n_draw)]
        row = time_suggest([{"pain": d, "complete": True} for d, _ in sims], atlas, params)
        if palpation_ok:
            with_findings = [
                {"pain": d, "complete": True, "palpation": palpation(net, findings_rng, d, truth)}
                for d, truth in sims
            ]
            row["palpation"] = time_suggest(with_findings, atlas, params)
        per: dict[str, AnchorSummary] = {k: AnchorSummary() for k in ("quickscore", *ANCHORS)}
        for d, _ in sims[:n_anchor]:
            pos = np.array(sorted(net.region_index[r] for r in d))
            neg = np.setdiff1d(np.arange(len(net.regions)), pos)
            per["quickscore"].runs.append(quickscore_anchor(net, pos, neg))
            for name, worker in workers.items():
                per[name].runs.append(table_anchor(worker, net, pos, neg, limit))
        rows[str(size)] = row
        anchors[str(size)] = per
        print(f"size {size} done", flush=True)
    for worker in workers.values():
        worker.stop()
    extra = _fallback_sample(net, rng, 100 if quick else 1000, params)
    load_after = os.getloadavg()

    print(f"\nfull atlas: {len(atlas.muscles)} muscles, {len(net.causes)} sided trigger points, "
          f"{len(net.regions)} regions; {n_draw} complete drawings per size, anchors on the "
          f"first {n_anchor}; load average {load_before[0]:.2f} before, "
          f"{load_after[0]:.2f} after ({os.cpu_count()} cores)")  # fmt: skip
    print(
        "\nthe whole suggest() call, drawing only (ms); anchors: anchor time / our posterior time"
    )
    print(
        f"{'painful':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'p50cpu':>7} {'p99cpu':>7} {'approx':>7} "
        f"{'bound med/max':>14} {'Quickscore':>11} {'pgmpy':>9} {'pyAgrum':>9}  method"
    )
    for size, row in rows.items():
        bound = f"{row['bound_median']:.2g}/{row['bound_max']:.2g}" if row["fallback_rate"] else "-"
        a = anchors[size]
        print(
            f"{size:>7} {row['p50']:>7.2f} {row['p95']:>7.2f} {row['p99']:>7.2f} "
            f"{row['p50_cpu']:>7.2f} {row['p99_cpu']:>7.2f} {row['fallback_rate']:>7.1%} {bound:>14} "
            f"{a['quickscore'].cell():>11} {a['pgmpy'].cell():>9} {a['pyagrum'].cell():>9}  "
            + "/".join(row["methods"])
        )
    if palpation_ok:
        print("\nthe same call with 3 palpation findings (examine_next computed in the call, ms)")
        print(
            f"{'painful':>7} {'p50':>7} {'p95':>7} {'p99':>7} {'p50cpu':>7} {'p99cpu':>7} "
            f"{'exam p99':>8}  "
            "examine_next"
        )
        for size, row in rows.items():
            p = row["palpation"]
            ex = (
                f"{p['examine_next_empty']} of {n_draw} results EMPTY"
                if p["examine_next_empty"]
                else f"non-empty in all {n_draw} (at least {p['examine_next_min']})"
            )
            step = p["examine_step_p99"]
            print(
                f"{size:>7} {p['p50']:>7.2f} {p['p95']:>7.2f} {p['p99']:>7.2f} "
                f"{p['p50_cpu']:>7.2f} {p['p99_cpu']:>7.2f} "
                f"{(f'{step:.2f}' if step is not None else '-'):>8}  {ex}"
            )
        print("exam p99: the examine-next step alone (inside the call; wall ms)")
    else:
        print("\npalpation: not measured (this build's Drawing has no `palpation` field)")
    print("\nanchors, per drawing:")
    for size, per in anchors.items():
        for name, summary in per.items():
            for n, note in enumerate(summary.notes()):
                print(f"  {size:>2} regions, drawing {n}, {name}: {note}")

    checks = {}
    for size in ("5", "10", "20"):
        checks[f"p99 < {TARGET_MS:g} ms at {size}"] = rows[size]["p99"] < TARGET_MS
        if palpation_ok:
            p = rows[size]["palpation"]
            checks[f"p99 < {TARGET_MS:g} ms at {size} with findings + examine_next"] = (
                p["p99"] < TARGET_MS
            )
    if palpation_ok:
        p = rows["20"]["palpation"]
        step = p["examine_step_p99"]
        checks[f"examine-next step alone p99 < {EXAMINE_TARGET_MS:g} ms at 20"] = (
            step is not None and step < EXAMINE_TARGET_MS
        )
        checks[f"whole call with findings + examine_next p99 < {EXAMINE_TARGET_MS:g} ms at 20"] = (
            p["p99"] < EXAMINE_TARGET_MS
        )
        checks["examine_next non-empty on every drawing with findings, up to 20"] = all(
            rows[s]["palpation"]["examine_next_empty"] == 0 for s in ("5", "10", "20")
        )
    print("\ntargets:")
    for name, ok in checks.items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}")
    print(
        f"bounded approximation at 40 painful regions, {extra['n']} more drawings (posterior "
        f"only): {extra['rate']:.1%}; interval width median {extra['median']:.2g}, max "
        f"{extra['max']:.2g}; time median {extra['ms_median']:.0f} ms, max {extra['ms_max']:.0f} ms"
    )
    print(
        "p50cpu/p99cpu: process CPU time per call (time.process_time_ns around it: wall time "
        "minus waiting for a core on a shared machine); "
        "approx: share of drawings solved by the bounded approximation (truncated-k<K>); "
        "bound: median/max width of their widest posterior interval"
    )

    def ratios(name: str) -> dict[str, float | None]:
        return {s: _fmt(per[name].ratio()) for s, per in anchors.items()}

    print(
        json.dumps(
            {
                "p50_ms": {s: round(r["p50"], 3) for s, r in rows.items()},
                "p95_ms": {s: round(r["p95"], 3) for s, r in rows.items()},
                "p99_ms": {s: round(r["p99"], 3) for s, r in rows.items()},
                "p99_cpu_ms": {s: round(r["p99_cpu"], 3) for s, r in rows.items()},
                "p50_cpu_ms": {s: round(r["p50_cpu"], 3) for s, r in rows.items()},
                "palpation_ms": {
                    s: {
                        q: round(r["palpation"][q], 3)
                        for q in ("p50", "p95", "p99", "p99_cpu", "p50_cpu")
                    }
                    for s, r in rows.items()
                }
                if palpation_ok
                else None,
                "examine_step_p99_ms": {
                    s: _fmt(r["palpation"]["examine_step_p99"], 3) for s, r in rows.items()
                }
                if palpation_ok
                else None,
                "examine_next_empty": {
                    s: r["palpation"]["examine_next_empty"] for s, r in rows.items()
                }
                if palpation_ok
                else None,
                "speedup_vs_quickscore": ratios("quickscore"),
                "speedup_vs_pgmpy": ratios("pgmpy"),
                "speedup_vs_pyagrum": ratios("pyagrum"),
                "anchor_status": {
                    s: {name: [r.status for r in a.runs] for name, a in per.items()}
                    for s, per in anchors.items()
                },
                "anchor_whole_drawing": {
                    s: {name: [r.whole for r in a.runs] for name, a in per.items()}
                    for s, per in anchors.items()
                },
                "fallback_rate": {s: r["fallback_rate"] for s, r in rows.items()},
                "bound_width_median": {s: r["bound_median"] for s, r in rows.items()},
                "bound_width_max": {s: r["bound_max"] for s, r in rows.items()},
                "fallback_sample_40": extra,
                "targets": checks,
                "target_p99_ms": {s: TARGET_MS for s in ("5", "10", "20")},
                "calls_per_size": n_draw,
                "load_average": [round(x, 2) for x in (*load_before, *load_after)],
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
