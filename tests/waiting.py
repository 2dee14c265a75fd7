"""Ordering threads in tests without timing: wait until a condition holds."""

from __future__ import annotations

import threading
from collections.abc import Callable


def wait_for(cond: Callable[[], object], what: str) -> None:
    """Spin until `cond()` holds, with a generous cap (about 10 s on a quiet machine) that
    only turns a hang into a failure naming `what`: never asserted as a time."""
    pause = threading.Event()
    for _ in range(10_000):
        if cond():
            return
        pause.wait(0.001)
    raise AssertionError(f"never happened: {what}")
