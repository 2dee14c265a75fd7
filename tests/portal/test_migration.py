"""The patient-reports migration goes down and up on both engines: rows written before it read
"clinician" afterwards, downgrade removes exactly what it added, and up again gives exactly
the schema the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from tests.alembic_steps import migrate as _migrate

import triggerpoint.models  # noqa: F401 - every table, the questionnaire requests included
from triggerpoint.db import Base

TABLE = "questionnaire_request"
BEFORE = "f3c4d5e6a7b8"


def _columns(engine, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_patient_reports_migration_down_and_up(fresh_db):
    assert TABLE in inspect(fresh_db).get_table_names()
    _migrate(fresh_db, "downgrade", BEFORE)
    assert not {TABLE, "portal_message"} & set(inspect(fresh_db).get_table_names())
    assert "palpation_finding" in inspect(fresh_db).get_table_names()  # the revision below
    for table in ("measurement", "pain_drawing"):
        assert not {"source", "request_id"} & _columns(fresh_db, table)
    assert "preferred_language" not in _columns(fresh_db, "patient")

    # A clinician's measurement and drawing from before the migration.
    with fresh_db.begin() as conn:
        clinic = conn.execute(
            text("INSERT INTO clinic (name, created_at) VALUES ('M', :t) RETURNING id"),
            {"t": "2026-01-01T00:00:00+00:00"},
        ).scalar_one()
        patient = conn.execute(
            text(
                "INSERT INTO patient (clinic_id, given_name, family_name, search_name,"
                " date_of_birth, sex, created_at, updated_at, version) VALUES (:c, 'A', 'B',"
                " 'b a', '1980-01-01', 'female', :t, :t, 1) RETURNING id"
            ),
            {"c": clinic, "t": "2026-01-01T00:00:00+00:00"},
        ).scalar_one()
        conn.execute(
            text(
                "INSERT INTO measurement (clinic_id, patient_id, instrument, context, timing,"
                " data, score, complete, answered, measured_at) VALUES (:c, :p, 'nprs', '', '',"
                " '{}', 5, :yes, 1, :t)"
            ),
            {"c": clinic, "p": patient, "t": "2026-01-01T00:00:00+00:00", "yes": True},
        )
        conn.execute(
            text(
                "INSERT INTO pain_drawing (clinic_id, patient_id, complete, drawn_at)"
                " VALUES (:c, :p, :yes, :t)"
            ),
            {"c": clinic, "p": patient, "t": "2026-01-01T00:00:00+00:00", "yes": True},
        )

    _migrate(fresh_db, "upgrade", "head")
    with fresh_db.connect() as conn:
        for table in ("measurement", "pain_drawing"):
            row = conn.execute(text(f"SELECT source, request_id FROM {table}")).one()
            assert tuple(row) == ("clinician", None)
        assert conn.execute(text("SELECT preferred_language FROM patient")).scalar_one() is None
    indexes = {i["name"] for i in inspect(fresh_db).get_indexes("measurement")}
    assert "ix_measurement_request_id" in indexes
    uniques = inspect(fresh_db).get_unique_constraints(TABLE)
    assert any(u["column_names"] == ["token_hash"] for u in uniques)
    with fresh_db.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata
        )
    assert diff == [], diff
