"""The pain maps' hooks on the data layer, installed explicitly at start-up by
`triggerpoint.listeners.register_listeners()` (app, CLI, worker, tests); importing installs nothing.

`register()` is idempotent and `unregister()` removes exactly what it installed. The
before-flush hook goes first among the flush hooks, so the patients are locked before the
dashboard's hook locks needling sessions (one lock order: patients, then sessions).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

from triggerpoint.research.painmap import derived


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    derived.before_flush(session)


def _after_flush(session: Session, _ctx: Any) -> None:
    derived.after_flush(session)


def _do_orm_execute(state: ORMExecuteState) -> Any:
    return derived.do_orm_execute(state)


_HOOKS: tuple[tuple[Any, str, Any, dict[str, Any]], ...] = (
    (Session, "before_flush", _before_flush, {"insert": True}),
    (Session, "after_flush", _after_flush, {}),
    (Session, "do_orm_execute", _do_orm_execute, {}),
)


def register() -> None:
    """Install the hooks (idempotent): the derived pain-map rows follow every write."""
    for target, name, fn, options in _HOOKS:
        if not event.contains(target, name, fn):
            event.listen(target, name, fn, **options)


def unregister() -> None:
    for target, name, fn, _ in _HOOKS:
        if event.contains(target, name, fn):
            event.remove(target, name, fn)


def registered() -> bool:
    return all(event.contains(target, name, fn) for target, name, fn, _ in _HOOKS)
