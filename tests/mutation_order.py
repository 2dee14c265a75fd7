"""pytest plugin for `make mutation` (issue 18): run a mutant's tests fastest first.

mutmut 3 hands each mutant the tests that reach the mutated function as an unordered set
and stops at the first failure (`-x`), so a mutant that a 0.01 s test kills often waited for
seconds of slower tests first. With this plugin (loaded through `pytest_add_cli_args` in
pyproject's `[tool.mutmut]`) the tests run in the order of the durations mutmut measured in
its stats run (`mutmut-stats.json` in the mutants folder). It changes nothing outside a
mutant's run: not the stats or clean runs, and not `make test`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

STATS = "mutmut-stats.json"


def _durations(root: Path) -> dict[str, float]:
    try:
        return json.loads((root / STATS).read_text("utf-8")).get("duration_by_test", {})
    except (OSError, ValueError):
        return {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "__mutmut_" not in os.environ.get("MUTANT_UNDER_TEST", ""):
        return  # not a mutant's run
    durations = _durations(Path(str(config.rootpath)))
    if durations:
        items.sort(key=lambda item: durations.get(item.nodeid, float("inf")))
