"""Mutation testing of the safety-critical code, one module at a time (`make mutation`).

The modules, the functions mutated in each and the test folder that must kill them are
in pyproject.toml under `[tool.mutmut.module.<name>]`; the shared mutmut options are the
rest of `[tool.mutmut]`. For every module this script builds a working copy in
build/mutation/<name>/ (src, tests and a pyproject.toml whose `[tool.mutmut]` names only
that module's files and test folder), runs `mutmut run <function globs>` there and reads
the verdicts mutmut left in mutants/**/*.py.meta. It prints the score per module and every
survivor, and writes build/mutation/summary.json. mutmut 3 runs, for each mutant, only the
tests of the selected folder that reach the mutated function.

    python tools/mutation.py                 # every module
    python tools/mutation.py safety audit    # some of them
    python tools/mutation.py --report        # re-read the last verdicts, run nothing
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "mutation"
KILLED = {1, 3, 36, 24, -24, 152, 255}  # test failure, pytest internal error, timeouts
SURVIVED = {0}
STATUS = {None: "not run", 34: "skipped", 35: "suspect", 37: "typecheck"}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _without_mutmut_tables(text: str) -> str:
    """pyproject.toml without its [tool.mutmut...] tables (the copy gets its own)."""
    out, skipping = [], False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            name = stripped.strip("[]").strip()
            skipping = name == "tool.mutmut" or name.startswith("tool.mutmut.")
        if not skipping:
            out.append(line)
    return "\n".join(out) + "\n"


def _config() -> tuple[dict, dict[str, dict]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["mutmut"]
    modules = data.pop("module")
    return data, modules


def _prepare(name: str, module: dict, shared: dict) -> Path:
    work = BUILD / name
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", work / "src", ignore=ignore)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore)
    own = dict(shared)
    own["only_mutate"] = module["files"]
    own["pytest_add_cli_args_test_selection"] = module["tests"]
    text = _without_mutmut_tables((ROOT / "pyproject.toml").read_text("utf-8"))
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in own.items())
    (work / "pyproject.toml").write_text(text, "utf-8")
    return work


def _verdicts(name: str, module: dict) -> dict[str, int | None]:
    """Exit code per mutant of this module's selected functions (None: not run)."""
    found: dict[str, int | None] = {}
    for meta in sorted((BUILD / name / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {})
        for mutant, code in codes.items():
            if any(fnmatch.fnmatch(mutant, g) for g in module["functions"]):
                found[mutant] = code
    return found


def _summary(name: str, module: dict) -> dict:
    verdicts = _verdicts(name, module)
    killed = sorted(m for m, c in verdicts.items() if c in KILLED)
    survived = sorted(m for m, c in verdicts.items() if c in SURVIVED)
    other = sorted(m for m, c in verdicts.items() if c not in KILLED | SURVIVED)
    total = len(killed) + len(survived) + len(other)
    score = 100.0 * len(killed) / total if total else 0.0
    return {
        "module": name,
        "mutants": total,
        "killed": len(killed),
        "survived": len(survived),
        "not_killed_other": {m: verdicts[m] for m in other},
        "score": round(score, 1),
        "survivors": survived,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help="module names (default: all)")
    parser.add_argument("--report", action="store_true", help="only report the last run")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")))
    args = parser.parse_args()
    shared, modules = _config()
    names = args.modules or list(modules)
    unknown = [n for n in names if n not in modules]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {list(modules)}")
    mutmut = Path(sys.executable).with_name("mutmut")
    results = []
    for name in names:
        module = modules[name]
        if not args.report:
            work = _prepare(name, module, shared)
            print(f"== {name}: mutating {', '.join(module['functions'])}", flush=True)
            started = time.monotonic()
            env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
            run = subprocess.run(
                [str(mutmut), "run", "--max-children", str(args.jobs), *module["functions"]],
                cwd=work,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            (work / "mutmut-run.log").write_text(run.stdout, "utf-8")
            print(f"   mutmut exited {run.returncode} after {time.monotonic() - started:.0f}s")
            if run.returncode not in (0, 1):
                print(run.stdout[-3000:])
        results.append(_summary(name, module))
    print()
    print(f"{'module':<12}{'mutants':>9}{'killed':>8}{'survived':>10}{'other':>7}{'score':>8}")
    for r in results:
        print(
            f"{r['module']:<12}{r['mutants']:>9}{r['killed']:>8}{r['survived']:>10}"
            f"{len(r['not_killed_other']):>7}{r['score']:>7.1f}%"
        )
    for r in results:
        if r["survivors"] or r["not_killed_other"]:
            print(
                f"\n-- {r['module']}: not killed (`mutmut show NAME` in build/mutation/{r['module']})"
            )
            for m in r["survivors"]:
                print(f"   survived  {m}")
            untested: dict[str, int] = {}
            for m, code in r["not_killed_other"].items():
                if code == 33:  # no test of the folder reaches the function
                    fn = m.rsplit("__mutmut_", 1)[0]
                    untested[fn] = untested.get(fn, 0) + 1
                else:
                    print(f"   {STATUS.get(code, f'code {code}'):<9} {m}")
            for fn, n in untested.items():
                print(f"   no test   {fn} ({n} mutants)")
    BUILD.mkdir(parents=True, exist_ok=True)
    (BUILD / "summary.json").write_text(json.dumps(results, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
