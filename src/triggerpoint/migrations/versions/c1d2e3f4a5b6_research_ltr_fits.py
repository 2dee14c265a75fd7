"""The twitch analysis at scale (issue 17): `research_data_version` (a per-clinic counter of
the writes the analysis reads) and `research_ltr_fit` (the newest persisted fit per clinic
and measure, with its refit state).

Both start empty: a clinic without a version row is at version 0, and the first read of the
page queues the first fit.

Revision ID: c1d2e3f4a5b6
Revises: d2e3f4a5b6c7
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c1d2e3f4a5b6"
down_revision = "d2e3f4a5b6c7"
branch_labels = None
depends_on = None

V = "research_data_version"
F = "research_ltr_fit"
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        V,
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f(f"fk_{V}_clinic_id_clinic"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f(f"pk_{V}")),
    )
    op.create_table(
        F,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instrument", sa.String(length=10), nullable=False),
        sa.Column("analysis_version", sa.Integer(), nullable=True),
        sa.Column("data_version", sa.BigInteger(), nullable=True),
        sa.Column("data_as_of", WHEN, nullable=True),
        sa.Column("computed_at", WHEN, nullable=True),
        sa.Column("fit_seconds", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("refit", sa.String(length=10), nullable=False),
        sa.Column("requested_at", WHEN, nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f(f"fk_{F}_clinic_id_clinic"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{F}")),
        sa.UniqueConstraint("clinic_id", "instrument", name=op.f(f"uq_{F}_clinic_id_instrument")),
    )
    with op.batch_alter_table(F) as batch:
        batch.create_index(batch.f(f"ix_{F}_clinic_id"), ["clinic_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table(F) as batch:
        batch.drop_index(batch.f(f"ix_{F}_clinic_id"))
    op.drop_table(F)
    op.drop_table(V)
