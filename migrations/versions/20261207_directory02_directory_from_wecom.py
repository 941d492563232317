"""directory synced from WeCom: customers, follows, groups, robots, changes, sync runs; members' departure date (issue 14)

Revision ID: directory02
Revises: accesslog01
Create Date: 2026-12-07 21:05:48.936249
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archive.models
from sqlalchemy.dialects import postgresql

revision = "directory02"
down_revision = "accesslog01"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=128), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column(
            "before", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "after", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("occurred_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_changes")),
    )
    with op.batch_alter_table("directory_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_changes_corp_id_subject_id_occurred_at"),
            ["corp_id", "subject_id", "occurred_at"],
            unique=False,
        )

    op.create_table(
        "directory_customers",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("corp_name", sa.String(length=256), nullable=True),
        sa.Column("corp_full_name", sa.String(length=256), nullable=True),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "external_userid", name=op.f("pk_directory_customers")),
    )
    op.create_table(
        "directory_follows",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("userid", sa.String(length=128), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("remark", sa.String(length=256), nullable=True),
        sa.Column("remark_corp_name", sa.String(length=256), nullable=True),
        sa.Column("added_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=16), nullable=True),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "userid", "external_userid", name=op.f("pk_directory_follows")),
    )
    with op.batch_alter_table("directory_follows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_follows_corp_id_external_userid"), ["corp_id", "external_userid"], unique=False
        )

    op.create_table(
        "directory_groups",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("roomid", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("created_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "roomid", name=op.f("pk_directory_groups")),
    )
    op.create_table(
        "directory_robots",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("robot_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("creator_userid", sa.String(length=128), nullable=True),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "robot_id", name=op.f("pk_directory_robots")),
    )
    op.create_table(
        "directory_sync_runs",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column(
            "cursor", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("started_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column(
            "report", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("error", sa.String(length=512), nullable=True),
        sa.PrimaryKeyConstraint("corp_id", name=op.f("pk_directory_sync_runs")),
    )
    op.create_table(
        "directory_group_members",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("roomid", sa.String(length=128), nullable=False),
        sa.Column("member_id", sa.String(length=128), nullable=False),
        sa.Column("member_type", sa.Integer(), nullable=False),
        sa.Column("joined_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("nickname", sa.String(length=256), nullable=True),
        sa.ForeignKeyConstraint(
            ["corp_id", "roomid"],
            ["directory_groups.corp_id", "directory_groups.roomid"],
            name=op.f("fk_directory_group_members_corp_id_directory_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("corp_id", "roomid", "member_id", name=op.f("pk_directory_group_members")),
    )
    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_group_members_corp_id_member_id"), ["corp_id", "member_id"], unique=False
        )

    with op.batch_alter_table("directory_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("left_at", archive.models.UtcDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("directory_members", schema=None) as batch_op:
        batch_op.drop_column("left_at")

    with op.batch_alter_table("directory_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_group_members_corp_id_member_id"))

    op.drop_table("directory_group_members")
    op.drop_table("directory_sync_runs")
    op.drop_table("directory_robots")
    op.drop_table("directory_groups")
    with op.batch_alter_table("directory_follows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_follows_corp_id_external_userid"))

    op.drop_table("directory_follows")
    op.drop_table("directory_customers")
    with op.batch_alter_table("directory_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_changes_corp_id_subject_id_occurred_at"))

    op.drop_table("directory_changes")
