"""The data layer's hooks have one home (`triggerpoint.listeners`): each entry point (the app,
the CLI, the worker) installs them all at start-up, and no Session-wide hook exists that the
home does not list. Each case runs in a fresh interpreter, where nothing the test session's
fixtures installed can hide a start-up that forgot one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# Prints "before: [...]" (the hooks missing before start-up), runs one entry point, prints
# "after: [...]" (those still missing) and "unlisted: [...]" (hooks the home does not list).
_SCRIPT = """
import sys
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
import triggerpoint.models  # every table: any hook an import installs is in place
from triggerpoint import listeners

print("before:", listeners.missing())
entry = sys.argv[1]
if entry == "app":
    from triggerpoint.web.app import create_app

    create_app(migrate=False)
elif entry == "cli":
    from typer.testing import CliRunner
    from triggerpoint.cli.main import app

    result = CliRunner().invoke(app, ["regions", "find", "right temple", "--json"])
    assert result.exit_code == 0, result.output
elif entry == "worker":
    # The worker command itself, without the CLI's callback: its consumer is replaced by
    # one that notes what is missing when it would start consuming.
    from triggerpoint.cli import worker
    from triggerpoint.portal import jobs

    seen = []

    class Consumer:
        def run(self):
            seen.append(listeners.missing())

    jobs.huey.create_consumer = lambda **_: Consumer()
    worker.worker(workers=1, periodic=False)
    assert seen == [[]], seen
print("after:", listeners.missing())
listed = {}
for target, name, fn in listeners.HOOKS:
    listed.setdefault((target.__name__, name), []).append(fn)
unlisted = []
session, engine = Session(), create_engine("sqlite://")
for obj in (session, engine):
    for name in obj.dispatch._event_names:
        fns = list(getattr(obj.dispatch, name))
        ours = listed.get((type(obj).__name__, name), [])
        if obj is session:  # Session hooks are the functions themselves
            unlisted += [f"{f.__module__}.{f.__qualname__} ({name})" for f in fns if f not in ours]
        elif len(fns) != len(ours):  # Engine hooks are wrapped by SQLAlchemy: count them
            unlisted.append(f"Engine {name}: {len(fns)} installed, {len(ours)} listed")
print("unlisted:", unlisted)
"""


def _start(entry: str, tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "TRIGGERPOINT_DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3",
        "TRIGGERPOINT_QUEUE_URL": "memory:",
    }
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, entry], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return {k: lines[k] for k in ("before", "after", "unlisted")}


@pytest.mark.parametrize("entry", ["app", "cli", "worker"])
def test_each_entry_point_installs_every_hook(entry, tmp_path):
    out = _start(entry, tmp_path)
    # Before start-up the explicit hooks are missing (importing installs none of them) ...
    assert "dashboard.listeners._after_flush" in out["before"]
    assert "painmap.listeners._before_flush" in out["before"]
    assert "ltr.version._before_commit" in out["before"]
    assert "db._confine_writes" not in out["before"]  # ... the import-time guards are there
    assert out["after"] == "[]"  # after it, none is missing
    assert out["unlisted"] == "[]"  # and every Session-wide hook is one the home lists


def test_register_listeners_is_idempotent_and_keeps_the_order(db):
    from sqlalchemy.orm import Session

    from triggerpoint.audit import service as audit
    from triggerpoint.listeners import register_listeners, registered
    from triggerpoint.research.ltr import version
    from triggerpoint.research.painmap import listeners as painmap

    counts = {
        name: len(getattr(Session().dispatch, name)) for name in Session.dispatch._event_names
    }
    register_listeners()
    register_listeners()
    assert registered()
    assert {n: len(getattr(Session().dispatch, n)) for n in counts} == counts
    before_commit = list(Session().dispatch.before_commit)
    assert before_commit.index(version._before_commit) < before_commit.index(audit._write_pending)
    assert next(iter(Session().dispatch.before_flush)) is painmap._before_flush
