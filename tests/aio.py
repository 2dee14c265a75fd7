"""Run a coroutine to completion from a synchronous test, whatever else this worker ran.

A browser test earlier in the same xdist worker may leave Playwright's event loop running
on the main thread, where `asyncio.run()` refuses ("cannot be called from a running event
loop"). A thread of its own always has no loop, so the coroutine runs the same either way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
