"""SOAP notes: one per visit, the clinic's note templates, and addenda to signed notes.

New tables only, created empty: nothing existing changes, and downgrade drops them.

Revision ID: d1a2b3c4e5f6
Revises: e2b3c4d5f6a7
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "d1a2b3c4e5f6"
down_revision = "e2b3c4d5f6a7"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _user(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        ["user_account.id"],
        name=op.f(f"fk_{table}_{column}_user_account"),
        ondelete="SET NULL",
    )


def _clinic(table: str) -> list[Any]:
    return [
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f(f"fk_{table}_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
    ]


def _sections() -> list[sa.Column]:
    return [
        sa.Column(s, sa.Text(), nullable=True)
        for s in ("subjective", "objective", "assessment", "plan")
    ]


def upgrade() -> None:
    op.create_table(
        "note_template",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        *_sections(),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        *_clinic("note_template"),
        _user("created_by", "note_template"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_template")),
        sa.UniqueConstraint("clinic_id", "name", name=op.f("uq_note_template_clinic_id_name")),
    )
    with op.batch_alter_table("note_template") as batch:
        batch.create_index(batch.f("ix_note_template_clinic_id"), ["clinic_id"], unique=False)

    op.create_table(
        "soap_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        *_sections(),
        sa.Column("pain_now_nprs", sa.Integer(), nullable=True),
        sa.Column("aggravating", sa.Text(), nullable=True),
        sa.Column("easing", sa.Text(), nullable=True),
        sa.Column("red_flags_checked", sa.Boolean(), nullable=True),
        sa.Column("rom_findings", sa.Text(), nullable=True),
        sa.Column("palpation_summary", sa.Text(), nullable=True),
        sa.Column("next_visit_in_days", sa.Integer(), nullable=True),
        sa.Column("home_exercise", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", TZ, nullable=False),
        sa.Column("signed_by", sa.Integer(), nullable=True),
        sa.Column("signed_at", TZ, nullable=True),
        sa.Column("imported_author", sa.String(length=200), nullable=True),
        sa.Column("imported_signer", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        *_clinic("soap_note"),
        _user("created_by", "soap_note"),
        _user("updated_by", "soap_note"),
        _user("signed_by", "soap_note"),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_soap_note_patient_id_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
            name=op.f("fk_soap_note_visit_id_visit"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_soap_note")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_soap_note_visit_id")),
    )
    with op.batch_alter_table("soap_note") as batch:
        batch.create_index(batch.f("ix_soap_note_clinic_id"), ["clinic_id"], unique=False)
        batch.create_index(batch.f("ix_soap_note_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "note_addendum",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("imported_author", sa.String(length=200), nullable=True),
        *_clinic("note_addendum"),
        _user("author_id", "note_addendum"),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["soap_note.id"],
            name=op.f("fk_note_addendum_note_id_soap_note"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_note_addendum")),
    )
    with op.batch_alter_table("note_addendum") as batch:
        batch.create_index(batch.f("ix_note_addendum_clinic_id"), ["clinic_id"], unique=False)
        batch.create_index(batch.f("ix_note_addendum_note_id"), ["note_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("note_addendum", ("note_id", "clinic_id")),
        ("soap_note", ("patient_id", "clinic_id")),
        ("note_template", ("clinic_id",)),
    ):
        with op.batch_alter_table(table) as batch:
            for column in indexes:
                batch.drop_index(batch.f(f"ix_{table}_{column}"))
        op.drop_table(table)
