"""The pain-map derived tables' migration (d2e3f4a5b6c7) goes down and up on both engines, and
up again gives exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import triggerpoint.models  # noqa: F401 - every table
from tests.alembic_steps import migrate as _migrate
from triggerpoint.db import Base

TABLES = {"painmap_drawing", "painmap_tally"}


def test_painmap_migration_down_and_up(fresh_db):
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    _migrate(fresh_db, "downgrade", "b0c1d2e3f4a5")
    after = set(inspect(fresh_db).get_table_names())
    assert not TABLES & after
    assert {"research_export_job", "pain_drawing"} <= after  # the revisions below are untouched
    _migrate(fresh_db, "upgrade", "head")
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == [], diff
