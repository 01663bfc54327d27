"""Client callbacks keep their give-up deadline in a column of their own, so a retry re-arms the deadline and
leaves the callback's creation time as it was.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULT_GIVE_UP_MS = 86_400_000  # sync.callback_give_up_s's default: what callbacks queued before this had


def upgrade() -> None:
    with op.batch_alter_table("client_callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("give_up_at", sa.BigInteger(), nullable=True))
    callbacks = sa.table("client_callbacks", sa.column("created_at", sa.BigInteger()), sa.column("give_up_at"))
    op.execute(sa.update(callbacks).values(give_up_at=callbacks.c.created_at + DEFAULT_GIVE_UP_MS))
    with op.batch_alter_table("client_callbacks", schema=None) as batch_op:
        batch_op.alter_column("give_up_at", existing_type=sa.BigInteger(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("client_callbacks", schema=None) as batch_op:
        batch_op.drop_column("give_up_at")
