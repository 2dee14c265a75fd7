"""The palpation findings migration goes down and up on both engines, and up again gives
exactly the table the model declares (indexes, the muscle-level partial index included)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import triggerpoint.models  # noqa: F401 - every table, the palpation findings included
from tests.alembic_steps import migrate as _migrate
from triggerpoint.db import Base

TABLE = "palpation_finding"


def test_palpation_migration_down_and_up(fresh_db):
    assert TABLE in inspect(fresh_db).get_table_names()
    _migrate(fresh_db, "downgrade", "d1a2b3c4e5f6")
    after = inspect(fresh_db)
    assert TABLE not in after.get_table_names()
    assert "soap_note" in after.get_table_names()  # the revision below is untouched
    _migrate(fresh_db, "upgrade", "head")
    now = inspect(fresh_db)
    assert TABLE in now.get_table_names()
    indexes = {i["name"]: i for i in now.get_indexes(TABLE)}
    assert indexes["uq_palpation_finding_muscle_level"]["unique"]
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == [], diff
