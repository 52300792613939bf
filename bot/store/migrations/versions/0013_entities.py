"""entities, typed links and deconfliction across operations (issue 27)

Revision ID: 0013_entities
Revises: 0012
Create Date: 2026-12-05 13:00:00

Typed links between subjects (`subjectrelation`), deconfliction hits across operations
(`deconflictionhit`) and each operation's contact policy (`deconflictionpolicy`); the search
keys indexed by token alone, so a normalised key is looked up in every operation at once;
existing persons with a date of birth and vehicles named by a plate get their keys with the
same keys the commands write (a frozen copy of `bot.core.entities.strong_keys` for
persons and vehicles: a migration imports no application code).
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from anyascii import anyascii

import bot.store.models

revision: str = "0013_entities"
down_revision: str | None = "0013_room"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000


def upgrade() -> None:
    op.create_table(
        "subjectrelation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_id", sa.Integer(), nullable=False),
        sa.Column("subject_a", sa.Integer(), nullable=False),
        sa.Column("subject_b", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("grade", sa.String(length=2), nullable=True),
        sa.Column("tlp", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["subject_a"], ["subject.id"]),
        sa.ForeignKeyConstraint(["subject_b"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("operation_id", "subject_a", "subject_b", "kind"),
    )
    with op.batch_alter_table("subjectrelation", schema=None) as batch_op:
        batch_op.create_index("ix_subjectrelation_b", ["subject_b"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_subjectrelation_operation_id"), ["operation_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_subjectrelation_subject_a"), ["subject_a"], unique=False
        )
    op.create_table(
        "deconflictionhit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("operation_a", sa.Integer(), nullable=False),
        sa.Column("subject_a", sa.Integer(), nullable=False),
        sa.Column("operation_b", sa.Integer(), nullable=False),
        sa.Column("subject_b", sa.Integer(), nullable=False),
        sa.Column("part", sa.String(length=8), nullable=False),
        sa.Column("found_by", sa.Integer(), nullable=True),
        sa.Column("found_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.Column("notified_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["found_by"], ["member.id"]),
        sa.ForeignKeyConstraint(["operation_a"], ["operation.id"]),
        sa.ForeignKeyConstraint(["operation_b"], ["operation.id"]),
        sa.ForeignKeyConstraint(["subject_a"], ["subject.id"]),
        sa.ForeignKeyConstraint(["subject_b"], ["subject.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subject_a", "subject_b"),
    )
    with op.batch_alter_table("deconflictionhit", schema=None) as batch_op:
        for column in ("operation_a", "operation_b", "subject_a", "subject_b"):
            batch_op.create_index(
                batch_op.f(f"ix_deconflictionhit_{column}"), [column], unique=False
            )
    op.create_table(
        "deconflictionpolicy",
        sa.Column("operation_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("contact", sa.String(length=16), nullable=False),
        sa.Column("set_by", sa.Integer(), nullable=True),
        sa.Column("set_at", bot.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["operation_id"], ["operation.id"]),
        sa.ForeignKeyConstraint(["set_by"], ["member.id"]),
        sa.PrimaryKeyConstraint("operation_id"),
    )
    with op.batch_alter_table("subjectkey", schema=None) as batch_op:
        batch_op.create_index("ix_subjectkey_key", ["token"], unique=False)
    _backfill()


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _fold(text: str) -> list[str]:
    return [w for w in _NON_ALNUM.split(anyascii(text).lower()) if w]


def strong_keys(kind: str, name: str, aliases: list[str], dob: str | None) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if kind == "person" and dob:
        for one in (name, *aliases):
            words = sorted(_fold(one))
            if words:
                out.append(("identity", f"person:{' '.join(words)}|{dob}"[:200]))
    elif kind == "vehicle":
        words = _fold(name)
        joined = "".join(words)
        if 1 <= len(words) <= 3 and any(c.isdigit() for c in joined) and 4 <= len(joined) <= 10:
            out.append(("plate", f"plate:{joined}"[:200]))
    return list(dict.fromkeys(out))


def _backfill() -> None:
    """The normalised keys of existing subjects (persons with a date of birth, vehicles
    named by a plate), as the commands write them."""
    bind = op.get_bind()
    meta = sa.MetaData()
    subject = sa.Table(
        "subject",
        meta,
        sa.Column("id", sa.Integer),
        sa.Column("operation_id", sa.Integer),
        sa.Column("kind", sa.String),
        sa.Column("name", sa.String),
        sa.Column("aliases", sa.JSON),
        sa.Column("dob", sa.String),
        sa.Column("erased_at", sa.DateTime),
    )
    key = sa.Table(
        "subjectkey",
        meta,
        sa.Column("operation_id", sa.Integer),
        sa.Column("subject_id", sa.Integer),
        sa.Column("part", sa.String),
        sa.Column("source", sa.String),
        sa.Column("token", sa.String),
        sa.Column("skel", sa.String),
    )
    rows: list[dict[str, object]] = []
    query = sa.select(
        subject.c.id,
        subject.c.operation_id,
        subject.c.kind,
        subject.c.name,
        subject.c.aliases,
        subject.c.dob,
    ).where(subject.c.erased_at.is_(None), subject.c.kind.in_(("person", "vehicle")))
    for sid, op_id, kind, name, aliases, dob in bind.execute(query):
        for part, token in strong_keys(kind, name, aliases or [], dob):
            rows.append(
                {
                    "operation_id": op_id,
                    "subject_id": sid,
                    "part": part,
                    "source": name[:200],
                    "token": token,
                    "skel": token,
                }
            )
        if len(rows) >= BATCH:
            bind.execute(key.insert(), rows)
            rows = []
    if rows:
        bind.execute(key.insert(), rows)


def downgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text("DELETE FROM subjectkey WHERE part NOT IN ('name', 'alias')"))
    with op.batch_alter_table("subjectkey", schema=None) as batch_op:
        batch_op.drop_index("ix_subjectkey_key")
    op.drop_table("deconflictionpolicy")
    with op.batch_alter_table("deconflictionhit", schema=None) as batch_op:
        for column in ("subject_b", "subject_a", "operation_b", "operation_a"):
            batch_op.drop_index(batch_op.f(f"ix_deconflictionhit_{column}"))
    op.drop_table("deconflictionhit")
    with op.batch_alter_table("subjectrelation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subjectrelation_subject_a"))
        batch_op.drop_index(batch_op.f("ix_subjectrelation_operation_id"))
        batch_op.drop_index("ix_subjectrelation_b")
    op.drop_table("subjectrelation")
