"""Kling's new API generation: channels may hold a static API key (and need no key pair), tasks say which
generation they speak and keep the upstream's billing entries, the rates they are billed at and how often the
upstream answered without them; users get an audio credit rate; the operator's model catalog.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 13:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.alter_column("access_key", existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column("secret_key", existing_type=sa.String(length=255), nullable=True)
        batch_op.add_column(sa.Column("api_key", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("misconfigured", sa.Text(), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audio_rate_micros", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.String(length=8), nullable=False, server_default="legacy"))
        batch_op.add_column(sa.Column("sync_call", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("billing_json", sa.Text(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("rates_json", sa.Text(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("unbilled_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("absent_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index("ix_tasks_user_newest", ["user_id", "id"], unique=False)
    op.create_table(
        "models",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("like", sa.String(length=64), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", name=op.f("uq_models_name")),
    )


def downgrade() -> None:
    op.drop_table("models")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_user_newest")
        for column in ("absent_count", "unbilled_reason", "rates_json", "billing_json", "sync_call", "generation"):
            batch_op.drop_column(column)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("audio_rate_micros")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("misconfigured")
        batch_op.drop_column("api_key")
        batch_op.alter_column("secret_key", existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column("access_key", existing_type=sa.String(length=255), nullable=False)
