"""Palpation findings recorded in a visit (familiar / tender / none at a trigger point).

One new table, created empty: nothing existing changes, and downgrade drops it.

Revision ID: f3c4d5e6a7b8
Revises: d1a2b3c4e5f6
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "f3c4d5e6a7b8"
down_revision = "d1a2b3c4e5f6"
branch_labels = None
depends_on = None

TABLE = "palpation_finding"
MUSCLE_LEVEL = "uq_palpation_finding_muscle_level"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("muscle_id", sa.String(length=80), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("trigger_point_id", sa.String(length=80), nullable=True),
        sa.Column("finding", sa.String(length=10), nullable=False),
        sa.Column("twitch", sa.Boolean(), nullable=True),
        sa.Column("referral", sa.Boolean(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_palpation_finding_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
            name=op.f("fk_palpation_finding_visit_id_visit"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_palpation_finding_recorded_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_palpation_finding")),
        sa.UniqueConstraint(
            "visit_id",
            "muscle_id",
            "side",
            "trigger_point_id",
            name=op.f("uq_palpation_finding_visit_id_muscle_id_side_trigger_point_id"),
        ),
    )
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index(batch.f("ix_palpation_finding_clinic_id"), ["clinic_id"], unique=False)
        batch.create_index(batch.f("ix_palpation_finding_visit_id"), ["visit_id"], unique=False)
        # NULLs are distinct in the unique constraint: one muscle-level row per muscle-side.
        batch.create_index(
            MUSCLE_LEVEL,
            ["visit_id", "muscle_id", "side"],
            unique=True,
            sqlite_where=sa.text("trigger_point_id IS NULL"),
            postgresql_where=sa.text("trigger_point_id IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index(MUSCLE_LEVEL)
        batch.drop_index(batch.f("ix_palpation_finding_visit_id"))
        batch.drop_index(batch.f("ix_palpation_finding_clinic_id"))
    op.drop_table(TABLE)
