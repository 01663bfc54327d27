"""Each remembered video keeps the model and mode that made it and its length, so a task working on it (an
extension, a lip-sync) is held what the upstream will charge for it; a face session keeps its video's length.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("upstream_objects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mode", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("duration_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upstream_objects", schema=None) as batch_op:
        for column in ("duration_ms", "mode", "model"):
            batch_op.drop_column(column)
