"""cases.linked_case_id: a chat that presented another case's join token without being its customer

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # As in 0003: on SQLite a plain ADD COLUMN with its REFERENCES clause, not a batch copy. A
    # downgrade there leaves the column (see below), so an upgrade after one finds it in place.
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        present = {c["name"] for c in sa.inspect(bind).get_columns("cases")}
        if "linked_case_id" not in present:
            op.execute(
                "ALTER TABLE cases ADD COLUMN linked_case_id INTEGER"
                " CONSTRAINT fk_cases_linked_case_id_cases REFERENCES cases (id)"
            )
    else:
        op.add_column("cases", sa.Column("linked_case_id", sa.Integer(), nullable=True))
        op.create_foreign_key("fk_cases_linked_case_id_cases", "cases", "cases", ["linked_case_id"], ["id"])
    op.create_index("ix_cases_linked_case_id", "cases", ["linked_case_id"])


def downgrade() -> None:
    op.drop_index("ix_cases_linked_case_id", table_name="cases")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column that a foreign key uses; the nullable column stays.
        return
    op.drop_constraint("fk_cases_linked_case_id_cases", "cases", type_="foreignkey")
    op.drop_column("cases", "linked_case_id")
