"""Pain maps at scale (issue 17): the derived `painmap_drawing` and `painmap_tally` tables.

Created empty; existing drawings are summarised right after the upgrade reaches head
(migrate.backfill calls research.painmap.derived.rebuild); from then on the flush hooks keep
them in step.

Revision ID: d2e3f4a5b6c7
Revises: b0c1d2e3f4a5
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "d2e3f4a5b6c7"
down_revision = "b0c1d2e3f4a5"
branch_labels = None
depends_on = None

PD, PT = "painmap_drawing", "painmap_tally"
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        PD,
        sa.Column("drawing_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("episode_id", sa.Integer(), nullable=True),
        sa.Column("drawn_at", WHEN, nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("research", sa.Boolean(), nullable=False),
        sa.Column("marks", sa.JSON(), nullable=False),
        sa.Column("regions", sa.Integer(), nullable=False),
        sa.Column("extent", sa.Float(), nullable=False),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.Column("after_signed", sa.Boolean(), nullable=False),
        sa.Column("followup", sa.Boolean(), nullable=False),
        sa.Column("before_extent", sa.Float(), nullable=True),
        sa.Column("prev_id", sa.Integer(), nullable=True),
        sa.Column("prev_at", WHEN, nullable=True),
        sa.Column("gap_days", sa.Float(), nullable=True),
        sa.Column("retest", sa.Boolean(), nullable=False),
        sa.Column("prev_regions", sa.Integer(), nullable=True),
        sa.Column("shared", sa.Integer(), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f(f"fk_{PD}_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("drawing_id", name=op.f(f"pk_{PD}")),
    )
    with op.batch_alter_table(PD) as batch:
        batch.create_index(batch.f(f"ix_{PD}_clinic_id"), ["clinic_id"], unique=False)
        batch.create_index(
            "ix_painmap_drawing_clinic_research", ["clinic_id", "research", "drawn_at"]
        )
        batch.create_index("ix_painmap_drawing_patient", ["patient_id"])
        batch.create_index("ix_painmap_drawing_episode", ["episode_id"])
    op.create_table(
        PT,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("view", sa.String(length=8), nullable=False),
        sa.Column("region_id", sa.String(length=60), nullable=False),
        sa.Column("patients", sa.Integer(), nullable=False),
        sa.Column("drawings", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"],
            ["clinic.id"],
            name=op.f(f"fk_{PT}_clinic_id_clinic"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{PT}")),
        sa.UniqueConstraint(
            "clinic_id", "view", "region_id", name=op.f(f"uq_{PT}_clinic_id_view_region_id")
        ),
    )
    with op.batch_alter_table(PT) as batch:
        batch.create_index(batch.f(f"ix_{PT}_clinic_id"), ["clinic_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(PT) as batch:
        batch.drop_index(batch.f(f"ix_{PT}_clinic_id"))
    op.drop_table(PT)
    with op.batch_alter_table(PD) as batch:
        batch.drop_index("ix_painmap_drawing_episode")
        batch.drop_index("ix_painmap_drawing_patient")
        batch.drop_index("ix_painmap_drawing_clinic_research")
        batch.drop_index(batch.f(f"ix_{PD}_clinic_id"))
    op.drop_table(PD)
