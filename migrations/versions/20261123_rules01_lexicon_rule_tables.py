"""lexicon rule tables

Revision ID: rules01
Revises: audit01
Create Date: 2026-11-23 05:32:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import archive.models

revision = "rules01"
down_revision = "audit01"
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lexicon_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("corp_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("chat_kind", sa.String(length=16), nullable=False),
        sa.Column("departments", _json(), nullable=False),
        sa.Column("employees", _json(), nullable=False),
        sa.Column("rooms", _json(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", archive.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lexicon_groups")),
        sa.UniqueConstraint("corp_id", "name", name=op.f("uq_lexicon_groups_corp_id_name")),
    )
    op.create_table(
        "lexicon_terms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["lexicon_groups.id"],
            name=op.f("fk_lexicon_terms_group_id_lexicon_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lexicon_terms")),
        sa.UniqueConstraint("group_id", "kind", "text", name=op.f("uq_lexicon_terms_group_id_kind_text")),
    )
    with op.batch_alter_table("lexicon_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lexicon_terms_group_id"), ["group_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lexicon_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lexicon_terms_group_id"))
    op.drop_table("lexicon_terms")
    op.drop_table("lexicon_groups")
