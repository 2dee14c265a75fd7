"""The audit key file: created private, refused when others can read it, noticed when lost."""

from __future__ import annotations

import logging
import os
import stat

import pytest

from tests.audit.helpers import append, check
from triggerpoint.audit.keys import AuditKeyError, checkpoint_path, key_path, load_key
from triggerpoint.audit.service import Actor, prepare_key, record
from triggerpoint.db import open_session


def test_key_is_created_lazily_private_and_loudly(fresh_db, audit_files, caplog):
    assert not audit_files.key.exists()
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        append(fresh_db, 1)
    assert stat.S_IMODE(audit_files.key.stat().st_mode) == 0o600
    assert any("AUDIT KEY CREATED" in r.getMessage() for r in caplog.records)
    assert str(audit_files.key) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        append(fresh_db, 1)
    assert not caplog.records  # once only
    assert check(fresh_db).ok


def test_setup_creates_the_key_up_front(fresh_db, audit_files, caplog):
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        with open_session(clinic_id=None, engine=fresh_db) as s:
            key = prepare_key(s)
        assert key.created and audit_files.key.exists()
        with open_session(clinic_id=None, engine=fresh_db) as s:
            assert not prepare_key(s).created  # idempotent: the same key
        append(fresh_db, 2)
    assert not caplog.records  # nothing lazy happened
    assert check(fresh_db).ok


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_key_readable_by_others_is_refused(fresh_db, audit_files, mode):
    append(fresh_db, 1)
    os.chmod(audit_files.key, mode)
    with open_session(clinic_id=None, engine=fresh_db) as s:
        record(s, actor=Actor.system(), action="create", entity="patient", entity_id=1)
        with pytest.raises(AuditKeyError, match=r"has mode 0\d{3}.*chmod 600"):
            s.commit()  # nothing is written unsigned: the whole transaction fails
    with pytest.raises(AuditKeyError, match="open to its group or to others"):
        check(fresh_db)
    os.chmod(audit_files.key, 0o600)
    result = check(fresh_db)
    assert result.ok and result.events == 2


def test_key_file_that_holds_no_key_is_refused(audit_files):
    audit_files.key.parent.mkdir(parents=True)
    audit_files.key.write_text("not a key\n")
    os.chmod(audit_files.key, 0o600)
    with pytest.raises(AuditKeyError, match="does not hold a key"):
        load_key(audit_files.key)


def test_missing_key_file_is_named_by_verify(fresh_db, audit_files):
    append(fresh_db, 3)
    audit_files.key.unlink()
    result = check(fresh_db)
    assert any("audit key file is missing" in p for p in result.problems), result.problems
    assert not audit_files.key.exists()  # verification never creates a key


def test_default_files_sit_beside_the_sqlite_database(monkeypatch, tmp_path):
    from triggerpoint.config import get_settings

    monkeypatch.delenv("TRIGGERPOINT_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("TRIGGERPOINT_AUDIT_CHECKPOINT_FILE", raising=False)
    monkeypatch.setenv("TRIGGERPOINT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        db = f"sqlite:///{tmp_path}/clinic/tp.sqlite3"
        assert key_path(db) == tmp_path / "clinic" / "audit.key"
        assert checkpoint_path(db) == tmp_path / "clinic" / "audit-checkpoints.jsonl"
        pg = "postgresql+psycopg://u@h/db"
        assert key_path(pg) == tmp_path / "data" / "audit.key"
    finally:
        get_settings.cache_clear()
