"""Choose `completeness` (params.yaml) on the TUNED vignettes only, never the held-back third.

Reads every tuned vignette as a complete chart (the mode the parameter acts on) and as written,
for each candidate value, and prints top-1/3/5 and the Brier score. The chosen value is the one
with the best top-3 accuracy in complete mode, then top-1, then the lower Brier score; it must
also pass tests/inference/test_completeness.py (one essential region left out of a clear
pattern costs at most two ranks). Usage: .venv/bin/python tools/tune_completeness.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from triggerpoint.inference.evaluation import evaluate, load_vignettes
from triggerpoint.inference.params import default_params

VALUES = (1.0, 0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def main() -> int:
    tuned = [v for v in load_vignettes(Path("tests/inference/vignettes")) if v.split == "tune"]
    base = default_params()
    rows = []
    print(f"{len(tuned)} tuned vignettes (the held-back third is not read)")
    print(f"{'completeness':>12} {'mode':>10} {'top1':>6} {'top3':>6} {'top5':>6} {'Brier':>7}")
    for c in VALUES:
        params = base.model_copy(update={"completeness": c})
        for mode in ("complete", "as_written"):
            rep = evaluate(tuned, params=params, mode=mode)
            acc = rep.splits["tune"].accuracy
            brier = rep.calibration["tune"].brier or 0.0
            rows.append({"completeness": c, "mode": mode, **acc, "brier": brier})
            print(
                f"{c:>12.2f} {mode:>10} {acc['top1']:>6.1%} {acc['top3']:>6.1%} "
                f"{acc['top5']:>6.1%} {brier:>7.4f}"
            )
    complete = [r for r in rows if r["mode"] == "complete"]
    best = max(complete, key=lambda r: (r["top3"], r["top1"], -r["brier"]))
    print(json.dumps({"chosen": best["completeness"], "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
