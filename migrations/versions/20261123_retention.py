"""retention: org directory, retention policies, legal holds, admin history, disposition runs

Revision ID: retention01
Revises: integrity01
Create Date: 2026-11-23 04:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import archive.models

revision = "retention01"
down_revision = "integrity01"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # --- org directory ----------------------------------------------------------------------
    op.create_table(
        "directory_departments",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("dept_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "dept_id", name=op.f("pk_directory_departments")),
    )
    op.create_table(
        "directory_members",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("userid", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "userid", name=op.f("pk_directory_members")),
    )
    op.create_table(
        "directory_memberships",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("userid", sa.String(length=128), nullable=False),
        sa.Column("dept_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["corp_id", "userid"],
            ["directory_members.corp_id", "directory_members.userid"],
            name=op.f("fk_directory_memberships_corp_id_directory_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("corp_id", "userid", "dept_id", name=op.f("pk_directory_memberships")),
    )
    with op.batch_alter_table("directory_memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_directory_memberships_corp_id_dept_id"), ["corp_id", "dept_id"], unique=False
        )

    # --- policies, holds, history -----------------------------------------------------------
    op.create_table(
        "retention_policies",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("scope_kind", sa.String(length=16), nullable=False),
        sa.Column("scope_value", sa.String(length=128), nullable=False),
        sa.Column("retain_days", sa.Integer(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policies")),
        sa.UniqueConstraint("corp_id", "name", name=op.f("uq_retention_policies_corp_id_name")),
        sa.UniqueConstraint(
            "corp_id",
            "scope_kind",
            "scope_value",
            name=op.f("uq_retention_policies_corp_id_scope_kind_scope_value"),
        ),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("released_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(length=128), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_legal_holds_corp_id_released_at"), ["corp_id", "released_at"], unique=False
        )

    op.create_table(
        "legal_hold_subjects",
        sa.Column("hold_id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=128), nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["legal_holds.id"], name=op.f("fk_legal_hold_subjects_hold_id_legal_holds")
        ),
        sa.PrimaryKeyConstraint("hold_id", "kind", "value", name=op.f("pk_legal_hold_subjects")),
    )
    op.create_table(
        "retention_history",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_is_admin", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("policy_id", _ID, nullable=True),
        sa.Column("hold_id", _ID, nullable=True),
        sa.Column("before", _JSON, nullable=True),
        sa.Column("after", _JSON, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["hold_id"], ["legal_holds.id"], name=op.f("fk_retention_history_hold_id_legal_holds")),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["retention_policies.id"], name=op.f("fk_retention_history_policy_id_retention_policies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_history")),
    )
    with op.batch_alter_table("retention_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_history_corp_id_at"), ["corp_id", "at"], unique=False)

    op.create_table(
        "retention_revisions",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", name=op.f("pk_retention_revisions")),
    )

    # --- disposition runs -------------------------------------------------------------------
    op.create_table(
        "disposition_runs",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", archive.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("rules_revision", sa.BigInteger(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("examined", sa.BigInteger(), nullable=False),
        sa.Column("disposed", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("media_deleted", sa.BigInteger(), nullable=False),
        sa.Column("blobs_deleted", sa.BigInteger(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposition_runs")),
    )
    with op.batch_alter_table("disposition_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disposition_runs_corp_id_started_at"), ["corp_id", "started_at"], unique=False
        )

    op.create_table(
        "disposition_run_policies",
        sa.Column("run_id", _ID, nullable=False),
        sa.Column("policy_id", _ID, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("policy_name", sa.String(length=64), nullable=False),
        sa.Column("disposed", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["retention_policies.id"],
            name=op.f("fk_disposition_run_policies_policy_id_retention_policies"),
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["disposition_runs.id"], name=op.f("fk_disposition_run_policies_run_id_disposition_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "policy_id", name=op.f("pk_disposition_run_policies")),
    )


def downgrade() -> None:
    op.drop_table("disposition_run_policies")
    with op.batch_alter_table("disposition_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposition_runs_corp_id_started_at"))
    op.drop_table("disposition_runs")
    op.drop_table("retention_revisions")
    with op.batch_alter_table("retention_history", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_history_corp_id_at"))
    op.drop_table("retention_history")
    op.drop_table("legal_hold_subjects")
    with op.batch_alter_table("legal_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_holds_corp_id_released_at"))
    op.drop_table("legal_holds")
    op.drop_table("retention_policies")
    with op.batch_alter_table("directory_memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_directory_memberships_corp_id_dept_id"))
    op.drop_table("directory_memberships")
    op.drop_table("directory_members")
    op.drop_table("directory_departments")
