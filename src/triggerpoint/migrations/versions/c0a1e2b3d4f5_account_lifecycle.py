"""Account lifecycle: API token expiry, password history and shared rate-limit counters.

Existing API tokens get `expires_at = created_at + 90 days`, computed in SQL. The safe
choice: a NULL meaning "made before expiry existed" would leave old tokens valid for ever,
and a token older than 90 days is refused from the upgrade on (issue a new one). Tokens
younger than that keep working until their 90 days are up.

Revision ID: c0a1e2b3d4f5
Revises: 7b2e4c6d8f10
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0a1e2b3d4f5"
down_revision = "7b2e4c6d8f10"
branch_labels = None
depends_on = None

EXISTING_TOKEN_DAYS = 90


def _created_plus_days(dialect: str) -> str:
    if dialect == "postgresql":
        return f"created_at + interval '{EXISTING_TOKEN_DAYS} days'"
    # SQLite keeps timestamps as 'YYYY-MM-DD HH:MM:SS.ffffff' text; keep that shape.
    return (
        f"strftime('%Y-%m-%d %H:%M:%S', created_at, '+{EXISTING_TOKEN_DAYS} days')"
        " || substr(created_at, 20, 7)"
    )


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(f"UPDATE api_token SET expires_at = {_created_plus_days(dialect)}")
    with op.batch_alter_table("api_token") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)

    op.create_table(
        "password_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_password_history_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history") as batch:
        batch.create_index(batch.f("ix_password_history_user_id"), ["user_id"], unique=False)

    op.create_table(
        "rate_limit_hit",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_limit_hit")),
    )
    with op.batch_alter_table("rate_limit_hit") as batch:
        batch.create_index(batch.f("ix_rate_limit_hit_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limit_hit") as batch:
        batch.drop_index(batch.f("ix_rate_limit_hit_expires_at"))
    op.drop_table("rate_limit_hit")
    with op.batch_alter_table("password_history") as batch:
        batch.drop_index(batch.f("ix_password_history_user_id"))
    op.drop_table("password_history")
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("expires_at")
