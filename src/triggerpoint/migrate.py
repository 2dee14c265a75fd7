"""Run Alembic migrations from code: `triggerpoint serve`, `setup` and app start-up call
`upgrade()`.

Migrations run once however many processes start together. `upgrade` holds a lock for the
whole run: a PostgreSQL advisory lock (`pg_advisory_xact_lock`, held by the migrating
transaction and released when it ends), or on SQLite an exclusive `fcntl.flock` on a file
beside the database. A second caller waits, then finds the schema at head and does nothing.
`triggerpoint serve` migrates before its workers start and sets `MIGRATED_ENV` for them, so the
workers' start-up only checks the schema (`require_head`) instead of migrating N times at once.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from triggerpoint.db import get_engine

SCRIPTS = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number names the lock; this one spells "tp-migr" in ASCII.
ADVISORY_LOCK_KEY = 0x74702D6D696772
# Set by `triggerpoint serve` for its workers: the schema was brought to head before they start.
MIGRATED_ENV = "TRIGGERPOINT_SCHEMA_MIGRATED"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine | None = None) -> None:
    """Bring the database to the newest schema, then fill what the migrations left to app
    code (idempotent; one transaction on PostgreSQL; one migrating caller at a time)."""
    engine = engine or get_engine()
    cfg = alembic_config()
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Taken before Alembic reads alembic_version, so a waiter reads it after we commit.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        backfill(conn)


def lock_path(engine: Engine) -> Path | None:
    """The SQLite lock file beside the database (`<db>.migrate-lock`); None for PostgreSQL and
    in-memory databases, which need none."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database).with_name(Path(database).name + ".migrate-lock")


@contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive flock while migrating SQLite: SQLite's own write lock gives up after
    the busy timeout, and a long migration would then fail the second process."""
    path = lock_path(engine)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the close below, or when the process dies
        yield
    finally:
        os.close(fd)


def is_at_head(engine: Engine | None = None) -> bool:
    """Whether the database's schema is the newest the code knows (reads alembic_version)."""
    engine = engine or get_engine()
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads()) == heads


def require_head(engine: Engine | None = None) -> None:
    """Refuse to serve a schema that is not at head (a worker whose flag says someone else
    migrated, when nobody did)."""
    if not is_at_head(engine):
        raise RuntimeError(
            f"{MIGRATED_ENV} is set but the database schema is not at head: run "
            "`triggerpoint setup` (or `triggerpoint serve`, which migrates) first"
        )


def backfill(conn: Connection) -> None:
    """Derived data that app code computes, run once the schema is at head.

    Migrations must not import app code: models follow the newest schema, so an old
    migration calling them would break as soon as a later one changes a table they read.
    Migrations therefore create derived tables empty, and this fills them.
    """
    from triggerpoint.dashboard import tallies
    from triggerpoint.research.painmap import derived as painmap

    if tallies.missing(conn):
        tallies.rebuild(conn)
    if painmap.missing(conn):
        painmap.rebuild(conn)
