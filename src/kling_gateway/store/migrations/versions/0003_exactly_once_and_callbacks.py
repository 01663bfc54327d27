"""Tasks remember their key, dialect and required channel; keys get limits and a webhook secret; channels a
webhook secret; an outbox of client callbacks; the upstream objects (videos, sessions) each channel owns.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 19:30:00
"""

import base64
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("rate_limit_rps", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("max_in_flight", sa.Integer(), nullable=True))
    # Keys made before callbacks were signed get a secret now; `keys show-webhook-secret` reveals it to the admin.
    keys = sa.table("api_keys", sa.column("id", sa.Integer()), sa.column("webhook_secret", sa.String()))
    connection = op.get_bind()
    for (key_id,) in connection.execute(sa.select(keys.c.id)).all():
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        connection.execute(sa.update(keys).where(keys.c.id == key_id).values(webhook_secret=secret))
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("webhook_secret", sa.String(length=255), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", Id, nullable=True))
        batch_op.add_column(sa.Column("dialect", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("required_channel_id", Id, nullable=True))
        batch_op.add_column(sa.Column("send_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_foreign_key(batch_op.f("fk_tasks_key_id_api_keys"), "api_keys", ["key_id"], ["id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_required_channel_id_channels"), "channels", ["required_channel_id"], ["id"]
        )
        batch_op.create_index("ix_tasks_key_status", ["key_id", "status"], unique=False)
    op.create_table(
        "client_callbacks",
        sa.Column("id", Id, nullable=False),
        sa.Column("task_id", Id, nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.Column("given_up_at", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], name=op.f("fk_client_callbacks_task_id_tasks")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_callbacks")),
        sa.UniqueConstraint("message_id", name=op.f("uq_client_callbacks_message_id")),
        sa.UniqueConstraint("task_id", "status", name=op.f("uq_client_callbacks_task_id_status")),
    )
    op.create_index("ix_client_callbacks_due", "client_callbacks", ["next_attempt_at"], unique=False)
    op.create_table(
        "upstream_objects",
        sa.Column("id", Id, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("object_id", sa.String(length=64), nullable=False),
        sa.Column("channel_id", Id, nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], name=op.f("fk_upstream_objects_channel_id_channels")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_upstream_objects_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_objects")),
        sa.UniqueConstraint("user_id", "kind", "object_id", name=op.f("uq_upstream_objects_user_id_kind_object_id")),
    )


def downgrade() -> None:
    op.drop_table("upstream_objects")
    op.drop_index("ix_client_callbacks_due", table_name="client_callbacks")
    op.drop_table("client_callbacks")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_key_status")
        batch_op.drop_constraint(batch_op.f("fk_tasks_required_channel_id_channels"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_tasks_key_id_api_keys"), type_="foreignkey")
        for column in ("send_attempts", "required_channel_id", "dialect", "key_id"):
            batch_op.drop_column(column)
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        for column in ("max_in_flight", "rate_limit_rps", "webhook_secret"):
            batch_op.drop_column(column)
