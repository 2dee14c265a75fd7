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
    python tools/mutation.py --only '*x_sign__*' treatment   # some functions of a module
    python tools/mutation.py --screen treatment [--screen-tests FILE ...]

Every mutmut run, screen and diagnosis hashes passwords at Argon2's floor cost
(TRIGGERPOINT_ARGON2_* below, printed at the start): at the production cost one hash takes
about 0.2 CPU s, and the accounts tests make hundreds per mutant. A hash carries its cost, so
no test depends on it; the test suite itself (`make test`) keeps the production cost.

`--screen` is the quick pass: it reuses the mutants a previous run generated in
build/mutation/<name>/mutants and, for every mutant that run did not see killed, runs the
given test files (default: the module's test folder) with that mutant switched on through
MUTANT_UNDER_TEST, `-x`, SQLite only, a fixed wall limit and no forking from a warm
process; so a mutant of a cached function is examined fresh. Its verdicts (killed,
survived, timeout) are written to build/mutation/<name>/screen.json and override mutmut's
for the report; a screen that runs only some tests gives a floor on the kills.
"""

from __future__ import annotations

import argparse
import concurrent.futures
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
KILLED = {1, 3}  # a test failed (or pytest hit an internal error)
# A timeout is not proof that a test would fail: on a loaded machine healthy mutants time
# out too, so timeouts are counted apart and left out of the score (`--screen` settles them).
TIMEOUT = {36, 24, -24, 152, 255}
SURVIVED = {0}
STATUS = {None: "not run", 34: "skipped", 35: "suspect", 37: "typecheck"}
# Argon2's own floors (argon2-cffi refuses less): for the mutants' test runs only.
CHEAP_ARGON2 = {
    "TRIGGERPOINT_ARGON2_TIME_COST": "1",
    "TRIGGERPOINT_ARGON2_MEMORY_COST": "8",
    "TRIGGERPOINT_ARGON2_PARALLELISM": "1",
}


def _test_env(**extra: str) -> dict[str, str]:
    """The environment of every test run here: cheap password hashing, no bytecode files."""
    return dict(os.environ, **CHEAP_ARGON2, PYTHONDONTWRITEBYTECODE="1", **extra)


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
    # Folders the tests import besides src and tests (`also_copy`: tests/inference imports
    # bench/anchors.py); mutmut copies them on into mutants/.
    for extra in shared.get("also_copy", []):
        shutil.copytree(ROOT / extra, work / extra, ignore=ignore)
    own = dict(shared)
    own["only_mutate"] = module["files"]
    own["pytest_add_cli_args_test_selection"] = module["tests"]
    text = _without_mutmut_tables((ROOT / "pyproject.toml").read_text("utf-8"))
    text += "\n[tool.mutmut]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in own.items())
    (work / "pyproject.toml").write_text(text, "utf-8")
    return work


def _stopped_early(output: str) -> bool:
    """Whether mutmut gave up before the mutants (its exit code is 1 then, as after a run)."""
    return any(
        msg in output
        for msg in ("failed to collect stats", "Failed to run clean test", "Stopping early")
    )


def _diagnose(name: str, module: dict, shared: dict, output: str) -> None:
    """mutmut swallows the pytest output of its stats and clean runs: rerun the module's
    tests in mutants/ the way its stats run does and show why they fail there."""
    last = [ln for ln in output.splitlines() if ln.strip()][-1:]
    print(f"   mutmut stopped before the mutants: {last[0] if last else '?'}")
    mutants = BUILD / name / "mutants"
    env = _test_env(
        MUTANT_UNDER_TEST="stats",
        PY_IGNORE_IMPORTMISMATCH="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(mutants / "src"), str(mutants)])),
    )
    cmd = [sys.executable, "-m", "pytest", "--rootdir=.", "-x", "-q", "--tb=short"]
    cmd += [*shared.get("pytest_add_cli_args", []), *module["tests"]]
    print(f"   rerunning in {mutants}: {' '.join(cmd[1:])}")
    run = subprocess.run(cmd, cwd=mutants, env=env, capture_output=True, text=True)
    print((run.stdout + run.stderr)[-3000:])


def _verdicts(name: str, module: dict) -> dict[str, int | None]:
    """Exit code per mutant of this module's selected functions (None: not run)."""
    found: dict[str, int | None] = {}
    for meta in sorted((BUILD / name / "mutants").rglob("*.py.meta")):
        codes = json.loads(meta.read_text("utf-8")).get("exit_code_by_key", {})
        for mutant, code in codes.items():
            if any(fnmatch.fnmatch(mutant, g) for g in module["functions"]):
                found[mutant] = code
    return found


def _screened(name: str) -> dict[str, int]:
    path = BUILD / name / "screen.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def _summary(name: str, module: dict) -> dict:
    verdicts = _verdicts(name, module)
    screened = {m: c for m, c in _screened(name).items() if m in verdicts}
    verdicts.update(screened)
    killed = sorted(m for m, c in verdicts.items() if c in KILLED)
    timeouts = sorted(m for m, c in verdicts.items() if c in TIMEOUT)
    survived = sorted(m for m, c in verdicts.items() if c in SURVIVED)
    other = sorted(m for m, c in verdicts.items() if c not in KILLED | TIMEOUT | SURVIVED)
    total = len(verdicts)
    score = 100.0 * len(killed) / total if total else 0.0
    return {
        "module": name,
        "mutants": total,
        "killed": len(killed),
        "timeouts": len(timeouts),
        "survived": len(survived),
        "screened": len(screened),
        "not_killed_other": {m: verdicts[m] for m in other},
        "score": round(score, 1),
        "survivors": survived,
        "timed_out": timeouts,
    }


def _screen_one(mutants: Path, mutant: str, tests: list[str], limit: float) -> int:
    # The venv's editable install points at the repo's src: without mutants/src first on
    # the path the tests would import the unmutated code and every mutant would "survive".
    env = _test_env(
        MUTANT_UNDER_TEST=mutant,
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(mutants / "src"), os.environ.get("PYTHONPATH")])
        ),
    )
    # --tb=native, as mutmut runs them: pytest's own tracebacks parse the mutated module
    # (every mutant of the file, several MB) and a kill took 25-40 s instead of 1 s.
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "--tb=native", "-p", "no:cacheprovider"]
    cmd += ["-n", "0", "-k", "not postgresql", *tests]
    try:
        run = subprocess.run(cmd, cwd=mutants, env=env, capture_output=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return 36
    return 1 if run.returncode not in (0, 5) else run.returncode


def _screen(name: str, module: dict, tests: list[str], jobs: int, limit: float) -> None:
    """Settle every mutant mutmut did not see killed by running `tests` on it directly."""
    mutants = BUILD / name / "mutants"
    if not mutants.exists():
        raise SystemExit(f"{mutants} is missing: run `tools/mutation.py {name}` first")
    todo = [m for m, c in _verdicts(name, module).items() if c not in KILLED]
    print(f"== {name}: screening {len(todo)} mutants against {' '.join(tests)}", flush=True)
    started = time.monotonic()
    found = _screened(name)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_screen_one, mutants, m, tests, limit): m for m in todo}
        for future in concurrent.futures.as_completed(futures):
            found[futures[future]] = future.result()
    (BUILD / name / "screen.json").write_text(json.dumps(found, indent=1, sort_keys=True), "utf-8")
    print(f"   screened in {time.monotonic() - started:.0f}s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("modules", nargs="*", help="module names (default: all)")
    parser.add_argument("--report", action="store_true", help="only report the last run")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("MUTATION_JOBS", "2")))
    parser.add_argument("--screen", action="store_true", help="screen the last run's mutants")
    parser.add_argument(
        "--screen-tests", nargs="+", default=None, metavar="FILE", help="tests for --screen"
    )
    parser.add_argument(
        "--screen-limit", type=float, default=120.0, help="wall seconds per screened mutant"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="mutate only the module's functions matching GLOB (repeatable), e.g. '*x_sign__*'",
    )
    args = parser.parse_args()
    shared, modules = _config()
    names = args.modules or list(modules)
    unknown = [n for n in names if n not in modules]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {list(modules)}")
    mutmut = Path(sys.executable).with_name("mutmut")
    if not args.report:
        cheap = " ".join(f"{k}={v}" for k, v in CHEAP_ARGON2.items())
        print(f"password hashing at Argon2's floor cost for these test runs: {cheap}", flush=True)
    results = []
    for name in names:
        module = modules[name]
        if args.only:
            picked = [
                g for g in module["functions"] if any(fnmatch.fnmatch(g, o) for o in args.only)
            ]
            module = dict(module, functions=picked or args.only)
        if args.screen:
            _screen(
                name, module, args.screen_tests or module["tests"], args.jobs, args.screen_limit
            )
        elif not args.report:
            work = _prepare(name, module, shared)
            print(f"== {name}: mutating {', '.join(module['functions'])}", flush=True)
            started = time.monotonic()
            env = _test_env()
            log_path = work / "mutmut-run.log"
            with log_path.open("w", encoding="utf-8") as log:  # written as it runs: tail it
                run = subprocess.run(
                    [str(mutmut), "run", "--max-children", str(args.jobs), *module["functions"]],
                    cwd=work,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            output = log_path.read_text("utf-8", errors="replace")
            print(f"   mutmut exited {run.returncode} after {time.monotonic() - started:.0f}s")
            if run.returncode not in (0, 1):
                print(output[-3000:])
            elif _stopped_early(output):
                _diagnose(name, module, shared, output)
        results.append(_summary(name, module))
    print()
    print(
        f"{'module':<12}{'mutants':>9}{'killed':>8}{'timeout':>9}{'survived':>10}"
        f"{'other':>7}{'score':>8}{'screened':>10}"
    )
    for r in results:
        print(
            f"{r['module']:<12}{r['mutants']:>9}{r['killed']:>8}{r['timeouts']:>9}"
            f"{r['survived']:>10}{len(r['not_killed_other']):>7}{r['score']:>7.1f}%"
            f"{r['screened']:>10}"
        )
    print("score: killed / mutants; timeouts are not counted as killed")
    for r in results:
        if r["survivors"] or r["timed_out"] or r["not_killed_other"]:
            print(
                f"\n-- {r['module']}: not killed (`mutmut show NAME` in build/mutation/{r['module']})"
            )
            for m in r["survivors"]:
                print(f"   survived  {m}")
            for m in r["timed_out"]:
                print(f"   timeout   {m}")
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
