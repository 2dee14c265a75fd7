"""What a database writer without the key file can do to the chain, and how verify names it.

Each case tampers with the database directly (as an attacker with write access would) and
checks that verification fails with a message that names what happened.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.audit.helpers import (
    append,
    check,
    checkpoint,
    count,
    cut_tail,
    other_key,
    rehash,
    swap,
)
from triggerpoint.audit.keys import _key_from_secret
from triggerpoint.audit.service import event_hash, legacy_hash

pytestmark = pytest.mark.usefixtures("audit_files")


def _has(result, *words: str) -> bool:
    return any(all(w in p for w in words) for p in result.problems)


def test_cut_tail_after_a_checkpoint_names_the_missing_events(fresh_db):
    append(fresh_db, 56)  # 57 events with the chain_keyed one
    line = checkpoint(fresh_db)
    assert line["events"] == 57 and line["head_id"] == 57
    append(fresh_db, 3, start=56)
    cut_tail(fresh_db, keep=40)  # delete the newest events and rewind the head onto event 40
    result = check(fresh_db)
    assert not result.ok and result.events == 40
    day = line["at"][:10]
    assert _has(result, "events 41-57 missing", f"checkpoint of {day}", "recorded 57 events")
    assert _has(result, "the chain has 40")
    assert len(result.problems) == 1, result.problems  # the chain itself is consistent


def test_cut_tail_is_found_from_a_copy_when_the_checkpoint_file_is_gone(fresh_db, audit_files):
    append(fresh_db, 9)
    checkpoint(fresh_db)
    copy = audit_files.checkpoints.with_name("copy-kept-elsewhere.jsonl")
    copy.write_text(audit_files.checkpoints.read_text())
    audit_files.checkpoints.unlink()
    cut_tail(fresh_db, keep=5)
    alone = check(fresh_db)
    assert alone.ok  # nothing in the database shows the cut...
    assert any("checkpoint file" in w and "is missing" in w for w in alone.warnings)
    result = check(fresh_db, checkpoint_files=[copy])  # ...the copy does
    assert _has(result, "events 6-10 missing", "copy-kept-elsewhere.jsonl", "the chain has 5")


def test_deleted_checkpoint_file_is_reported(fresh_db, audit_files):
    append(fresh_db, 5)
    checkpoint(fresh_db)
    checkpoint(fresh_db)
    audit_files.checkpoints.unlink()
    result = check(fresh_db)
    assert result.ok  # the chain verifies; the missing anchor is a warning, never silence
    (warning,) = result.warnings
    assert f"checkpoint file {audit_files.checkpoints} is missing" in warning
    assert "records 2 checkpoint(s) written to it" in warning
    assert "deleted or moved" in warning


def test_lines_removed_from_the_checkpoint_file_are_reported(fresh_db, audit_files):
    append(fresh_db, 5)
    checkpoint(fresh_db)
    append(fresh_db, 5)
    checkpoint(fresh_db)
    first, _second = audit_files.checkpoints.read_text().splitlines()
    audit_files.checkpoints.write_text(first + "\n")
    result = check(fresh_db)
    assert any("no longer holds" in w and "lines were removed" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda cp: {**cp, "events": cp["events"] - 1}, "its MAC does not verify"),
        (lambda cp: {**cp, "head": "f" * 64}, "its MAC does not verify"),
    ],
)
def test_edited_checkpoint_line_is_named(fresh_db, audit_files, edit, expected):
    append(fresh_db, 5)
    line = checkpoint(fresh_db)
    audit_files.checkpoints.write_text(json.dumps(edit(line)) + "\n")
    result = check(fresh_db)
    assert _has(result, expected, "edited or forged")


def test_garbage_in_the_checkpoint_file_is_named(fresh_db, audit_files):
    append(fresh_db, 2)
    checkpoint(fresh_db)
    with audit_files.checkpoints.open("a") as f:
        f.write("this is not json\n")
    result = check(fresh_db)
    assert _has(result, "line 2: not a checkpoint")


def test_rehashed_with_plain_sha256_after_an_edit(fresh_db):
    append(fresh_db, 20)
    with fresh_db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 7"))
    rehash(fresh_db, legacy_hash)  # every row and the head, as the old scheme allowed
    result = check(fresh_db)
    assert not result.ok
    assert _has(result, "events 1-21", "re-hashed with plain SHA-256", "without the audit key")


def test_rehashed_as_an_old_unkeyed_chain(fresh_db):
    """Pretending the chain predates keys: delete the chain_keyed event, re-hash with SHA-256."""
    append(fresh_db, 20)
    with fresh_db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 7"))
        conn.execute(text("DELETE FROM audit_event WHERE id = 1"))
    rehash(fresh_db, legacy_hash)
    result = check(fresh_db)
    assert not result.ok
    assert _has(result, "20 plain SHA-256 events are not sealed", "re-hashed without the audit key")
    append(fresh_db, 2)  # the app writes on: it does not seal a chain for a key it did not create
    result = check(fresh_db)
    assert _has(result, "20 plain SHA-256 events are not sealed")


def test_rehashed_with_another_key(fresh_db):
    append(fresh_db, 20)
    with fresh_db.begin() as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = 7"))
    wrong = other_key()
    rehash(fresh_db, lambda ev: event_hash(ev, wrong))
    result = check(fresh_db)
    assert not result.ok
    assert _has(result, "no keyed event verifies with the configured audit key", "another key")
    assert _has(result, "events 1-21 (21 events): contents do not match their MACs")


@pytest.mark.parametrize(("a", "b"), [(5, 6), (5, 9)])
def test_swapped_events_are_named(fresh_db, a, b):
    append(fresh_db, 12)
    swap(fresh_db, a, b)
    result = check(fresh_db)
    assert not result.ok
    assert _has(result, f"events {a} and {b} are swapped")
    assert _has(result, f"event {a}: chain broken: out of order")


def test_rewritten_newest_event_without_the_key(fresh_db):
    append(fresh_db, 10)
    line = checkpoint(fresh_db)  # covers events 1-11; the checkpoint event is the 12th
    newest = count(fresh_db)
    from triggerpoint.audit.models import AuditEvent
    from triggerpoint.db import open_session

    with open_session(clinic_id=None, engine=fresh_db) as s:
        ev = s.get(AuditEvent, newest)
        ev.detail = {"events": 0, "file": "nowhere"}
        ev.hash = legacy_hash(ev)  # the best a database writer can do without the key
        s.commit()
    with fresh_db.begin() as conn:
        conn.execute(
            text("UPDATE audit_head SET last_hash = (SELECT hash FROM audit_event WHERE id = :i)"),
            {"i": newest},
        )
    result = check(fresh_db)
    assert _has(result, f"event {newest}: hashed with plain SHA-256", "rewritten")
    assert len(result.problems) == 1, result.problems
    assert line["events"] == newest - 1


def test_rewritten_newest_event_covered_by_a_checkpoint(fresh_db):
    append(fresh_db, 10)
    line = checkpoint(fresh_db)  # records 11 events; the checkpoint event is the 12th
    from triggerpoint.audit.models import AuditEvent, AuditHead
    from triggerpoint.db import open_session

    with open_session(clinic_id=None, engine=fresh_db) as s:
        s.delete(s.get(AuditEvent, 12))
        ev = s.get(AuditEvent, 11)
        ev.actor = "mallory"
        ev.hash = legacy_hash(ev)
        head = s.get(AuditHead, 1)
        head.last_hash, head.count = ev.hash, 11
        s.commit()
    result = check(fresh_db)
    assert _has(result, "event 11: hashed with plain SHA-256", "rewritten")
    assert _has(result, f"checkpoint of {line['at'][:10]}", "recorded event 11", "rewritten")


def test_changed_key_is_named(fresh_db, audit_files):
    append(fresh_db, 10)
    line = checkpoint(fresh_db)
    audit_files.key.unlink()
    append(fresh_db, 2)  # the app creates a new key (and logs it loudly) and writes on
    result = check(fresh_db)
    assert not result.ok
    assert _has(result, "the audit key has changed", "chain was keyed with key", line["key_id"])
    assert _has(result, "the audit key has changed", "checkpoint(s)", "made with key")
    assert _has(result, "events 1-12 (12 events): contents do not match their MACs")


def test_replaced_key_file_is_named(fresh_db, audit_files):
    append(fresh_db, 4)
    checkpoint(fresh_db)
    import os

    audit_files.key.write_text(os.urandom(32).hex() + "\n")
    os.chmod(audit_files.key, 0o600)
    new = _key_from_secret(audit_files.key, bytes.fromhex(audit_files.key.read_text().strip()))
    result = check(fresh_db)
    assert _has(result, "the audit key has changed", new.id)
    assert _has(result, "no keyed event verifies with the configured audit key")
