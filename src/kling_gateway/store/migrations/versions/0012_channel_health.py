"""Each channel's health, written by every process from the calls it saw, so all of them tell it alike.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-17 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_health",
        sa.Column(
            "channel_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("samples_json", sa.Text(), nullable=False),
        sa.Column("faults_in_row", sa.Integer(), nullable=False),
        sa.Column("open_until", sa.BigInteger(), nullable=True),
        sa.Column("cooldown_ms", sa.BigInteger(), nullable=False),
        sa.Column("account_fault", sa.Text(), nullable=True),
        sa.Column("last_success_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channel_health")),
    )


def downgrade() -> None:
    op.drop_table("channel_health")
