"""The reliability-study migration (d6e7f8a9b0c1) goes down and up on both engines, and up
again gives exactly the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import triggerpoint.models
import triggerpoint.research.reliability.models  # noqa: F401 - the study tables
from tests.alembic_steps import migrate as _migrate
from triggerpoint.db import Base

TABLES = {
    "reliability_study",
    "reliability_examiner",
    "reliability_participant",
    "reliability_exam",
    "reliability_finding",
}


def test_reliability_migration_down_and_up(fresh_db):
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    _migrate(fresh_db, "downgrade", "c5d6e7f8a9b0")
    after = set(inspect(fresh_db).get_table_names())
    assert not TABLES & after
    assert "palpation_finding" in after  # the revisions below are untouched
    _migrate(fresh_db, "upgrade", "head")
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == [], diff
