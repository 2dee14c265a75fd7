"""Run Alembic migrations from code: app start-up and `triggerpoint setup` call `upgrade()`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

from triggerpoint.db import get_engine

SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(engine: Engine | None = None) -> None:
    """Bring the database to the newest schema, then fill what the migrations left to app
    code (idempotent; one transaction on PostgreSQL)."""
    engine = engine or get_engine()
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        backfill(conn)


def backfill(conn: Connection) -> None:
    """Derived data that app code computes, run once the schema is at head.

    Migrations must not import app code: models follow the newest schema, so an old
    migration calling them would break as soon as a later one changes a table they read.
    Migrations therefore create derived tables empty, and this fills them.
    """
    from triggerpoint.dashboard import tallies

    if tallies.missing(conn):
        tallies.rebuild(conn)
