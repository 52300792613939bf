"""platform cursors: where an adapter has read a platform's event stream up to

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 11:20:00

Matrix's sync token (`next_batch`) lives here so a restart resumes where the last process
stopped: events are neither missed nor, with the processed-event key, handled twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "platformcursor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "name"),
    )


def downgrade() -> None:
    op.drop_table("platformcursor")
