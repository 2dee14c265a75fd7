"""The audit chain at its boundaries (issue 18): the exact hash a chain is made of, what is
written with each event and checkpoint, and the exact sentence verify says for each kind of
tampering, so a changed word, count or comparison in audit/ fails a test."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import sqlite3
import stat
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from tests.audit.helpers import append, check, checkpoint, count, cut_tail, swap
from triggerpoint.audit import keys
from triggerpoint.audit.keys import (
    AuditKeyError,
    _key_from_secret,
    checkpoint_path,
    key_path,
    load_key,
    signing_key,
)
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.audit.service import (
    CHECKPOINT_FIELDS,
    GENESIS,
    Actor,
    Checkpoint,
    VerifyResult,
    event_hash,
    legacy_hash,
    prepare_key,
    read_checkpoints,
    record,
    take_checkpoint,
)
from triggerpoint.config import get_settings
from triggerpoint.db import make_engine, open_session
from triggerpoint.migrate import upgrade
from triggerpoint.research.ltr import version

SECRET = bytes(range(32))
EVENT = {
    "at": datetime(2025, 3, 1, 10, 0, 0, 5, tzinfo=timezone(timedelta(hours=1))),
    "clinic_id": 3,
    "user_id": 7,
    "actor": "alice",
    "action": "read",
    "entity": "patient",
    "entity_id": "42",
    "detail": {"b": [1, 2], "a": "é"},
    "prev_hash": GENESIS,
}
# The published canonical form: the fields in order, the time in UTC to the microsecond,
# detail keys sorted, compact separators, then the previous event's hash.
CANONICAL = (
    b'["2025-03-01T09:00:00.000005+00:00",3,7,"alice","read","patient","42",'
    b'{"a":"\\u00e9","b":[1,2]},"' + GENESIS.encode() + b'"]'
)


@pytest.fixture
def far_time_zone(monkeypatch):
    """The server's local time zone is not UTC (UTC+12/13)."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An empty SQLite database migrated once, for `chain_db` to copy."""
    path = tmp_path_factory.mktemp("audit-template") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture
def new_db(db_url, request, tmp_path):
    """Makes brand-new migrated databases on this test's engine, like conftest's `fresh_db`.
    On SQLite each is a copy of one migrated once per run: the mutation run repeats these
    tests for every mutant, and would otherwise spend its time migrating."""
    engines = []

    def make():
        if db_url.startswith("sqlite"):
            path = tmp_path / f"fresh{len(engines)}.sqlite3"
            src = sqlite3.connect(request.getfixturevalue("migrated_sqlite"))
            dst = sqlite3.connect(path)
            try:
                src.backup(dst)
            finally:
                src.close()
                dst.close()
            engines.append(make_engine(f"sqlite:///{path}"))
        else:
            name = f"tp_audit_guard_{uuid.uuid4().hex[:12]}"
            engines.append(make_engine(request.getfixturevalue("pg_server").create_database(name)))
            upgrade(engines[-1])
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def chain_db(new_db):
    return new_db()


def _write_key(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body.encode("utf-8"))
    os.chmod(path, 0o600)


def _events(engine) -> list[AuditEvent]:
    with open_session(clinic_id=None, engine=engine) as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


# --- the hash and the key -------------------------------------------------------------------


def test_an_event_is_hashed_over_its_published_canonical_form_whatever_the_server_time_zone(
    far_time_zone,
):
    event = AuditEvent(**EVENT)
    assert legacy_hash(event) == hashlib.sha256(CANONICAL).hexdigest()
    key = _key_from_secret(Path("audit.key"), SECRET)
    assert event_hash(event, key) == hmac.new(SECRET, CANONICAL, hashlib.sha256).hexdigest()
    assert key.mac(b"x") == hmac.new(SECRET, b"x", hashlib.sha256).hexdigest()


def test_a_key_is_named_by_a_16_digit_fingerprint_that_does_not_reveal_it():
    key = _key_from_secret(Path("audit.key"), SECRET)
    fingerprint = hmac.new(SECRET, b"triggerpoint audit key id", hashlib.sha256).hexdigest()
    assert key.id == fingerprint[:16]
    assert key.path == Path("audit.key") and key.created is False
    assert SECRET.hex()[:16] not in key.id


def test_the_default_key_is_the_configured_databases(audit_files):
    event = AuditEvent(**EVENT)
    assert event_hash(event) == load_key(audit_files.key).mac(CANONICAL)


@pytest.mark.parametrize("extra", [0, 1])
def test_a_key_file_of_32_or_more_bytes_on_one_line_is_accepted(tmp_path, extra):
    path = tmp_path / "audit.key"
    secret = bytes(range(32 + extra))
    _write_key(path, f"# a comment\n\n  {secret.hex()}  \n")
    key = load_key(path)
    assert key.id == _key_from_secret(path, secret).id and key.created is False


@pytest.mark.parametrize(
    "body",
    [
        bytes(range(31)).hex() + "\n",  # one byte short
        SECRET.hex() + "\n" + SECRET.hex() + "\n",  # two keys
        "zz" * 32 + "\n",  # not hex
        "# only a comment\n",
        "",
    ],
)
def test_a_key_file_that_holds_no_key_of_32_bytes_is_refused(tmp_path, body):
    path = tmp_path / "audit.key"
    _write_key(path, body)
    with pytest.raises(AuditKeyError) as err:
        load_key(path)
    assert str(err.value) == (
        f"audit key file {path} does not hold a key (64 or more hex digits on one line): "
        "restore it from its backup"
    )


def test_a_key_file_that_is_not_plain_ascii_is_refused_as_unreadable(tmp_path):
    path = tmp_path / "audit.key"
    _write_key(path, f"# clé\n{SECRET.hex()}\n")
    with pytest.raises(AuditKeyError) as err:
        load_key(path)
    assert str(err.value).startswith(f"audit key file {path}: cannot read it (")


def test_a_key_path_that_is_a_directory_is_refused(tmp_path):
    (tmp_path / "audit.key").mkdir()
    with pytest.raises(AuditKeyError) as err:
        load_key(tmp_path / "audit.key")
    assert str(err.value) == f"audit key file {tmp_path / 'audit.key'} is not a regular file"


def test_a_key_path_below_a_file_is_refused_naming_the_error(tmp_path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "audit.key"
    with pytest.raises(AuditKeyError) as err:
        load_key(path, create=True)
    assert str(err.value) == f"audit key file {path}: Not a directory"


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_a_key_file_only_its_owner_can_use_is_accepted(tmp_path, mode):
    path = tmp_path / "audit.key"
    _write_key(path, SECRET.hex())
    os.chmod(path, mode)
    assert load_key(path).id == _key_from_secret(path, SECRET).id


def test_a_key_file_group_readable_is_refused_with_its_mode(tmp_path):
    path = tmp_path / "audit.key"
    _write_key(path, SECRET.hex())
    os.chmod(path, 0o640)
    with pytest.raises(AuditKeyError) as err:
        load_key(path)
    assert str(err.value) == (
        f"audit key file {path} has mode 0640: it is open to its group or to others, so anyone "
        f"who can read it could forge the audit chain. Refusing to use it: run `chmod 600 "
        f"{path}` (and check who has read it)."
    )


def test_an_unchanged_key_file_is_read_once_and_a_replaced_one_again(tmp_path):
    path = tmp_path / "audit.key"
    _write_key(path, SECRET.hex())
    first = load_key(path)
    assert load_key(path) is first  # one stat, no read
    other = bytes(range(1, 33))
    _write_key(path, other.hex() + "\n")
    assert load_key(path).id == _key_from_secret(path, other).id != first.id


def test_a_missing_key_file_is_none_unless_asked_to_create_it(tmp_path):
    path = tmp_path / "new" / "dir" / "audit.key"
    assert load_key(path) is None and not path.exists()
    key = load_key(path, create=True)
    assert key.created and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["audit.key"]  # no temporary file left behind
    secret = bytes.fromhex(path.read_text().splitlines()[-1])
    assert len(secret) == 32 and key.id == _key_from_secret(path, secret).id
    assert path.read_text().startswith("# triggerpoint audit key: keep it secret (mode 0600)")
    again = load_key(path, create=True)
    assert again.id == key.id and not again.created


def test_a_process_that_loses_the_race_to_create_the_key_uses_the_winners(tmp_path):
    path = tmp_path / "audit.key"
    _write_key(path, SECRET.hex())  # the other process linked its key first
    key = keys._create(path)
    assert not key.created and key.id == _key_from_secret(path, SECRET).id
    assert os.listdir(tmp_path) == ["audit.key"]


def test_without_hard_links_the_key_is_moved_into_place(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(keys.os, "link", no_link)
    path = tmp_path / "audit.key"
    key = keys._create(path)
    assert key.created and os.listdir(tmp_path) == ["audit.key"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = keys._create(path)  # it exists now: kept, not replaced
    assert not again.created and again.id == key.id and os.listdir(tmp_path) == ["audit.key"]


def test_a_key_created_on_first_use_is_logged_as_a_warning_naming_it(audit_files, caplog):
    with caplog.at_level(logging.INFO, logger="triggerpoint.audit"):
        key = signing_key()
        assert signing_key().id == key.id
    (entry,) = caplog.records
    assert entry.levelno == logging.WARNING
    assert entry.getMessage() == (
        f"AUDIT KEY CREATED: {audit_files.key} did not exist, so a new audit key was written "
        "there (mode 0600). Back it up apart from the database. If this database already holds "
        "audit events chained with another key, they no longer verify: stop the app and "
        "restore that key file instead (docs/security.md). `triggerpoint setup` creates the "
        "key up front."
    )


def test_without_a_configured_file_the_key_sits_beside_the_configured_database(
    monkeypatch, tmp_path
):
    monkeypatch.delenv("TRIGGERPOINT_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("TRIGGERPOINT_AUDIT_CHECKPOINT_FILE", raising=False)
    monkeypatch.setenv("TRIGGERPOINT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TRIGGERPOINT_DATABASE_URL", f"sqlite:///{tmp_path}/clinic/tp.sqlite3")
    get_settings.cache_clear()
    try:
        assert key_path() == tmp_path / "clinic" / "audit.key"
        assert checkpoint_path() == tmp_path / "clinic" / "audit-checkpoints.jsonl"
        for memory in ("sqlite:///:memory:", "sqlite://"):  # no file: the data directory
            assert key_path(memory) == tmp_path / "data" / "audit.key"
    finally:
        get_settings.cache_clear()


def test_setup_creates_the_key_beside_the_database_it_sets_up(monkeypatch, tmp_path):
    monkeypatch.delenv("TRIGGERPOINT_AUDIT_KEY_FILE", raising=False)
    monkeypatch.delenv("TRIGGERPOINT_AUDIT_CHECKPOINT_FILE", raising=False)
    monkeypatch.setenv("TRIGGERPOINT_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{tmp_path}/clinic/tp.sqlite3")
    try:
        upgrade(engine)
        with open_session(clinic_id=None, engine=engine) as s:
            key = prepare_key(s)
        assert key.path == tmp_path / "clinic" / "audit.key" and key.path.exists()
    finally:
        engine.dispose()
        get_settings.cache_clear()


def test_the_system_actor_belongs_to_no_user_or_clinic():
    assert Actor.system() == Actor(None, None, "system")
    assert Actor.system("migration") == Actor(None, None, "migration")


# --- what is written --------------------------------------------------------------------------


def _old_chain(engine, n: int, actions=("read",), entities=("patient",)) -> None:
    """n events as the release before audit keys wrote them (plain SHA-256)."""
    from sqlalchemy import insert

    from triggerpoint.audit.service import EVENT_COLUMNS

    prev, rows = GENESIS, []
    for i in range(n):
        ev = AuditEvent(
            at=datetime(2025, 3, 1, 9, i, tzinfo=UTC),
            clinic_id=1,
            user_id=7,
            actor="alice",
            action=actions[i % len(actions)],
            entity=entities[i % len(entities)],
            entity_id=str(i),
            detail={"i": i},
            prev_hash=prev,
        )
        ev.hash = prev = legacy_hash(ev)
        rows.append({c: getattr(ev, c) for c in EVENT_COLUMNS})
    with engine.begin() as conn:
        conn.execute(insert(AuditEvent.__table__), rows)
        conn.execute(insert(AuditHead.__table__).values(last_hash=prev, count=n))  # id 1


def _head(engine, chain: int | None = 1) -> tuple[str, int]:
    with open_session(clinic_id=None, engine=engine) as s:
        where = AuditHead.chain.is_(None) if chain is None else AuditHead.chain == chain
        head = s.scalars(select(AuditHead).where(where)).one()
        return head.last_hash, head.count


def _fields(ev: AuditEvent) -> tuple:
    return (ev.clinic_id, ev.user_id, ev.actor, ev.action, ev.entity, ev.entity_id, ev.detail)


def test_an_audited_action_is_stored_with_who_in_which_clinic_did_what_to_what(
    chain_db, audit_files
):
    with open_session(clinic_id=None, engine=chain_db) as s:
        edit = record(
            s,
            actor=Actor(7, 1, "alice"),
            action="update",
            entity="patient",
            entity_id=42,
            detail={"field": "name"},
        )
        setup = record(s, actor=Actor.system("cli"), action="create", entity="clinic")
        s.commit()
    events = _events(chain_db)
    # each to its own chain: the clinic's, and the system's, each opened by its marker
    by_chain = {c: [e for e in events if e.chain == c] for c in (0, 1)}
    (marker1, first), (marker0, second) = by_chain[1], by_chain[0]
    assert _fields(first) == (1, 7, "alice", "update", "patient", "42", {"field": "name"})
    assert _fields(second) == (None, None, "cli", "create", "clinic", None, {})
    assert (edit.hash, setup.hash) == (first.hash, second.hash)  # what record returned
    assert [(e.chain, e.seq) for e in (marker1, first, marker0, second)] == [
        (1, 1),
        (1, 2),
        (0, 1),
        (0, 2),
    ]
    assert (marker1.prev_hash, first.prev_hash) == (GENESIS, marker1.hash)
    assert (marker0.prev_hash, second.prev_hash) == (GENESIS, marker0.hash)
    assert first.at <= second.at <= datetime.now(UTC) < first.at + timedelta(minutes=5)
    assert _head(chain_db, 1) == (first.hash, 2) and _head(chain_db, 0) == (second.hash, 2)


def test_a_new_chain_starts_with_a_chain_keyed_event_of_the_system(chain_db, audit_files):
    append(chain_db, 1)
    marker, first = _events(chain_db)
    key = load_key(audit_files.key)
    assert _fields(marker) == (
        None,
        None,
        "system",
        "chain_keyed",
        "audit_chain",
        None,
        {"scheme": "hmac-sha256", "key_id": key.id, "legacy_events": 0},
    )
    assert marker.at == first.at
    assert marker.hash == event_hash(marker, key)


def test_a_second_transaction_chains_on_the_head_without_a_new_marker(chain_db, audit_files):
    append(chain_db, 2)
    last_hash, n = _head(chain_db)
    append(chain_db, 2, start=2)
    events = _events(chain_db)
    assert n == 3 and len(events) == 5 and events[3].prev_hash == last_hash
    assert [e.action for e in events].count("chain_keyed") == 1
    assert _head(chain_db) == (events[-1].hash, 5)
    assert check(chain_db).problems == []


def test_a_checkpoint_line_records_the_head_under_a_mac_anyone_with_the_key_can_check(
    chain_db, audit_files, tmp_path
):
    _write_key(audit_files.key, SECRET.hex())
    path = tmp_path / "usb" / "stick" / "checkpoints.jsonl"  # a directory not made yet
    with open_session(clinic_id=None, engine=chain_db) as s:
        (empty,), written_to = take_checkpoint(s, path)  # no chain yet: the system's, empty
    assert written_to == path
    assert empty["events"] == 0 and empty["head_id"] is None and empty["head"] == GENESIS
    assert empty["chain"] == 0
    append(chain_db, 2)
    append(chain_db, 1, start=2)
    line = checkpoint(chain_db, path, chain=0)
    events = [e for e in _events(chain_db) if e.chain == 0]  # marker, the first checkpoint's
    assert line["events"] == 2 and line["head_id"] == events[1].id
    assert line["head"] == events[1].hash
    key_id = _key_from_secret(path, SECRET).id
    assert {k: line[k] for k in ("v", "chain", "scheme", "key_id")} == {
        "v": 2,
        "chain": 0,
        "scheme": "hmac-sha256",
        "key_id": key_id,
    }
    assert set(line) == {*CHECKPOINT_FIELDS, "chain", "mac"}
    at = datetime.fromisoformat(line["at"])
    assert at.utcoffset() == timedelta(0) and len(line["at"]) == len(
        "2025-03-01T09:00:00.000000+00:00"
    )
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=5)
    body = json.dumps({k: line[k] for k in (*CHECKPOINT_FIELDS, "chain")}, sort_keys=True)
    mac = hmac.new(SECRET, b"triggerpoint audit checkpoint\n" + body.encode(), hashlib.sha256)
    assert line["mac"] == mac.hexdigest()
    first, second, clinic = path.read_text().splitlines()
    assert (first, second) == (json.dumps(empty, sort_keys=True), json.dumps(line, sort_keys=True))
    assert json.loads(clinic)["chain"] == 1 and json.loads(clinic)["events"] == 4
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644 & ~umask


def test_each_checkpoint_is_itself_an_audited_event_naming_its_file(chain_db, audit_files):
    append(chain_db, 2)
    line = checkpoint(chain_db)
    *_, event = _events(chain_db)
    assert _fields(event) == (
        None,
        None,
        "checkpoint",
        "checkpoint",
        "audit_chain",
        None,
        {"events": 3, "head_id": 3, "file": str(audit_files.checkpoints)},
    )
    assert line["events"] == 3
    result = check(chain_db)
    assert result.ok and result.checkpoints == 1 and result.warnings == []


# --- what verify says -------------------------------------------------------------------------

NO_CHECKPOINT_FILE = (
    "the configured checkpoint file {} is missing (no checkpoint taken yet, or it was deleted): "
    "without checkpoints, newest events deleted with the head rewound go unnoticed. Take one "
    "with `triggerpoint audit checkpoint`."
)


def _described(line: dict, path: Path, n: int) -> str:
    when = datetime.fromisoformat(line["at"]).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"checkpoint of {when} ({path} line {n})"


def _tamper(engine, sql: str, **params) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_deleting_the_first_event_names_the_start_of_the_chain(chain_db, audit_files):
    append(chain_db, 2)
    last_hash, _ = _head(chain_db)
    _tamper(chain_db, "DELETE FROM audit_event WHERE id = 1")
    result = check(chain_db)
    assert result.problems == [
        "event 2: chain broken: the event it follows is gone (deleted or edited after the "
        "start of the chain)",
        "events 2-3 (2 events): keyed, but no chain_keyed event starts the keyed chain (deleted?)",
        f"head expects 3 events ending in {last_hash[:12]}…, found 2 (newest events deleted?)",
    ]
    assert result.warnings == [NO_CHECKPOINT_FILE.format(audit_files.checkpoints)]
    assert not result.ok and result.events == 2


def test_an_event_that_restarts_the_chain_is_named(chain_db, audit_files):
    append(chain_db, 3)
    _tamper(chain_db, "UPDATE audit_event SET prev_hash = :g WHERE id = 3", g=GENESIS)
    assert check(chain_db).problems == [
        "event 3: chain broken: it starts a new chain, but follows event 2 (events inserted "
        "before it, or the chain was restarted)",
        "event 3: contents do not match its MAC (edited, or made with another key)",
    ]


def test_events_swapped_far_apart_are_named_with_where_each_link_points(chain_db, audit_files):
    append(chain_db, 11)
    swap(chain_db, 5, 9)
    assert check(chain_db).problems == [
        "events 5 and 9 are swapped: each sits in the other's place",
        "event 5: chain broken: out of order: it follows event 8, which comes after it "
        "(events swapped or reordered)",
        "event 6: chain broken: out of order: it follows event 9, which comes after it "
        "(events swapped or reordered)",
        "event 9: chain broken: out of order: it follows event 4, which is not event 8 before "
        "it (events swapped or reordered)",
        "event 10: chain broken: out of order: it follows event 5, which is not event 9 before "
        "it (events swapped or reordered)",
    ]


def test_the_newest_event_swapped_with_an_older_one_is_named(chain_db, audit_files):
    append(chain_db, 12)
    last_hash, _ = _head(chain_db)
    swap(chain_db, 11, 13)
    problems = check(chain_db).problems
    assert problems[:4] == [
        "events 11 and 13 are swapped: each sits in the other's place",
        "event 11: chain broken: out of order: it follows event 12, which comes after it "
        "(events swapped or reordered)",
        "event 12: chain broken: out of order: it follows event 13, which comes after it "
        "(events swapped or reordered)",
        "event 13: chain broken: out of order: it follows event 10, which is not event 12 "
        "before it (events swapped or reordered)",
    ]
    assert problems[4].startswith(f"head records the newest MAC as {last_hash[:12]}…, the ")
    assert problems[4].endswith("(newest event rewritten?)") and len(problems) == 5


def test_three_events_rotated_are_not_called_a_swap(chain_db, audit_files):
    append(chain_db, 11)
    with chain_db.begin() as conn:  # 4 -> 6 -> 8 -> 4
        for old, new in ((4, 1_000_000), (8, 4), (6, 8), (1_000_000, 6)):
            conn.execute(text("UPDATE audit_event SET id = :n WHERE id = :o"), {"n": new, "o": old})
    problems = check(chain_db).problems
    assert not any("swapped:" in p for p in problems), problems
    assert sum("out of order" in p for p in problems) == 6, problems


@pytest.mark.parametrize(("a", "b"), [(3, 4), (6, 7)])
def test_two_neighbours_swapped_are_named(chain_db, audit_files, a, b):
    append(chain_db, 7)
    swap(chain_db, a, b)
    problems = check(chain_db).problems
    assert problems[0] == f"events {a} and {b} are swapped: each sits in the other's place"
    assert sum("swapped:" in p for p in problems) == 1, problems


def test_past_200_broken_links_each_further_break_is_named_briefly(chain_db, audit_files):
    append(chain_db, 404)  # 405 events; deleting the even ones breaks 202 links
    _tamper(chain_db, "DELETE FROM audit_event WHERE id % 2 = 0")
    links = [p for p in check(chain_db).problems if "chain broken" in p]
    assert len(links) == 202
    assert links[0] == (
        "event 3: chain broken: the event it follows is gone (deleted or edited after event 1)"
    )
    assert links[199] == (  # the 200th: still explained
        "event 401: chain broken: the event it follows is gone (deleted or edited after event 399)"
    )
    assert links[200:] == ["event 403: chain broken", "event 405: chain broken"]


def test_more_than_50_runs_of_bad_events_are_summarised_after_the_50th(chain_db, audit_files):
    append(chain_db, 101)  # 102 events: editing every even one of the first 102 gives 51 runs
    _tamper(chain_db, "UPDATE audit_event SET actor = 'mallory' WHERE id % 2 = 0")
    problems = check(chain_db).problems
    assert len(problems) == 51
    assert (
        problems[0] == "event 2: contents do not match its MAC (edited, or made with another key)"
    )
    assert problems[49] == (
        "event 100: contents do not match its MAC (edited, or made with another key)"
    )
    assert problems[50] == "… and 1 more ranges of bad events"


def test_50_runs_of_bad_events_are_all_named(chain_db, audit_files):
    append(chain_db, 100)
    _tamper(chain_db, "UPDATE audit_event SET actor = 'mallory' WHERE id % 2 = 0 AND id <= 100")
    problems = check(chain_db).problems
    assert len(problems) == 50 and problems[-1].startswith("event 100: contents do not match")


def test_a_run_of_edited_events_is_one_range_and_a_gap_starts_another(chain_db, audit_files):
    append(chain_db, 9)
    _tamper(chain_db, "UPDATE audit_event SET actor = 'mallory' WHERE id IN (2, 3, 4, 6, 8, 9)")
    assert check(chain_db).problems == [
        "events 2-4 (3 events): contents do not match their MACs (edited, or made with another "
        "key)",
        "event 6: contents do not match its MAC (edited, or made with another key)",
        "events 8-9 (2 events): contents do not match their MACs (edited, or made with another "
        "key)",
    ]


def test_a_missing_head_row_is_named(chain_db, audit_files):
    append(chain_db, 3)
    _tamper(chain_db, "DELETE FROM audit_head")
    assert check(chain_db).problems == [
        "the head row is missing, but the chain has 4 events (deleted?)"
    ]


def test_no_events_and_no_head_is_an_empty_intact_chain(chain_db, audit_files):
    result = check(chain_db)
    assert result.ok and result.events == 0 and result.problems == []


@pytest.mark.parametrize(("head_count", "said"), [(3, "inserted by hand"), (5, "deleted")])
def test_a_head_one_event_off_is_named_either_way(chain_db, audit_files, head_count, said):
    append(chain_db, 3)  # 4 events
    last_hash, _ = _head(chain_db)
    _tamper(chain_db, "UPDATE audit_head SET count = :n", n=head_count)
    (problem,) = check(chain_db).problems
    if head_count < 4:
        assert problem == (
            "head expects 3 events, found 4: events were added without moving the head "
            "(inserted by hand?)"
        )
    else:
        assert problem == (
            f"head expects 5 events ending in {last_hash[:12]}…, found 4 (newest events deleted?)"
        )
    assert said in problem


def test_a_head_with_the_right_count_and_another_hash_is_named(chain_db, audit_files):
    append(chain_db, 3)
    last_hash, _ = _head(chain_db)
    _tamper(chain_db, "UPDATE audit_head SET last_hash = :h", h="e" * 64)
    assert check(chain_db).problems == [
        f"head records the newest MAC as eeeeeeeeeeee…, the newest event (id 4) has "
        f"{last_hash[:12]}… (newest event rewritten?)"
    ]


def test_verify_reads_the_chain_in_batches_with_the_same_result(chain_db, audit_files):
    append(chain_db, 6)
    _tamper(chain_db, "UPDATE audit_event SET actor = 'mallory' WHERE id IN (3, 6)")
    whole = check(chain_db)
    for batch in (1, 2, 7):
        assert check(chain_db, batch=batch) == whole
    assert whole.events == 7 and len(whole.problems) == 2


def test_a_checkpoint_that_no_longer_matches_its_event_names_both_macs(chain_db, audit_files):
    append(chain_db, 2)
    line = checkpoint(chain_db)  # at 3 events
    _tamper(chain_db, "UPDATE audit_event SET actor = 'mallory' WHERE id = 3")
    from tests.audit.helpers import rehash

    rehash(chain_db, event_hash)  # someone with the key re-MACs the whole chain
    new = _events(chain_db)[2].hash
    assert check(chain_db).problems == [
        f"{_described(line, audit_files.checkpoints, 1)} recorded event 3 (id 3) as "
        f"{line['head'][:12]}…, the chain's event 3 (id 3) is {new[:12]}…: events up to it "
        "were deleted, rewritten or reordered since"
    ]


def test_a_tail_of_one_event_cut_after_a_checkpoint_is_named_singly(chain_db, audit_files):
    append(chain_db, 2)
    line = checkpoint(chain_db)  # 3 events
    cut_tail(chain_db, keep=2)
    assert check(chain_db).problems == [
        f"event 3 missing: {_described(line, audit_files.checkpoints, 1)} recorded 3 events, the "
        "chain has 2: the newest events were deleted and the head rewound, or an older backup "
        "was restored"
    ]


def test_a_tail_cut_past_several_checkpoints_names_the_newest(chain_db, audit_files):
    append(chain_db, 2)
    checkpoint(chain_db)  # 3 events
    checkpoint(chain_db)  # 4
    newest = checkpoint(chain_db)  # 5
    cut_tail(chain_db, keep=2)
    assert check(chain_db).problems == [
        f"events 3-5 missing: {_described(newest, audit_files.checkpoints, 3)} recorded 5 "
        "events, the chain has 2: the newest events were deleted and the head rewound, or an "
        "older backup was restored (and 2 other checkpoints past its end)"
    ]


def test_events_missing_before_a_checkpoints_head_are_counted(chain_db, audit_files):
    append(chain_db, 4)
    line = checkpoint(chain_db)  # 5 events, its own event is 6
    _tamper(chain_db, "DELETE FROM audit_event WHERE id IN (2, 3)")
    problems = check(chain_db).problems
    assert (
        f"1 events missing: {_described(line, audit_files.checkpoints, 1)} recorded 5 events, "
        "the chain has 4: the newest events were deleted and the head rewound, or an older "
        "backup was restored"
    ) in problems


def test_a_checkpoint_of_no_events_must_record_the_genesis_head(chain_db, audit_files):
    line = checkpoint(chain_db, chain=0)  # no chain yet: the system chain's, empty
    assert check(chain_db).ok
    audit_files.checkpoints.write_text(json.dumps({**line, "head": "a" * 64}) + "\n")
    problems = check(chain_db).problems
    described = _described(line, audit_files.checkpoints, 1)
    assert problems == [
        f"{described}: its MAC does not verify: edited or forged",
        f"{described}: records no events but a head (edited?)",
    ]


def test_a_checkpoint_file_named_but_missing_is_a_problem_not_a_warning(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)
    gone = audit_files.checkpoints.with_name("gone.jsonl")
    result = check(chain_db, checkpoint_files=[gone])
    assert result.problems == [f"checkpoint file {gone}: no such file"]
    assert result.checkpoint_files == [str(audit_files.checkpoints)]


def test_the_same_checkpoint_file_named_twice_or_copied_is_read_once(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)
    copy = audit_files.checkpoints.with_name("copy.jsonl")
    copy.write_text(audit_files.checkpoints.read_text())
    result = check(chain_db, checkpoint_files=[audit_files.checkpoints, copy])
    assert result.ok and result.checkpoints == 1 and result.warnings == []
    assert result.checkpoint_files == [str(audit_files.checkpoints), str(copy)]


def test_a_forged_copy_of_a_checkpoint_is_not_hidden_by_the_genuine_line(chain_db, audit_files):
    append(chain_db, 1)
    line = checkpoint(chain_db)
    copy = audit_files.checkpoints.with_name("copy.jsonl")
    copy.write_text(json.dumps({**line, "mac": "0" * 64}) + "\n")
    result = check(chain_db, checkpoint_files=[copy])
    assert result.problems == [
        f"{_described(line, copy, 1)}: its MAC does not verify: edited or forged"
    ]
    assert result.checkpoints == 2


def test_two_checkpoints_at_the_same_count_taken_at_different_times_are_both_kept(
    chain_db, audit_files
):
    append(chain_db, 1)
    line = checkpoint(chain_db)
    later = {**line, "at": (datetime.fromisoformat(line["at"]) + timedelta(seconds=1)).isoformat()}
    copy = audit_files.checkpoints.with_name("copy.jsonl")
    copy.write_text(json.dumps(later) + "\n")
    result = check(chain_db, checkpoint_files=[copy])
    assert result.checkpoints == 2
    assert result.problems == [
        f"{_described(later, copy, 1)}: its MAC does not verify: edited or forged"
    ]


def test_without_configured_checkpoints_only_the_named_files_are_read(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)
    result = check(chain_db, configured_checkpoints=False)
    assert result.checkpoints == 0 and result.checkpoint_files == []
    assert result.warnings == [
        "no checkpoints to compare with: newest events deleted with the head rewound would go "
        "unnoticed. Take one with `triggerpoint audit checkpoint`."
    ]


def test_a_deleted_checkpoint_file_is_named_with_the_newest_checkpoint_written_to_it(
    chain_db, audit_files
):
    append(chain_db, 1)
    checkpoint(chain_db)  # at 2 events
    checkpoint(chain_db)  # at 3
    audit_files.checkpoints.unlink()
    *_, newest = _events(chain_db)
    when = newest.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    assert check(chain_db).warnings == [
        f"the configured checkpoint file {audit_files.checkpoints} is missing, but the audit "
        f"chain records 2 checkpoint(s) written to it (the newest of {when}, at 3 events): it "
        "was deleted or moved. Verify with a copy kept elsewhere (--checkpoint FILE)."
    ]


def test_lines_removed_from_the_checkpoint_file_are_counted_and_dated(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)  # at 2 events
    checkpoint(chain_db)  # at 3
    checkpoint(chain_db)  # at 4
    first, *_ = audit_files.checkpoints.read_text().splitlines()
    audit_files.checkpoints.write_text(first + "\n")
    newest = _events(chain_db)[-1]
    when = newest.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    result = check(chain_db)
    assert result.ok
    assert result.warnings == [
        f"the audit chain records 2 checkpoint(s) written to {audit_files.checkpoints} that it "
        f"no longer holds (the newest of {when}, at 4 events): lines were removed from it"
    ]


def test_checkpoints_made_with_another_key_are_counted_naming_the_newest(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)  # 2 events
    newest = checkpoint(chain_db)  # 3
    old_id = newest["key_id"]
    other = bytes(range(1, 33))
    _write_key(audit_files.key, other.hex())
    key = load_key(audit_files.key)
    problems = check(chain_db).problems
    assert problems[0] == (
        f"the audit key has changed: the chain was keyed with key {old_id} (event 1, "
        f"{_events(chain_db)[0].at.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}), but "
        f"{audit_files.key} holds key {key.id}: the key file was replaced (restore the original "
        "from its backup), or the chain was re-keyed by someone else"
    )
    assert (
        f"the audit key has changed: 2 checkpoint(s), the newest the "
        f"{_described(newest, audit_files.checkpoints, 2)}, were made with key {old_id}, but "
        f"{audit_files.key} holds key {key.id}: the key file was replaced (restore the original "
        "from its backup)"
    ) in problems


def test_a_missing_key_file_is_named_with_the_keyed_events_it_leaves_unchecked(
    chain_db, audit_files
):
    append(chain_db, 2)
    checkpoint(chain_db)
    audit_files.key.unlink()
    result = check(chain_db)
    assert result.problems == [
        "the audit key file is missing: the 4 keyed events cannot be verified without it "
        "(restore it from its backup; see docs/security.md)"
    ]
    assert result.key_id is None and result.key_file == str(audit_files.key)


def test_one_keyed_event_alone_is_not_called_a_chain_rehashed_with_another_key(
    chain_db, audit_files
):
    _old_chain(chain_db, 3)
    with open_session(clinic_id=None, engine=chain_db) as s:
        prepare_key(s)  # seals the 3 old events: the marker is the only keyed event
    from tests.audit.helpers import other_key

    wrong = other_key()
    with open_session(clinic_id=None, engine=chain_db) as s:
        s.delete(s.get(AuditEvent, 5))  # the chain_split seal after it
        marker = s.get(AuditEvent, 4)
        marker.hash = event_hash(marker, wrong)
        head = s.get(AuditHead, 1)  # the old chain's head
        head.last_hash, head.count = marker.hash, 4
        s.commit()
    assert check(chain_db).problems == [
        "event 4: contents do not match its MAC (edited, or made with another key)"
    ]


def test_two_keyed_events_that_link_but_do_not_verify_are_called_rehashed(chain_db, audit_files):
    append(chain_db, 1)
    from tests.audit.helpers import other_key, rehash

    wrong = other_key()
    rehash(chain_db, lambda ev: event_hash(ev, wrong))
    key = load_key(audit_files.key)
    assert check(chain_db).problems == [
        f"no keyed event verifies with the configured audit key {key.id}, although each links "
        "to the one before: the chain was re-hashed with another key, or the key file was changed",
        "events 1-2 (2 events): contents do not match their MACs (edited, or made with another "
        "key)",
    ]


def test_an_old_event_deleted_below_the_seal_is_counted_by_the_seal(chain_db, audit_files):
    _old_chain(chain_db, 3)
    append(chain_db, 1)  # seals the 3 old events with a new key, and closes their chain
    last_hash, _ = _head(chain_db, None)
    _tamper(chain_db, "DELETE FROM audit_event WHERE id = 2")
    result = check(chain_db)
    assert result.problems == [
        "event 4 (chain_keyed) records 3 older events before it, the chain has 2 there (events "
        "inserted or deleted before it)",
        "event 3: chain broken: the event it follows is gone (deleted or edited after event 1)",
        "event 5 (chain_split) records 4 legacy events before it, the chain has 3 there (events "
        "inserted or deleted before it)",
        f"head expects 5 events ending in {last_hash[:12]}…, found 4 (newest events deleted?)",
    ]
    legacy, clinic = result.chains
    assert (legacy.ok, legacy.first_broken_event, clinic.ok) == (False, 3, True)
    assert result.legacy_events == 2


@pytest.mark.parametrize("with_key", [False, True])
def test_an_unsealed_old_chain_is_named_with_what_to_do(chain_db, audit_files, with_key):
    _old_chain(chain_db, 3)
    if with_key:
        _write_key(audit_files.key, SECRET.hex())
    hint = (
        "see docs/security.md"
        if with_key
        else ("run `triggerpoint setup` to create the key file, which seals them")
    )
    result = check(chain_db)
    assert result.problems == [
        "the chain's 3 plain SHA-256 events are not sealed by a chain_keyed event: anyone with "
        "write access to the database can recompute them, so they were re-hashed without the "
        f"audit key, or they predate keyed chains and were never sealed ({hint})"
    ]
    assert result.legacy_events == 3 and result.events == 3


def test_a_keyed_event_before_the_seal_is_named_as_reordered(chain_db, audit_files):
    _old_chain(chain_db, 3)
    append(chain_db, 1)  # 4 = marker, 5 = keyed
    key = load_key(audit_files.key)
    with open_session(clinic_id=None, engine=chain_db) as s:
        ev = s.get(AuditEvent, 2)
        ev.hash = event_hash(ev, key)  # an old event given a MAC, as if moved before the seal
        s.commit()
    problems = check(chain_db).problems
    assert "event 2: keyed, but comes before the chain_keyed event (the chain was reordered?)" in (
        problems
    )


def test_one_event_re_hashed_with_plain_sha256_is_named_singly(chain_db, audit_files):
    append(chain_db, 3)
    with open_session(clinic_id=None, engine=chain_db) as s:
        ev = s.get(AuditEvent, 4)
        ev.hash = legacy_hash(ev)
        s.get(AuditHead, 1).last_hash = ev.hash
        s.commit()
    assert check(chain_db).problems == [
        "event 4: hashed with plain SHA-256 where the chain requires a keyed MAC: rewritten by "
        "someone without the audit key"
    ]


def test_an_old_event_named_like_the_seal_does_not_start_the_keyed_chain(chain_db, audit_files):
    _old_chain(
        chain_db,
        3,
        actions=("read", "chain_keyed", "read"),
        entities=("patient", "patient", "audit_chain"),
    )
    append(chain_db, 1)
    result = check(chain_db)
    # the old chain: 3, its chain_keyed seal and its chain_split; clinic 1: marker and read
    assert result.ok and result.legacy_events == 3 and result.events == 7, result.problems


def test_a_user_event_named_like_a_checkpoint_is_not_taken_for_one(chain_db, audit_files):
    append(chain_db, 1)
    checkpoint(chain_db)
    with open_session(clinic_id=None, engine=chain_db) as s:
        detail = {"events": 99, "file": str(audit_files.checkpoints)}
        record(s, actor=Actor(7, 1, "alice"), action="checkpoint", entity="patient", detail=detail)
        record(s, actor=Actor(7, 1, "alice"), action="read", entity="audit_chain", detail=detail)
        s.commit()
    result = check(chain_db)
    assert result.ok and result.warnings == [] and result.checkpoints == 1


# --- checkpoint files, results, sealing -------------------------------------------------------


def test_a_checkpoint_file_is_read_line_by_line_naming_every_line_that_is_not_one(tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    path.write_bytes(
        b"\n"
        b'{"at": "a", "events": 2, "head": "h2"}\n'  # line 2
        b"this is not json\n"
        b'{\n  "at": "b",\n  "events": 3,\n  "head": "h3"\n}\n'  # lines 4-8: pretty --json
        b"[1, 2]\n"  # 9
        b'{"at": "c", "events": "3", "head": "h"}\n'  # 10
        b'{"at": "c", "events": 3, "head": 5}\n'  # 11
        b'{"at": 5, "events": 3, "head": "h"}\n'  # 12
        b'{"events": 3, "head": "h"}\n'  # 13
        b'{"at": "d", "events": 4, "head": "h4"}  {"at": "e", "events": 5, "head": "h5"}\n'
        b"caf\xc3\xa9 \xff not a checkpoint\n"  # 15: not UTF-8 either
        b'   {"at": "f", "events": 6, "head": "h6"}'  # 16, no newline at the end
    )
    found, problems = read_checkpoints(path)
    assert [(cp.events, cp.head, cp.source) for cp in found] == [
        (2, "h2", f"{path} line 2"),
        (3, "h3", f"{path} line 4"),
        (4, "h4", f"{path} line 14"),
        (5, "h5", f"{path} line 14"),
        (6, "h6", f"{path} line 16"),
    ]
    assert problems == [
        f"{path} line {n}: not a checkpoint (the file was edited?)"
        for n in (3, 9, 10, 11, 12, 13, 15)
    ]


def test_an_empty_checkpoint_file_holds_no_checkpoints(tmp_path):
    (tmp_path / "c.jsonl").write_text("\n \n")
    assert read_checkpoints(tmp_path / "c.jsonl") == ([], [])


def test_checkpoint_times_are_shown_in_utc_whatever_the_server_time_zone(far_time_zone):
    cp = Checkpoint({"at": "2025-03-01T10:00:00.5+01:00", "events": 1, "head": "h"}, "f line 1")
    assert cp.when == "2025-03-01 09:00:00 UTC"
    assert cp.describe() == "checkpoint of 2025-03-01 09:00:00 UTC (f line 1)"
    assert Checkpoint({"at": "last Tuesday"}, "f line 2").when == "last Tuesday"


def test_the_verify_result_has_the_documented_json_fields():
    result = VerifyResult(
        ok=False,
        events=3,
        problems=["p"],
        warnings=["w"],
        checkpoints=2,
        legacy_events=1,
        key_id="k",
        key_file="f",
        checkpoint_files=["c"],
    )
    assert result.as_dict() == {
        "ok": False,
        "events": 3,
        "problems": ["p"],
        "warnings": ["w"],
        "checkpoints": 2,
        "legacy_events": 1,
        "key_id": "k",
        "key_file": "f",
        "checkpoint_files": ["c"],
        "chains": [],
    }


def test_an_old_chain_sealed_on_first_use_says_so_in_the_log(chain_db, audit_files, caplog):
    _old_chain(chain_db, 3)
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        append(chain_db, 1)
    sealed = [r for r in caplog.records if "AUDIT KEY" not in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in sealed] == [
        (logging.WARNING, "audit chain of 3 plain SHA-256 events sealed with the new key"),
        (logging.WARNING, "the old global audit chain (3 events) is closed: one chain per clinic"),
    ]
    marker = _events(chain_db)[3]
    assert marker.action == "chain_keyed" and marker.detail["legacy_events"] == 3
    assert check(chain_db).ok


def test_a_seal_rolled_back_is_written_by_the_next_transaction(chain_db, audit_files):
    _old_chain(chain_db, 3)
    # The research data version flushes at the start of a commit, which would fail before
    # the seal is made; without it, the failure comes after the seal (and the key's creation).
    version.unregister()
    try:
        with open_session(clinic_id=None, engine=chain_db) as s:
            record(s, actor=Actor.system(), action="create", entity="patient")
            s.add(AuditHead(id=1, last_hash="x", count=0))  # the commit fails after the seal
            with pytest.raises(IntegrityError):  # the second head row: a duplicate key
                s.commit()
    finally:
        version.register()
    assert count(chain_db) == 3 and audit_files.key.exists()
    append(chain_db, 1)  # the key now exists, but nothing has sealed the old events yet
    markers = [e for e in _events(chain_db) if e.action == "chain_keyed" and e.chain is None]
    assert [m.detail["legacy_events"] for m in markers] == [3]
    assert check(chain_db).ok
    append(chain_db, 1)  # and once sealed, never again
    assert [e.action for e in _events(chain_db)].count("chain_keyed") == 2  # old chain, clinic 1
    assert [e.action for e in _events(chain_db)].count("chain_split") == 1


def test_writing_to_a_chain_made_with_another_key_logs_an_error_once(chain_db, audit_files, caplog):
    append(chain_db, 1)
    audit_files.key.unlink()  # the key is lost: the app makes a new one
    with caplog.at_level(logging.WARNING, logger="triggerpoint.audit"):
        append(chain_db, 1)
        append(chain_db, 1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == [
        f"AUDIT CHAIN: the newest audit event does not verify with the new audit key "
        f"{audit_files.key}: the chain was made with another key. Restore the original key "
        "file; run `triggerpoint audit verify`."
    ]
    assert [e.action for e in _events(chain_db)].count("chain_keyed") == 1  # no new seal


def test_a_new_key_for_a_chain_whose_events_are_all_gone_logs_an_error(
    chain_db, audit_files, caplog
):
    append(chain_db, 1)
    _tamper(chain_db, "DELETE FROM audit_event")
    audit_files.key.unlink()
    with caplog.at_level(logging.ERROR, logger="triggerpoint.audit"):
        append(chain_db, 1)
    assert [r.getMessage()[:60] for r in caplog.records if r.levelno == logging.ERROR] == [
        "AUDIT CHAIN: the newest audit event does not verify with the"
    ]


def test_setup_on_an_empty_database_writes_no_event(chain_db, audit_files):
    with open_session(clinic_id=None, engine=chain_db) as s:
        assert prepare_key(s).created
    assert count(chain_db) == 0
    with open_session(clinic_id=None, engine=chain_db) as s:
        assert s.get(AuditHead, 1) is None or s.get(AuditHead, 1).count == 0
    append(chain_db, 1)
    assert [e.action for e in _events(chain_db)] == ["chain_keyed", "read"]


def test_setup_seals_an_old_chain_with_a_marker_after_its_newest_event(chain_db, audit_files):
    _old_chain(chain_db, 2)
    with open_session(clinic_id=None, engine=chain_db) as s:
        key = prepare_key(s)
    old_newest, marker, split = _events(chain_db)[1:]
    assert split.prev_hash == marker.hash and split.detail == {
        "scheme": "hmac-sha256",
        "key_id": key.id,
        "events": 3,
    }
    assert marker.prev_hash == old_newest.hash and marker.detail == {
        "scheme": "hmac-sha256",
        "key_id": key.id,
        "legacy_events": 2,
    }
    assert abs(marker.at - datetime.now(UTC)) < timedelta(minutes=5)
    assert _head(chain_db, None) == (split.hash, 4)
    with open_session(clinic_id=None, engine=chain_db) as s:
        assert not prepare_key(s).created
    assert count(chain_db) == 4


def test_a_key_created_for_one_database_does_not_seal_another_databases_old_chain(
    new_db, audit_files
):
    first, second = new_db(), new_db()
    _old_chain(first, 3)
    _old_chain(second, 3)
    append(first, 1)  # creates the key (one key file for both here) and seals first's chain
    append(second, 1)  # the key was not created for second: its old chain stays unsealed
    assert [e.action for e in _events(second) if e.chain is None].count("chain_keyed") == 0
    assert check(second).problems[0].startswith("the chain's 3 plain SHA-256 events are not")
    assert check(first).ok


def test_an_old_chain_sealed_once_is_not_sealed_again_after_a_rewrite(chain_db, audit_files):
    _old_chain(chain_db, 2)
    append(chain_db, 1)  # the new key seals the old events
    append(chain_db, 1)  # this append sees the seal committed
    _tamper(chain_db, "DELETE FROM audit_event WHERE action = 'chain_keyed'")
    from tests.audit.helpers import rehash

    rehash(chain_db, legacy_hash)  # passed off as a chain from before keys
    append(chain_db, 1)  # the app writes on, but does not seal the forgery
    assert [e.action for e in _events(chain_db)].count("chain_keyed") == 0
    # the old chain's 2 events and its chain_split seal, now all plain SHA-256
    assert check(chain_db).problems[0].startswith("the chain's 3 plain SHA-256 events are not")


def test_a_deleted_head_row_is_made_again_as_the_one_head(chain_db, audit_files):
    append(chain_db, 1)
    _tamper(chain_db, "DELETE FROM audit_head")
    _tamper(chain_db, "DELETE FROM audit_event")
    append(chain_db, 1)  # a new chain, with a new head row
    with open_session(clinic_id=None, engine=chain_db) as s:
        heads = s.scalars(select(AuditHead)).all()
        assert [(h.chain, h.count) for h in heads] == [(1, 2)]
    assert check(chain_db).ok
