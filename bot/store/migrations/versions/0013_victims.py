"""victim care and tasking: age assessments, referrals, tasks, shift hand-overs; the
presumption of childhood only on a recorded reason to believe (issue 28)

Revision ID: 0013_victims
Revises: 0012
Create Date: 2026-12-05 13:00:00

A victim without a date of birth was shown as a child; from here a person of uncertain age
is presumed a child only where an age assessment records a reason to believe they are under
18 (`subject.child_presumed`). Existing victims keep their protection as victims.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.models import UTCDateTime

revision: str = "0013_victims"
down_revision: str | None = "0013_casefile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subject") as batch:
        batch.add_column(
            sa.Column("child_presumed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "ageassessment",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operation_id", sa.Integer(), sa.ForeignKey("operation.id"), nullable=False),
        sa.Column("subject_id", sa.Integer(), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("apparent_low", sa.Integer(), nullable=False),
        sa.Column("apparent_high", sa.Integer(), nullable=False),
        sa.Column("stated_age", sa.Integer(), nullable=True),
        sa.Column("disputed", sa.Boolean(), nullable=False),
        sa.Column("minor_reason", sa.String(length=1000), nullable=True),
        sa.Column("assessed_by", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("assessed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_ageassessment_operation_id", "ageassessment", ["operation_id"])
    op.create_index("ix_ageassessment_subject_id", "ageassessment", ["subject_id"])
    op.create_table(
        "victimreferral",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operation_id", sa.Integer(), sa.ForeignKey("operation.id"), nullable=False),
        sa.Column("subject_id", sa.Integer(), sa.ForeignKey("subject.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("referred_on", sa.Date(), nullable=False),
        sa.Column("consent", sa.String(length=16), nullable=True),
        sa.Column("reflection_ends", UTCDateTime(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("handed_to", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("referred_by", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_victimreferral_operation_id", "victimreferral", ["operation_id"])
    op.create_index("ix_victimreferral_subject_id", "victimreferral", ["subject_id"])
    op.create_index("ix_victimreferral_reflection", "victimreferral", ["reflection_ends"])
    op.create_table(
        "task",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operation_id", sa.Integer(), sa.ForeignKey("operation.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("assignee_id", sa.Integer(), sa.ForeignKey("member.id"), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.UniqueConstraint("operation_id", "seq"),
    )
    op.create_index("ix_task_operation_id", "task", ["operation_id"])
    op.create_index("ix_task_assignee_id", "task", ["assignee_id"])
    op.create_index("ix_task_due_at", "task", ["due_at"])
    op.create_table(
        "handover",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("operation_id", sa.Integer(), sa.ForeignKey("operation.id"), nullable=False),
        sa.Column("given_by", sa.Integer(), sa.ForeignKey("member.id"), nullable=True),
        sa.Column("given_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_handover_operation_id", "handover", ["operation_id"])


def downgrade() -> None:
    op.drop_table("handover")
    op.drop_table("task")
    op.drop_table("victimreferral")
    op.drop_table("ageassessment")
    with op.batch_alter_table("subject") as batch:
        batch.drop_column("child_presumed")
