"""access log: token id per row, keyed switch-over in the head, checkpoints (issue 15 items 4 and 5)

Revision ID: accesslog01
Revises: security02
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archive.models

revision = "accesslog01"
down_revision = "security02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("access_log_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keyed_from", sa.BigInteger(), nullable=True))
    op.create_table(
        "access_log_checkpoints",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("keyed_from", sa.BigInteger(), nullable=True),
        sa.Column("created_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log_checkpoints")),
    )
    op.create_index(op.f("ix_access_log_checkpoints_position"), "access_log_checkpoints", ["position"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_access_log_checkpoints_position"), table_name="access_log_checkpoints")
    op.drop_table("access_log_checkpoints")
    with op.batch_alter_table("access_log_head", schema=None) as batch_op:
        batch_op.drop_column("keyed_from")
    with op.batch_alter_table("access_log", schema=None) as batch_op:
        batch_op.drop_column("token_id")
