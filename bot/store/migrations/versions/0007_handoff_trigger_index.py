"""handoffs.trigger_message_id indexed: each delivered reply looks up the handoff it acknowledges

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without it, stamping the acknowledgement reads every handoff ever opened, once per reply.
    op.create_index("ix_handoffs_trigger_message_id", "handoffs", ["trigger_message_id"])


def downgrade() -> None:
    op.drop_index("ix_handoffs_trigger_message_id", table_name="handoffs")
