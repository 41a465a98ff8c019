"""review inbox: messages the model was unsure of, or an agent relabelled, for trainers

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("guessed_intent", sa.String(length=64), nullable=True),
        sa.Column("guessed_topic", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("second_intent", sa.String(length=64), nullable=True),
        sa.Column("second_confidence", sa.Float(), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=True),
        sa.Column("suggested_intent", sa.String(length=128), nullable=True),
        sa.Column("suggested_by_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("corrected_intent", sa.String(length=128), nullable=True),
        sa.Column("corrected_entities", sa.JSON(), nullable=True),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("exported_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.ForeignKeyConstraint(["reviewer_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["suggested_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_review_items_case_id", "review_items", ["case_id"])
    op.create_index("ix_review_items_status_created_at", "review_items", ["status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_review_items_status_created_at", table_name="review_items")
    op.drop_index("ix_review_items_case_id", table_name="review_items")
    op.drop_table("review_items")
