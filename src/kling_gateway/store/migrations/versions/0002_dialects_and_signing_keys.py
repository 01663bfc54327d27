"""Keys get a default response dialect and an access-key/secret-key pair; tasks keep what their output will be.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dialect", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("access_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("secret_key", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_api_keys_access_key"), ["access_key"])
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seconds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("width", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("height", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("expected_ms", sa.BigInteger(), nullable=True))
        batch_op.create_index("ix_tasks_user_family_newest", ["user_id", "family", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_user_family_newest")
        for column in ("expected_ms", "fps", "height", "width", "seconds", "model"):
            batch_op.drop_column(column)
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_api_keys_access_key"), type_="unique")
        for column in ("secret_key", "access_key", "dialect"):
            batch_op.drop_column(column)
