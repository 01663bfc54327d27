"""A user's tasks over a time window, through an index: what their usage by day and the portal's gallery filtered
by time read, without walking every task of a busy user.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-12 09:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tasks_user_created_at", "tasks", ["user_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_user_created_at", table_name="tasks")
