"""The LTR fits migration (c1d2e3f4a5b6) goes down and up on both engines, and up again gives
exactly the tables the models declare; the data version and fits start empty."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import triggerpoint.models  # noqa: F401 - every table, for compare_metadata
from tests.alembic_steps import migrate as _migrate
from triggerpoint.db import Base

TABLES = {"research_data_version", "research_ltr_fit"}


def test_ltr_fits_migration_down_and_up(fresh_db):
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    _migrate(fresh_db, "downgrade", "d2e3f4a5b6c7")
    after = set(inspect(fresh_db).get_table_names())
    assert not TABLES & after
    assert "research_export_job" in after  # the revision below is untouched
    _migrate(fresh_db, "upgrade", "head")
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
        assert diff == [], diff
        for table in TABLES:
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0
