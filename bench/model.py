"""Benchmark: 100,000 virtual trigger points for 30 days, vectorised (target <= 2 s).

Anchor, measured in the same run: a straightforward loop that simulates one trigger point at
a time with the same code (n = 1 arrays). The loop is timed on a sample of trigger points and
scaled to 100,000 (the per-trigger-point cost is constant); the table says so. Prints a table
and a final JSON line. `--quick` uses a smaller loop sample.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from triggerpoint.physiology.dynamics import Needling, equilibrium, simulate

N, DAYS, DT = 100_000, 30, 0.1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    sample = 20 if parser.parse_args().quick else 100
    rng = np.random.default_rng(0)
    load = rng.uniform(0.5, 1.0, N)
    start = equilibrium(load, days=120, dt=1.0)
    needling = Needling(np.zeros(N), rng.poisson(2.5, N).astype(float), rng.uniform(0.3, 1.0, N))
    t = time.perf_counter()
    result = simulate(start, load * 0.5, days=DAYS, dt=DT, needling=needling, record=False)
    vec = time.perf_counter() - t
    assert np.isfinite(result.at_end("local_pain")).all()

    t = time.perf_counter()
    for i in range(sample):
        one = equilibrium(load[i : i + 1], days=120, dt=1.0)
        simulate(
            one,
            load[i : i + 1] * 0.5,
            days=DAYS,
            dt=DT,
            needling=Needling(
                np.zeros(1), needling.twitches[i : i + 1], needling.accuracy[i : i + 1]
            ),
            record=False,
        )
    loop_per_tp = (time.perf_counter() - t) / sample
    # subtract nothing: the loop also pays its own equilibrium per trigger point, like the vectorised
    # run paid one (shared) equilibrium; measure that share separately to report both honestly
    t = time.perf_counter()
    equilibrium(load, days=120, dt=1.0)
    vec_eq = time.perf_counter() - t
    loop_total = loop_per_tp * N
    row = {
        "trigger_points": N,
        "days": DAYS,
        "dt_days": DT,
        "vectorised_s": vec,
        "vectorised_incl_equilibrium_s": vec + vec_eq,
        "loop_sample": sample,
        "loop_estimated_s": loop_total,
        "speedup": loop_total / (vec + vec_eq),
    }
    print(f"{'measure':<46}{'value':>12}")
    print(f"{'vectorised simulate, 100k TPs x 30 d (s)':<46}{vec:>12.2f}   target <= 2 s")
    print(f"{'  + vectorised starting equilibrium (s)':<46}{vec + vec_eq:>12.2f}")
    print(f"{f'per-TP loop, {sample} TPs timed, scaled to 100k (s)':<46}{loop_total:>12.1f}")
    print(f"{'speed-up (loop / vectorised, both incl. equilibrium)':<46}{row['speedup']:>11.0f}x")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
