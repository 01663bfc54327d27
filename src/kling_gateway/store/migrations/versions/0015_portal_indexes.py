"""What the portal reads of one user, through indexes: their tasks over a time window (their usage by day, the
gallery filtered by time) without walking every task of a busy user, and their ledger newest first, page by page.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-12 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tasks_user_created_at", "tasks", ["user_id", "created_at"])
    op.create_index("ix_ledger_user_newest", "ledger", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_user_newest", table_name="ledger")
    op.drop_index("ix_tasks_user_created_at", table_name="tasks")
