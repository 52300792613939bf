"""exhibits with their chain of custody; statements with their translations (issue 28)

Revision ID: 0013_casefile
Revises: 0012
Create Date: 2026-12-05 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0013_casefile"
down_revision: str | None = "0013_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = bot.store.models.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "exhibit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=1000), nullable=False),
        sa.Column("seal", sa.String(length=60), nullable=True),
        sa.Column("found_at", sa.String(length=500), nullable=False),
        sa.Column("seized_at", UTC(), nullable=False),
        sa.Column("sighting_id", sa.Integer(), nullable=True),
        sa.Column("raid_id", sa.Integer(), nullable=True),
        sa.Column("evidence_id", sa.Integer(), nullable=True),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("holder_id", sa.Integer(), nullable=True),
        sa.Column("holder_name", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["sighting_id"], ["sighting.id"]),
        sa.ForeignKeyConstraint(["raid_id"], ["raid.id"]),
        sa.ForeignKeyConstraint(["evidence_id"], ["evidence.id"]),
        sa.ForeignKeyConstraint(["holder_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id", "seq"),
        sa.UniqueConstraint("operation_id", "number"),
    )
    op.create_index("ix_exhibit_operation_id", "exhibit", ["operation_id"], unique=False)
    op.create_table(
        "exhibittransfer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exhibit_id", sa.Integer(), nullable=False),
        sa.Column("at", UTC(), nullable=False),
        sa.Column("from_id", sa.Integer(), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("to_id", sa.Integer(), nullable=True),
        sa.Column("to_name", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("recorded_by", sa.Integer(), nullable=True),
        sa.Column("recorded_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["exhibit_id"], ["exhibit.id"]),
        sa.ForeignKeyConstraint(["from_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["to_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_exhibittransfer_exhibit_id", "exhibittransfer", ["exhibit_id"], unique=False
    )
    op.create_table(
        "statement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("maker", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("taken_at", UTC(), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("taken_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.ForeignKeyConstraint(["taken_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id", "seq"),
    )
    op.create_index("ix_statement_operation_id", "statement", ["operation_id"], unique=False)
    op.create_index("ix_statement_subject_id", "statement", ["subject_id"], unique=False)
    op.create_table(
        "statementtranslation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("translator", sa.String(length=200), nullable=False),
        sa.Column("added_by", sa.Integer(), nullable=True),
        sa.Column("added_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["statement_id"], ["statement.id"]),
        sa.ForeignKeyConstraint(["added_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("statement_id", "language"),
    )
    op.create_index(
        "ix_statementtranslation_statement_id",
        "statementtranslation",
        ["statement_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_statementtranslation_statement_id", table_name="statementtranslation")
    op.drop_table("statementtranslation")
    op.drop_index("ix_statement_subject_id", table_name="statement")
    op.drop_index("ix_statement_operation_id", table_name="statement")
    op.drop_table("statement")
    op.drop_index("ix_exhibittransfer_exhibit_id", table_name="exhibittransfer")
    op.drop_table("exhibittransfer")
    op.drop_index("ix_exhibit_operation_id", table_name="exhibit")
    op.drop_table("exhibit")
