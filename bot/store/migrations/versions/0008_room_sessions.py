"""situation room: one-time sign-in links and browser sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 11:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _common() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["identity_id"], ["identity.id"]),
        sa.PrimaryKeyConstraint("id"),
    ]


def upgrade() -> None:
    op.create_table(
        "roomlink", *_common(), sa.Column("used_at", bot.store.models.UTCDateTime(), nullable=True)
    )
    op.create_index("ix_roomlink_token_hash", "roomlink", ["token_hash"], unique=True)
    op.create_index("ix_roomlink_member_id", "roomlink", ["member_id"], unique=False)
    op.create_table(
        "roomsession",
        *_common(),
        sa.Column("revoked_at", bot.store.models.UTCDateTime(), nullable=True),
    )
    op.create_index("ix_roomsession_token_hash", "roomsession", ["token_hash"], unique=True)
    op.create_index("ix_roomsession_member_id", "roomsession", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_roomsession_member_id", table_name="roomsession")
    op.drop_index("ix_roomsession_token_hash", table_name="roomsession")
    op.drop_table("roomsession")
    op.drop_index("ix_roomlink_member_id", table_name="roomlink")
    op.drop_index("ix_roomlink_token_hash", table_name="roomlink")
    op.drop_table("roomlink")
