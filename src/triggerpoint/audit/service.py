"""Append to and verify the audit log: one chain of HMACs per clinic, under a key kept outside
the database.

Each event's MAC (HMAC-SHA256 under the audit key, see `audit.keys`) covers its own fields,
its chain and place in it, and the previous event's MAC in the same chain, so editing a row
breaks its MAC, deleting one breaks the link after it, and without the key nobody can compute
a valid replacement: a database writer can no longer re-hash a chain after an edit.

Chains (issue 19): every clinic has its own, system events (no clinic) have chain 0, and each
chain has one head row (newest MAC and count). An append locks only its own chain's head, so
clinics never queue behind each other; a transaction with events of several chains locks
their heads in ascending order, so such transactions cannot deadlock. The head makes
deleting the newest rows detectable unless it is rewound too; checkpoints copied outside
the database (`take_checkpoint`, `triggerpoint audit checkpoint`, one line per chain) catch
that as well.

The old global chain of a database from before per-clinic chains keeps its rows (chain NULL)
and is verified as one legacy segment. The migration cannot close it (it has no key), so the
first append after the upgrade appends a `chain_split` event to it (`_split_legacy`), after
which nothing more goes there. Within it, chains from before audit keys still verify: a
`chain_keyed` event (entity `audit_chain`) marks where keying starts; events before it are
checked as plain SHA-256, the marker and every event after it as HMACs. That marker is written
in the transaction that creates the key file for a chain of old events, so a database writer
who re-hashes a keyed chain with plain SHA-256 cannot get it sealed again. Every per-clinic
chain starts with its own `chain_keyed` event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    String,
    bindparam,
    event,
    func,
    insert,
    select,
    table,
    update,
)
from sqlalchemy import (
    column as sql_column,
)
from sqlalchemy.orm import Session

from triggerpoint.audit.keys import AuditKey, checkpoint_path, key_path, load_key, signing_key
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.db import defer_write, is_read_only, utcnow

log = logging.getLogger("triggerpoint.audit")

GENESIS = "0" * 64
SCHEME = "hmac-sha256"
CHAIN_ENTITY = "audit_chain"
KEYED = "chain_keyed"  # action of the event where keyed MACs start
CHECKPOINT = "checkpoint"  # action of the event `take_checkpoint` appends


@dataclass(frozen=True)
class Actor:
    """Who did something: a user of a clinic, or the system (CLI setup, migrations)."""

    user_id: int | None
    clinic_id: int | None
    label: str

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(None, None, label)


def _canonical(event: AuditEvent) -> bytes:
    """The bytes an event's hash covers. Events of per-clinic chains also cover their chain
    and place in it, so an event cannot be moved to another chain or renumbered unseen;
    legacy events (chain None) keep the form they were hashed with."""
    at = event.at.astimezone(UTC).isoformat(timespec="microseconds")
    fields = [
        at,
        event.clinic_id,
        event.user_id,
        event.actor,
        event.action,
        event.entity,
        event.entity_id,
        event.detail,
    ]
    tail: list[Any] = [event.prev_hash]
    if event.chain is not None:
        tail += [event.chain, event.seq]
    return json.dumps([*fields, *tail], sort_keys=True, separators=(",", ":"), default=str).encode(
        "utf-8"
    )


def legacy_hash(event: AuditEvent) -> str:
    """The plain SHA-256 of chains written before the audit key (anyone can compute it)."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def event_hash(event: AuditEvent, key: AuditKey | None = None) -> str:
    """The event's MAC under `key` (default: the configured database's key)."""
    return (key or signing_key()).mac(_canonical(event))


HEAD = AuditHead.__table__
EVENTS = AuditEvent.__table__
SYSTEM_CHAIN = 0  # the chain of events that belong to no clinic (setup, CLI, checkpoints)
LEGACY: None = None  # the chain value of the old global chain's rows
SPLIT = "chain_split"  # action of the event that closes the legacy chain


def chain_of(clinic_id: int | None) -> int:
    """The chain an event of `clinic_id` goes to: the clinic's own, or the system chain."""
    return SYSTEM_CHAIN if clinic_id is None else clinic_id


# The statements every audited request runs, built once: building a statement costs more
# CPU than running it on SQLite.
_HEAD_FOR_UPDATE = (
    select(HEAD.c.last_hash, HEAD.c.count)
    .where(HEAD.c.chain == bindparam("chain"))
    .with_for_update()
)
_LAST_SEQ = select(func.max(EVENTS.c.seq)).where(EVENTS.c.chain == bindparam("chain"))
_APPEND = insert(EVENTS)
_MOVE_HEADS = (
    update(HEAD)
    .where(HEAD.c.chain == bindparam("c"))
    .values(last_hash=bindparam("h"), count=bindparam("n"))
)


def _insert_head(conn: Connection, chain: int) -> None:
    """Create a chain's head row unless another writer just did (then wait for its commit)."""
    values = {"chain": chain, "last_hash": GENESIS, "count": 0}
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(
            pg_insert(HEAD).values(values).on_conflict_do_nothing(index_elements=["chain"])
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(
            sqlite_insert(HEAD).values(values).on_conflict_do_nothing(index_elements=["chain"])
        )
    else:
        conn.execute(insert(HEAD).values(values))


def _lock_head(conn: Connection, chain: int) -> tuple[str, int]:
    """A chain's newest hash and count, with its head row (only) locked until commit.

    A missing head row is created at GENESIS: a new chain, or, if its row was deleted, a
    chain that restarts there (verify reports the break).
    """
    row = conn.execute(_HEAD_FOR_UPDATE, {"chain": chain}).one_or_none()
    if row is None:
        _insert_head(conn, chain)
        row = conn.execute(_HEAD_FOR_UPDATE, {"chain": chain}).one()
    last_hash, count = row  # (`row.count` would be the tuple method to a type checker)
    return last_hash, count


def _last_seq(conn: Connection, chain: int) -> int:
    """The chain's highest sequence number (one index lookup). New events number on from it
    rather than from the head's count, so a head rewound or recreated by hand cannot make
    appends collide with the (chain, seq) constraint: the app keeps writing, verify reports."""
    return conn.scalar(_LAST_SEQ, {"chain": chain}) or 0


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Queue one event in the caller's transaction; it is chained and written at commit.

    Writing the transaction's events together takes the head lock once, late, and briefly,
    and a rolled-back transaction leaves no audit rows behind (nothing happened).
    """
    event = AuditEvent(
        at=utcnow(),
        clinic_id=actor.clinic_id,
        user_id=actor.user_id,
        actor=actor.label,
        action=action,
        entity=entity,
        entity_id=None if entity_id is None else str(entity_id),
        detail=detail or {},
        chain=chain_of(actor.clinic_id),
    )
    session.info.setdefault(_PENDING, []).append(event)
    return event


_PENDING = "audit_pending"
EVENT_COLUMNS = (
    "at",
    "clinic_id",
    "user_id",
    "actor",
    "action",
    "entity",
    "entity_id",
    "detail",
    "chain",
    "seq",
    "prev_hash",
    "hash",
)


def _marker(
    key: AuditKey, legacy_events: int, at: datetime, chain: int | None = LEGACY
) -> AuditEvent:
    return AuditEvent(
        chain=chain,
        at=at,
        clinic_id=None,
        user_id=None,
        actor="system",
        action=KEYED,
        entity=CHAIN_ENTITY,
        entity_id=None,
        detail={"scheme": SCHEME, "key_id": key.id, "legacy_events": legacy_events},
    )


# Databases whose old (plain SHA-256) chain is to be sealed by the key this process created:
# kept until a later append sees the seal committed, so a rolled-back first transaction
# does not leave the chain unsealed.
_unsealed: set[tuple[str, str]] = set()


def _seal(conn: Connection, key: AuditKey, count: int, at: datetime) -> list[AuditEvent]:
    """The legacy chain's `chain_keyed` marker, if one is due (see the module docstring)."""
    tag = (conn.engine.url.render_as_string(hide_password=True), key.id)
    if key.created:
        _unsealed.add(tag)
    if tag not in _unsealed:
        return []
    row = conn.execute(select(EVENTS).where(EVENTS.c.hash == _legacy_head_hash(conn))).first()
    newest = None if row is None else AuditEvent(**{c: getattr(row, c) for c in EVENT_COLUMNS})
    if newest is not None and legacy_hash(newest) == newest.hash:
        log.warning("audit chain of %d plain SHA-256 events sealed with the new key", count)
        return [_marker(key, count, at)]
    _unsealed.discard(tag)
    if newest is None or key.mac(_canonical(newest)) != newest.hash:
        _log_other_key(key)
    return []


def _log_other_key(key: AuditKey) -> None:
    log.error(
        "AUDIT CHAIN: the newest audit event does not verify with the new audit key %s: "
        "the chain was made with another key. Restore the original key file; run "
        "`triggerpoint audit verify`.",
        key.path,
    )


def _legacy_head_hash(conn: Connection) -> str | None:
    return conn.scalar(select(HEAD.c.last_hash).where(HEAD.c.chain.is_(None)))


# Databases (by URL) whose legacy chain this process has seen closed, or absent.
_split_seen: set[str] = set()


def _split_legacy(conn: Connection, key: AuditKey) -> None:
    """Close the old global chain with a `chain_split` event, once, before per-clinic appends.

    The migration cannot write it (the key is outside the database), so the first append
    after the upgrade does, under the legacy head's lock; later transactions of this process
    skip the check once they have seen the seal committed. A chain of plain SHA-256 events
    gets its `chain_keyed` marker first, but only with a key this process created (`_seal`).
    """
    url = conn.engine.url.render_as_string(hide_password=True)
    if url in _split_seen and not key.created:
        return
    head = _legacy_head(conn, lock=False)
    if head is None or head[2] == 0:
        _split_seen.add(url)  # no legacy chain (or a deleted head: verify says so)
        return
    if _is_split(conn, head[1]):
        _split_seen.add(url)
        return
    head = _legacy_head(conn, lock=True)
    if head is None or _is_split(conn, head[1]):
        return  # another process sealed it while this one waited for the lock
    head_id, prev, count = head
    events = _seal(conn, key, count, utcnow())
    if not events and not _keyed_tail(conn, key, prev):
        return  # an unsealed plain SHA-256 chain, or another key's: verify reports it
    events.append(_split_marker(key, count + len(events)))
    for ev in events:
        ev.prev_hash = prev
        ev.hash = prev = key.mac(_canonical(ev))
    conn.execute(insert(EVENTS), [{c: getattr(ev, c) for c in EVENT_COLUMNS} for ev in events])
    conn.execute(
        update(HEAD).where(HEAD.c.id == head_id).values(last_hash=prev, count=count + len(events))
    )
    log.warning("the old global audit chain (%d events) is closed: one chain per clinic", count)


def _legacy_head(conn: Connection, *, lock: bool) -> tuple[int, str, int] | None:
    """The legacy head row's id, newest hash and count (locked until commit if `lock`)."""
    query = select(HEAD.c.id, HEAD.c.last_hash, HEAD.c.count).where(HEAD.c.chain.is_(None))
    row = conn.execute(query.with_for_update() if lock else query).first()
    return None if row is None else (row[0], row[1], row[2])


def _is_split(conn: Connection, head_hash: str) -> bool:
    """Whether the event with this hash is the legacy chain's `chain_split` seal."""
    row = conn.execute(
        select(EVENTS.c.action, EVENTS.c.entity).where(EVENTS.c.hash == head_hash)
    ).first()
    return row is not None and (row[0], row[1]) == (SPLIT, CHAIN_ENTITY)


def _keyed_tail(conn: Connection, key: AuditKey, head_hash: str) -> bool:
    """Whether the legacy chain's newest event is MAC'd with `key` (it may be sealed)."""
    row = conn.execute(select(EVENTS).where(EVENTS.c.hash == head_hash)).first()
    if row is None:
        return False
    return (
        key.mac(_canonical(AuditEvent(**{c: getattr(row, c) for c in EVENT_COLUMNS}))) == row.hash
    )


def _split_marker(key: AuditKey, events: int) -> AuditEvent:
    """The legacy chain's last event: how many came before it (its prev_hash is their head)."""
    return AuditEvent(
        at=utcnow(),
        clinic_id=None,
        user_id=None,
        actor="system",
        action=SPLIT,
        entity=CHAIN_ENTITY,
        entity_id=None,
        detail={"scheme": SCHEME, "key_id": key.id, "events": events},
        chain=LEGACY,
    )


def _chain(conn: Connection, key: AuditKey, events: list[AuditEvent]) -> None:
    """Append `events` to their chains: each chain's head locked in ascending chain order
    (so two transactions never wait on each other in a cycle), its events MAC'd in order."""
    _split_legacy(conn, key)
    by_chain: dict[int, list[AuditEvent]] = defaultdict(list)
    for ev in events:
        by_chain[chain_of(ev.clinic_id) if ev.chain is None else ev.chain].append(ev)
    heads = {c: _lock_head(conn, c) for c in sorted(by_chain)}
    if key.created and any(not _keyed_tail(conn, key, h) for h, n in heads.values() if n):
        _log_other_key(key)  # a new key, but these chains were made with another
    rows = []
    moves = []
    for c, evs in by_chain.items():
        prev, count = heads[c]
        if prev == GENESIS:
            evs = [_marker(key, 0, evs[0].at, chain=c), *evs]  # keyed from its first event
        for i, ev in enumerate(evs, start=_last_seq(conn, c) + 1):
            ev.chain, ev.seq, ev.prev_hash = c, i, prev
            ev.hash = prev = key.mac(_canonical(ev))
            rows.append({col: getattr(ev, col) for col in EVENT_COLUMNS})
        moves.append({"c": c, "h": prev, "n": count + len(evs)})
    if not rows:
        return
    conn.execute(_APPEND, rows)
    conn.execute(_MOVE_HEADS, moves)


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[AuditEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    if is_read_only(session):
        # A read's events: chained in the short write right after the read commits (and
        # if that fails, so does the read's commit: no read goes unaudited).
        defer_write(session, lambda w: w.info.setdefault(_PENDING, []).extend(pending))
        return
    # Core statements on the session's connection: append-only rows and one counter per
    # chain need none of the unit of work's bookkeeping, and this runs on every request.
    conn = session.connection()
    _chain(conn, signing_key(conn.engine.url), pending)
    for stale in [o for o in session.identity_map.values() if isinstance(o, AuditHead)]:
        session.expire(stale)  # a head loaded earlier in this session (verify) is now old


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_PENDING, None)


def prepare_key(session: Session) -> AuditKey:
    """Create the key file if missing (`triggerpoint setup`), sealing an old chain with it."""
    conn = session.connection()
    key = load_key(key_path(conn.engine.url), create=True)
    assert key is not None
    if key.created:
        _split_legacy(conn, key)  # seals and closes a chain of old events, if there is one
    session.commit()
    return key


# --- checkpoints -------------------------------------------------------------------------

CHECKPOINT_FIELDS = ("v", "at", "events", "head_id", "head", "scheme", "key_id")


def _checkpoint_mac(key: AuditKey, line: dict[str, Any]) -> str:
    names = (*CHECKPOINT_FIELDS, "chain") if line.get("v", 1) >= 2 else CHECKPOINT_FIELDS
    body = json.dumps({k: line.get(k) for k in names}, sort_keys=True)
    return key.mac(b"triggerpoint audit checkpoint\n" + body.encode("utf-8"))


def take_checkpoint(
    session: Session, path: Path | None = None
) -> tuple[list[dict[str, Any]], Path]:
    """Append every chain's head to the checkpoint file, one line per chain (and note that
    in each per-clinic chain itself).

    The heads are locked in ascending chain order (as appends lock them) and the lines are
    written and flushed to disk under those locks, before the `checkpoint` events are
    committed: each line records its chain as it was just before that event. The closed
    legacy chain gets a line but no event (nothing is appended after its seal).
    """
    conn = session.connection()
    key = signing_key(conn.engine.url)
    path = path or checkpoint_path(conn.engine.url)
    _split_legacy(conn, key)
    chains: list[int | None] = list(
        conn.scalars(select(HEAD.c.chain).order_by(HEAD.c.chain.is_not(None), HEAD.c.chain))
    )
    lines: list[dict[str, Any]] = []
    for chain in chains or [SYSTEM_CHAIN]:  # no chain yet: the system's, empty, records that
        if chain is LEGACY:
            row = conn.execute(
                select(HEAD.c.last_hash, HEAD.c.count)
                .where(HEAD.c.chain.is_(None))
                .with_for_update()
            ).first()
            head, count = (GENESIS, 0) if row is None else (row[0], row[1])
        else:
            head, count = _lock_head(conn, chain)
        head_id = conn.scalar(select(EVENTS.c.id).where(EVENTS.c.hash == head)) if count else None
        line: dict[str, Any] = {
            "v": 2,
            "chain": chain,
            "at": utcnow().isoformat(timespec="microseconds"),
            "events": count,
            "head_id": head_id,
            "head": head,
            "scheme": SCHEME,
            "key_id": key.id,
        }
        line["mac"] = _checkpoint_mac(key, line)
        lines.append(line)
    _append_line(path, "\n".join(json.dumps(line, sort_keys=True) for line in lines))
    for line in lines:
        if line["chain"] is LEGACY:
            continue
        event = AuditEvent(
            at=utcnow(),
            clinic_id=None,
            user_id=None,
            actor="checkpoint",
            action=CHECKPOINT,
            entity=CHAIN_ENTITY,
            entity_id=None,
            detail={"events": line["events"], "head_id": line["head_id"], "file": str(path)},
            chain=line["chain"],
        )
        session.info.setdefault(_PENDING, []).append(event)
    session.commit()
    return lines, path


def _append_line(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (text + "\n").encode("utf-8"))  # one write: O_APPEND keeps lines whole
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class Checkpoint:
    line: dict[str, Any]
    source: str  # "file line N"

    @property
    def events(self) -> int:
        return self.line["events"]

    @property
    def head(self) -> str:
        return self.line["head"]

    @property
    def head_id(self) -> int | None:
        return self.line.get("head_id")

    @property
    def when(self) -> str:
        return _when(self.line["at"])

    @property
    def chain(self) -> int | None:
        """The chain the line is of: lines from before per-clinic chains (v1) are the legacy's."""
        chain = self.line.get("chain") if self.line.get("v", 1) >= 2 else LEGACY
        return chain if isinstance(chain, int) and not isinstance(chain, bool) else LEGACY

    def describe(self) -> str:
        return f"checkpoint of {self.when} ({self.source})"


def _when(at: str | datetime) -> str:
    try:
        dt = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    except ValueError:
        return str(at)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a file: JSON lines as written, or copies of `--json` output (a JSON
    list of them).

    Returns them with a problem for anything in the file that is not a checkpoint.
    """
    text = path.read_text(encoding="utf-8", errors="replace")
    decoder = json.JSONDecoder()
    found: list[Checkpoint] = []
    problems: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        lineno = text.count("\n", 0, i) + 1
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            problems.append(f"{path} line {lineno}: not a checkpoint (the file was edited?)")
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else nl + 1
            continue
        objs = obj if isinstance(obj, list) and obj else [obj]  # `checkpoint --json` output
        for one in objs:
            if _is_checkpoint(one):
                found.append(Checkpoint(one, f"{path} line {lineno}"))
            else:
                problems.append(f"{path} line {lineno}: not a checkpoint (the file was edited?)")
                break
    return found, problems


def _is_checkpoint(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("events"), int)
        and isinstance(obj.get("head"), str)
        and isinstance(obj.get("at"), str)
    )


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainResult:
    """One chain's verdict: whose it is, and the first event that does not verify."""

    chain: int | None  # None: the legacy global chain from before per-clinic chains
    clinic_id: int | None
    label: str
    ok: bool
    events: int
    problems: list[str]
    first_broken_event: int | None = None
    checkpoints: int = 0
    legacy_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "legacy": self.chain is LEGACY,
            "clinic_id": self.clinic_id,
            "label": self.label,
            "ok": self.ok,
            "events": self.events,
            "first_broken_event": self.first_broken_event,
            "checkpoints": self.checkpoints,
            "legacy_events": self.legacy_events,
            "problems": self.problems,
        }


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    checkpoints: int = 0  # checkpoints compared with the chain
    legacy_events: int = 0  # events from before keying, checked as plain SHA-256
    key_id: str | None = None
    key_file: str | None = None
    checkpoint_files: list[str] = field(default_factory=list)
    chains: list[ChainResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "problems": self.problems,
            "warnings": self.warnings,
            "checkpoints": self.checkpoints,
            "legacy_events": self.legacy_events,
            "key_id": self.key_id,
            "key_file": self.key_file,
            "checkpoint_files": self.checkpoint_files,
            "chains": [c.as_dict() for c in self.chains],
        }


_DEFAULT: Any = object()

# Per-event findings, collapsed into ranges when consecutive.
_EDITED = "edited"
_LEGACY_EDITED = "legacy-edited"
_SHA_FORGED = "sha-forged"
_NO_MARKER = "no-marker"
_EARLY_KEYED = "early-keyed"
_MESSAGES = {
    _EDITED: (
        "contents do not match its MAC (edited, or made with another key)",
        "contents do not match their MACs (edited, or made with another key)",
    ),
    _LEGACY_EDITED: (
        "contents do not match its SHA-256 hash (edited)",
        "contents do not match their SHA-256 hashes (edited)",
    ),
    _SHA_FORGED: (
        "hashed with plain SHA-256 where the chain requires a keyed MAC: rewritten by someone "
        "without the audit key",
        "re-hashed with plain SHA-256 where the chain requires keyed MACs: the chain was "
        "rewritten by someone without the audit key",
    ),
    _NO_MARKER: (
        "keyed, but no chain_keyed event starts the keyed chain (deleted?)",
        "keyed, but no chain_keyed event starts the keyed chain (deleted?)",
    ),
    _EARLY_KEYED: (
        "keyed, but comes before the chain_keyed event (the chain was reordered?)",
        "keyed, but come before the chain_keyed event (the chain was reordered?)",
    ),
}


@dataclass
class _Scan:
    key: AuditKey | None
    count: int = 0
    last_id: int = 0
    prev: str = GENESIS
    keyed: bool = False
    marker: AuditEvent | None = None
    marker_ok: bool = False
    legacy: int = 0
    before_marker: int = 0
    keyed_events: int = 0
    keyed_bad: int = 0
    findings: list[tuple[str, int, int]] = field(default_factory=list)  # kind, position, id
    links: list[str] = field(default_factory=list)
    misplaced: dict[int, tuple[int, int]] = field(default_factory=dict)  # id: (links to, follows)
    recorded: list[dict[str, Any]] = field(default_factory=list)  # checkpoint events
    first_bad: int | None = None  # the id of the first event that does not verify
    split: AuditEvent | None = None  # the legacy chain's chain_split seal
    split_at: int = 0  # its position
    after_split: list[int] = field(default_factory=list)  # ids appended after the seal
    chain: int | None = LEGACY


def verify(
    session: Session,
    *,
    batch: int = 5000,
    key: AuditKey | None = _DEFAULT,
    checkpoint_files: Sequence[Path] = (),
    configured_checkpoints: bool = True,
    chains: Collection[int | None] | None = None,
) -> VerifyResult:
    """Recompute every chain (each clinic's, the system's, the legacy segment) and compare
    each with its checkpoints.

    Reports, by name and per chain, every edited, deleted, reordered or re-hashed event, a
    head rewound past a checkpoint, and a key that is not the one the chains and checkpoints
    were made with: tampering in one clinic's chain is that clinic's finding only. A missing
    configured checkpoint file is a warning (as is having no checkpoint at all): a chain alone
    cannot show that its newest events were cut off with the head rewound. `chains` limits
    the check to those chains (a clinic's audit page checks its own).
    """
    url = session.get_bind().engine.url  # the bind may be a Connection, which has no url
    if key is _DEFAULT:
        key = load_key(key_path(url))
    problems: list[str] = []
    warnings: list[str] = []

    files: list[tuple[Path, bool]] = []
    if configured_checkpoints:
        files.append((checkpoint_path(url), True))
    files += [(Path(p), False) for p in checkpoint_files]
    checkpoints: list[Checkpoint] = []
    missing_configured: Path | None = None
    read_files: list[str] = []
    seen_files: set[Path] = set()
    for path, configured in files:
        resolved = path.resolve()
        if resolved in seen_files:
            continue
        seen_files.add(resolved)
        if not path.is_file():
            if configured:
                missing_configured = path
            else:
                problems.append(f"checkpoint file {path}: no such file")
            continue
        found, bad = read_checkpoints(path)
        checkpoints += found
        problems += bad
        read_files.append(str(path))
    checkpoints = _distinct(checkpoints)
    if chains is not None:
        checkpoints = [cp for cp in checkpoints if cp.chain in chains]
    problems += _check_checkpoint_macs(checkpoints, key)
    by_chain: dict[int | None, list[Checkpoint]] = defaultdict(list)
    for cp in checkpoints:
        by_chain[cp.chain].append(cp)

    present: set[int | None] = set(session.scalars(select(AuditEvent.chain).distinct()))
    present |= set(session.scalars(select(AuditHead.chain)))
    present |= set(by_chain)
    if chains is not None:
        present &= set(chains)
    names = _clinic_names(session)
    ordered = sorted(present, key=lambda c: -1 if c is None else c)
    new_events = session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.chain.is_not(None))
    )
    results: list[ChainResult] = []
    summaries: list[str] = []
    rest: list[str] = []
    scans: list[_Scan] = []
    for chain in ordered:
        scan, summary, details = _verify_chain(
            session, chain, by_chain.get(chain, []), key, batch, new_events or 0
        )
        scans.append(scan)
        summaries += summary
        rest += details
        results.append(
            ChainResult(
                chain=chain,
                clinic_id=chain if chain else None,
                label=_label(chain, names),
                ok=not (summary or details),
                events=scan.count,
                problems=summary + details,
                first_broken_event=scan.first_bad,
                checkpoints=len(by_chain.get(chain, [])),
                legacy_events=scan.legacy,
            )
        )
    problems = summaries + problems + rest

    warnings += _checkpoint_warnings(scans, by_chain, missing_configured, read_files)
    return VerifyResult(
        ok=not problems,
        events=sum(s.count for s in scans),
        problems=problems,
        warnings=warnings,
        checkpoints=len(checkpoints),
        legacy_events=sum(s.legacy for s in scans),
        key_id=None if key is None else key.id,
        key_file=str(key_path(url)),
        checkpoint_files=read_files,
        chains=results,
    )


_CLINIC = table("clinic", sql_column("id", Integer), sql_column("name", String))


def _clinic_names(session: Session) -> dict[int, str]:
    """Clinic names for the report (read as plain rows: the audit sits below accounts)."""
    return {int(i): str(n) for i, n in session.execute(select(_CLINIC.c.id, _CLINIC.c.name)).all()}


def _label(chain: int | None, names: dict[int, str]) -> str:
    if chain is LEGACY:
        return "legacy chain (before per-clinic chains)"
    if chain == SYSTEM_CHAIN:
        return "system"
    name = names.get(chain)
    return f"clinic {chain} ({name})" if name else f"clinic {chain} (no such clinic)"


def _chain_rows(chain: int | None) -> Any:
    return AuditEvent.chain.is_(None) if chain is LEGACY else AuditEvent.chain == chain


def _verify_chain(
    session: Session,
    chain: int | None,
    checkpoints: list[Checkpoint],
    key: AuditKey | None,
    batch: int,
    new_events: int,
) -> tuple[_Scan, list[str], list[str]]:
    """One chain's scan, its root-cause summary, and its other findings."""
    problems: list[str] = []
    by_position: dict[int, list[Checkpoint]] = defaultdict(list)
    for cp in checkpoints:
        by_position[cp.events].append(cp)
    scan = _Scan(key, chain=chain)
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(_chain_rows(chain), AuditEvent.id > last_id)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for ev in rows:
            _step(session, scan, ev)
            for cp in by_position.get(scan.count, ()):
                if cp.head != ev.hash:
                    _first_bad(scan, ev.id)
                    problems.append(
                        f"{cp.describe()} recorded event {cp.events} (id {cp.head_id}) as "
                        f"{cp.head[:12]}…, the chain's event {cp.events} (id {ev.id}) is "
                        f"{ev.hash[:12]}…: events up to it were deleted, rewritten or "
                        f"reordered since"
                    )
            last_id = ev.id
        session.expunge_all()

    summary = _summarise(scan)
    if chain is LEGACY:
        problems += _legacy_problems(scan, new_events)
    tail = [cp for cp in checkpoints if cp.events > scan.count]
    if tail:
        cp = max(tail, key=lambda c: c.events)
        first, last = scan.last_id + 1, cp.head_id
        if last and last > first:
            span = f"events {first}-{last}"
        else:
            span = f"event {first}" if last == first else f"{cp.events - scan.count} events"
        more = f" (and {len(tail) - 1} other checkpoints past its end)" if len(tail) > 1 else ""
        problems.append(
            f"{span} missing: {cp.describe()} recorded {cp.events} events, the chain has "
            f"{scan.count}: the newest events were deleted and the head rewound, or an older "
            f"backup was restored{more}"
        )
    for cp in by_position.get(0, ()):
        if cp.head != GENESIS:
            problems.append(f"{cp.describe()}: records no events but a head (edited?)")
    problems += _head_problems(session, chain, scan)
    return scan, summary, problems


def _first_bad(scan: _Scan, event_id: int) -> None:
    if scan.first_bad is None or event_id < scan.first_bad:
        scan.first_bad = event_id


def _legacy_problems(scan: _Scan, new_events: int) -> list[str]:
    """The legacy chain must end in its `chain_split` seal once per-clinic chains exist."""
    out: list[str] = []
    split = scan.split
    if split is None:
        if scan.count and new_events:
            out.append(
                f"the legacy chain's {scan.count} events are not closed by a chain_split "
                f"event, but {new_events} events are in per-clinic chains (the seal was "
                f"deleted, or the legacy chain could not be sealed: see the problems above)"
            )
        return out
    recorded = (split.detail or {}).get("events")
    if recorded != scan.split_at - 1:
        out.append(
            f"event {split.id} (chain_split) records {recorded} legacy events before it, the "
            f"chain has {scan.split_at - 1} there (events inserted or deleted before it)"
        )
    if scan.after_split:
        ids = scan.after_split
        span = f"event {ids[0]}" if len(ids) == 1 else f"events {ids[0]}-{ids[-1]}"
        out.append(
            f"{span} ({len(ids)}) in the legacy chain after its chain_split seal (event "
            f"{split.id}): nothing is appended there once it is closed (inserted by hand?)"
        )
        _first_bad(scan, ids[0])
    return out


def _head_problems(session: Session, chain: int | None, scan: _Scan) -> list[str]:
    heads = session.scalars(
        select(AuditHead).where(
            AuditHead.chain.is_(None) if chain is LEGACY else AuditHead.chain == chain
        )
    ).all()
    head = heads[0] if heads else None
    if head is None:
        if scan.count:
            return [f"the head row is missing, but the chain has {scan.count} events (deleted?)"]
        return []
    if head.count == scan.count and head.last_hash == scan.prev:
        return []
    _first_bad(scan, scan.last_id)
    if head.count > scan.count:
        return [
            f"head expects {head.count} events ending in {head.last_hash[:12]}…, found "
            f"{scan.count} (newest events deleted?)"
        ]
    if head.count < scan.count:
        return [
            f"head expects {head.count} events, found {scan.count}: events were added "
            f"without moving the head (inserted by hand?)"
        ]
    return [
        f"head records the newest MAC as {head.last_hash[:12]}…, the newest event "
        f"(id {scan.last_id}) has {scan.prev[:12]}… (newest event rewritten?)"
    ]


def _distinct(checkpoints: Iterable[Checkpoint]) -> list[Checkpoint]:
    """One of each checkpoint (the configured file and a copy of it hold the same lines)."""
    out: dict[tuple[Any, ...], Checkpoint] = {}
    for cp in checkpoints:
        out.setdefault((cp.events, cp.head, cp.line["at"], cp.line.get("mac")), cp)
    return list(out.values())


def _check_checkpoint_macs(checkpoints: list[Checkpoint], key: AuditKey | None) -> list[str]:
    if key is None:
        return []
    problems: list[str] = []
    other_keys: dict[str, list[Checkpoint]] = defaultdict(list)
    for cp in checkpoints:
        if cp.line.get("key_id") != key.id:
            other_keys[str(cp.line.get("key_id"))].append(cp)
        elif cp.line.get("mac") != _checkpoint_mac(key, cp.line):
            problems.append(f"{cp.describe()}: its MAC does not verify: edited or forged")
    for key_id, cps in other_keys.items():
        newest = max(cps, key=lambda c: c.events)
        problems.append(
            f"the audit key has changed: {len(cps)} checkpoint(s), the newest the "
            f"{newest.describe()}, were made with key {key_id}, but {key.path} holds key "
            f"{key.id}: the key file was replaced (restore the original from its backup)"
        )
    return problems


def _step(session: Session, scan: _Scan, ev: AuditEvent) -> None:
    """Check one event: its link to the one before, then its hash or MAC."""
    scan.count += 1
    if scan.split is not None:
        scan.after_split.append(ev.id)
    elif ev.action == SPLIT and ev.entity == CHAIN_ENTITY and ev.chain is LEGACY:
        scan.split, scan.split_at = ev, scan.count
    if ev.prev_hash != scan.prev:
        _first_bad(scan, ev.id)
        _diagnose_link(session, scan, ev)
    key = scan.key
    is_marker = ev.action == KEYED and ev.entity == CHAIN_ENTITY
    if not scan.keyed and is_marker:
        scan.keyed, scan.marker, scan.before_marker = True, ev, scan.count - 1
    mac = None if key is None else key.mac(_canonical(ev))
    if scan.keyed:
        scan.keyed_events += 1
        if mac is None:
            pass  # no key: counted in keyed_events, reported once
        elif mac == ev.hash:
            if ev is scan.marker:
                scan.marker_ok = True
            if ev.action == CHECKPOINT and ev.entity == CHAIN_ENTITY:
                scan.recorded.append({"at": ev.at, **(ev.detail or {})})
        else:
            scan.keyed_bad += 1
            _first_bad(scan, ev.id)
            forged = legacy_hash(ev) == ev.hash
            scan.findings.append((_SHA_FORGED if forged else _EDITED, scan.count, ev.id))
    elif legacy_hash(ev) == ev.hash:
        scan.legacy += 1
    elif mac is not None and mac == ev.hash:
        _first_bad(scan, ev.id)
        scan.findings.append((_EARLY_KEYED, scan.count, ev.id))
    else:
        _first_bad(scan, ev.id)
        scan.findings.append((_LEGACY_EDITED, scan.count, ev.id))
    scan.prev, scan.last_id = ev.hash, ev.id


def _diagnose_link(session: Session, scan: _Scan, ev: AuditEvent) -> None:
    """Name what broke the link: a deletion, a reordering (swap), or a new chain."""
    before = f"event {scan.last_id}" if scan.last_id else "the start of the chain"
    if len(scan.links) >= 200:
        scan.links.append(f"event {ev.id}: chain broken")
        return
    if ev.prev_hash == GENESIS:
        scan.links.append(
            f"event {ev.id}: chain broken: it starts a new chain, but follows {before} "
            f"(events inserted before it, or the chain was restarted)"
        )
        return
    pred = session.scalar(select(AuditEvent.id).where(AuditEvent.hash == ev.prev_hash))
    if pred is None:
        scan.links.append(
            f"event {ev.id}: chain broken: the event it follows is gone "
            f"(deleted or edited after {before})"
        )
        return
    scan.misplaced[ev.id] = (pred, scan.last_id)
    where = "comes after it" if pred > ev.id else f"is not {before} before it"
    scan.links.append(
        f"event {ev.id}: chain broken: out of order: it follows event {pred}, which {where} "
        f"(events swapped or reordered)"
    )


def _swaps(misplaced: dict[int, tuple[int, int]], last_id: int) -> list[str]:
    """Pairs of events that have exchanged places: putting them back mends every link."""
    found = []
    next_of = {follows: i for i, (_, follows) in misplaced.items()}
    ids = sorted(misplaced)[:200]
    for i, a in enumerate(ids):
        a_links, a_follows = misplaced[a]
        for b in ids[i + 1 :]:
            b_links, b_follows = misplaced[b]
            if b_links != a_follows or a_links != (b if b_follows == a else b_follows):
                continue
            after_a = next_of.get(a)
            if after_a != b and (after_a is None or misplaced[after_a][0] != b):
                continue
            after_b = next_of.get(b)
            if b != last_id and (after_b is None or misplaced[after_b][0] != a):
                continue
            found.append(f"events {a} and {b} are swapped: each sits in the other's place")
    return found


def _summarise(scan: _Scan) -> list[str]:
    """The scan's findings as sentences, root causes first, runs of events as ranges."""
    out: list[str] = []
    key = scan.key
    marker = scan.marker
    if marker is not None and key is not None and not scan.marker_ok:
        marker_key = (marker.detail or {}).get("key_id")
        if marker_key and marker_key != key.id:
            out.append(
                f"the audit key has changed: the chain was keyed with key {marker_key} "
                f"(event {marker.id}, {_when(marker.at)}), but {key.path} holds key {key.id}: "
                f"the key file was replaced (restore the original from its backup), or the "
                f"chain was re-keyed by someone else"
            )
    if scan.keyed_events and key is None:
        out.append(
            f"the audit key file is missing: the {scan.keyed_events} keyed events cannot be "
            f"verified without it (restore it from its backup; see docs/security.md)"
        )
    if (
        key is not None
        and scan.keyed_events > 1
        and scan.keyed_bad == scan.keyed_events
        and not scan.links
        and all(kind == _EDITED for kind, _, _ in scan.findings)
    ):
        out.append(
            f"no keyed event verifies with the configured audit key {key.id}, although each "
            f"links to the one before: the chain was re-hashed with another key, or the key "
            f"file was changed"
        )
    if marker is not None and scan.marker_ok:
        legacy = (marker.detail or {}).get("legacy_events")
        if isinstance(legacy, int) and legacy != scan.before_marker:
            out.append(
                f"event {marker.id} (chain_keyed) records {legacy} older events before it, the "
                f"chain has {scan.before_marker} there (events inserted or deleted before it)"
            )
    if marker is None and scan.legacy:
        hint = (
            "run `triggerpoint setup` to create the key file, which seals them"
            if key is None
            else "see docs/security.md"
        )
        out.append(
            f"the chain's {scan.legacy} plain SHA-256 events are not sealed by a chain_keyed "
            f"event: anyone with write access to the database can recompute them, so they were "
            f"re-hashed without the audit key, or they predate keyed chains and were never "
            f"sealed ({hint})"
        )
    if marker is None:  # keyed events with no marker before them
        scan.findings = [
            (_NO_MARKER if kind == _EARLY_KEYED else kind, pos, i) for kind, pos, i in scan.findings
        ]
    out += _swaps(scan.misplaced, scan.last_id)
    out += scan.links
    out += _render_findings(scan)
    return out


def _render_findings(scan: _Scan) -> list[str]:
    out: list[str] = []
    findings = scan.findings
    runs: list[list[tuple[str, int, int]]] = []
    for f in findings:
        if runs and runs[-1][-1][0] == f[0] and runs[-1][-1][1] + 1 == f[1]:
            runs[-1].append(f)
        else:
            runs.append([f])
    for run in runs[:50]:
        kind, first, last = run[0][0], run[0][2], run[-1][2]
        one, many = _MESSAGES[kind]
        if len(run) == 1:
            out.append(f"event {first}: {one}")
        else:
            out.append(f"events {first}-{last} ({len(run)} events): {many}")
    if len(runs) > 50:
        out.append(f"… and {len(runs) - 50} more ranges of bad events")
    return out


def _checkpoint_warnings(
    scans: list[_Scan],
    by_chain: dict[int | None, list[Checkpoint]],
    missing: Path | None,
    read: list[str],
) -> list[str]:
    out: list[str] = []
    recorded_in = defaultdict(list)
    for scan in scans:
        for r in scan.recorded:
            recorded_in[str(r.get("file"))].append(r)
    if missing is not None:
        notes = recorded_in.get(str(missing), [])
        if notes:
            newest = max(notes, key=lambda r: r.get("events", 0))
            out.append(
                f"the configured checkpoint file {missing} is missing, but the audit chain "
                f"records {len(notes)} checkpoint(s) written to it (the newest of "
                f"{_when(newest['at'])}, at {newest.get('events')} events): it was deleted or "
                f"moved. Verify with a copy kept elsewhere (--checkpoint FILE)."
            )
        else:
            out.append(
                f"the configured checkpoint file {missing} is missing (no checkpoint taken "
                f"yet, or it was deleted): without checkpoints, newest events deleted with the "
                f"head rewound go unnoticed. Take one with `triggerpoint audit checkpoint`."
            )
    elif not any(by_chain.values()):
        out.append(
            "no checkpoints to compare with: newest events deleted with the head rewound would "
            "go unnoticed. Take one with `triggerpoint audit checkpoint`."
        )
    for scan in scans:
        known = {cp.events for cp in by_chain.get(scan.chain, [])}
        per_file = defaultdict(list)
        for r in scan.recorded:
            per_file[str(r.get("file"))].append(r)
        for file in read:
            lost = [r for r in per_file.get(file, []) if r.get("events") not in known]
            if lost:
                newest = max(lost, key=lambda r: r.get("events", 0))
                out.append(
                    f"the audit chain records {len(lost)} checkpoint(s) written to {file} that "
                    f"it no longer holds (the newest of {_when(newest['at'])}, at "
                    f"{newest.get('events')} events): lines were removed from it"
                )
    return out


# --- reading the log (the admin's audit page): one clinic's events, newest first ---


@dataclass(frozen=True)
class EventFilter:
    """What the audit page filters on; None: any. `until` is exclusive."""

    user_id: int | None = None
    action: str | None = None
    entity: str | None = None
    entity_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def clinic_events(
    session: Session,
    *,
    clinic_id: int,
    where: EventFilter = EventFilter(),
    before_id: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """One page of a clinic's events, newest first (by id: the chain's append order, which
    `at` may not follow to the microsecond across writers). Keyset paging: pass the last
    id shown as `before_id` for the next page, so a page costs the same however deep it is
    and events appended meanwhile do not shift it. Returns up to `limit` + 1 rows: the
    extra one says there is a next page."""
    stmt = select(AuditEvent).where(AuditEvent.clinic_id == clinic_id)
    for column, value in (
        (AuditEvent.user_id, where.user_id),
        (AuditEvent.action, where.action),
        (AuditEvent.entity, where.entity),
        (AuditEvent.entity_id, where.entity_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if where.since is not None:
        stmt = stmt.where(AuditEvent.at >= where.since)
    if where.until is not None:
        stmt = stmt.where(AuditEvent.at < where.until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit + 1)))


def clinic_actions(session: Session, *, clinic_id: int) -> list[str]:
    """The actions a clinic's events have (the audit page's filter choices)."""
    return sorted(
        session.scalars(
            select(AuditEvent.action).where(AuditEvent.clinic_id == clinic_id).distinct()
        )
    )
