"""Clinic settings: each clinic keeps its own IANA time zone.

NULL means "use the deployment's TRIGGERPOINT_TIMEZONE", so clinics made before this revision
keep showing times exactly as they did.

Revision ID: e2b3c4d5f6a7
Revises: c0a1e2b3d4f5
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e2b3c4d5f6a7"
down_revision = "c0a1e2b3d4f5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.add_column(sa.Column("timezone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clinic") as batch:
        batch.drop_column("timezone")
