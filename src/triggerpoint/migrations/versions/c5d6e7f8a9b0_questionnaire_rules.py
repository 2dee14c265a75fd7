"""Clinic rules that ask patients for questionnaires before visits (placeholder: filled in
by the clinic-rules work of issue 16).

Revision ID: c5d6e7f8a9b0
Revises: b4c5d6e7f8a9
Create Date: 2026-12-02
"""

from __future__ import annotations

revision = "c5d6e7f8a9b0"
down_revision = "b4c5d6e7f8a9"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
