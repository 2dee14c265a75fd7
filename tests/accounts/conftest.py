"""Fixtures of the account tests: a clinic of one's own, and settings changed for one test."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.accounts.kit import Staff, new_staff
from triggerpoint.config import get_settings


@pytest.fixture
def staff(world) -> Staff:
    """A fresh clinic (admin, clinician, assistant) that a test may deactivate or reset."""
    return new_staff()


@pytest.fixture
def settings_env(monkeypatch) -> Iterator[Callable[..., None]]:
    """`settings_env(rate_limit_pdf="2/minute")`: TRIGGERPOINT_* set for this test only."""

    def set_(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"TRIGGERPOINT_{name.upper()}", str(value))
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()  # re-read once monkeypatch has put the environment back
