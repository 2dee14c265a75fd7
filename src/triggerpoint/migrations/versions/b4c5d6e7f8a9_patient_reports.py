"""Patients report from their own phone: questionnaire requests, and provenance on what they
report.

A new table, `questionnaire_request`, created empty. Measurements and pain drawings gain
`source` ("clinician" for every existing row, through the server default) and `request_id`
(the request a patient-reported one answered); patients gain `preferred_language`. The
outbox, `portal_message`, holds the messages owed to patients (portal.outbox). Downgrade
drops the outbox, the columns, then the requests. SQLite alters tables in batch mode (copy and rename).

Revision ID: b4c5d6e7f8a9
Revises: f3c4d5e6a7b8
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b4c5d6e7f8a9"
down_revision = "f3c4d5e6a7b8"
branch_labels = None
depends_on = None

TABLE = "questionnaire_request"
PROVENANCE = ("measurement", "pain_drawing")
OUTBOX = "portal_message"  # portal.outbox: the messages owed to patients


def _tz() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("visit_id", sa.Integer(), nullable=True),
        sa.Column("instruments", sa.JSON(), nullable=False),
        sa.Column("pain_drawing", sa.Boolean(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("expires_at", _tz(), nullable=False),
        sa.Column("sent_at", _tz(), nullable=True),
        sa.Column("opened_at", _tz(), nullable=True),
        sa.Column("submitted_at", _tz(), nullable=True),
        sa.Column("reminded_at", _tz(), nullable=True),
        sa.Column("cancelled_at", _tz(), nullable=True),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_questionnaire_request_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_questionnaire_request_patient_id_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["episode_id"],
            ["episode.id"],
            name=op.f("fk_questionnaire_request_episode_id_episode"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"],
            ["visit.id"],
            name=op.f("fk_questionnaire_request_visit_id_visit"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user_account.id"],
            name=op.f("fk_questionnaire_request_created_by_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_questionnaire_request")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_questionnaire_request_token_hash")),
    )
    with op.batch_alter_table(TABLE) as batch:
        batch.create_index(
            batch.f("ix_questionnaire_request_clinic_id"), ["clinic_id"], unique=False
        )
        batch.create_index(
            "ix_questionnaire_request_patient", ["patient_id", "created_at"], unique=False
        )
    for table in PROVENANCE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "source",
                    sa.String(length=16),
                    nullable=False,
                    server_default="clinician",
                )
            )
            batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(
                batch.f(f"fk_{table}_request_id_questionnaire_request"),
                TABLE,
                ["request_id"],
                ["id"],
                ondelete="SET NULL",
            )
            batch.create_index(batch.f(f"ix_{table}_request_id"), ["request_id"], unique=False)
    with op.batch_alter_table("patient") as batch:
        batch.add_column(sa.Column("preferred_language", sa.String(length=5), nullable=True))
    op.create_table(
        OUTBOX,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", _tz(), nullable=False),
        sa.Column("not_before", _tz(), nullable=False),
        sa.Column("claimed_at", _tz(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", _tz(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f("fk_portal_message_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            [f"{TABLE}.id"],
            name=op.f("fk_portal_message_request_id_questionnaire_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_message")),
    )
    with op.batch_alter_table(OUTBOX) as batch:
        batch.create_index(batch.f("ix_portal_message_clinic_id"), ["clinic_id"], unique=False)
        batch.create_index(batch.f("ix_portal_message_request_id"), ["request_id"], unique=False)
        batch.create_index("ix_portal_message_status", ["status", "not_before"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(OUTBOX) as batch:
        batch.drop_index("ix_portal_message_status")
        batch.drop_index(batch.f("ix_portal_message_request_id"))
        batch.drop_index(batch.f("ix_portal_message_clinic_id"))
    op.drop_table(OUTBOX)
    with op.batch_alter_table("patient") as batch:
        batch.drop_column("preferred_language")
    for table in PROVENANCE:
        with op.batch_alter_table(table) as batch:
            batch.drop_index(batch.f(f"ix_{table}_request_id"))
            batch.drop_constraint(
                batch.f(f"fk_{table}_request_id_questionnaire_request"), type_="foreignkey"
            )
            batch.drop_column("request_id")
            batch.drop_column("source")
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_index("ix_questionnaire_request_patient")
        batch.drop_index(batch.f("ix_questionnaire_request_clinic_id"))
    op.drop_table(TABLE)
