"""What the operator's commands need: a user can be disabled and carries a note; a channel that has run tasks is
retired rather than deleted when removed, so its tasks keep their channel; tasks are listed newest first by
channel, by status and from a time, through indexes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TASK_INDEXES = {
    "ix_tasks_channel_newest": ["channel_id", "id"],
    "ix_tasks_status_newest": ["status", "id"],
    "ix_tasks_created_at": ["created_at", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("removed_at", sa.BigInteger(), nullable=True))
    for name, columns in TASK_INDEXES.items():
        op.create_index(name, "tasks", columns)


def downgrade() -> None:
    for name in TASK_INDEXES:
        op.drop_index(name, table_name="tasks")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("removed_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("disabled_at")
