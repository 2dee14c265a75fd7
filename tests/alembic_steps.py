"""One Alembic step on a test database, for the per-domain migration tests."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine

from triggerpoint.migrate import alembic_config


def migrate(engine: Engine, direction: str, revision: str) -> None:
    """`alembic upgrade|downgrade <revision>` on `engine`, in one transaction."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)
