"""completeness alerts

Revision ID: completeness01
Revises: retention01
Create Date: 2026-11-23 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archive.models

revision = "completeness01"
down_revision = "retention01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("measured", sa.BigInteger(), nullable=False),
        sa.Column("first_raised_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archive_alerts")),
    )
    with op.batch_alter_table("archive_alerts", schema=None) as batch_op:
        # At most one open alert per (corp, kind).
        batch_op.create_index(
            batch_op.f("ix_archive_alerts_corp_id_kind"),
            ["corp_id", "kind"],
            unique=True,
            sqlite_where=sa.text("resolved_at IS NULL"),
            postgresql_where=sa.text("resolved_at IS NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_archive_alerts_corp_id_first_raised_at"), ["corp_id", "first_raised_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("archive_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_archive_alerts_corp_id_first_raised_at"))
        batch_op.drop_index(batch_op.f("ix_archive_alerts_corp_id_kind"))

    op.drop_table("archive_alerts")
