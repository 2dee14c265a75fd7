"""Benchmark: CPU of route matching for bench/load.py's mix, with and without the guards of
web/routing.py (issue 19).

FastAPI asks the app's route list in order, and each included router walks its own routes
before it answers "no". This times that loop alone, as the app's router runs it (each entry's
`matches` until the first full match), for one path of each kind of the load mix and for
`/healthz` and a page, on two copies of the app built in this process: one as
`create_app` builds it (guarded) and one with the guards taken off (the anchor, the same run).
No database is touched: matching reads only the path and the method.

Prints a table (microseconds of CPU per request, the median of `--repeat` batches) and a
final JSON line with the ratio guarded / plain per path and for the mix (weighted as
bench/load.py weighs it). The machine may be shared: the figures are upper bounds, the
ratios are what to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rich.console import Console
from rich.table import Table

MIX_PATHS = {  # kind of bench/load.py's mix: (method, a path of that kind)
    "list": ("GET", "/api/patients"),
    "search": ("GET", "/api/patients"),
    "timeline": ("GET", "/api/patients/5/visits"),
    "drawing": ("POST", "/api/patients/5/pain-drawings"),
    "suggest": ("POST", "/api/suggest"),
    "needle": ("POST", "/api/needling-sessions/3/entries"),
    "outcome": ("POST", "/api/patients/5/measurements"),
}
OTHER_PATHS = {"healthz": ("GET", "/healthz"), "page": ("GET", "/patients")}


def _apps():  # type: ignore[no-untyped-def]  # (guarded, plain) FastAPI apps
    from triggerpoint.web.app import create_app
    from triggerpoint.web.routing import GUARD

    guarded, plain = create_app(migrate=False), create_app(migrate=False)
    for route in plain.router.routes:
        vars(route).pop("matches", None)
        vars(route).pop(GUARD, None)
    return guarded, plain


def _loop_cpu(app, method: str, path: str, n: int) -> float:  # type: ignore[no-untyped-def]
    """CPU seconds per request of the router's matching loop, over n requests."""
    from starlette.routing import Match

    routes = app.router.routes
    base = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    found = False
    t0 = time.process_time()
    for _ in range(n):
        for route in routes:
            match, _scope = route.matches(dict(base))
            if match is Match.FULL:
                found = True
                break
    took = (time.process_time() - t0) / n
    if not found:
        raise RuntimeError(f"{method} {path}: no route matched")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300, help="requests per batch (default 300)")
    ap.add_argument("--repeat", type=int, default=7, help="batches per path and app (7)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tp-route-")
    os.environ.setdefault("TRIGGERPOINT_DATABASE_URL", f"sqlite:///{tmp}/route.sqlite3")
    os.environ.setdefault("TRIGGERPOINT_AUDIT_KEY_FILE", f"{tmp}/audit.key")
    try:
        guarded, plain = _apps()
        paths = {**MIX_PATHS, **OTHER_PATHS}
        for app in (guarded, plain):  # first requests build FastAPI's (and the guards') tables
            for method, path in paths.values():
                _loop_cpu(app, method, path, 3)
        us: dict[str, dict[str, float]] = {}
        for kind, (method, path) in paths.items():
            runs: dict[str, list[float]] = {"guarded": [], "plain": []}
            for _ in range(args.repeat):  # alternate, so drifts in load hit both alike
                runs["plain"].append(_loop_cpu(plain, method, path, args.n))
                runs["guarded"].append(_loop_cpu(guarded, method, path, args.n))
            us[kind] = {k: statistics.median(v) * 1e6 for k, v in runs.items()}
    except Exception as exc:  # the anchor (or the guarded app) failed: say why
        print(json.dumps({"bench": "route_match", "error": repr(exc)}))
        return 1
    import load  # bench/load.py: the mix's weights

    table = Table(title="CPU of route matching per request, µs (median of batches)")
    for col in ("kind", "path", "plain (anchor)", "guarded", "guarded / plain"):
        table.add_column(col, justify="left" if col in ("kind", "path") else "right")
    for kind, row in us.items():
        method, path = paths[kind]
        ratio = row["guarded"] / row["plain"]
        table.add_row(
            kind, f"{method} {path}", f"{row['plain']:.0f}", f"{row['guarded']:.0f}", f"{ratio:.2f}"
        )
    weights = load.MIX
    mix = {
        k: sum(us[kind][k] * w for kind, w in weights.items()) / sum(weights.values())
        for k in ("plain", "guarded")
    }
    table.add_row(
        "mix (weighted)",
        "",
        f"{mix['plain']:.0f}",
        f"{mix['guarded']:.0f}",
        f"{mix['guarded'] / mix['plain']:.2f}",
    )
    Console().print(table)
    print(
        json.dumps(
            {
                "bench": "route_match",
                "us_per_request": {
                    k: {a: round(v, 1) for a, v in r.items()} for k, r in us.items()
                },
                "mix_us": {k: round(v, 1) for k, v in mix.items()},
                "mix_ratio_guarded_over_plain": round(mix["guarded"] / mix["plain"], 3),
                "anchor": "the same app without the guards, same run",
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
