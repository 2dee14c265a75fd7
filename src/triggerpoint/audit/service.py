"""Append to and verify the audit log: a chain of HMACs under a key kept outside the database.

Each event's MAC (HMAC-SHA256 under the audit key, see `audit.keys`) covers its own fields and
the previous event's MAC, so editing a row breaks its MAC, deleting one breaks the link after
it, and without the key nobody can compute a valid replacement: a database writer can no
longer re-hash the chain after an edit. The head row (newest MAC and count) makes deleting the
newest rows detectable unless the head is rewound too; checkpoints copied outside the
database (`take_checkpoint`, `triggerpoint audit checkpoint`) catch that as well. Appends lock
the head row, which serialises writers across processes on PostgreSQL (SQLite serialises
writers anyway), and cost one HMAC per event.

The MAC is 64 hex digits, like the SHA-256 hashes of chains written before keys existed, so
it fits the same columns. Such old chains still verify: a `chain_keyed` event (entity
`audit_chain`) marks where keying starts. Events before it are checked as plain SHA-256,
the marker and every event after it as HMACs. The marker is written when a chain gets its
first event, or in the transaction that creates the key file for a chain of old events.
So a database writer who re-hashes a keyed chain with plain SHA-256 cannot get it sealed
again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, insert, select, update
from sqlalchemy.orm import Session

from triggerpoint.audit.keys import AuditKey, checkpoint_path, key_path, load_key, signing_key
from triggerpoint.audit.models import AuditEvent, AuditHead
from triggerpoint.db import utcnow

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
    return json.dumps(
        [*fields, event.prev_hash], sort_keys=True, separators=(",", ":"), default=str
    ).encode("utf-8")


def legacy_hash(event: AuditEvent) -> str:
    """The plain SHA-256 of chains written before the audit key (anyone can compute it)."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def event_hash(event: AuditEvent, key: AuditKey | None = None) -> str:
    """The event's MAC under `key` (default: the configured database's key)."""
    return (key or signing_key()).mac(_canonical(event))


HEAD = AuditHead.__table__
EVENTS = AuditEvent.__table__


def _lock_head(conn: Connection) -> tuple[str, int]:
    """The newest hash and the event count, with the head row locked until commit."""
    row = conn.execute(
        select(HEAD.c.last_hash, HEAD.c.count).where(HEAD.c.id == 1).with_for_update()
    ).one_or_none()
    if row is None:
        conn.execute(insert(HEAD).values(id=1, last_hash=GENESIS, count=0))
        return GENESIS, 0
    last_hash, count = row  # (`row.count` would be the tuple method to a type checker)
    return last_hash, count


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
    "prev_hash",
    "hash",
)


def _marker(key: AuditKey, legacy_events: int, at: datetime) -> AuditEvent:
    return AuditEvent(
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
    """The `chain_keyed` marker to write before this transaction's events, if one is due."""
    if count == 0:
        return [_marker(key, 0, at)]  # a new chain: keyed from its first event
    tag = (conn.engine.url.render_as_string(hide_password=True), key.id)
    if key.created:
        _unsealed.add(tag)
    if tag not in _unsealed:
        return []  # the usual case: no query, no extra MAC
    row = conn.execute(select(EVENTS).order_by(EVENTS.c.id.desc()).limit(1)).one_or_none()
    newest = None if row is None else AuditEvent(**{c: getattr(row, c) for c in EVENT_COLUMNS})
    if newest is not None and legacy_hash(newest) == newest.hash:
        log.warning("audit chain of %d plain SHA-256 events sealed with the new key", count)
        return [_marker(key, count, at)]
    _unsealed.discard(tag)
    if newest is None or key.mac(_canonical(newest)) != newest.hash:
        log.error(
            "AUDIT CHAIN: the newest audit event does not verify with the new audit key %s: "
            "the chain was made with another key. Restore the original key file; run "
            "`triggerpoint audit verify`.",
            key.path,
        )
    return []


def _chain(conn: Connection, key: AuditKey, events: list[AuditEvent]) -> None:
    """Append `events` (MAC'd in order) under the head lock, and move the head."""
    prev, count = _lock_head(conn)
    if events or count:
        events = _seal(conn, key, count, events[0].at if events else utcnow()) + events
    if not events:
        return
    rows = []
    for ev in events:
        ev.prev_hash = prev
        ev.hash = prev = key.mac(_canonical(ev))
        rows.append({c: getattr(ev, c) for c in EVENT_COLUMNS})
    conn.execute(insert(EVENTS), rows)
    conn.execute(
        update(HEAD).where(HEAD.c.id == 1).values(last_hash=prev, count=count + len(events))
    )


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    pending: list[AuditEvent] = session.info.pop(_PENDING, [])
    if not pending:
        return
    # Core statements on the session's connection: append-only rows and one counter need
    # none of the unit of work's bookkeeping, and this runs on every audited request.
    conn = session.connection()
    _chain(conn, signing_key(conn.engine.url), pending)
    if (stale := session.identity_map.get(session.identity_key(AuditHead, 1))) is not None:
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
        _chain(conn, key, [])  # only a chain_keyed event, and only for a chain of old events
    session.commit()
    return key


# --- checkpoints -------------------------------------------------------------------------

CHECKPOINT_FIELDS = ("v", "at", "events", "head_id", "head", "scheme", "key_id")


def _checkpoint_mac(key: AuditKey, line: dict[str, Any]) -> str:
    body = json.dumps({k: line.get(k) for k in CHECKPOINT_FIELDS}, sort_keys=True)
    return key.mac(b"triggerpoint audit checkpoint\n" + body.encode("utf-8"))


def take_checkpoint(session: Session, path: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Append the chain's head to the checkpoint file (and note that in the chain itself).

    The line is written and flushed to disk under the head lock, before the `checkpoint`
    event is committed: the line records the chain as it was just before that event.
    """
    conn = session.connection()
    key = signing_key(conn.engine.url)
    path = path or checkpoint_path(conn.engine.url)
    head, count = _lock_head(conn)
    head_id = conn.scalar(select(EVENTS.c.id).where(EVENTS.c.hash == head)) if count else None
    line: dict[str, Any] = {
        "v": 1,
        "at": utcnow().isoformat(timespec="microseconds"),
        "events": count,
        "head_id": head_id,
        "head": head,
        "scheme": SCHEME,
        "key_id": key.id,
    }
    line["mac"] = _checkpoint_mac(key, line)
    _append_line(path, json.dumps(line, sort_keys=True))
    record(
        session,
        actor=Actor.system("checkpoint"),
        action=CHECKPOINT,
        entity=CHAIN_ENTITY,
        detail={"events": count, "head_id": head_id, "file": str(path)},
    )
    session.commit()
    return line, path


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

    def describe(self) -> str:
        return f"checkpoint of {self.when} ({self.source})"


def _when(at: str | datetime) -> str:
    try:
        dt = at if isinstance(at, datetime) else datetime.fromisoformat(at)
    except ValueError:
        return str(at)
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def read_checkpoints(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a file: JSON lines as written, or copies of `--json` output.

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
        ok = (
            isinstance(obj, dict)
            and isinstance(obj.get("events"), int)
            and isinstance(obj.get("head"), str)
            and isinstance(obj.get("at"), str)
        )
        if ok:
            found.append(Checkpoint(obj, f"{path} line {lineno}"))
        else:
            problems.append(f"{path} line {lineno}: not a checkpoint (the file was edited?)")
    return found, problems


# --- verification -------------------------------------------------------------------------


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


def verify(
    session: Session,
    *,
    batch: int = 5000,
    key: AuditKey | None = _DEFAULT,
    checkpoint_files: Sequence[Path] = (),
    configured_checkpoints: bool = True,
) -> VerifyResult:
    """Recompute the chain and compare it with every checkpoint known.

    Reports, by name, every edited, deleted, reordered or re-hashed event, a head rewound past
    a checkpoint, and a key that is not the one the chain and checkpoints were made with. A
    missing configured checkpoint file is a warning (as is having no checkpoint at all): the
    chain alone cannot show that its newest events were cut off with the head rewound.
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
    problems += _check_checkpoint_macs(checkpoints, key)
    by_position: dict[int, list[Checkpoint]] = defaultdict(list)
    for cp in checkpoints:
        by_position[cp.events].append(cp)

    scan = _Scan(key)
    last_id = 0
    while True:
        rows = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.id > last_id)
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
                    problems.append(
                        f"{cp.describe()} recorded event {cp.events} (id {cp.head_id}) as "
                        f"{cp.head[:12]}…, the chain's event {cp.events} (id {ev.id}) is "
                        f"{ev.hash[:12]}…: events up to it were deleted, rewritten or "
                        f"reordered since"
                    )
            last_id = ev.id
        session.expunge_all()

    problems[:0] = _summarise(scan)
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

    head = session.get(AuditHead, 1)
    if head is None and scan.count:
        problems.append(
            f"the head row is missing, but the chain has {scan.count} events (deleted?)"
        )
    if head is not None and (head.count != scan.count or head.last_hash != scan.prev):
        if head.count > scan.count:
            problems.append(
                f"head expects {head.count} events ending in {head.last_hash[:12]}…, found "
                f"{scan.count} (newest events deleted?)"
            )
        elif head.count < scan.count:
            problems.append(
                f"head expects {head.count} events, found {scan.count}: events were added "
                f"without moving the head (inserted by hand?)"
            )
        else:
            problems.append(
                f"head records the newest MAC as {head.last_hash[:12]}…, the newest event "
                f"(id {scan.last_id}) has {scan.prev[:12]}… (newest event rewritten?)"
            )

    warnings += _checkpoint_warnings(scan, checkpoints, missing_configured, read_files)
    return VerifyResult(
        ok=not problems,
        events=scan.count,
        problems=problems,
        warnings=warnings,
        checkpoints=len(checkpoints),
        legacy_events=scan.legacy,
        key_id=None if key is None else key.id,
        key_file=str(key_path(url)),
        checkpoint_files=read_files,
    )


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
    if ev.prev_hash != scan.prev:
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
            forged = legacy_hash(ev) == ev.hash
            scan.findings.append((_SHA_FORGED if forged else _EDITED, scan.count, ev.id))
    elif legacy_hash(ev) == ev.hash:
        scan.legacy += 1
    elif mac is not None and mac == ev.hash:
        scan.findings.append((_EARLY_KEYED, scan.count, ev.id))
    else:
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
    scan: _Scan, checkpoints: list[Checkpoint], missing: Path | None, read: list[str]
) -> list[str]:
    out: list[str] = []
    recorded_in = defaultdict(list)
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
    elif not checkpoints:
        out.append(
            "no checkpoints to compare with: newest events deleted with the head rewound would "
            "go unnoticed. Take one with `triggerpoint audit checkpoint`."
        )
    known = {cp.events for cp in checkpoints}
    for file in read:
        lost = [r for r in recorded_in.get(file, []) if r.get("events") not in known]
        if lost:
            newest = max(lost, key=lambda r: r.get("events", 0))
            out.append(
                f"the audit chain records {len(lost)} checkpoint(s) written to {file} that it "
                f"no longer holds (the newest of {_when(newest['at'])}, at "
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
