"""A/B benchmark: the whole `suggest()` call of two source trees, timed alternately.

Each tree runs in its own worker process (`PYTHONPATH=<tree>/src`, the same venv), loaded
side by side. For each drawing the parent sends the same request to both, in alternating
order (old-new, then new-old), and each worker times the call with its thread CPU time
(`time.thread_time_ns`, which leaves out waiting for a core on a shared machine). The drawings
come from `bench/suggest.py`'s generator, a fresh drawing per call (as a server meets them:
structural caches cold for their large components), complete, optionally with its three
palpation findings. Prints a table of mean / p50 / p99 per size and side, the ratio of the
means (old / new, so above 1 is faster), and a final JSON line.

`--check N` also compares the first N results of each size: every probability within 1e-9 and
every ranked list in the same order, except among scores tied within 1e-12 relative.

    .venv/bin/python bench/suggest_ab.py --old /tmp/old --new . --calls 2000 --sizes 5 10 20 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

WORKER = r"""
import json, sys, time, gc
from triggerpoint.atlas.loader import load_atlas
from triggerpoint.inference.params import default_params
from triggerpoint.inference.service import suggest
atlas = load_atlas(); params = default_params()
for line in sys.stdin:
    job = json.loads(line)
    if job is None:
        break
    t = time.thread_time_ns()
    r = suggest(job["drawing"], atlas=atlas, params=params)
    ms = (time.thread_time_ns() - t) / 1e6
    out = {"ms": ms}
    if job.get("check"):
        out["result"] = r.model_dump(mode="json")
    sys.stdout.write(json.dumps(out) + "\n"); sys.stdout.flush()
"""


class Side:
    def __init__(self, tree: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree / "src"), OPENBLAS_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(tree),
        )

    def call(self, drawing: dict[str, Any], check: bool = False) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"drawing": drawing, "check": check}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"worker exited with {self.proc.wait()}")
        return json.loads(line)

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("null\n")
        self.proc.stdin.close()
        self.proc.wait(10)


TIE = 1e-12


def _ranked_ok(a: list[Any], b: list[Any], score: str) -> bool:
    """Same order, except where neighbouring scores tie within TIE relative."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x == y:
            continue
        if not isinstance(x, dict) or score not in x or score not in y:
            return False
        sx, sy = float(x[score]), float(y[score])
        if abs(sx - sy) > TIE * max(abs(sx), abs(sy), 1e-300):
            return False
    return True


def compare(a: Any, b: Any, path: str = "") -> list[str]:
    """Differences beyond the tolerance: numbers within 1e-9, lists of dicts with a score in
    the same order but for ties; elapsed_ms ignored."""
    if path.endswith("elapsed_ms"):
        return []
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float) and abs(a - b) <= 1e-9:
            return []
        return [f"{path}: {a!r} != {b!r}"]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [e for k in a for e in compare(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        errs = [e for n, (x, y) in enumerate(zip(a, b, strict=True))
                for e in compare(x, y, f"{path}[{n}]")]  # fmt: skip
        if not errs:
            return []
        # a reordering among tied entries: match each entry of a to an equal one of b
        key = next((k for k in ("probability", "p_any_active", "score", "gain_bits")
                    if a and isinstance(a[0], dict) and k in a[0]), None)  # fmt: skip
        if key is None:
            return errs
        left = list(b)
        for x in a:
            hit = next((y for y in left if not compare(x, y, path)), None)
            if hit is None:
                return errs
            left.remove(hit)
        scores = [float(x[key]) for x in a]
        for s, t in zip(scores, [float(y[key]) for y in b], strict=True):
            if abs(s - t) > TIE * max(abs(s), abs(t), 1e-300) + 1e-9:
                return errs
        return []
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--old", type=Path, required=True, help="source tree A (has src/)")
    parser.add_argument("--new", type=Path, default=Path("."), help="source tree B")
    parser.add_argument("--calls", type=int, default=2000, help="drawings per size")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 20, 40])
    parser.add_argument("--findings", action="store_true", help="with 3 palpation findings")
    parser.add_argument("--check", type=int, default=0, metavar="N")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from suggest import palpation, simulated  # the bench's generator

    from triggerpoint.atlas.loader import load_atlas
    from triggerpoint.inference.network import network_for
    from triggerpoint.inference.params import default_params

    atlas = load_atlas()
    net = network_for(atlas, default_params())
    old, new = Side(args.old.resolve()), Side(args.new.resolve())
    rng = np.random.default_rng(20240611)
    frng = np.random.default_rng(20240612)
    warm, truth = simulated(net, np.random.default_rng(1), 10)
    for side in (old, new):
        for d in ({"pain": warm}, {"pain": warm, "complete": True}):
            side.call(d)
        side.call({"pain": warm, "complete": True,
                   "palpation": palpation(net, np.random.default_rng(2), warm, truth)})  # fmt: skip
    load_before = os.getloadavg()
    rows: dict[str, Any] = {}
    mismatches: list[str] = []
    t0 = time.time()
    for size in args.sizes:
        times: dict[str, list[float]] = {"old": [], "new": []}
        for n in range(args.calls):
            regions, truth = simulated(net, rng, size)
            d: dict[str, Any] = {"pain": regions, "complete": True}
            if args.findings:
                d["palpation"] = palpation(net, frng, regions, truth)
            check = n < args.check
            order = ((old, "old"), (new, "new")) if n % 2 == 0 else ((new, "new"), (old, "old"))
            out = {}
            for side, name in order:
                out[name] = side.call(d, check)
                times[name].append(out[name]["ms"])
            if check:
                errs = compare(out["old"]["result"], out["new"]["result"])
                mismatches += [f"size {size} drawing {n}: {e}" for e in errs[:3]]
        row = {}
        for name, ts in times.items():
            a = np.array(ts)
            row[name] = {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)),
                         "p99": float(np.percentile(a, 99))}  # fmt: skip
        row["ratio_mean"] = row["old"]["mean"] / row["new"]["mean"]
        row["ratio_p99"] = row["old"]["p99"] / row["new"]["p99"]
        rows[str(size)] = row
        print(f"size {size} done ({time.time() - t0:.0f} s)", file=sys.stderr, flush=True)
    old.stop()
    new.stop()
    load_after = os.getloadavg()
    what = "with 3 findings" if args.findings else "drawing only"
    print(f"\nthread CPU ms of the whole suggest() call, {args.calls} complete drawings per size, "
          f"{what}; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} cores)")  # fmt: skip
    print(f"{'painful':>7} | {'old mean':>8} {'p50':>6} {'p99':>6} | {'new mean':>8} {'p50':>6} "
          f"{'p99':>6} | {'mean old/new':>12} {'p99 old/new':>11}")  # fmt: skip
    for size, r in rows.items():
        o, w = r["old"], r["new"]
        print(f"{size:>7} | {o['mean']:>8.2f} {o['p50']:>6.2f} {o['p99']:>6.2f} | "
              f"{w['mean']:>8.2f} {w['p50']:>6.2f} {w['p99']:>6.2f} | "
              f"{r['ratio_mean']:>11.2f}x {r['ratio_p99']:>10.2f}x")  # fmt: skip
    if args.check:
        print(
            f"\noutputs compared on the first {args.check} drawings per size: "
            + (f"{len(mismatches)} MISMATCHES" if mismatches else "all within tolerance")
        )
        for m in mismatches[:20]:
            print("  " + m)
    print(
        json.dumps(
            {
                "rows": rows,
                "calls": args.calls,
                "findings": args.findings,
                "checked": args.check,
                "mismatches": len(mismatches),
                "load_average": [round(x, 2) for x in (*load_before, *load_after)],
            }
        )
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
