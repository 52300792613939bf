"""field input: sightings begun from a location pin or a prompt; photos as evidence

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fieldpending",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("channel_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("place", sa.String(length=500), nullable=True),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("what", sa.String(length=1000), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", bot.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["sighting_id"], ["sighting.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fieldpending", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fieldpending_open", ["member_id", "platform", "channel_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_fieldpending_operation_id"), ["operation_id"], unique=False
        )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("mime_type", sa.String(length=40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("stored_key", sa.String(length=200), nullable=False),
        sa.Column("clean_key", sa.String(length=200), nullable=False),
        sa.Column("exif_time", sa.String(length=19), nullable=True),
        sa.Column("exif_lat", sa.Float(), nullable=True),
        sa.Column("exif_lon", sa.Float(), nullable=True),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("added_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["added_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["sighting_id"], ["sighting.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sighting_id", "sha256"),
    )
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_operation_id"), ["operation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_evidence_sighting_id"), ["sighting_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_sighting_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_operation_id"))
    op.drop_table("evidence")
    with op.batch_alter_table("fieldpending", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fieldpending_operation_id"))
        batch_op.drop_index("ix_fieldpending_open")
    op.drop_table("fieldpending")
