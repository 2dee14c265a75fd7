"""Audit tests keep their key and checkpoint files in the test's own directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from triggerpoint.config import get_settings
from triggerpoint.db import get_engine


@dataclass
class AuditFiles:
    key: Path
    checkpoints: Path


@pytest.fixture
def audit_files(tmp_path, monkeypatch) -> AuditFiles:
    """TRIGGERPOINT_AUDIT_KEY_FILE / _CHECKPOINT_FILE for this test only (created on use)."""
    files = AuditFiles(tmp_path / "secret" / "audit.key", tmp_path / "audit-checkpoints.jsonl")
    monkeypatch.setenv("TRIGGERPOINT_AUDIT_KEY_FILE", str(files.key))
    monkeypatch.setenv("TRIGGERPOINT_AUDIT_CHECKPOINT_FILE", str(files.checkpoints))
    get_settings.cache_clear()
    yield files
    get_settings.cache_clear()


@pytest.fixture
def cli_db(fresh_db, audit_files, monkeypatch):
    """`fresh_db`, made the configured database, so the `cli` fixture's commands act on it."""
    monkeypatch.setenv(
        "TRIGGERPOINT_DATABASE_URL", fresh_db.url.render_as_string(hide_password=False)
    )
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield fresh_db
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
