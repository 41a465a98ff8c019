"""api_spend: what paid platform APIs (X) were charged, once per resource per UTC day

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_spend",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("charged_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("day", "platform", "operation", "resource_id"),
    )


def downgrade() -> None:
    op.drop_table("api_spend")
