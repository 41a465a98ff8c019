"""agent console: users, handoff ownership, notes, tags, canned replies, handoff events

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("display_name", sa.String(length=128), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("last_login_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    # On SQLite a plain ADD COLUMN with its REFERENCES clause rather than a batch copy of the
    # table: a copy would rebuild the partial "one open handoff per case" index from reflection,
    # which in SQLAlchemy 1.4 loses its WHERE clause.
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE handoffs ADD COLUMN assignee_id INTEGER"
            " CONSTRAINT fk_handoffs_assignee_id_users REFERENCES users (id)"
        )
    else:
        op.add_column("handoffs", sa.Column("assignee_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_handoffs_assignee_id_users", "handoffs", "users", ["assignee_id"], ["id"])
    op.add_column("handoffs", sa.Column("claimed_at", bot.store.models.UTCDateTime(), nullable=True))
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "case_tags",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id", "tag"),
    )
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("title"),
    )
    op.create_table(
        "handoff_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_handoff_events_handoff_id", "handoff_events", ["handoff_id"])


def downgrade() -> None:
    op.drop_index("ix_handoff_events_handoff_id", table_name="handoff_events")
    op.drop_table("handoff_events")
    op.drop_table("canned_replies")
    op.drop_table("case_tags")
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column that a foreign key uses, and a batch copy would lose the
        # partial index's WHERE clause; the unused columns stay (they are nullable).
        pass
    else:
        op.drop_constraint("fk_handoffs_assignee_id_users", "handoffs", type_="foreignkey")
        op.drop_column("handoffs", "claimed_at")
        op.drop_column("handoffs", "assignee_id")
    op.drop_table("users")
