"""users.session_version: a password change or a disabled account signs out its other sessions

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN with a constant default works on SQLite as on PostgreSQL; no batch copy
    # of any table (see 0003 on what a batch copy does to the handoffs' partial index).
    op.add_column(
        "users",
        sa.Column("session_version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    # SQLite has dropped columns in place since 3.35; `users` has no partial index to lose anyway.
    op.drop_column("users", "session_version")
