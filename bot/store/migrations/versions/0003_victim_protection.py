"""victim protection, need-to-know, TLP 2.0 recipients, break-glass

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channellink", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agencies", sa.String(length=400), nullable=False, server_default="")
        )
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("protection_lifted_at", bot.store.models.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(sa.Column("protection_lifted_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("protection_reason", sa.String(length=1000), nullable=True))
        batch_op.create_foreign_key(
            "fk_subject_protection_lifted_by_member", "member", ["protection_lifted_by"], ["id"]
        )
    op.create_table(
        "readgrant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("granted_by", sa.Integer(), nullable=True),
        sa.Column("granted_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["granted_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_id", "member_id"),
    )
    with op.batch_alter_table("readgrant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readgrant_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_readgrant_subject_id"), ["subject_id"], unique=False)
    op.create_table(
        "recipient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "item_id", "member_id"),
    )
    with op.batch_alter_table("recipient", schema=None) as batch_op:
        batch_op.create_index("ix_recipient_item", ["kind", "item_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_recipient_member_id"), ["member_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recipient_operation_id"), ["operation_id"], unique=False
        )
    op.create_table(
        "breakglass",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("started_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("breakglass", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_breakglass_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_breakglass_member_id"), ["member_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_breakglass_operation_id"), ["operation_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("breakglass")
    op.drop_table("recipient")
    op.drop_table("readgrant")
    with op.batch_alter_table("subject", schema=None) as batch_op:
        batch_op.drop_constraint("fk_subject_protection_lifted_by_member", type_="foreignkey")
        batch_op.drop_column("protection_reason")
        batch_op.drop_column("protection_lifted_by")
        batch_op.drop_column("protection_lifted_at")
    with op.batch_alter_table("channellink", schema=None) as batch_op:
        batch_op.drop_column("agencies")
