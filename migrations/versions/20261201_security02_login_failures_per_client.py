"""login failures per client and user name (issue 15 item 7: lockout that cannot be turned against the owner);
the per-account lock columns of security_users go

Revision ID: security02
Revises: console01
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archive.models

revision = "security02"
down_revision = "console01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "security_login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("client", sa.String(length=128), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_failed_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_security_login_failures")),
        sa.UniqueConstraint("client", "username", name=op.f("uq_security_login_failures_client_username")),
    )
    op.create_index(op.f("ix_security_login_failures_username"), "security_login_failures", ["username"], unique=False)
    with op.batch_alter_table("security_users") as batch:
        batch.drop_column("failed_logins")
        batch.drop_column("locked_until")


def downgrade() -> None:
    with op.batch_alter_table("security_users") as batch:
        batch.add_column(sa.Column("locked_until", archive.models.UtcDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))
    op.drop_index(op.f("ix_security_login_failures_username"), table_name="security_login_failures")
    op.drop_table("security_login_failures")
