"""The import contracts (pyproject.toml `[tool.importlinter]`) hold, and each one bites.

`make test` runs `lint-imports` on the tree before pytest. Here each contract is run on a copy
of the source with one import added that breaks it, and must fail; the unchanged copy passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# contract id, the module that gets the import, the import that breaks the contract
BREAKS = [
    ("entry-points", "records/service.py", "import triggerpoint.web.app"),
    ("entry-points", "accounts/service.py", "import triggerpoint.cli.main"),
    ("routes", "treatment/service.py", "import triggerpoint.records.pages"),
    ("routes", "cli/records.py", "import triggerpoint.records.router"),
    ("domain-layers", "records/models.py", "import triggerpoint.records.service"),
    ("knowledge", "bodychart/catalog.py", "import triggerpoint.records.models"),
    ("ui", "ui/templating.py", "import triggerpoint.bodychart.catalog"),
    ("acyclic", "config.py", "import triggerpoint.db"),
    ("acyclic", "records/schemas.py", "import triggerpoint.records.service"),
]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python files of src/triggerpoint and the project's pyproject.toml, copied."""
    root = tmp_path_factory.mktemp("contracts")
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copytree(
        ROOT / "src" / "triggerpoint",
        root / "src" / "triggerpoint",
        ignore=lambda d, names: [
            n for n in names if n == "__pycache__" or ("." in n and not n.endswith(".py"))
        ],
    )
    return root


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    args = [arg for c in contracts for arg in ("--contract", c)]
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src")},  # ahead of the editable install
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_copied_source_keeps_every_contract(source: Path) -> None:
    run = lint_imports(source)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "broken" in run.stdout and " 0 broken" in run.stdout


@pytest.mark.parametrize(("contract", "module", "line"), BREAKS)
def test_an_import_that_breaks_a_contract_fails_it(
    source: Path, contract: str, module: str, line: str
) -> None:
    target = source / "src" / "triggerpoint" / module
    original = target.read_text("utf-8")
    target.write_text(f"{original}\n{line}  # added by the test\n", "utf-8")
    try:
        run = lint_imports(source, contract)
    finally:
        target.write_text(original, "utf-8")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0 kept, 1 broken" in run.stdout
    # the report names the added import (so it read the copy, not the installed tree)
    importer = "triggerpoint." + module.removesuffix(".py").replace("/", ".")
    imported = line.removeprefix("import ")
    assert _names(run.stdout, contract, importer, imported), run.stdout


def _names(report: str, contract: str, importer: str, imported: str) -> bool:
    if contract != "acyclic":
        return importer in report and imported in report
    # a cycle is reported in the package holding both ends, by their names relative to it
    a, b = importer.split("."), imported.split(".")
    n = next(i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y)
    package, x, y = ".".join(a[:n]), f".{a[n]}", f".{b[n]}"
    return f"No cycles are allowed in {package}." in report and (
        f"{x} -> {y}" in report or f"{y} -> {x}" in report
    )
