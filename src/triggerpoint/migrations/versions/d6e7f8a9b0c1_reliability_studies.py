"""Palpation reliability studies (issue 17): studies, examiners, coded participants, each
examiner's examination of a participant (order and submission) and its findings.

Five new tables, created empty: nothing existing changes, and downgrade drops them.

Revision ID: d6e7f8a9b0c1
Revises: c5d6e7f8a9b0
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "d6e7f8a9b0c1"
down_revision = "c5d6e7f8a9b0"
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def _clinic(table: str) -> list[Any]:
    return [
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f(f"fk_{table}_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _indexes(table: str, columns: list[str]) -> None:
    with op.batch_alter_table(table) as batch:
        for column in columns:
            batch.create_index(batch.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    t = "reliability_study"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("sites", sa.JSON(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("opened_at", WHEN, nullable=True),
        sa.Column("closed_at", WHEN, nullable=True),
        _fk(t, "created_by_id", "user_account", "SET NULL"),
        *_clinic(t),
    )
    _indexes(t, ["clinic_id"])
    t = "reliability_examiner"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        _fk(t, "study_id", "reliability_study", "CASCADE"),
        _fk(t, "user_id", "user_account", "RESTRICT"),
        sa.UniqueConstraint("study_id", "user_id", name=op.f(f"uq_{t}_study_id_user_id")),
        *_clinic(t),
    )
    _indexes(t, ["clinic_id", "study_id"])
    t = "reliability_participant"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        _fk(t, "patient_id", "patient", "RESTRICT"),
        _fk(t, "study_id", "reliability_study", "CASCADE"),
        sa.UniqueConstraint("study_id", "code", name=op.f(f"uq_{t}_study_id_code")),
        *_clinic(t),
    )
    _indexes(t, ["clinic_id", "patient_id", "study_id"])
    t = "reliability_exam"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("participant_id", sa.Integer(), nullable=False),
        sa.Column("examiner_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("submitted_at", WHEN, nullable=True),
        _fk(t, "examiner_id", "user_account", "RESTRICT"),
        _fk(t, "participant_id", "reliability_participant", "CASCADE"),
        _fk(t, "study_id", "reliability_study", "CASCADE"),
        sa.UniqueConstraint(
            "participant_id", "examiner_id", name=op.f(f"uq_{t}_participant_id_examiner_id")
        ),
        sa.UniqueConstraint(
            "participant_id", "sequence", name=op.f(f"uq_{t}_participant_id_sequence")
        ),
        *_clinic(t),
    )
    _indexes(t, ["clinic_id", "participant_id", "study_id"])
    t = "reliability_finding"
    op.create_table(
        t,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exam_id", sa.Integer(), nullable=False),
        sa.Column("muscle_id", sa.String(length=80), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("criterion", sa.String(length=20), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=True),
        sa.Column("recorded_at", WHEN, nullable=False),
        _fk(t, "exam_id", "reliability_exam", "CASCADE"),
        sa.UniqueConstraint(
            "exam_id",
            "muscle_id",
            "side",
            "criterion",
            name=op.f(f"uq_{t}_exam_id_muscle_id_side_criterion"),
        ),
        *_clinic(t),
    )
    _indexes(t, ["clinic_id", "exam_id"])


def downgrade() -> None:
    for table in (
        "reliability_finding",
        "reliability_exam",
        "reliability_participant",
        "reliability_examiner",
        "reliability_study",
    ):
        op.drop_table(table)
