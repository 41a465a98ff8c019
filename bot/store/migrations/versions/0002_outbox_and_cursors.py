"""outbox retries, message kinds and adapter cursors

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), nullable=False, server_default="text"))
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_attempt_at", bot.store.models.UTCDateTime(), nullable=True))
        batch.create_index("ix_messages_status_next_attempt", ["status", "next_attempt_at"])
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("value", sa.String(length=256), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("cursors")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_status_next_attempt")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
        batch.drop_column("kind")
