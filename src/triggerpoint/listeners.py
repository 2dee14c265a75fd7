"""The one home of the data layer's Session-wide hooks: `register_listeners()`.

Every entry point calls it at start-up, before its first write: the app factory
(`web.app.create_app`), every CLI command (`cli.main`'s callback, so `triggerpoint worker`, the
huey consumer, too; the worker command calls it again itself) and the test fixtures. It is
idempotent. Two kinds of hook, both listed in `HOOKS`:

* **Installed here, explicitly** (importing their modules installs nothing), in this order:
  the dashboard's tallies (`dashboard.listeners`), the pain maps' derived rows
  (`research.painmap.listeners`, its before-flush hook placed first: patients are locked
  before sessions), and the research data version (`research.ltr.version`, its before-commit
  hook placed first, ahead of the audit chain's).
* **Installed by an import** and only checked here: clinic confinement and the deferred
  writes of read-only sessions (`db`), and the audit chain's commit hooks
  (`audit.service`). They guard isolation and the audit trail, so they must exist whenever a
  Session does, whoever starts the process; importing this module imports both.

`registered()` and `missing()` tell whether every hook of `HOOKS` is in place; the tests
(tests/test_listeners.py) check the app, the CLI and the worker each have them all, and that
no Session-wide hook exists that `HOOKS` does not list. Only entry points import this module
(the import contract `listeners` in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from triggerpoint import db
from triggerpoint.audit import service as audit
from triggerpoint.dashboard import listeners as dashboard
from triggerpoint.research.ltr import version
from triggerpoint.research.painmap import listeners as painmap

# What `register_listeners` runs, in this order.
_EXPLICIT = (dashboard.register, painmap.register, version.register)

# Every Session- or Engine-wide hook of the app: (target, event name, function).
HOOKS: tuple[tuple[Any, str, Any], ...] = (
    *((target, name, fn) for target, name, fn in dashboard._HOOKS),
    *((target, name, fn) for target, name, fn, _ in painmap._HOOKS),
    *((Session, name, fn) for name, fn, _ in version._HOOKS),
    (Session, "after_soft_rollback", db._drop_deferred),
    (Session, "do_orm_execute", db._confine_statements),
    (Session, "before_flush", db._confine_writes),
    (Session, "before_commit", audit._write_pending),
    (Session, "after_soft_rollback", audit._drop_pending),
)


def register_listeners() -> None:
    """Install the explicit hooks (idempotent); the import-time ones exist already."""
    for register in _EXPLICIT:
        register()


def missing() -> list[str]:
    """The hooks of `HOOKS` not installed, as `module.function (event)`; [] when all are."""
    return [
        f"{fn.__module__}.{fn.__qualname__} ({name})"
        for target, name, fn in HOOKS
        if not event.contains(target, name, fn)
    ]


def registered() -> bool:
    return not missing()
