"""The old (plain SHA-256) chain at its seal and in checkpoints (issue 18): survivors of the
audit mutation run in `_seal` and `take_checkpoint`, written as security sentences."""

from __future__ import annotations

import logging

from sqlalchemy import select

from tests.audit.helpers import append, check, checkpoint_all
from tests.audit.test_audit_legacy import _markers, _old_chain
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import CHECKPOINT
from triggerpoint.db import open_session

OTHER_KEY = "does not verify with the new audit key"


def test_an_old_chain_is_sealed_once_however_many_appends_follow_in_the_same_process(
    fresh_db, audit_files
):
    _old_chain(fresh_db, 6)
    append(fresh_db, 2)
    append(fresh_db, 2)
    append(fresh_db, 1, clinic_id=2)
    (marker,) = _markers(fresh_db)
    assert marker.detail["legacy_events"] == 6
    result = check(fresh_db)
    assert result.ok, result.problems
    assert result.legacy_events == 6


def test_an_old_chain_sealed_with_another_key_is_reported_loudly_when_a_new_key_appears(
    fresh_db, audit_files, caplog
):
    """A lost key file replaced by a new one: the old chain's seal no longer verifies, so the
    first append under the new key says to restore the original, and seals nothing again."""
    _old_chain(fresh_db, 4)
    with caplog.at_level(logging.ERROR, logger="triggerpoint.audit"):
        append(fresh_db, 1)
    assert OTHER_KEY not in caplog.text  # the key that sealed the chain is the one in use
    audit_files.key.unlink()
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="triggerpoint.audit"):
        append(fresh_db, 1)
    assert OTHER_KEY in caplog.text
    assert len(_markers(fresh_db)) == 1


def test_a_checkpoint_records_the_sealed_old_chain_first_with_its_head_and_appends_nothing_to_it(
    fresh_db, audit_files
):
    _old_chain(fresh_db, 5)
    append(fresh_db, 3)
    append(fresh_db, 2, clinic_id=2)
    with open_session(clinic_id=None, engine=fresh_db) as s:
        heads = {h.chain: (h.last_hash, h.count) for h in s.scalars(select(AuditHead))}
        legacy_head_id = s.scalar(select(AuditEvent.id).where(AuditEvent.hash == heads[None][0]))
    lines = checkpoint_all(fresh_db)
    assert [ln["chain"] for ln in lines] == [None, 1, 2]  # ascending, the closed chain first
    old = lines[0]
    assert (old["head"], old["events"], old["head_id"]) == (*heads[None], legacy_head_id)
    assert old["events"] == 5 + 2  # the old events and its seal (chain_keyed, chain_split)
    for line in lines[1:]:
        assert (line["head"], line["events"]) == heads[line["chain"]]
    with open_session(clinic_id=None, engine=fresh_db) as s:
        marked = s.scalars(select(AuditEvent.chain).where(AuditEvent.action == CHECKPOINT))
        assert sorted(marked) == [1, 2]  # every open chain notes it; the closed one does not
    assert check(fresh_db).ok
