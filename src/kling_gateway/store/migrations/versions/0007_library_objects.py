"""Elements and voices are remembered beside videos and sessions; a task naming one that is not the caller's own is
refused only when another user made it (an id nobody made here may be one of Kling's presets), which looks the id
up by kind and id alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_upstream_objects_kind_object_id", "upstream_objects", ["kind", "object_id"])


def downgrade() -> None:
    op.drop_index("ix_upstream_objects_kind_object_id", table_name="upstream_objects")
