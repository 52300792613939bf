"""records that stay true: grade history, sighting revisions, a notice's publication date,
late ticks, merged subjects

Revision ID: 0013_records
Revises: 0012
Create Date: 2026-12-05 13:00:00

Grades given before this change are carried into the history as one row each (by whom and
when they were given, the reason "graded before the history was kept").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision: str = "0013_records"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sightinggrade",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=2), nullable=False),
        sa.Column("was", sa.String(length=2), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("graded_by", sa.Integer(), nullable=True),
        sa.Column("graded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sighting_id"], ["sighting.id"]),
        sa.ForeignKeyConstraint(["graded_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sightinggrade_sighting_id", "sightinggrade", ["sighting_id"])
    op.create_table(
        "sightingrevision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.String(length=2000), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sighting_id"], ["sighting.id"]),
        sa.ForeignKeyConstraint(["changed_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sightingrevision_sighting_id", "sightingrevision", ["sighting_id"])
    with op.batch_alter_table("notice") as batch:
        batch.add_column(sa.Column("published_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("raiditem") as batch:
        batch.add_column(sa.Column("late", sa.String(length=16), nullable=True))
    with op.batch_alter_table("subject") as batch:
        batch.add_column(sa.Column("merged_into", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_subject_merged_into", "subject", ["merged_into"], ["id"])
    op.execute(
        "INSERT INTO sightinggrade (sighting_id, grade, was, reason, graded_by, graded_at) "
        "SELECT id, grade, NULL, 'graded before the history was kept', graded_by, graded_at "
        "FROM sighting WHERE grade IS NOT NULL AND graded_at IS NOT NULL AND erased_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("subject") as batch:
        batch.drop_constraint("fk_subject_merged_into", type_="foreignkey")
        batch.drop_column("merged_into")
    with op.batch_alter_table("raiditem") as batch:
        batch.drop_column("late")
    with op.batch_alter_table("notice") as batch:
        batch.drop_column("published_at")
    op.drop_index("ix_sightingrevision_sighting_id", table_name="sightingrevision")
    op.drop_table("sightingrevision")
    op.drop_index("ix_sightinggrade_sighting_id", table_name="sightinggrade")
    op.drop_table("sightinggrade")
