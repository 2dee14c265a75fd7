"""Fixtures shared by the research registry's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from triggerpoint.portal.jobs import huey


@pytest.fixture
def immediate() -> Iterator[None]:
    """The queue runs each task as it is enqueued (after the commit that enqueued it), in the
    same process, as the portal's API tests run theirs."""
    huey.immediate = True
    try:
        yield
    finally:
        huey.immediate = False
