"""consent ledger: append-only events, current state per pair/room, check times, message cursor (issue 14)

Revision ID: consent01
Revises: directory02
Create Date: 2026-12-07 21:10:26.035363
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import archive.models


revision = "consent01"
down_revision = "directory02"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consent_checks",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("checked_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "scope", "party", "external_userid", name=op.f("pk_consent_checks")),
    )
    with op.batch_alter_table("consent_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_checks_corp_id_checked_at"), ["corp_id", "checked_at"], unique=False
        )

    op.create_table(
        "consent_cursors",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", name=op.f("pk_consent_cursors")),
    )
    op.create_table(
        "consent_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("changed_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("msgid", sa.String(length=128), nullable=True),
        sa.Column("recorded_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.UniqueConstraint(
            "corp_id",
            "scope",
            "party",
            "external_userid",
            "status",
            "changed_at",
            "source",
            name="uq_consent_events_observation",
        ),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_events_corp_id_external_userid_changed_at"),
            ["corp_id", "external_userid", "changed_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_consent_events_corp_id_party_changed_at"), ["corp_id", "party", "changed_at"], unique=False
        )

    op.create_table(
        "consent_states",
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("party", sa.String(length=128), nullable=False),
        sa.Column("external_userid", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("changed_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("corp_id", "scope", "party", "external_userid", name=op.f("pk_consent_states")),
    )
    with op.batch_alter_table("consent_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_states_corp_id_external_userid"), ["corp_id", "external_userid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consent_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_states_corp_id_external_userid"))

    op.drop_table("consent_states")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_events_corp_id_party_changed_at"))
        batch_op.drop_index(batch_op.f("ix_consent_events_corp_id_external_userid_changed_at"))

    op.drop_table("consent_events")
    op.drop_table("consent_cursors")
    with op.batch_alter_table("consent_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_checks_corp_id_checked_at"))

    op.drop_table("consent_checks")
