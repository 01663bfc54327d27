"""Client callbacks name their receiver's host, so a worker can bound the deliveries under way to one receiver and
skip, when it claims, the callbacks of a receiver already at its bound.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TARGET_CHARS = 255


def upgrade() -> None:
    with op.batch_alter_table("client_callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target", sa.String(length=TARGET_CHARS), nullable=False, server_default=""))
    # Callbacks still to be sent get their receiver's host, as new ones do when queued.
    callbacks = sa.table(
        "client_callbacks", sa.column("id"), sa.column("task_id"), sa.column("target"), sa.column("next_attempt_at")
    )
    tasks = sa.table("tasks", sa.column("id"), sa.column("callback_url"))
    connection = op.get_bind()
    pending = sa.select(callbacks.c.id, tasks.c.callback_url).join(tasks, tasks.c.id == callbacks.c.task_id)
    for callback_id, url in connection.execute(pending.where(callbacks.c.next_attempt_at.is_not(None))).all():
        try:
            target = (urlsplit(url or "").hostname or "").rstrip(".")[:TARGET_CHARS]
        except ValueError:
            target = ""
        connection.execute(sa.update(callbacks).where(callbacks.c.id == callback_id).values(target=target))


def downgrade() -> None:
    with op.batch_alter_table("client_callbacks", schema=None) as batch_op:
        batch_op.drop_column("target")
