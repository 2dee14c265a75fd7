"""Structured safety: imported needling sessions and the pleural-recess acknowledgement.

Revision ID: 7b2e4c6d8f10
Revises: 0414a852e325
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7b2e4c6d8f10"
down_revision = "0414a852e325"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("needling_session") as batch:
        batch.add_column(
            sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("imported_signer", sa.String(200), nullable=True))
    with op.batch_alter_table("needle_entry") as batch:
        batch.add_column(
            sa.Column(
                "pleural_recess_acknowledged",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("needle_entry") as batch:
        batch.drop_column("pleural_recess_acknowledged")
    with op.batch_alter_table("needling_session") as batch:
        batch.drop_column("imported_signer")
        batch.drop_column("imported")
