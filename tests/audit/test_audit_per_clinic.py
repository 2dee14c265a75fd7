"""One audit chain per clinic (issue 19): each verifies alone, tampering is reported for its
clinic only, appends lock only their own chain's head, and an old global chain survives the
upgrade as a sealed legacy segment."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from alembic import command
from sqlalchemy import event, insert, select, text
from sqlalchemy.exc import OperationalError

from tests.audit.helpers import append, check, checkpoint, checkpoint_all
from triggerpoint.audit.keys import load_key
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import (
    CHAIN_ENTITY,
    GENESIS,
    KEYED,
    SPLIT,
    Actor,
    _canonical,
    _checkpoint_mac,
    _write_pending,
    event_hash,
    record,
    signing_key,
)
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import alembic_config


def _by_chain(result) -> dict:
    return {c.chain: c for c in result.chains}


def test_each_clinics_chain_verifies_on_its_own(fresh_db, audit_files):
    append(fresh_db, 3, clinic_id=1)
    append(fresh_db, 2, clinic_id=2)
    append(fresh_db, 2, clinic_id=1, start=3)
    result = check(fresh_db)
    assert result.ok, result.problems
    chains = _by_chain(result)
    assert {c: (r.events, r.ok) for c, r in chains.items()} == {1: (6, True), 2: (3, True)}
    assert result.events == 9
    with open_session(clinic_id=None, engine=fresh_db) as s:
        rows = s.execute(
            select(AuditEvent.chain, AuditEvent.seq, AuditEvent.prev_hash, AuditEvent.hash)
            .where(AuditEvent.chain.is_not(None))
            .order_by(AuditEvent.id)
        ).all()
        heads = {h.chain: (h.last_hash, h.count) for h in s.scalars(select(AuditHead))}
    for chain in (1, 2):
        mine = [r for r in rows if r.chain == chain]
        assert [r.seq for r in mine] == list(range(1, len(mine) + 1))
        assert mine[0].prev_hash == GENESIS  # each chain starts at its own genesis
        assert all(b.prev_hash == a.hash for a, b in pairwise(mine))
        assert heads[chain] == (mine[-1].hash, len(mine))


def test_tampering_in_one_clinic_is_reported_for_that_clinic_only(fresh_db, audit_files):
    append(fresh_db, 3, clinic_id=1)
    append(fresh_db, 3, clinic_id=2)
    with fresh_db.begin() as conn:
        victim = conn.execute(
            text("SELECT id FROM audit_event WHERE chain = 1 AND seq = 3")
        ).scalar_one()
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE id = :i"), {"i": victim})
    result = check(fresh_db)
    chains = _by_chain(result)
    assert not result.ok
    assert not chains[1].ok and chains[1].first_broken_event == victim
    assert chains[1].problems == [
        f"event {victim}: contents do not match its MAC (edited, or made with another key)"
    ]
    assert chains[2].ok and chains[2].problems == [] and chains[2].first_broken_event is None
    assert result.problems == chains[1].problems


def test_an_event_moved_to_another_clinics_chain_breaks_both(fresh_db, audit_files):
    append(fresh_db, 2, clinic_id=1)
    append(fresh_db, 2, clinic_id=2)
    with fresh_db.begin() as conn:
        moved = conn.execute(
            text("SELECT id FROM audit_event WHERE chain = 1 AND seq = 2")
        ).scalar_one()
        conn.execute(text("UPDATE audit_event SET chain = 2, seq = 99 WHERE id = :i"), {"i": moved})
    chains = _by_chain(check(fresh_db))
    assert not chains[1].ok and not chains[2].ok  # the MAC covers the chain it was written to


def test_rewriting_a_clinics_newest_event_with_a_fresh_mac_is_detected(fresh_db, audit_files):
    append(fresh_db, 2, clinic_id=1)
    append(fresh_db, 2, clinic_id=2)
    with open_session(clinic_id=None, engine=fresh_db) as s:
        newest = s.scalars(
            select(AuditEvent).where(AuditEvent.chain == 2).order_by(AuditEvent.seq.desc())
        ).first()
        newest.detail = {"i": "rewritten"}
        newest.hash = event_hash(newest)  # even someone holding the key...
        newest_id = newest.id
        s.commit()
    chains = _by_chain(check(fresh_db))
    assert chains[1].ok
    (problem,) = chains[2].problems  # ...cannot move the head that still names the old MAC
    assert problem.startswith("head records the newest MAC as ")
    assert f"the newest event (id {newest_id})" in problem


def test_a_transaction_for_two_clinics_locks_their_heads_in_ascending_order(fresh_db, audit_files):
    append(fresh_db, 1, clinic_id=1)
    append(fresh_db, 1, clinic_id=2)
    locked: list[object] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT") and "FROM audit_head" in statement:
            locked.append(parameters)

    event.listen(fresh_db, "before_cursor_execute", seen)
    try:
        with open_session(clinic_id=None, engine=fresh_db) as s:
            for clinic in (2, 1, None):  # recorded in another order
                record(s, actor=Actor(None, clinic, "admin"), action="read", entity="patient")
            s.commit()
    finally:
        event.remove(fresh_db, "before_cursor_execute", seen)
    chains = [p[0] if isinstance(p, tuple | list) else next(iter(p.values())) for p in locked]
    assert [c for c in chains if c is not None][-3:] == [0, 1, 2]
    assert check(fresh_db).ok


def test_checkpoints_are_taken_and_compared_per_chain(fresh_db, audit_files):
    append(fresh_db, 2, clinic_id=1)
    append(fresh_db, 4, clinic_id=2)
    lines = checkpoint_all(fresh_db)
    assert [(ln["chain"], ln["events"]) for ln in lines] == [(1, 3), (2, 5)]
    key = load_key(audit_files.key)
    assert all(ln["mac"] == _checkpoint_mac(key, ln) for ln in lines)
    with fresh_db.begin() as conn:  # clinic 2's newest events cut off, its head rewound
        conn.execute(text("DELETE FROM audit_event WHERE chain = 2 AND seq > 3"))
        last = conn.execute(
            text("SELECT hash FROM audit_event WHERE chain = 2 AND seq = 3")
        ).scalar_one()
        conn.execute(
            text("UPDATE audit_head SET last_hash = :h, count = 3 WHERE chain = 2"), {"h": last}
        )
    chains = _by_chain(check(fresh_db))
    assert chains[1].ok and chains[1].checkpoints == 1
    assert not chains[2].ok
    assert any("missing: checkpoint of" in p for p in chains[2].problems), chains[2].problems


def test_a_forged_chain_in_a_checkpoint_line_breaks_its_mac(fresh_db, audit_files):
    append(fresh_db, 1, clinic_id=1)
    line = checkpoint(fresh_db)
    audit_files.checkpoints.write_text(json.dumps({**line, "chain": 2}) + "\n")
    result = check(fresh_db)
    assert any("its MAC does not verify: edited or forged" in p for p in result.problems)


# --- the upgrade: an old global chain becomes the sealed legacy segment -----------------------


def _old_keyed_chain(engine, key, n: int) -> tuple[str, dict]:
    """What the release before issue 19 wrote: one global keyed chain, head row 1, and a v1
    checkpoint line of it."""
    t0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    prev, rows = GENESIS, []
    specs = [
        (
            None,
            "system",
            KEYED,
            CHAIN_ENTITY,
            {"scheme": "hmac-sha256", "key_id": key.id, "legacy_events": 0},
        )
    ]
    specs += [(1 + i % 2, "alice", "read", "patient", {"i": i}) for i in range(n - 1)]
    for i, (clinic, actor, action, entity, detail) in enumerate(specs):
        ev = AuditEvent(
            at=t0 + timedelta(minutes=i),
            clinic_id=clinic,
            user_id=None,
            actor=actor,
            action=action,
            entity=entity,
            entity_id=None,
            detail=detail,
            prev_hash=prev,
        )
        ev.hash = prev = key.mac(_canonical(ev))
        rows.append(
            {
                c: getattr(ev, c)
                for c in (
                    "at",
                    "clinic_id",
                    "user_id",
                    "actor",
                    "action",
                    "entity",
                    "entity_id",
                    "detail",
                    "prev_hash",
                    "hash",
                )
            }
        )
    with engine.begin() as conn:  # only the old columns: chain and seq do not exist yet
        conn.execute(insert(AuditEvent.__table__), rows)
        conn.execute(insert(AuditHead.__table__).values(id=1, last_hash=prev, count=n))
    line = {
        "v": 1,
        "at": (t0 + timedelta(hours=1)).isoformat(timespec="microseconds"),
        "events": n,
        "head_id": n,
        "head": prev,
        "scheme": "hmac-sha256",
        "key_id": key.id,
    }
    line["mac"] = _checkpoint_mac(key, line)
    return prev, line


@pytest.fixture
def old_release_db(db_url, request, tmp_path):
    """A database at the schema before per-clinic chains (revision d6e7f8a9b0c1)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/old.sqlite3"
    else:
        url = request.getfixturevalue("pg_server").create_database("tp_audit_old_release")
    engine = make_engine(url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "d6e7f8a9b0c1")
    yield engine, cfg
    engine.dispose()


def test_an_old_global_chain_verifies_after_the_upgrade_as_a_sealed_legacy_segment(
    old_release_db, audit_files
):
    engine, cfg = old_release_db
    key = signing_key(engine.url)  # the key the old release made
    old_head, line = _old_keyed_chain(engine, key, 7)
    audit_files.checkpoints.write_text(json.dumps(line, sort_keys=True) + "\n")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")  # schema only: no key needed, nothing re-hashed
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM audit_event WHERE chain IS NULL")).scalar() == 7
        )
        assert conn.execute(text("SELECT chain, count FROM audit_head")).all() == [(None, 7)]

    before = check(engine)  # before any append: the legacy chain alone, not yet closed
    assert before.ok, before.problems
    append(engine, 2, clinic_id=1)  # the first append after the upgrade closes it
    append(engine, 1, clinic_id=2)
    append(engine, 1, clinic_id=1, start=2)
    result = check(engine)
    assert result.ok, result.problems
    chains = _by_chain(result)
    assert {c: r.events for c, r in chains.items()} == {None: 8, 1: 4, 2: 2}
    assert chains[None].checkpoints == 1  # the old v1 line is the legacy chain's
    with open_session(clinic_id=None, engine=engine) as s:
        split = s.scalars(select(AuditEvent).where(AuditEvent.action == SPLIT)).one()
    assert split.chain is None and split.prev_hash == old_head and split.detail["events"] == 7
    assert len([ln for ln in checkpoint_all(engine) if ln["chain"] is None]) == 1
    assert check(engine).ok

    with engine.begin() as conn:  # nothing may be appended to the legacy chain after its seal
        conn.execute(
            text(
                "INSERT INTO audit_event (at, actor, action, entity, detail, prev_hash, hash) "
                "VALUES (:at, 'mallory', 'read', 'patient', '{}', :p, :h)"
            ),
            {"at": datetime.now(UTC), "p": split.hash, "h": "f" * 64},
        )
    chains = _by_chain(check(engine))
    assert not chains[None].ok and chains[1].ok and chains[2].ok
    assert any("after its chain_split seal" in p for p in chains[None].problems)


# --- PostgreSQL: clinics never wait on each other's head lock --------------------------------


@pytest.fixture
def pg_db(pg_server):
    """A migrated PostgreSQL database: row locks are what this half is about."""
    from triggerpoint.migrate import upgrade

    engine = make_engine(pg_server.create_database("tp_audit_head_locks"))
    upgrade(engine)
    yield engine
    engine.dispose()


def test_postgresql_two_clinics_never_wait_on_each_others_head_lock(pg_db, audit_files):
    fresh_db = pg_db
    append(fresh_db, 1, clinic_id=1)
    append(fresh_db, 1, clinic_id=2)
    holder = open_session(clinic_id=None, engine=fresh_db)
    try:
        record(holder, actor=Actor(7, 1, "alice"), action="read", entity="patient", entity_id=1)
        _write_pending(holder)  # appended under clinic 1's head lock, not committed
        assert holder.in_transaction()

        with open_session(clinic_id=None, engine=fresh_db) as other:  # clinic 2 commits
            other.execute(text("SET LOCAL lock_timeout = '2s'"))
            record(other, actor=Actor(8, 2, "erin"), action="read", entity="patient")
            other.commit()
        with fresh_db.connect() as conn:
            assert (
                conn.execute(text("SELECT count FROM audit_head WHERE chain = 2")).scalar_one() == 3
            )  # marker, the first read, this one: committed meanwhile

        with open_session(clinic_id=None, engine=fresh_db) as same:  # a second writer of 1
            same.execute(text("SET LOCAL lock_timeout = '2s'"))
            record(same, actor=Actor(9, 1, "bob"), action="read", entity="patient")
            with pytest.raises(OperationalError, match="lock timeout"):
                same.commit()
            same.rollback()
        assert holder.in_transaction()  # clinic 1's holder was still open all along
        holder.commit()
    finally:
        holder.close()
    result = check(fresh_db)
    assert result.ok, result.problems
    assert {c.chain: c.events for c in result.chains} == {1: 3, 2: 3}
