"""Clinic rules that ask patients for questionnaires before visits (issue 16).

A new table, `questionnaire_rule`, created empty; `questionnaire_request` gains `rule_id`
(the rule that made it, SET NULL when the rule is deleted) and a unique index on
(rule_id, visit_id), so a rule asks once per visit even with two workers. Downgrade removes
the index, the column, then the table. SQLite alters tables in batch mode (copy and rename).

Revision ID: c5d6e7f8a9b0
Revises: b4c5d6e7f8a9
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c5d6e7f8a9b0"
down_revision = "b4c5d6e7f8a9"
branch_labels = None
depends_on = None

RULE = "questionnaire_rule"
REQUEST = "questionnaire_request"
ONCE = "uq_questionnaire_request_rule_visit"


def upgrade() -> None:
    op.create_table(
        RULE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("instruments", sa.JSON(), nullable=False),
        sa.Column("pain_drawing", sa.Boolean(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("icd10_prefixes", sa.JSON(), nullable=False),
        sa.Column("days_before", sa.Integer(), nullable=False),
        sa.Column("expires_in_days", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_questionnaire_rule_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_questionnaire_rule_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_rule")),
        sa.UniqueConstraint("clinic_id", "name", name=op.f("uq_questionnaire_rule_clinic_id_name")),
    )
    with op.batch_alter_table(RULE) as batch:
        batch.create_index(batch.f("ix_questionnaire_rule_clinic_id"), ["clinic_id"], unique=False)
    with op.batch_alter_table(REQUEST) as batch:
        batch.add_column(sa.Column("rule_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_questionnaire_request_rule_id_questionnaire_rule"),
            RULE,
            ["rule_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index(ONCE, ["rule_id", "visit_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table(REQUEST) as batch:
        batch.drop_index(ONCE)
        batch.drop_constraint(
            batch.f("fk_questionnaire_request_rule_id_questionnaire_rule"), type_="foreignkey"
        )
        batch.drop_column("rule_id")
    with op.batch_alter_table(RULE) as batch:
        batch.drop_index(batch.f("ix_questionnaire_rule_clinic_id"))
    op.drop_table(RULE)
