"""Research export jobs (issue 17): the lease, the attempt counter, and when the bundle expired.

Revision ID: b0c1d2e3f4a5
Revises: a9b0c1d2e3f4
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "b0c1d2e3f4a5"
down_revision = "a9b0c1d2e3f4"
branch_labels = None
depends_on = None

T = "research_export_job"
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A job left `running` by a worker of the previous release has no lease: the recovery
    # treats a running row without one as stalled and queues it again.
    with op.batch_alter_table(T) as batch:
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("lease_expires_at", WHEN, nullable=True))
        batch.add_column(sa.Column("expired_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table(T) as batch:
        batch.drop_column("expired_at")
        batch.drop_column("lease_expires_at")
        batch.drop_column("attempts")
