"""The dashboard's hooks on the data layer, installed explicitly at start-up.

`register()` is called by `triggerpoint.listeners.register_listeners()` (app factory, CLI,
worker, test fixtures); importing a model module installs nothing. It is idempotent, and
`unregister()` removes exactly what it installed. Two kinds of hook:

* **The unit of work keeps the tallies.** Before and after every Session flush,
  `dashboard.tallies` recomputes the derived rows of the keys the flush touched.
* **A write around the unit of work is refused.** A Core or ORM bulk INSERT or DELETE on a
  table the tallies derive from, or an UPDATE of one of its tallied columns
  (`tallies.TALLIED`), skips the flush hooks, so it would leave the dashboard silently wrong:
  it raises `TallyBypass` before any SQL is sent. Allowed are the flush's own statements (the
  connection is marked for the length of the flush) and the bulk registry's inserts inside
  `tallies.new_rows`, which adds their summaries itself. Updates of other columns (e.g. a
  needling session's `opened_at`) change no tally and pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Delete, Insert, Update, UpdateBase

from triggerpoint.dashboard import tallies

FLUSHING = "triggerpoint_flushing"  # execution option on the connection of a running flush
_CONN = "triggerpoint_flush_connection"  # session.info key: the connection that flag is on


class TallyBypass(RuntimeError):
    """A write to a tallied table that bypasses the ORM unit of work (a programming error:
    write through the session, or, for whole new patients in bulk, inside `tallies.new_rows`)."""


# --- flush hooks ------------------------------------------------------------------------


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    tallies.before_flush(session)
    conn = session.connection()
    conn.execution_options(**{FLUSHING: True})
    session.info[_CONN] = conn


def _after_flush(session: Session, _ctx: Any) -> None:
    try:
        tallies.after_flush(session)
    finally:
        _end_flush(session)


def _end_flush(session: Session, *_: Any) -> None:
    """The flush is over (after_flush, or the rollback of a flush that failed)."""
    conn = session.info.pop(_CONN, None)
    if conn is not None and not conn.closed:
        conn.execution_options(**{FLUSHING: False})


# --- the bypass guard -------------------------------------------------------------------


def _set_columns(stmt: Update, multiparams: Any, params: Any) -> set[str] | None:
    """The columns an UPDATE sets, or None when they cannot be told (treated as tallied)."""
    values = stmt._values  # SQLAlchemy keeps no public accessor for an UPDATE's SET clause
    names = {getattr(k, "key", None) or str(k) for k in values or ()}
    rows = [*(multiparams or ()), *([params] if params else [])]
    for row in rows:  # executemany parameter sets, e.g. an ORM bulk UPDATE by primary key
        for one in row if isinstance(row, list | tuple) else [row]:
            if isinstance(one, Mapping):
                names.update(str(k) for k in one)
    return names or None


def refusal(stmt: Any, multiparams: Any = (), params: Any = None) -> str | None:
    """Why `stmt` would bypass the tallies (a sentence), or None if it cannot change them."""
    if not isinstance(stmt, UpdateBase):
        return None
    table = getattr(stmt, "table", None)
    name = getattr(table, "name", None)
    tallied = tallies.TALLIED.get(name) if isinstance(name, str) else None
    if tallied is None:
        return None
    if isinstance(stmt, Insert | Delete):
        verb = "INSERT into" if isinstance(stmt, Insert) else "DELETE from"
        return f"{verb} {name}"
    if isinstance(stmt, Update):
        columns = _set_columns(stmt, multiparams, params)
        hit = sorted(tallied & columns) if columns is not None else ["(unknown columns)"]
        if hit:
            return f"UPDATE of {name}.{', '.join(hit)}"
    return None


def _refuse_bypass(
    conn: Connection,
    clauseelement: Any,
    multiparams: Any,
    params: Any,
    execution_options: Any,
) -> None:
    if execution_options.get(FLUSHING) or execution_options.get(tallies.NEW_ROWS):
        return
    why = refusal(clauseelement, multiparams, params)
    if why is not None:
        raise TallyBypass(
            f"{why} outside the ORM unit of work would leave the dashboard's tallies wrong: "
            "write through a Session (add, change or delete the objects and flush), or bulk "
            "insert whole new patients inside dashboard.tallies.new_rows"
        )


# --- registration -----------------------------------------------------------------------

_HOOKS: tuple[tuple[Any, str, Any], ...] = (
    (Session, "before_flush", _before_flush),
    (Session, "after_flush", _after_flush),
    (Session, "after_soft_rollback", _end_flush),
    (Engine, "before_execute", _refuse_bypass),
)


def register() -> None:
    """Install the hooks (idempotent): the tallies follow every flush, bypasses are refused."""
    for target, name, fn in _HOOKS:
        if not event.contains(target, name, fn):
            event.listen(target, name, fn)


def unregister() -> None:
    """Remove what `register` installed (for tests that need the data layer without them)."""
    for target, name, fn in _HOOKS:
        if event.contains(target, name, fn):
            event.remove(target, name, fn)


def registered() -> bool:
    return all(event.contains(target, name, fn) for target, name, fn in _HOOKS)
