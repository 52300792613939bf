"""notices recorded (not issued), diffusions, judicial data; raid duties and item rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:00:00

A task force records notices an NCB requested and INTERPOL published; it never issues them.
The issuer and issue time of existing notices carry over as who recorded them and when
(`issued_by` → `recorded_by`, `issued_at` → `recorded_at`); existing rows are notices
(`kind` = `notice`) whose requesting country and warrant are not known.

Checklist items gain a rule (`legal`: never forced past; `cross-border`: mandatory when the
operation spans countries); the warrant item of existing raids and templates becomes the
legal-authority item. Raid duties are held by named members (`raidduty`). Sightings gain the
SALUTE fields; the grades they carry were given by their reporters, so they move to
`reporter_grade` (the reporter's assessment) until a lead or analyst grades them.

Life cycle: subjects, notices and sightings can be erased (content removed, the fact kept);
sightings and notices get review dates (12 months after they were recorded, like subjects);
an operation records when it closed and how long its records are kept after (24 months
unless set; for operations already closed, counted from the upgrade); rectified values are
kept in `subjectrevision`.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import bot.store.models

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEGAL_ITEM = "Warrant / legal authority checked"
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.alter_column("issued_by", new_column_name="recorded_by")
        batch_op.alter_column("issued_at", new_column_name="recorded_at")
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="notice")
        )
        batch_op.add_column(sa.Column("requested_by", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("warrant_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("warrant_country", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("countries", sa.String(length=400), nullable=True))
        # A purple notice (modus operandi) needs no subject.
        batch_op.alter_column("subject_id", existing_type=sa.Integer(), nullable=True)
    for table in ("templateitem", "raiditem"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("rule", sa.String(length=16), nullable=True))
        op.execute(
            sa.text(f"UPDATE {table} SET rule = 'legal' WHERE text LIKE :warrant").bindparams(
                warrant=LEGAL_ITEM + "%"
            )
        )
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reporter_grade", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("graded_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("graded_at", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("activity", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("direction", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("count", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("equipment", sa.String(length=500), nullable=True))
        batch_op.create_foreign_key("fk_sighting_graded_by_member", "member", ["graded_by"], ["id"])
    # Grades so far were given by the reporters themselves: they are reporters' assessments.
    op.execute("UPDATE sighting SET reporter_grade = grade, grade = NULL")
    _life_cycle()
    op.create_table(
        "raidduty",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raid_id", sa.Integer(), nullable=False),
        sa.Column("duty", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("assigned_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["assigned_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["raid_id"], ["raid.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("raid_id", "duty"),
    )
    with op.batch_alter_table("raidduty", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_raidduty_raid_id"), ["raid_id"], unique=False)


def add_months(when: datetime, months: int) -> datetime:
    """`when` plus whole calendar months (a copy: a migration does not follow the code)."""
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _erasure_columns(batch_op: Any, table: str) -> None:
    batch_op.add_column(sa.Column("erased_at", bot.store.models.UTCDateTime(), nullable=True))
    batch_op.add_column(sa.Column("erased_by", sa.Integer(), nullable=True))
    batch_op.add_column(sa.Column("erase_reason", sa.String(length=1000), nullable=True))
    batch_op.create_foreign_key(f"fk_{table}_erased_by_member", "member", ["erased_by"], ["id"])


def _life_cycle() -> None:
    """Erasure, review dates on sightings and notices, retention after closing."""
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.add_column(sa.Column("closed_at", bot.store.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("intent", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("retention_months", sa.Integer(), nullable=True))
    with op.batch_alter_table("subject", schema=None) as batch_op:
        _erasure_columns(batch_op, "subject")
    for table in ("notice", "sighting"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("review_at", bot.store.models.UTCDateTime(), nullable=True)
            )
            batch_op.create_index(batch_op.f(f"ix_{table}_review_at"), ["review_at"], unique=False)
            _erasure_columns(batch_op, table)
    op.create_table(
        "subjectrevision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=False),
        sa.Column("old_value", sa.String(length=2000), nullable=True),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["changed_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["subject_id"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("subjectrevision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subjectrevision_subject_id"), ["subject_id"], unique=False
        )
    _backfill_reviews()


def _backfill_reviews() -> None:
    """Existing sightings and notices are reviewed 12 months after they were recorded;
    a closed operation's retention runs from the upgrade."""
    bind = op.get_bind()
    kinds = bot.store.models.UTCDateTime()
    for table, since in (("sighting", "reported_at"), ("notice", "recorded_at")):
        t = sa.table(table, sa.column("id"), sa.column(since, kinds), sa.column("review_at", kinds))
        rows = bind.execute(sa.select(t.c.id, t.c[since])).all()
        for start in range(0, len(rows), BATCH):
            bind.execute(
                t.update()
                .where(t.c.id == sa.bindparam("rid"))
                .values(review_at=sa.bindparam("due")),
                [
                    {"rid": rid, "due": add_months(when, 12)}
                    for rid, when in rows[start : start + BATCH]
                ],
            )
    ops = sa.table("operation", sa.column("status"), sa.column("closed_at", kinds))
    bind.execute(ops.update().where(ops.c.status == "closed").values(closed_at=datetime.now(UTC)))


def downgrade() -> None:
    with op.batch_alter_table("subjectrevision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjectrevision_subject_id"))
    op.drop_table("subjectrevision")
    for table in ("sighting", "notice", "subject"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_erased_by_member", type_="foreignkey")
            for column in ("erase_reason", "erased_by", "erased_at"):
                batch_op.drop_column(column)
            if table != "subject":
                batch_op.drop_index(batch_op.f(f"ix_{table}_review_at"))
                batch_op.drop_column("review_at")
    with op.batch_alter_table("operation", schema=None) as batch_op:
        batch_op.drop_column("intent")
        batch_op.drop_column("retention_months")
        batch_op.drop_column("closed_at")
    with op.batch_alter_table("raidduty", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raidduty_raid_id"))
    op.drop_table("raidduty")
    for table in ("raiditem", "templateitem"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("rule")
    op.execute("UPDATE sighting SET grade = reporter_grade WHERE grade IS NULL")
    with op.batch_alter_table("sighting", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sighting_graded_by_member", type_="foreignkey")
        for column in (
            "equipment",
            "count",
            "direction",
            "activity",
            "graded_at",
            "graded_by",
            "reporter_grade",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.alter_column("subject_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("countries")
        batch_op.drop_column("warrant_country")
        batch_op.drop_column("warrant_ref")
        batch_op.drop_column("requested_by")
        batch_op.drop_column("kind")
        batch_op.alter_column("recorded_at", new_column_name="issued_at")
        batch_op.alter_column("recorded_by", new_column_name="issued_by")
