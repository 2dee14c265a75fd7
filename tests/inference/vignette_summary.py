"""Pytest hooks that print the vignette evaluation after the run (see tests/inference/conftest.py).

The report travels as plain JSON, because xdist's workeroutput must be serialisable, and is
printed at most once even when these hooks are registered twice (conftest and plugin).
"""

from __future__ import annotations

import io
from typing import Any

import pytest

REPORT_KEY = pytest.StashKey[dict[str, Any]]()
_PRINTED = pytest.StashKey[bool]()
_WORKER_KEY = "triggerpoint_vignette_report"


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    report = config.stash.get(REPORT_KEY, None)
    if report is not None and hasattr(config, "workeroutput"):
        config.workeroutput[_WORKER_KEY] = report


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    report = getattr(node, "workeroutput", {}).get(_WORKER_KEY)
    if report is not None:
        node.config.stash[REPORT_KEY] = report


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    report = config.stash.get(REPORT_KEY, None)
    if report is None or config.stash.get(_PRINTED, False):
        return
    config.stash[_PRINTED] = True
    from rich.console import Console

    from triggerpoint.cli.suggest_eval import print_tables
    from triggerpoint.inference.evaluation import EvalReport

    parsed = EvalReport.model_validate(report)
    shown = parsed.model_copy(
        update={"calibration": {k: v for k, v in parsed.calibration.items() if k != "all"}}
    )
    buffer = io.StringIO()
    print_tables(shown, out=Console(file=buffer, width=110, force_terminal=False))
    terminalreporter.write_sep("=", "vignette evaluation (suggest-eval --split all)")
    terminalreporter.write(buffer.getvalue())
