"""The vignette evaluation table at the end of a test run (tune and held-out splits).

`test_vignettes.py` stores its EvalReport (as JSON) in `config.stash`; under xdist the worker
hands it to the controller through `workeroutput`, and `pytest_terminal_summary` prints it.
The hooks are re-exported from `tests.inference.vignette_summary` so the root conftest can
also load that module as a plugin (a controller only loads conftest files near its arguments).
"""

from __future__ import annotations

from tests.inference.vignette_summary import (
    REPORT_KEY,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_testnodedown,
)

__all__ = ["REPORT_KEY", "pytest_sessionfinish", "pytest_terminal_summary", "pytest_testnodedown"]
