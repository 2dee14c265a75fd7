"""The clinic's research data version: a counter bumped by the writes the twitch analysis reads.

The persisted fit (`ltr.jobs`) records the version it was computed from; the page compares
it with the current one, one primary-key lookup, instead of scanning what the analysis reads
(1.3-1.9 s at 200k sessions for the fingerprint this replaces). The writes that bump it:

* a needling session that is, or was, signed (signing, an amendment, a deletion);
* a needle entry, unless its session is known (loaded in the session) to be unsigned;
* a measurement of an analysed instrument (NPRS, PPT), added, edited or deleted;
* a visit whose time or episode changed, or that was deleted (the follow-up window);
* a research consent recorded, withdrawn or changed.

How, in the style of the dashboard tallies (`dashboard.tallies`): `after_flush` notes the
clinics the flush touched in `session.info`; the commit then bumps each one's row once with
an atomic upsert (`version = version + 1`). The bump is a `before_commit` hook placed *first*
among them: it flushes what is still pending (so the tallies lock their patients and
sessions, the parents, before anything else), then bumps; only then does the audit hook lock
its chain head. So every writer takes the locks in one order (the flush's rows, the version
row, the audit head), and holds the hot per-clinic row only from the end of its work to its
COMMIT: writers of one clinic queue there briefly instead of deadlocking. A rollback drops
the noted clinics. The one other writer of these tables, the bulk registry (`demo.registry`),
calls `bump` in the transaction of each batch.

Deletes take the same path. Through the unit of work (`session.delete`) the deleted rows are
in the flush, with what the ORM cascades with them (a needling session's entries); what the
database cascades or sets loose (a visit's drawings, findings, and its measurements'
`visit_id`) is not read by the analysis except through the visit, whose delete counts. A bulk
INSERT, UPDATE or DELETE through a session (`session.execute(delete(Visit)...)`) never
reaches the flush: a `do_orm_execute` hook reads, before it runs, the clinics of the rows it
matches (through the session, so clinic-confined), or of the rows it inserts, and notes them
the same way. Core statements on a bare Connection are not seen: for measurements, needle
entries and needling sessions the dashboard's guard refuses them (`dashboard.listeners`).

`register()` installs the hooks (idempotent); `triggerpoint.listeners.register_listeners()`
calls it at app, CLI, worker and test start-up. `unregister()` removes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, event, select
from sqlalchemy.orm import ORMExecuteState, Session, attributes
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.dml import Delete, Insert, Update

import triggerpoint.audit.service  # noqa: F401 - its before_commit hook exists before ours
from triggerpoint.db import is_read_only, upsert_add, utcnow
from triggerpoint.outcomes.models import Measurement
from triggerpoint.records.models import Consent, Visit
from triggerpoint.records.service import RESEARCH
from triggerpoint.research.ltr.models import ResearchDataVersion
from triggerpoint.treatment.models import NeedleEntry, NeedlingSession

ANALYSED = frozenset({"nprs", "ppt"})  # the instruments of `ltr.service.INSTRUMENTS`
SIGNED = "signed"
_TOUCHED = "research_data_touched"  # session.info: clinic ids whose data this transaction changed
DV = ResearchDataVersion.__table__


def _values(obj: Any, name: str) -> list[Any]:
    """Current and (for an edited row) previous values of an attribute."""
    hist = attributes.get_history(obj, name)
    return [v for v in (*hist.added, *hist.unchanged, *hist.deleted) if v is not None]


def _changed(obj: Any, *names: str) -> bool:
    return any(attributes.get_history(obj, n).has_changes() for n in names)


def _parent_unsigned(session: Session, entry: NeedleEntry) -> bool:
    """The entry's session is in this Session and neither is nor was signed (no SQL)."""
    for sid in _values(entry, "needling_id"):
        parent = session.identity_map.get(identity_key(NeedlingSession, sid))
        if parent is None or SIGNED in _values(parent, "status"):
            return False
    return bool(_values(entry, "needling_id"))


def touches(session: Session, obj: Any, *, new: bool = False, deleted: bool = False) -> bool:
    """Whether writing `obj` (new, edited, or deleted) changes what the analysis reads."""
    if isinstance(obj, NeedlingSession):
        return SIGNED in _values(obj, "status")
    if isinstance(obj, NeedleEntry):
        return not _parent_unsigned(session, obj)
    if isinstance(obj, Measurement):
        return bool(ANALYSED & set(_values(obj, "instrument")))
    if isinstance(obj, Visit):
        return deleted or (not new and _changed(obj, "visit_at", "episode_id"))
    if isinstance(obj, Consent):
        return RESEARCH in _values(obj, "kind")
    return False


# Bulk statements through a session (`_do_orm_execute`): the tables the analysis reads, and
# which of their columns an UPDATE must set to change what it reads (None: any column).
_BULK: dict[str, tuple[type[Any], frozenset[str] | None]] = {
    "visit": (Visit, frozenset({"visit_at", "episode_id", "patient_id", "clinic_id"})),
    "consent": (Consent, None),
    "measurement": (Measurement, None),
    "needle_entry": (NeedleEntry, None),
    "needling_session": (NeedlingSession, None),
}


# The column that tells whether the analysis reads a row, and its values that it reads.
_READ_IF: dict[str, tuple[str, frozenset[str]]] = {
    "consent": ("kind", frozenset({RESEARCH})),
    "measurement": ("instrument", ANALYSED),
    "needling_session": ("status", frozenset({SIGNED})),
}


def _read_where(name: str) -> ColumnElement[bool] | None:
    """Which rows of table `name` the analysis reads, as SQL (None: every row)."""
    if name not in _READ_IF:
        return None
    column, wanted = _READ_IF[name]
    return cast("ColumnElement[bool]", getattr(_BULK[name][0], column).in_(wanted))


def _read_row(name: str, row: Mapping[str, Any]) -> bool:
    """Whether the analysis reads a new row of `name` (a new visit: nothing measured yet)."""
    if name == "visit":
        return False
    column, wanted = _READ_IF.get(name, ("", frozenset()))
    return not column or row.get(column) in wanted


def _bulk_clinics(state: ORMExecuteState, stmt: Insert | Update | Delete, name: str) -> set[int]:
    """The clinics whose read rows a bulk statement through the session changes: an INSERT
    names them in its rows; an UPDATE or DELETE's matched rows are read first."""
    cls, columns = _BULK[name]
    params = state.parameters
    rows = cast("list[Mapping[str, Any]]", params if isinstance(params, list) else [params or {}])
    if isinstance(stmt, Insert):
        default = state.session.info.get("clinic_id")
        return {r.get("clinic_id", default) for r in rows if _read_row(name, r)} - {None}
    if isinstance(stmt, Update) and columns is not None:
        values: Iterable[Any] = stmt._values or ()  # no public accessor for the SET clause
        names = {getattr(k, "key", None) or str(k) for k in values}
        names.update(str(k) for r in rows for k in r)  # an ORM bulk UPDATE by primary key
        if not columns & names:
            return set()
    q = select(cls.clinic_id).distinct()
    read = _read_where(name)
    if isinstance(stmt, Delete) and read is not None:  # an UPDATE may make a row read: any
        q = q.where(read)  # row it matches counts
    if stmt.whereclause is not None:
        q = q.where(stmt.whereclause)
    by_key = [r["id"] for r in rows if "id" in r]
    if by_key:
        q = q.where(cls.id.in_(by_key))
    return set(state.session.scalars(q))


def touched_clinics(session: Session) -> set[int]:
    """The clinics whose research data the pending flush changes (new, dirty, deleted)."""
    out: set[int] = set()
    for objs, new, deleted in (
        (session.new, True, False),
        (session.dirty, False, False),
        (session.deleted, False, True),
    ):
        for obj in objs:
            if touches(session, obj, new=new, deleted=deleted):
                out.update(_values(obj, "clinic_id"))
    return out


def bump(conn: Connection, clinic_ids: Iterable[int], *, now: datetime | None = None) -> None:
    """Add one to each clinic's data version (ascending: one lock order), atomically."""
    ids = sorted(set(clinic_ids))
    if not ids:
        return
    at = now or utcnow()
    for clinic_id in ids:  # one statement each, in this order: the row locks taken in it
        row = {"clinic_id": clinic_id, "version": 1, "changed_at": at}
        upsert_add(conn, DV, [row], keys=("clinic_id",), add=("version",), replace=("changed_at",))


def current(session: Session, clinic_id: int) -> tuple[int, datetime | None]:
    """The clinic's data version and when it last changed ((0, None): never)."""
    row = session.execute(
        select(DV.c.version, DV.c.changed_at).where(DV.c.clinic_id == clinic_id)
    ).one_or_none()
    return (int(row.version), row.changed_at) if row is not None else (0, None)


# --- the hooks ---------------------------------------------------------------------------


def _after_flush(session: Session, _ctx: Any) -> None:
    clinics = touched_clinics(session)
    if clinics:
        session.info.setdefault(_TOUCHED, set()).update(clinics)


def _do_orm_execute(state: ORMExecuteState) -> None:
    stmt = state.statement
    if not isinstance(stmt, Insert | Update | Delete):
        return
    name = getattr(stmt.table, "name", None)
    if name not in _BULK:
        return
    clinics = _bulk_clinics(state, stmt, name)
    if clinics:
        state.session.info.setdefault(_TOUCHED, set()).update(clinics)


def _before_commit(session: Session) -> None:
    if is_read_only(session):
        return
    if session.new or session.dirty or session.deleted:
        session.flush()  # the flush's own locks first (see the module's docstring)
    clinics = session.info.pop(_TOUCHED, None)
    if clinics:
        bump(session.connection(), clinics)


def _drop(session: Session, *_: Any) -> None:
    session.info.pop(_TOUCHED, None)


_HOOKS: tuple[tuple[str, Any, dict[str, bool]], ...] = (
    ("after_flush", _after_flush, {}),
    ("do_orm_execute", _do_orm_execute, {}),
    ("before_commit", _before_commit, {"insert": True}),  # before the audit chain's hook
    ("after_soft_rollback", _drop, {}),
)


def register() -> None:
    """Install the hooks (idempotent): the data version follows every committed write."""
    for name, fn, options in _HOOKS:
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn, **options)


def unregister() -> None:
    for name, fn, _ in _HOOKS:
        if event.contains(Session, name, fn):
            event.remove(Session, name, fn)


def registered() -> bool:
    return all(event.contains(Session, name, fn) for name, fn, _ in _HOOKS)
