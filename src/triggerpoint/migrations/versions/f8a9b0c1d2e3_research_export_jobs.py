"""Empty: where research export jobs were first planned. It shipped empty (3a3350f), so a
database may already stand here; their table comes in a9b0c1d2e3f4.

Revision ID: f8a9b0c1d2e3
Revises: e7f8a9b0c1d2
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "f8a9b0c1d2e3"
down_revision = "e7f8a9b0c1d2"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
