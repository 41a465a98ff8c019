"""leases: which instance polls each platform account

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("role", sa.String(length=128), nullable=False),
        sa.Column("holder", sa.String(length=128), nullable=False),
        # Seconds since the epoch: compared with the clock in one expression on both databases.
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("role"),
    )


def downgrade() -> None:
    op.drop_table("leases")
