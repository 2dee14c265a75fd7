"""One audit chain per clinic (issue 19): each event names its chain and its place in it.

Schema only. `audit_event.chain` (the clinic's id, 0 for system events) and `seq` (1, 2, ...
within the chain) are added, unique together so two writers can never fork a chain;
`audit_head.chain` names the chain a head row belongs to, one row per chain. On PostgreSQL
the head's id sequence is moved past the old row (written with an explicit id 1).

Existing rows keep NULL in both: they are the old global chain, which stays as it was and is
verified as one closed legacy segment. Sealing it needs the audit key, which lives outside the
database (a file, `TRIGGERPOINT_AUDIT_KEY_FILE`) and so is not available here: the app writes
the seal, a `chain_split` event MAC'd onto the old head, the first time it appends after this
upgrade (`triggerpoint.audit.service._split_legacy`).

Revision ID: e7f8a9b0c1d2
Revises: d6e7f8a9b0c1
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e7f8a9b0c1d2"
down_revision = "d6e7f8a9b0c1"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("chain", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.create_unique_constraint(op.f("uq_audit_event_chain_seq"), ["chain", "seq"])
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("chain", sa.Integer(), nullable=True))
        batch.create_unique_constraint(op.f("uq_audit_head_chain"), ["chain"])
    if op.get_bind().dialect.name == "postgresql":
        # The old code wrote its one head row with an explicit id 1, which leaves the id
        # sequence unused: new chains' head rows would then collide with it.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_head', 'id'), "
            "COALESCE((SELECT max(id) FROM audit_head), 0) + 1, false)"
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_constraint(op.f("uq_audit_head_chain"), type_="unique")
        batch.drop_column("chain")
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_constraint(op.f("uq_audit_event_chain_seq"), type_="unique")
        batch.drop_column("seq")
        batch.drop_column("chain")
