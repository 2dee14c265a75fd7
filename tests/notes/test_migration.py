"""The SOAP notes migration goes up and down on both engines, and up again gives exactly
the tables the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import triggerpoint.models
import triggerpoint.notes.models  # noqa: F401 - the notes tables, whoever imports them
from tests.alembic_steps import migrate as _migrate
from triggerpoint.db import Base

TABLES = {"soap_note", "note_template", "note_addendum"}


def test_notes_migration_down_and_up(fresh_db):
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    _migrate(fresh_db, "downgrade", "e2b3c4d5f6a7")
    after = inspect(fresh_db)
    assert not TABLES & set(after.get_table_names())
    assert "timezone" in {c["name"] for c in after.get_columns("clinic")}  # the revision below
    _migrate(fresh_db, "upgrade", "head")
    assert set(inspect(fresh_db).get_table_names()) >= TABLES
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == [], diff
