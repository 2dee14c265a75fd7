"""Benchmark: loading and validating the whole atlas (target < 200 ms).

Anchor, measured in the same run: parsing the same YAML files without validation. The ratio
says what schema validation, region checks and mirroring cost on top of reading the files.
Prints a table and a final JSON line. `--quick` runs fewer repetitions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import yaml

from triggerpoint.atlas.loader import _YamlLoader, data_dir, load_atlas_dir
from triggerpoint.bodychart.catalog import load_catalog


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    n = 5 if parser.parse_args().quick else 20
    catalog = load_catalog()
    files = sorted(data_dir().glob("*.yaml"))
    full, parse = [], []
    for _ in range(n):
        t = time.perf_counter()
        atlas = load_atlas_dir(data_dir(), catalog)
        full.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        for f in files:
            yaml.load(f.read_text("utf-8"), Loader=_YamlLoader)
        parse.append((time.perf_counter() - t) * 1000)
    row = {
        "muscles": len(atlas.muscles),
        "sided_trigger_points": len(atlas.trigger_points),
        "load_ms_p50": statistics.median(full),
        "load_ms_max": max(full),
        "parse_only_ms_p50": statistics.median(parse),
    }
    row["ratio_vs_parse_only"] = row["load_ms_p50"] / row["parse_only_ms_p50"]
    print(f"{'measure':<34}{'value':>10}")
    print(
        f"{'muscles / sided trigger points':<34}{row['muscles']:>5} / {row['sided_trigger_points']}"
    )
    print(f"{'full load + validation p50 (ms)':<34}{row['load_ms_p50']:>10.1f}")
    print(f"{'full load max (ms) (target < 200)':<34}{row['load_ms_max']:>10.1f}")
    print(f"{'YAML parse only p50 (ms) (anchor)':<34}{row['parse_only_ms_p50']:>10.1f}")
    print(f"{'ratio full / parse-only':<34}{row['ratio_vs_parse_only']:>10.2f}")
    print(json.dumps(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
