"""The questionnaire-rules migration goes down and up on both engines: downgrade removes the
table, `questionnaire_request.rule_id` and its unique index; upgrade brings them back (the index
unique, the foreign key SET NULL)."""

from __future__ import annotations

from sqlalchemy import inspect, text
from tests.portal.test_migration import _columns, _migrate

BEFORE = "b4c5d6e7f8a9"
HERE = "c5d6e7f8a9b0"


def test_rules_migration_down_and_up(fresh_db):
    _migrate(fresh_db, "downgrade", BEFORE)
    assert "questionnaire_rule" not in inspect(fresh_db).get_table_names()
    assert "rule_id" not in _columns(fresh_db, "questionnaire_request")
    assert "questionnaire_request" in inspect(fresh_db).get_table_names()  # the one below

    _migrate(fresh_db, "upgrade", HERE)
    assert "rule_id" in _columns(fresh_db, "questionnaire_request")
    assert {"name", "keywords", "icd10_prefixes", "days_before", "active"} <= _columns(
        fresh_db, "questionnaire_rule"
    )
    [once] = [
        i
        for i in inspect(fresh_db).get_indexes("questionnaire_request")
        if i["name"] == "uq_questionnaire_request_rule_visit"
    ]
    assert once["unique"] and once["column_names"] == ["rule_id", "visit_id"]
    fks = inspect(fresh_db).get_foreign_keys("questionnaire_request")
    [to_rule] = [f for f in fks if f["referred_table"] == "questionnaire_rule"]
    assert to_rule["options"].get("ondelete") == "SET NULL"
    with fresh_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM questionnaire_rule")).scalar_one() == 0
    _migrate(fresh_db, "upgrade", "head")
